import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "./harness.ts";
import { Memory, type MemoryOptions, type NbmemoError } from "../lib/mod.ts";
import { fileStoreOnly, isDeno, openSuiteStore, openTempMemory, root, runFixture, storedIds, tempDir, testStore, withSeams, withTestStore } from "./helpers.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

test("entries() filters by function and version, sorts and limits", async (t) => {
  const { memory } = await openTempMemory(t, withTestStore({}));
  const sized = memory.fn("sized", (n: number) => "x".repeat(n), { version: "1" });
  const other = memory.fn("other", (n: number) => n, { version: "1" });
  for (const n of [10, 300, 20]) await sized(n), await tick();
  await other(1);
  assert.deepEqual(memory.entries({ fn: "sized", limit: 2 }).map((e) => e.argsPreview), ["20", "300"]);
  assert.deepEqual(memory.entries({ sort: "bytes", limit: 1 }).map((e) => e.argsPreview), ["300"]);
  assert.deepEqual(memory.entries({ fn: "sized", version: "pinned:2" }), []);
  assert.throws(() => memory.entries({ sort: "size" as "bytes" }), /sort="size" is not one of accessed, created, bytes/);
});

test("delete() removes one version or every version of a name", async (t) => {
  const { memory } = await openTempMemory(t, withTestStore({}));
  const v1 = memory.fn("h", (x: number) => x, { version: "1" });
  const v2 = memory.fn("h", (x: number) => x, { version: "2" });
  await v1(1), await v1(2), await v2(1);
  assert.equal(await memory.delete("h", { version: "pinned:1" }), 2);
  assert.deepEqual(memory.entries().map((e) => e.version), ["pinned:2"]);
  assert.equal(await memory.delete("h"), 1);
  assert.equal(await memory.delete("never_stored"), 0);
});

test("clear() removes every result and file and forgets every function", async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({ inlineBytes: 0 }));
  const f = memory.fn("f", (x: number) => [x], { version: "1" });
  await f(1), await f(2);
  const store = await openSuiteStore(t, dir);
  assert.equal(await memory.clear(), 2);
  assert.equal(memory.stats().entries, 0);
  assert.deepEqual(memory.functions(), []);
  if (testStore === "kv") {
    // A shared store keeps the team's outputs unless asked to delete them for every machine.
    assert.equal((await storedIds(store)).length, 2);
    await memory.clear({ shared: true });
  }
  assert.deepEqual(await storedIds(store), []);
  if (!fileStoreOnly.skip) assert.deepEqual(readdirSync(join(dir, "objects")), []); // no folder left empty either
});

test("prune() drops old versions not used for a while and keeps the current one", async (t) => {
  const { memory } = await openTempMemory(t, withTestStore({}));
  const old = memory.fn("k", (x: number) => x, { version: "1" });
  await old(1), await old(2);
  await tick();
  const current = memory.fn("k", (x: number) => x, { version: "2" });
  await current(1);
  assert.deepEqual(await memory.prune(), { evicted: 0, oldVersionEntries: 0, versions: 0, bytes: 0, staleLeases: 0, orphanSources: 0, strays: 0, orphanRuntimes: 0 });
  const report = await memory.prune({ oldVersionsUnusedFor: 0 });
  assert.equal(report.oldVersionEntries, 2);
  assert.equal(report.versions, 1);
  assert.ok(report.bytes > 0);
  assert.deepEqual(memory.functions().map((f) => f.version), ["pinned:2"]);
  assert.equal(await current(1), 1);
});

test("prune() removes results past maxAge", async (t) => {
  let clock = Date.now();
  const { memory } = await openTempMemory(t, withSeams(withTestStore({ maxAge: 20 }), { now: () => clock }));
  const f = memory.fn("f", (x: number) => x, { version: "1" });
  await f(1);
  clock += 21;
  assert.equal((await memory.prune()).evicted, 1);
  assert.equal(memory.stats().entries, 0);
});

test("verify() finds missing, corrupt and orphan outputs and wrong totals, and repairs them", fileStoreOnly, async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({ inlineBytes: 0 }));
  const f = memory.fn("f", (x: number) => ({ x, data: new Float64Array(4).fill(x) }), { version: "1" });
  for (let i = 0; i < 4; i++) await f(i);
  assert.deepEqual((await memory.verify()).problems, []);
  const objects = memory.entries().map((e) => e.object!);
  const pathOf = (id: string) => join(dir, "objects", id.slice(0, 2), id.slice(2));
  writeFileSync(pathOf(objects[0]!), "not a payload");
  rmSync(pathOf(objects[1]!));
  const orphan = "ab".repeat(32);
  mkdirSync(join(dir, "objects", "ab"), { recursive: true });
  writeFileSync(pathOf(orphan), "left behind");
  utimesSync(pathOf(orphan), new Date(0), new Date(0));
  const young = "cd".repeat(32);
  mkdirSync(join(dir, "objects", "cd"), { recursive: true });
  writeFileSync(pathOf(young), "a store in progress elsewhere");
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  db.exec("UPDATE usage SET entries = 99");
  db.close();

  const report = await memory.verify();
  assert.equal(report.entries, 4);
  assert.deepEqual(report.problems.map((p) => p.kind).sort(), ["missing", "orphan", "totals", "unreadable"]);
  assert.equal(report.problems.find((p) => p.kind === "orphan")!.object, orphan);
  assert.equal(report.repaired, 0);

  const repaired = await memory.verify({ repair: true });
  assert.equal(repaired.repaired, 4);
  assert.deepEqual((await memory.verify()).problems, []);
  assert.equal(memory.stats().entries, 2);
  assert.equal(await f(0).then((v) => v.x), 0); // recomputed and stored again
});

test("verify() finds stray files under objects/; repair removes them and empty folders, but not young files", async (t) => {
  const { memory, dir } = await openTempMemory(t, { inlineBytes: 0 });
  await memory.fn("f", (x: number) => ({ x }), { version: "1" })(1);
  const objects = join(dir, "objects");
  // Folders of their own, none of them the stored object's (its id is random): the temp file's, an empty
  // one, and a busy one.
  const real = memory.entries()[0]!.object!.slice(0, 2);
  const [tmpFolder, emptyFolder, busyFolder] = ["ab", "cd", "ef", "01"].filter((name) => name !== real) as [string, string, string];
  const old = (path: string, text: string) => {
    mkdirSync(join(objects, path, ".."), { recursive: true });
    writeFileSync(join(objects, path), text);
    utimesSync(join(objects, path), new Date(0), new Date(0));
  };
  old(`${tmpFolder}/${"0".repeat(62)}.4242.0.tmp`, "a killed writer's temp file");
  old("notes.txt", "put here by hand");
  mkdirSync(join(objects, emptyFolder));
  mkdirSync(join(objects, busyFolder));
  writeFileSync(join(objects, busyFolder, `${"1".repeat(62)}.4343.0.tmp`), "a write in progress elsewhere");

  const found = await memory.verify();
  assert.deepEqual(found.problems.map((p) => [p.kind, p.path]).sort(), [["stray", `${tmpFolder}/${"0".repeat(62)}.4242.0.tmp`], ["stray", "notes.txt"]]);
  const repaired = await memory.verify({ repair: true });
  assert.equal(repaired.repaired, 2);
  assert.deepEqual((await memory.verify()).problems, []);
  assert.deepEqual(readdirSync(objects).sort(), [busyFolder, real].sort());
  assert.equal((await memory.fn("f", (x: number) => ({ x }), { version: "1" })(1)).x, 1); // still a hit
});

test("open with create: false refuses a directory that holds no cache, and creates nothing", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  await assert.rejects(Memory.open(join(dir.path, "missing"), { create: false }), (e: NbmemoError) =>
    e.code === "NOT_A_CACHE" && /no such directory/.test(e.message));
  await assert.rejects(Memory.open(dir.path, { create: false }), /holds no catalog.sqlite, so it is not an nbmemo cache/);
  assert.deepEqual(readdirSync(dir.path), []);
});

test("the README's inspection example runs as written", async (t) => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Inspecting and managing the cache"));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  const dir = tempDir();
  t.after(dir.remove);
  const seed = await Memory.open(dir.path, withTestStore({ log: "silent" }));
  await seed.fn("load_counties", (state: string) => ({ state }))("CA");
  await seed.fn("fit", (x: number) => x, { version: "2" })(1);
  await seed.close();
  // The example's `Memory.open(".nbmemo", ...)` opens the temp cache; its `loadCounties` is memoized there.
  let memory: Memory | undefined;
  const open = async (_: string, options: MemoryOptions) => (memory = await Memory.open(dir.path, { ...options, log: "silent" }));
  const loadCounties = { clear: () => memory!.fn("load_counties", (state: string) => ({ state })).clear() };
  const AsyncFunction = (async () => {}).constructor as new (...params: string[]) => (...args: unknown[]) => Promise<void>;
  const example = new AsyncFunction("Memory", "loadCounties", code);
  await example({ open }, loadCounties);
  t.after(() => memory!.close());
  assert.equal(memory!.stats().entries, 0);
  assert.deepEqual(memory!.stats().limits, { maxBytes: 2e9, maxEntries: null, maxAgeMs: 30 * 86_400_000 });
});

test("open with create: false fails on a damaged catalog instead of falling back to memory", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  writeFileSync(join(dir.path, "catalog.sqlite"), "this is not a database, and long enough to be read as one".repeat(20));
  await assert.rejects(Memory.open(dir.path, { create: false, log: "silent" }), /not a database/);
});

test("verify() reads entries through the hit path: one byte flipped inside a stored Float64Array is found", fileStoreOnly, async (t) => {
  for (const inlineBytes of [0, 1 << 20]) { // an object file, and a payload inline in the catalog
    const { memory, dir } = await openTempMemory(t, withTestStore({ inlineBytes }));
    const f = memory.fn("f", (n: number) => new Float64Array(n).fill(1.5), { version: "1" });
    await f(64);
    assert.deepEqual((await memory.verify()).problems, []);
    const entry = memory.entries()[0]!;
    if (entry.object) {
      const path = join(dir, "objects", entry.object.slice(0, 2), entry.object.slice(2));
      const bytes = readFileSync(path);
      bytes[bytes.byteLength - 3]! ^= 0x01; // inside the array's section: the payload still decodes
      writeFileSync(path, bytes);
    } else {
      const db = new DatabaseSync(join(dir, "catalog.sqlite"));
      const { inline } = db.prepare("SELECT inline FROM entries").get() as { inline: Uint8Array };
      inline[inline.byteLength - 3]! ^= 0x01;
      db.prepare("UPDATE entries SET inline = ?").run(inline);
      db.close();
    }
    const { problems } = await memory.verify();
    assert.equal(problems.length, 1, `inlineBytes=${inlineBytes}`);
    assert.equal(problems[0]!.kind, "unreadable");
    assert.match(problems[0]!.detail, /checksum mismatch/);
  }
});

test("only the 5 most recently used versions of a name keep their results", async (t) => {
  const { memory } = await openTempMemory(t, withTestStore({}));
  for (let v = 1; v <= 7; v++) {
    await memory.fn("edited", (x: number) => x + v, { version: String(v) })(1);
    await tick();
  }
  assert.deepEqual(memory.functions().map((f) => f.version), ["7", "6", "5", "4", "3"].map((v) => `pinned:${v}`));
  assert.equal(memory.stats().entries, 5);
});

// Leaves what a killed process leaves: an expired lease, a remembered source of code since edited away,
// and (for the file store) a temp file older than a minute.
function leaveLeftovers(dir: string): void {
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  db.exec(`INSERT INTO leases VALUES ('f', 'v', 'a', '123:dead', 1, 1);
           INSERT INTO sources (raw_hash, hash, text) VALUES ('raw-gone', 'hash-gone', 'x => x + 1')`);
  db.close();
  if (testStore === "kv") return;
  mkdirSync(join(dir, "objects", "ab"), { recursive: true });
  const temp = join(dir, "objects", "ab", "cdef.123.tmp");
  writeFileSync(temp, "half a payload");
  utimesSync(temp, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
}

test("prune() removes expired leases, unused sources and temp files that killed processes left", async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({}));
  const kept = memory.fn("kept", (x: number) => x * 2);
  await kept(1);
  leaveLeftovers(dir);
  const report = await memory.prune();
  assert.deepEqual([report.staleLeases, report.orphanSources, report.strays], [1, 1, testStore === "kv" ? 0 : 1]);
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  t.after(() => db.close());
  assert.equal(db.prepare("SELECT count(*) AS n FROM leases").get()!.n, 0);
  assert.equal(db.prepare("SELECT count(*) AS n FROM sources").get()!.n, 1, "the source of kept stays");
  assert.equal(await kept(1), 2);
});

test("prune() forgets the runtimes no entry names any more, and keeps the one that does", async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({}));
  // An entry stored by the other runtime (test/fixtures/creator.ts stores f(its pid)), then deleted.
  const other = await runFixture(isDeno ? "node" : "deno", "creator.ts", [dir, "0"]);
  assert.equal(other.code, 0, other.stderr);
  const kept = memory.fn("kept", (x: number) => x * 2);
  await kept(1);
  assert.equal(await memory.delete("f"), 1);
  const runtimes = () => memory.entries().map((entry) => entry.runtime);
  const before = runtimes();
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  t.after(() => db.close());
  const rows = () => db.prepare("SELECT count(*) AS n FROM runtimes").get()!.n;
  assert.equal(rows(), 2);
  assert.equal((await memory.prune()).orphanRuntimes, 1);
  assert.equal(rows(), 1);
  assert.deepEqual(runtimes(), before); // the entry left still has its runtime
  assert.equal((await memory.prune()).orphanRuntimes, 0);
});

test("verify() counts the runtimes no entry names any more, not as problems, and repair forgets them", async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({}));
  await memory.fn("kept", (x: number) => x * 2)(1);
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  t.after(() => db.close());
  db.exec("INSERT INTO runtimes (name) VALUES ('node 0.0.1'), ('deno 0.0.1')"); // their entries evicted or deleted
  const found = await memory.verify();
  assert.deepEqual([found.problems, found.orphanRuntimes], [[], 2]);
  const repaired = await memory.verify({ repair: true });
  assert.deepEqual([repaired.problems, repaired.repaired, repaired.orphanRuntimes], [[], 0, 2]);
  assert.equal((await memory.verify()).orphanRuntimes, 0);
  assert.deepEqual(db.prepare("SELECT name FROM runtimes").all().map((row) => row.name), [memory.entries()[0]!.runtime]);
});

test("verify() reports expired leases and unused sources, and repair removes them", async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({}));
  await memory.fn("kept", (x: number) => x * 2)(1);
  leaveLeftovers(dir);
  const found = (await memory.verify()).problems.map((p) => p.kind).sort();
  assert.deepEqual(found, testStore === "kv" ? ["lease", "source"] : ["lease", "source", "stray"]);
  const repaired = await memory.verify({ repair: true });
  assert.ok(repaired.repaired >= 2);
  assert.deepEqual((await memory.verify()).problems, []);
});

test("verify() finds no problem after ordinary use that forgets versions: edits past the 5 kept, delete(), clear()", async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({}));
  // Seven edits of one function's code: each a version of its own, remembered by its source.
  const edits = [(x: number) => x + 1, (x: number) => x + 2, (x: number) => x + 3, (x: number) => x + 4,
    (x: number) => x + 5, (x: number) => x + 6, (x: number) => x + 7];
  await memory.fn("twin", edits[0]!)(1); // the first edit's code, still used by another name
  for (const edit of edits) {
    await memory.fn("edited", edit)(1);
    await tick();
  }
  assert.equal(memory.functions().filter((f) => f.name === "edited").length, 5);
  assert.deepEqual((await memory.verify()).problems, []);
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  t.after(() => db.close());
  const sources = () => db.prepare("SELECT text FROM sources").all().map((row) => String(row.text));
  assert.equal(sources().length, 6, "the 5 versions kept, and twin's"); // (twin's is the first edit's)
  assert.ok(sources().some((text) => text.includes("x + 1")));
  await memory.fn("other", (x: number) => x * 2)(1);
  await memory.delete("edited");
  assert.deepEqual((await memory.verify()).problems, []);
  await memory.clear();
  assert.deepEqual((await memory.verify()).problems, []);
});
