import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, readdirSync, readFileSync, statSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { test } from "./harness.ts";
import { Catalog, entriesQuery, SCHEMA_VERSION } from "../lib/catalog/catalog.ts";
import { Memory, type NbmemoError } from "../lib/mod.ts";
import { busySeams, CREATION_LOCK, creationSeams, immediate, openDatabase, prepare } from "../lib/catalog/sqlite.ts";
import { captureConsole, downgradeToSchema1, downgradeToSchema4, downgradeToSchema6, type Fixture, lastJson, root, startFixture, tempDir } from "./helpers.ts";

const entry = (argsHash: string, object: string | null) => ({
  name: "f", version: "v1", argsHash, object, inline: object ? null : new Uint8Array([1, 2]), bytes: 2,
  computeMs: 12.5, argsPreview: "1", runtime: "node test", checksum: null,
});

test("a new catalog is created at the current schema version", (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  Catalog.open(path).close();
  const db = new DatabaseSync(path);
  assert.equal(db.prepare("PRAGMA user_version").get()!.user_version, SCHEMA_VERSION);
  assert.equal(db.prepare("PRAGMA journal_mode").get()!.journal_mode, "wal");
  db.close();
});

test("a catalog from a newer nbmemo is refused and left untouched", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE future (x); PRAGMA user_version = 99");
  db.close();
  await assert.rejects(Memory.open(dir.path), (e: NbmemoError) =>
    e.code === "CATALOG_TOO_NEW" && /schema version 99.*Upgrade nbmemo/.test(e.message));
  const after = new DatabaseSync(path);
  assert.equal(after.prepare("PRAGMA user_version").get()!.user_version, 99);
  assert.equal(after.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'entries'").get()!.n, 0);
  after.close();
});

test("a catalog of schema version 1 is migrated in place, keeping its entries", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent" });
  const square = memory.fn("square", (x: number) => x * x, { version: "1" });
  assert.equal(await square(3), 9);
  await memory.close();
  const path = join(dir.path, "catalog.sqlite");
  downgradeToSchema1(path);

  const reopened = await Memory.open(dir.path, { log: "silent" });
  t.after(() => reopened.close());
  let calls = 0;
  const again = reopened.fn("square", (x: number) => (calls++, x * x), { version: "1" });
  assert.equal(await again(3), 9); // the old entry, read without a checksum
  assert.equal(calls, 0);
  assert.equal(await again(4), 16); // a new one, stored with leases and a checksum
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.equal(db.prepare("PRAGMA user_version").get()!.user_version, SCHEMA_VERSION);
  assert.deepEqual(db.prepare("SELECT args_preview, checksum IS NOT NULL AS summed FROM entries ORDER BY args_preview").all()
    .map((row) => [row.args_preview, row.summed]), [["3", 0], ["4", 1]]);
});

// A database with a table t, and no busy timeout (only nbmemo's own retries are left), whose write lock a
// child process holds for `holdMs`.
async function lockedDatabase(t: { after: (fn: () => void) => void }, holdMs: number) {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const db = openDatabase(path);
  t.after(() => db.close());
  db.exec("CREATE TABLE t (x)");
  db.exec("PRAGMA busy_timeout = 0");
  const holder = startFixture("node", "lock-holder.ts", [path, String(holdMs)]);
  t.after(() => holder.child.kill("SIGKILL"));
  assert.equal(await holder.firstLine, "locked");
  return { db, holder };
}

test("a write that finds the catalog locked by another process retries until it succeeds, even with no busy timeout", async (t) => {
  const { db, holder } = await lockedDatabase(t, 300);
  assert.throws(() => db.exec("INSERT INTO t VALUES (0)"), /database is locked/); // the lock is really held
  immediate(db, () => db.exec("INSERT INTO t VALUES (1)"));
  prepare(db, "INSERT INTO t VALUES (2)").run();
  assert.deepEqual(db.prepare("SELECT x FROM t ORDER BY x").all().map((row) => row.x), [1, 2]);
  assert.equal((await holder.done).code, 0);
});

// A clock an hour later at every read: the process stalled (a loaded machine, a laptop asleep) at every try.
function stalledClock(t: { after: (fn: () => void) => void }): void {
  let hours = 0;
  busySeams.now = () => ++hours * 3_600_000;
  t.after(() => (busySeams.now = undefined));
}

test("a write whose process stalls while it waits for the lock does not give up: it counts the time it waited, not the clock's", async (t) => {
  const { db, holder } = await lockedDatabase(t, 300);
  stalledClock(t);
  immediate(db, () => db.exec("INSERT INTO t VALUES (1)"));
  assert.deepEqual(db.prepare("SELECT x FROM t").all().map((row) => row.x), [1]);
  assert.equal((await holder.done).code, 0);
});

test("a write that stalls at every try still gives up on a lock held on and on, having slept between its tries", async (t) => {
  const { db } = await lockedDatabase(t, 60_000);
  stalledClock(t);
  const started = Date.now();
  assert.throws(() => immediate(db, () => db.exec("INSERT INTO t VALUES (1)")), /database is locked/);
  // Each stalled try counts for at most SQLite's busy timeout (5 s); the sleeps between them for what they slept.
  assert.ok(Date.now() - started >= 1500, `gave up after ${Date.now() - started} ms`);
});

// Resolves once `fixture` has printed `text` (or exited), with everything it printed until then.
function printed(fixture: Fixture, text: string): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    fixture.child.stdout!.on("data", (d) => (out += d, out.includes(text) && resolve(out)));
    fixture.child.on("close", () => resolve(out));
  });
}

// When a creator printed "locked AT" and "unlocked AT" (test/fixtures/creator.ts): the time it held the creation lock.
function held(stdout: string): [number, number] {
  const at = (word: string) => Number(new RegExp(`^${word} (\\d+)$`, "m").exec(stdout)?.[1]);
  return [at("locked"), at("unlocked")];
}

// A fresh cache directory whose catalog a Node child is creating: it holds the creation lock until it is killed.
async function lockedByCreator(t: { after: (fn: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.remove);
  const cache = join(dir.path, "cache");
  const creator = startFixture("node", "creator.ts", [cache, "forever"]);
  t.after(() => creator.child.kill("SIGKILL"));
  assert.match(await printed(creator, "locked"), /^locked \d+$/m);
  return { cache, creator };
}

test("a creator killed while it holds the creation lock holds nobody up: the waiters go on at once, one at a time, and neither loses the other's catalog", async (t) => {
  const { cache, creator: killed } = await lockedByCreator(t);
  // Two waiters (Node and Deno) are waiting for it when it dies: each holds the lock 300 ms once it has it.
  const waiters = (["node", "deno"] as const).map((which) => startFixture(which, "creator.ts", [cache, "300"]));
  for (const waiter of waiters) assert.equal(await waiter.firstLine, "opening");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300); // they are in Memory.open by then
  killed.child.kill("SIGKILL");
  await killed.done;
  const runs = await Promise.all(waiters.map((waiter) => waiter.done));
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  for (const run of runs) assert.equal(run.stderr, ""); // no warning: not a catalog in memory of its own
  const [[start0, end0], [start1, end1]] = runs.map((run) => held(run.stdout)) as [[number, number], [number, number]];
  assert.ok(start0 >= end1 || start1 >= end0, `both held the creation lock at once: [${start0}, ${end0}] and [${start1}, ${end1}]`);
  // Both stored their call in the one catalog: neither's log was removed under it.
  const memory = await Memory.open(cache, { log: "silent", create: false });
  t.after(() => memory.close());
  assert.equal(memory.stats().entries, 2);
});

test("a creator that waits for a live one longer than it may fails to open the catalog with a warning naming the lock and the way out, and keeps its results in memory", async (t) => {
  const { cache } = await lockedByCreator(t);
  creationSeams.waitMs = 200;
  t.after(() => (creationSeams.waitMs = undefined));
  const { result: memory, warnings } = await captureConsole(() => Memory.open(cache, { log: "warn" }));
  t.after(() => memory.close());
  assert.equal(warnings.length, 1);
  const lock = join(cache, `catalog.sqlite${CREATION_LOCK}`);
  assert.ok(warnings[0]!.includes(`still holds the lock ${lock}`), warnings[0]);
  assert.match(warnings[0]!, /End that process \(`fuser .*` names it\)/);
  assert.equal(await memory.fn("f", (x: number) => x + 1, { version: "1" })(1), 2);
});

test("text that user code can put a NUL in (a normalized source, an argument preview) reads back whole and the same under Node and Deno; a pinned version cannot hold one", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent" });
  // NUL characters as they are, inside a string and a template literal of the source, and in an object key.
  const withNul = new Function(`return (x) => ["a\0b", \`c\0d\`, x]`)() as (x: unknown) => unknown;
  await memory.fn("nul", withNul)({ ["k\0ey"]: 1 });
  await memory.fn("raw", (x: number) => x, { version: "1" })(1);
  assert.throws(() => memory.fn("pinned", (x: number) => x, { version: "a\0b" }), /version="a\\u0000b".*cannot hold a NUL character/);
  await memory.close();
  // A preview with a NUL as an older nbmemo wrote it, before previews showed it escaped.
  const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
  db.prepare("UPDATE entries SET args_preview = ? WHERE fn = (SELECT id FROM functions WHERE name = 'raw')").run("raw\0preview");
  db.close();
  const [node, deno] = await Promise.all((["node", "deno"] as const).map(async (which) => {
    const run = await startFixture(which, "catalog-text.ts", [dir.path]).done;
    assert.equal(run.code, 0, run.stderr);
    return lastJson<{ functions: { source: string | null }[]; previews: string[] }>(run);
  }));
  assert.deepEqual(deno, node);
  assert.deepEqual(node!.previews, ["raw\0preview", '{k\\u0000ey: 1}']);
  assert.ok(node!.functions.some((f) => f.source?.includes("c\0d")), JSON.stringify(node!.functions));
});

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

// A catalog in a new directory, and a second connection to its file standing for another process.
function withOtherConnection(t: { after: (fn: () => void) => void }): { catalog: Catalog; other: DatabaseSync } {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const catalog = Catalog.open(path);
  t.after(() => catalog.close());
  const other = new DatabaseSync(path);
  t.after(() => other.close());
  other.exec("PRAGMA busy_timeout = 5000");
  return { catalog, other };
}

test("reads in one turn share a read transaction; the next turn's see another connection's writes", async (t) => {
  const { catalog, other } = withOtherConnection(t);
  const key = { name: "f", version: "v1", argsHash: "a" };
  catalog.useFunction("f", "v1", null, 1);
  other.exec("INSERT INTO runtimes (name) VALUES ('test')");
  const insert = (argsHash: string) => other.prepare(`INSERT INTO entries (fn, args_hash, object, inline, bytes, created_at,
    accessed_at, compute_ms, args_preview, runtime) VALUES ((SELECT id FROM functions WHERE name = 'f' AND version = 'v1'), ?, NULL,
    x'01', 1, 1, 1, 1, '1', (SELECT id FROM runtimes WHERE name = 'test'))`).run(argsHash);
  assert.equal(catalog.lookup(key), undefined); // opens the burst
  insert("a");
  // The same snapshot: one BEGIN serves every read of the turn (each on its own would see the row).
  assert.equal(catalog.lookup(key), undefined);
  await nextTurn();
  assert.equal(catalog.lookup(key)?.computeMs, 1);
  // A write of this connection ends the burst: what it wrote, and what others wrote before, is seen at once.
  insert("b");
  await catalog.put(entry("c", null), 1);
  assert.equal(catalog.lookup({ ...key, argsHash: "b" })?.computeMs, 1);
  assert.equal(catalog.lookup({ ...key, argsHash: "c" })?.computeMs, 12.5);
  // The burst holds no lock another process's write waits for.
  other.exec("PRAGMA busy_timeout = 0");
  insert("d");
});

test("a lookup's version id serves its read burst only: another connection that gave the id to another version is seen in the next", async (t) => {
  const { catalog, other } = withOtherConnection(t);
  await catalog.put(entry("a", null), 1);
  await nextTurn();
  const v1 = { name: "f", version: "v1", argsHash: "a" };
  // Twice in one burst: the second finds the entry by the version id the first read.
  assert.equal(catalog.lookup(v1)?.computeMs, 12.5);
  assert.equal(catalog.lookup(v1)?.computeMs, 12.5);
  assert.equal(catalog.lookup({ ...v1, argsHash: "b" }), undefined);
  await nextTurn();
  // Another process clears the catalog and stores the same arguments under version v2, whose row gets the id v1's had.
  other.exec(`DELETE FROM entries; DELETE FROM functions;
    INSERT INTO functions (name, version, created_at, last_used_at) VALUES ('f', 'v2', 1, 1);
    INSERT INTO entries (fn, args_hash, object, inline, bytes, created_at, accessed_at, compute_ms, args_preview, runtime)
      VALUES ((SELECT id FROM functions WHERE version = 'v2'), 'a', NULL, x'01', 1, 1, 1, 99, '1', (SELECT id FROM runtimes));`);
  assert.equal(Number(other.prepare("SELECT id FROM functions").get()!.id), 1); // the id v1 had (the only row before)
  assert.equal(catalog.lookup(v1), undefined);
  assert.equal(catalog.lookup({ ...v1, version: "v2" })?.computeMs, 99);
  // Found by the id in that burst again, and this connection's own write ends the burst too.
  assert.equal(catalog.lookup({ ...v1, version: "v2" })?.computeMs, 99);
  await catalog.clear();
  assert.equal(catalog.lookup({ ...v1, version: "v2" }), undefined);
});

test("a lookup's entry serves its read burst only: the next burst sees another connection's change, and a write of this one at once", async (t) => {
  const { catalog, other } = withOtherConnection(t);
  await catalog.put(entry("a", "obj1"), 1);
  await catalog.put(entry("b", "objb"), 1);
  await nextTurn();
  const key = { name: "f", version: "v1", argsHash: "a" };
  const b = { ...key, argsHash: "b" };
  assert.equal(catalog.lookup(key)?.object, "obj1");
  assert.equal(catalog.lookup(b)?.object, "objb");
  other.exec("UPDATE entries SET compute_ms = 99, object = object || '2'");
  // The same snapshot, remembered or read again: as it was when the burst began.
  for (let i = 0; i < 3; i++) {
    assert.deepEqual([catalog.lookup(key)?.computeMs, catalog.lookup(key)?.object, catalog.lookup(b)?.object], [12.5, "obj1", "objb"]);
  }
  assert.equal(catalog.lookup({ ...key, argsHash: "c" }), undefined);
  assert.equal(catalog.lookup({ ...key, version: "v2" }), undefined);
  await nextTurn();
  assert.deepEqual([catalog.lookup(key)?.computeMs, catalog.lookup(key)?.object, catalog.lookup(b)?.object], [99, "obj12", "objb2"]);
  // This connection replaces the entry within the burst: the next lookup reads the new row.
  await catalog.put({ ...entry("a", "obj3"), computeMs: 7 }, 1);
  assert.deepEqual([catalog.lookup(key)?.computeMs, catalog.lookup(key)?.object], [7, "obj3"]);
  await catalog.clear();
  assert.equal(catalog.lookup(key), undefined);
});

test("writes made in one turn share a commit, each in a savepoint: one that fails is undone alone", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const catalog = Catalog.open(join(dir.path, "catalog.sqlite"));
  t.after(() => catalog.close());
  await nextTurn();
  const before = catalog.commits;
  const writes = ["a", "b", "c", "d", "e", "f"].map((argsHash) =>
    catalog.put(argsHash === "d" ? { ...entry(argsHash, null), argsPreview: null as unknown as string } : entry(argsHash, null), 1));
  const settled = await Promise.allSettled(writes);
  assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
  assert.match(String((settled[3] as PromiseRejectedResult).reason), /NOT NULL/);
  // The first at once (a lone write waits for nothing), the five others together.
  assert.equal(catalog.commits - before, 2);
  assert.deepEqual(catalog.entries({ sort: "created" }).map((e) => e.argsHash).sort(), ["a", "b", "c", "e", "f"]);
  assert.deepEqual(catalog.usage(), { entries: 5, bytes: 10 });
  // A write made after the turn commits at once again, and an immediate transaction commits the queued ones first.
  const lone = catalog.commits;
  await catalog.put(entry("g", null), 1);
  assert.equal(catalog.commits - lone, 1);
  void catalog.put(entry("h", null), 1);
  const queued = catalog.put(entry("i", null), 1);
  catalog.recordAccesses([{ key: { name: "f", version: "v1", argsHash: "i" }, at: 5, count: 2 }]);
  await queued;
  assert.equal(catalog.get({ name: "f", version: "v1", argsHash: "i" })!.accessCount, 2);
});

test("entries are stored, read, accessed in batches and replaced", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const catalog = Catalog.open(join(dir.path, "catalog.sqlite"));
  t.after(() => catalog.close());
  assert.equal(await catalog.put(entry("a", "ab".repeat(32)), 1000), undefined);
  const stored = catalog.get({ name: "f", version: "v1", argsHash: "a" })!;
  assert.equal(stored.object, "ab".repeat(32));
  assert.equal(stored.createdAt, 1000);
  catalog.recordAccesses([{ key: stored, at: 2000, count: 3 }, { key: { ...stored, argsHash: "gone" }, at: 2000, count: 1 }]);
  catalog.recordAccesses([{ key: stored, at: 1500, count: 1 }]); // a late flush never moves the time back
  const touched = catalog.get(stored)!;
  assert.equal(touched.accessedAt, 2000);
  assert.equal(touched.accessCount, 4);
  // Replacing a file entry by an inline one hands back the file to delete.
  assert.equal(await catalog.put(entry("a", null), 3000), "ab".repeat(32));
  assert.deepEqual(catalog.get(stored)!.inline, new Uint8Array([1, 2]));
});

test("deleting a name returns its count and the objects to remove", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const catalog = Catalog.open(join(dir.path, "catalog.sqlite"));
  t.after(() => catalog.close());
  await catalog.put(entry("a", "cd".repeat(32)), 1);
  await catalog.put(entry("b", null), 1);
  await catalog.put({ ...entry("c", null), name: "other" }, 1);
  assert.deepEqual(catalog.delete({ name: "f" }), { count: 2, objects: ["cd".repeat(32)] });
  assert.equal(catalog.entries().length, 1);
});

test("the running totals stay exact through inserts, replacements and deletions", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const catalog = Catalog.open(join(dir.path, "catalog.sqlite"));
  t.after(() => catalog.close());
  await catalog.put({ ...entry("a", null), bytes: 10 }, 1);
  await catalog.put({ ...entry("b", null), bytes: 20 }, 1);
  await catalog.put({ ...entry("a", null), bytes: 15 }, 2); // replaces a
  assert.deepEqual(catalog.usage(), { entries: 2, bytes: 35 });
  catalog.delete({ name: "f", argsHash: "b" });
  assert.deepEqual(catalog.usage(), { entries: 1, bytes: 15 });
  const { recorded, actual } = catalog.recount(false);
  assert.deepEqual(recorded, actual);
});

test("a schema 3 catalog is migrated to running totals that match its entries", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const current = Catalog.open(path);
  await current.put({ ...entry("a", null), bytes: 10 }, 1);
  await current.put({ ...entry("b", "ef".repeat(32)), bytes: 300 }, 1);
  current.close();
  // Schemas 4, 5 and 6 only add to schema 3: taking their additions away gives a schema 3 catalog with entries.
  downgradeToSchema4(path);
  const db = new DatabaseSync(path);
  db.exec(`DROP TRIGGER usage_on_insert; DROP TRIGGER usage_on_delete; DROP TRIGGER usage_on_resize;
           DROP TABLE usage; DROP INDEX entries_by_creation; PRAGMA user_version = 3`);
  db.close();
  const migrated = Catalog.open(path);
  t.after(() => migrated.close());
  assert.deepEqual(migrated.usage(), { entries: 2, bytes: 310 });
  await migrated.put({ ...entry("c", null), bytes: 5 }, 2);
  assert.deepEqual(migrated.usage(), { entries: 3, bytes: 315 });
});

// The totals a fresh count of the entries gives, per version and over all, to compare with the kept ones.
function counted(path: string) {
  const db = new DatabaseSync(path);
  try {
    const sums = "count(*) AS entries, coalesce(sum(e.bytes), 0) AS bytes, coalesce(sum(e.access_count), 0) AS hits, coalesce(sum(e.access_count * e.compute_ms), 0) AS savedMs";
    return {
      versions: db.prepare(`SELECT f.name, f.version, ${sums} FROM entries e JOIN functions f ON f.id = e.fn GROUP BY e.fn ORDER BY f.name, f.version`)
        .all().map((r) => ({ ...r })),
      all: { ...db.prepare(`SELECT ${sums} FROM entries e`).get() },
    };
  } finally {
    db.close();
  }
}

function kept(catalog: Catalog) {
  const versions = catalog.functions().filter((f) => f.entries > 0)
    .map(({ name, version, entries, bytes, hits, savedMs }) => ({ name, version, entries, bytes, hits, savedMs }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const { entries, bytes, hits, savedMs } = catalog.totals();
  return { versions, all: { entries, bytes, hits, savedMs } };
}

test("per-version and global totals stay exact through stores, replacements, hits, deletions and eviction", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const catalog = Catalog.open(path);
  t.after(() => catalog.close());
  catalog.useFunction("f", "v1", "x => x", 1);
  await catalog.put({ ...entry("a", null), bytes: 10 }, 1);
  await catalog.put({ ...entry("b", null), bytes: 20 }, 2);
  await catalog.put({ ...entry("c", null), version: "v2", bytes: 40 }, 3); // a version with no functions row yet
  await catalog.put({ ...entry("a", null), bytes: 15 }, 4); // replaces a
  catalog.recordAccesses([{ key: { name: "f", version: "v1", argsHash: "b" }, at: 5, count: 3 }]);
  assert.deepEqual(kept(catalog), counted(path));
  assert.deepEqual(catalog.functions("f").find((f) => f.version === "v1")!.savedMs, 3 * 12.5);
  catalog.delete({ name: "f", argsHash: "b" });
  catalog.evict(() => ({ createdBefore: null, entries: 1, bytes: null }));
  assert.deepEqual(kept(catalog), counted(path));
  assert.equal(catalog.totals().entries, 1);
});

test("functions() and totals() read the kept totals, not the entries", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const catalog = Catalog.open(path);
  t.after(() => catalog.close());
  catalog.useFunction("f", "v1", null, 1);
  await catalog.put(entry("a", null), 1);
  // Totals set by hand to what no count of the entries gives: what comes back shows where it was read.
  const db = new DatabaseSync(path);
  db.exec("UPDATE functions SET entries = 777, hits = 5; UPDATE usage SET entries = 888, hits = 6");
  db.close();
  assert.deepEqual(catalog.functions().map((f) => [f.entries, f.hits]), [[777, 5]]);
  assert.deepEqual([catalog.totals().entries, catalog.totals().hits], [888, 6]);
  // verify's repair recomputes them all.
  catalog.recount(true);
  assert.deepEqual(kept(catalog), counted(path));
});

test("a schema 4 catalog is migrated to per-version totals that match its entries", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const current = Catalog.open(path);
  current.useFunction("f", "v1", "x => x", 1);
  await current.put({ ...entry("a", null), bytes: 10 }, 1);
  await current.put({ ...entry("b", null), bytes: 30 }, 1);
  await current.put({ ...entry("c", null), version: "v0", bytes: 5 }, 1);
  current.recordAccesses([{ key: { name: "f", version: "v1", argsHash: "a" }, at: 2, count: 4 }]);
  current.close();
  downgradeToSchema4(path);
  const migrated = Catalog.open(path);
  t.after(() => migrated.close());
  assert.deepEqual(kept(migrated), counted(path));
  assert.deepEqual(migrated.functions("f").map((f) => f.version).sort(), ["v0", "v1"]);
});

test("entries() finds a version through the key and walks an index for each indexed order, never scanning every entry", (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  Catalog.open(path).close();
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  const plans: string[] = [];
  for (const sort of ["accessed", "created", "bytes"] as const) {
    for (const filter of [{}, { fn: 1 }]) {
      const { sql, params } = entriesQuery({ ...filter, sort, limit: 20 });
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((r) => String(r.detail)).join("; ");
      plans.push(plan);
      // A full scan of the table (`e` in the query) reads "SCAN e" with no index after it.
      assert.doesNotMatch(plan, /SCAN e\b(?! USING)/, `${JSON.stringify({ ...filter, sort })}: ${plan}`);
    }
  }
  assert.ok(plans.some((p) => /entries_by_bytes/.test(p)), plans.join("\n"));
});

test("a schema 6 catalog is migrated to compact keys: its entries still hit, with their payloads, checksums and totals", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const open = () => Memory.open(dir.path, { log: "silent", inlineBytes: 64 });
  let calls = 0;
  const values = (x: number) => (calls++, { x, label: "v".repeat(x) }); // x = 1 inline, x = 100 in a file
  const memory = await open();
  const fn = memory.fn("values", values);
  const pinned = memory.fn("pinned", values, { version: "1" });
  for (const x of [1, 100]) await fn(x), await pinned(x);
  await fn(1); // a hit, counted in the totals
  const before = { functions: memory.functions(), entries: memory.entries(), stats: memory.stats() };
  await memory.close();
  downgradeToSchema6(path);
  const old = new DatabaseSync(path);
  assert.equal(old.prepare("PRAGMA user_version").get()!.user_version, 6);
  assert.match(String(old.prepare("SELECT version FROM entries WHERE name = 'values'").get()!.version), /^[0-9a-f]{64}$/);
  // An entry written before CRC-32 checksums carries a SHA-256 (hex) of its payload.
  const legacy = createHash("sha256").update(old.prepare("SELECT inline FROM entries WHERE name = 'pinned' AND args_preview = '1'").get()!.inline as Uint8Array).digest("hex");
  old.prepare("UPDATE entries SET checksum = ? WHERE name = 'pinned' AND args_preview = '1'").run(legacy);
  old.close();

  const migrated = await open();
  t.after(() => migrated.close());
  calls = 0;
  for (const x of [1, 100]) {
    assert.deepEqual(await migrated.fn("values", values)(x), { x, label: "v".repeat(x) });
    assert.deepEqual(await migrated.fn("pinned", values, { version: "1" })(x), { x, label: "v".repeat(x) });
  }
  assert.equal(calls, 0, "every entry was a hit");
  // All as before but the hits just made.
  const versions = (f: typeof before.functions) => f.map(({ hits: _, savedMs: __, lastUsedAt: ___, ...rest }) => rest);
  assert.deepEqual(versions(migrated.functions()), versions(before.functions));
  const entries = (e: typeof before.entries) => e.map(({ accessedAt: _, accessCount: __, ...rest }) => rest)
    .sort((a, b) => a.argsPreview.localeCompare(b.argsPreview) || a.name.localeCompare(b.name));
  assert.deepEqual(entries(migrated.entries()),
    entries(before.entries.map((e) => (e.name === "pinned" && e.argsPreview === "1" ? { ...e, checksum: legacy } : e))));
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.equal(db.prepare("PRAGMA user_version").get()!.user_version, SCHEMA_VERSION);
  assert.deepEqual(db.prepare(`SELECT typeof(args_hash) AS key, length(args_hash) AS n, typeof(checksum) AS sum FROM entries ORDER BY sum`).all()
    .map((r) => [r.key, r.n, r.sum]), [["blob", 32, "blob"], ["blob", 32, "integer"], ["blob", 32, "integer"], ["blob", 32, "integer"]]);
  assert.equal(db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE 'old_%'").get()!.n, 0);
  assert.equal(db.prepare("PRAGMA integrity_check").get()!.integrity_check, "ok");
});

test("a small entry costs the catalog at most 250 bytes besides its payload: keys as bytes, no text repeated per entry", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  const catalog = Catalog.open(path);
  const n = 5000;
  const sha = (text: string) => createHash("sha256").update(text).digest("hex");
  const version = sha("(i) => ({ i, label: `row ${i}` })");
  catalog.useFunction("row", version, "(i) => ({ i, label: `row ${i}` })", 1);
  const inline = new Uint8Array(77); // a small result, as bench/scale.bench.ts stores them
  const puts = [];
  for (let i = 0; i < n; i++) {
    const key = { name: "row", version, argsHash: sha(String(i)) };
    puts.push(catalog.put({ ...key, object: null, inline, checksum: `crc32:${sha(`c${i}`).slice(0, 8)}`, bytes: inline.byteLength,
      computeMs: 0.1 + i / 7, argsPreview: String(i), runtime: "node 24.22.3" }, 1796412411576 + i, undefined,
      { argsShape: JSON.stringify({ "[0]": [sha(String(i)).slice(0, 16), String(i)] }) }));
  }
  await Promise.all(puts);
  catalog.close(); // the write-ahead log goes into the file
  const overhead = statSync(path).size / n - inline.byteLength;
  assert.ok(overhead <= 250, `${overhead.toFixed(0)} bytes per entry besides its payload`);
});

test("a schema 5 catalog is migrated to one that remembers input files' stamps", (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  Catalog.open(path).close();
  downgradeToSchema6(path);
  const db = new DatabaseSync(path);
  db.exec("DROP TABLE input_files; PRAGMA user_version = 5");
  db.close();
  const migrated = Catalog.open(path);
  t.after(() => migrated.close());
  const stamp = { size: 4, mtimeMs: 1700000000123.5, ino: "18446744073709551615", hash: "ab".repeat(32), checkedAt: 1700000005000 };
  assert.equal(migrated.fileStamp("/data/a.csv"), undefined);
  migrated.putFileStamp("/data/a.csv", stamp);
  assert.deepEqual(migrated.fileStamp("/data/a.csv"), stamp);
});

test("sources are remembered by the hash of their raw text", (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const catalog = Catalog.open(join(dir.path, "catalog.sqlite"));
  t.after(() => catalog.close());
  assert.equal(catalog.getSource("raw"), undefined);
  catalog.putSource("raw", { hash: "h", text: "x => x", free: ["y"] });
  assert.deepEqual(catalog.getSource("raw"), { hash: "h", text: "x => x", free: ["y"] });
});

test("a version-1 catalog is migrated: entries kept, remembered sources dropped, argument shapes added", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  // Written by nbmemo's schema version 1: one source, one function version, one inline entry.
  copyFileSync(join(root, "test", "fixtures", "catalog-v1.sqlite"), path);
  const before = new DatabaseSync(path);
  assert.equal(before.prepare("PRAGMA user_version").get()!.user_version, 1);
  before.close();
  const catalog = Catalog.open(path);
  t.after(() => catalog.close());
  const key = { name: "f", version: "v1", argsHash: "a1" };
  assert.deepEqual(catalog.get(key)!.inline, new Uint8Array([1, 2, 3]));
  assert.deepEqual(catalog.functions("f").map((f) => [f.version, f.entries, f.source]), [["v1", 1, "(x) => x"]]);
  assert.equal(catalog.getSource("rawhash-v1"), undefined);
  const { inline, object, checksum, bytes, computeMs, argsPreview, runtime } = catalog.get(key)!;
  await catalog.put({ ...key, inline, object, checksum, bytes, computeMs, argsPreview, runtime }, 2, 1, { argsShape: '{"[0]":["ab","1"]}' });
  assert.deepEqual(catalog.argsShapes("f", "v1"), [{ argsHash: "a1", argsPreview: "1", shape: '{"[0]":["ab","1"]}' }]);
  assert.deepEqual(catalog.usage(), { entries: 1, bytes: catalog.get(key)!.bytes });
  const db = new DatabaseSync(path);
  assert.equal(db.prepare("PRAGMA user_version").get()!.user_version, SCHEMA_VERSION);
  db.close();
});

// Node 22.13-22.19 and Deno up to 2.4 fail a statement that uses one numbered parameter twice ("column
// index out of range"); the runtimes this suite runs on accept it, so the rule is checked in the source.
test("no SQL in lib/ uses numbered parameters (?1), which older node:sqlite mishandles when repeated", () => {
  const found: string[] = [];
  for (const file of readdirSync(join(root, "lib"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))) {
    readFileSync(join(root, "lib", file), "utf8").split("\n").forEach((line, i) => {
      if (!/^\s*(\/\/|\*)/.test(line) && /\?\d/.test(line)) found.push(`lib/${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});
