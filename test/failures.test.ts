// Damaged payloads, full and read-only disks, catalogs that cannot be opened: the value is always
// returned, the damage costs a miss and one warning, and nothing is read back wrong.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate } from "node:timers";
import { DatabaseSync } from "node:sqlite";
import type { TestContext } from "node:test";
import { cannotRun, test } from "./harness.ts";
import { Memory } from "../lib/mod.ts";
import { concat } from "../lib/bytes.ts";
import { packChecksum } from "../lib/catalog/packing.ts";
import { checksum as checksumOf } from "../lib/codec/checksum.ts";
import { plainHeader } from "../lib/codec/codec.ts";
import type { Store } from "../lib/store/store.ts";
import { captureConsole, fileStoreOnly, openSuiteStore, storedIds, tempDir, testStore, withTestStore } from "./helpers.ts";

// Rewrites (or with undefined, deletes) the one stored output of the cache in `dir`, in the suite's store.
async function damageOutput(t: TestContext, dir: string, edit: (bytes: Uint8Array) => Uint8Array | undefined): Promise<void> {
  const store = await openSuiteStore(t, dir);
  const [id] = await storedIds(store);
  const edited = edit(new Uint8Array(await store.get(id!) as Uint8Array));
  if (edited) await store.set(id!, [edited]);
  else await store.delete(id!);
}

// Another connection's write, as another process's would be: this process's reads see it from their next
// burst, once the event loop turns (lib/catalog/sqlite.ts, Database.beforeRead).
async function updateRows(dir: string, sql: string): Promise<void> {
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  db.exec(sql);
  db.close();
  await new Promise((resolve) => setImmediate(resolve));
}

// Each damage is done to the one stored entry of `fragile(1)`; `inFile` says where its payload lives.
// A shared store's objects may be rewritten by another machine, so only the codec checks them: a byte
// changed inside a binary section there still decodes (signed entries, issue 17, are what catch it).
const sharedSkip = testStore === "kv" ? "a shared store's objects are checked by the codec only" : false;
const noInline = testStore === "kv" && "a shared store keeps no output inline in the catalog";
const damages: { name: string; inFile: boolean; skip?: string | false; damage: (t: TestContext, dir: string) => void | Promise<void> }[] = [
  { name: "truncated output file", inFile: true, damage: (t, dir) => damageOutput(t, dir, (bytes) => bytes.subarray(0, 40)) },
  {
    name: "garbled output file (same length, one byte changed)",
    inFile: true,
    skip: sharedSkip,
    damage: (t, dir) => damageOutput(t, dir, (bytes) => {
      bytes[bytes.length - 3]! ^= 0x01; // inside the binary section: still decodes, to another number
      return bytes;
    }),
  },
  {
    name: "deleted output file",
    inFile: true,
    skip: testStore === "kv" && "in a shared store a missing object is a plain miss (expired, or cleared elsewhere), without a warning",
    damage: (t, dir) => damageOutput(t, dir, () => undefined),
  },
  { name: "garbled catalog row (inline payload)", inFile: false, skip: noInline, damage: (_, dir) => updateRows(dir, "UPDATE entries SET inline = randomblob(length(inline))") },
  {
    name: "catalog row whose payload was changed to another valid one",
    inFile: false,
    skip: noInline,
    damage: (_, dir) => updateRows(dir, "UPDATE entries SET inline = (SELECT inline FROM entries WHERE args_preview = '2') WHERE args_preview = '1'"),
  },
  {
    name: "catalog row pointing outside the cache",
    inFile: false,
    damage: (_, dir) => updateRows(dir, "UPDATE entries SET inline = NULL, object = '../../../../etc/passwd'"),
  },
];

for (const { name, inFile, skip = false, damage } of damages) {
  test(`a ${name} is a miss with one warning, and the value is recomputed`, { skip }, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const memory = await Memory.open(dir.path, withTestStore({ log: "warn", inlineBytes: inFile ? 0 : 16384 }));
    t.after(() => memory.close());
    let calls = 0;
    const fragile = memory.fn("fragile", (x: number) => (calls++, { x, data: new Float64Array([x, x / 3, x * 1.5]) }), { version: "1" });
    await fragile(1);
    if (!inFile) await fragile(2);
    await damage(t, dir.path);
    const expected = { x: 1, data: new Float64Array([1, 1 / 3, 1.5]) };
    const { result, warnings } = await captureConsole(() => fragile(1));
    assert.deepEqual(result, expected);
    assert.equal(calls, inFile ? 2 : 3);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Cannot read the stored result of fragile\(1\): .*\. Recomputing it\./);
    const again = await captureConsole(() => fragile(1)); // stored anew
    assert.deepEqual(again.result, expected);
    assert.equal(calls, inFile ? 2 : 3);
    assert.deepEqual(again.warnings, []);
  });
}

// A large text is read and checksummed a few hundred KB at a time (lib/codec/read.ts): one byte changed
// to another ASCII character in its first piece, across the pieces or in its last byte is still a miss.
for (const [where, at] of [["near its start", 100], ["in its middle", 700_001], ["in its last byte", -1]] as const) {
  test(`a large ASCII text with one byte changed ${where} is a miss with one warning, and the value is recomputed`, { skip: sharedSkip }, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const memory = await Memory.open(dir.path, withTestStore({ log: "warn", inlineBytes: 0 }));
    t.after(() => memory.close());
    const text = "ASCII text, line after line\n".repeat(50_000); // 1.4 MB
    let calls = 0;
    const long = memory.fn("long", () => (calls++, text), { version: "1" });
    await long();
    await damageOutput(t, dir.path, (bytes) => {
      const i = at < 0 ? bytes.length + at : bytes.length - text.length + at; // the text is the payload's end
      bytes[i]! ^= 0x01; // "\n" -> "\v", "e" -> "d": still ASCII
      return bytes;
    });
    const { result, warnings } = await captureConsole(() => long());
    assert.equal(result, text);
    assert.equal(calls, 2);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Cannot read the stored result of long\(\): .*checksum mismatch.*\. Recomputing it\./);
  });
}

// Under Node a large last text is decoded from the file by Node itself after its bytes are summed, which
// turns bytes that are not UTF-8 into U+FFFD: the checksum is what catches them.
const utf8Text = "texte accentué, ligne après ligne\n".repeat(40_000); // 1.4 MB of UTF-8
for (const [kind, value] of [["text", utf8Text], ["list of strings", [utf8Text, "é"]]] as const) {
  test(`a large ${kind} with one byte no longer UTF-8 is a miss with one warning, and the value is recomputed`, { skip: sharedSkip }, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const memory = await Memory.open(dir.path, withTestStore({ log: "warn", inlineBytes: 0 }));
    t.after(() => memory.close());
    let calls = 0;
    const long = memory.fn("long", () => (calls++, value), { version: "1" });
    await long();
    await damageOutput(t, dir.path, (bytes) => {
      bytes[bytes.length - 1_000]! = 0xff; // inside the text, the payload's last section
      return bytes;
    });
    const { result, warnings } = await captureConsole(() => long());
    assert.deepEqual(result, value);
    assert.equal(calls, 2);
    assert.equal(warnings.length, 1);
    // (Deno decodes the text from its bytes, whose UTF-8 it checks first.)
    assert.match(warnings[0]!, /Cannot read the stored result of long\(\): .*(checksum mismatch|not UTF-8).*\. Recomputing it\./);
  });
}

// A plain JSON output is read from the catalog as its text (InlineText in lib/catalog/catalog.ts), which
// stands for the bytes its checksum covers (ASCII text is checked as it is, other text through its UTF-8):
// the text changed there to another valid document is a miss, never the other value.
for (const label of ["x", "é€😀 \ud800"]) {
  test(`a plain output's text (${JSON.stringify(label)}) changed in the catalog is a miss with one warning`, { skip: noInline }, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const memory = await Memory.open(dir.path, withTestStore({ log: "warn" }));
    t.after(() => memory.close());
    let calls = 0;
    const plain = memory.fn("plain", (x: number) => (calls++, { x, label }), { version: "1" });
    await plain(1);
    assert.deepEqual(await plain(1), { x: 1, label }); // read back as text
    assert.equal(calls, 1);
    const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
    const { inline } = db.prepare("SELECT inline FROM entries").get() as { inline: Uint8Array };
    const at = String.fromCharCode(...inline).indexOf('"x":1'); // one character a byte
    assert.ok(at > 0);
    inline[at + 4] = "7".charCodeAt(0);
    db.prepare("UPDATE entries SET inline = ?").run(inline);
    db.close();
    await new Promise((resolve) => setImmediate(resolve));
    const { result, warnings } = await captureConsole(() => plain(1));
    assert.deepEqual(result, { x: 1, label });
    assert.equal(calls, 2);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Cannot read the stored result of plain\(1\): .*checksum mismatch.*\. Recomputing it\./);
  });
}

// A plain JSON output's row rewritten to a payload that starts as plain JSON does but whose header counts a
// binary section, its tail (the section's 8-byte length, spaces here, then a document) valid JSON as text. Its
// checksum is either of those bytes, or of the plain payload the tail would stand for as JSON text (a row
// made to pass a reader that takes the section count on trust): a miss with one warning, both times, and
// never that document.
for (const sum of ["of its bytes", "of the plain payload its text would be"] as const) {
  test(`a row claiming a plain JSON payload whose header counts binary sections (checksum ${sum}) is a miss with one warning`, { skip: noInline }, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const memory = await Memory.open(dir.path, withTestStore({ log: "warn" }));
    t.after(() => memory.close());
    let calls = 0;
    const plain = memory.fn("plain", (x: number) => (calls++, { x }), { version: "1" });
    await plain(1);
    const text = `        {"x": 7}`;
    const header = plainHeader(8).slice();
    header[12] = 1; // one section
    const crafted = concat([header, new TextEncoder().encode(text)]);
    const checksum = packChecksum(sum === "of its bytes" ? checksumOf([crafted]) : checksumOf([plainHeader(text.length), new TextEncoder().encode(text)]));
    const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
    db.prepare("UPDATE entries SET inline = ?, checksum = ?").run(crafted, checksum);
    db.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual((await memory.verify()).problems.map((p) => p.kind), ["unreadable"]);
    const { result, warnings } = await captureConsole(() => plain(1));
    assert.deepEqual(result, { x: 1 });
    assert.equal(calls, 2);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Cannot read the stored result of plain\(1\): .*\. Recomputing it\./);
  });
}

function enospc(): Error {
  return Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
}

test("a store that fails with ENOSPC still returns the computed value, with one warning", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const full: Store = { get: () => undefined, set: () => Promise.reject(enospc()), delete: () => {} };
  const memory = await Memory.open(dir.path, withTestStore({ log: "warn", inlineBytes: 0, store: full }));
  t.after(() => memory.close());
  let calls = 0;
  const big = memory.fn("big", (n: number) => (calls++, new Float64Array(n).fill(n)), { version: "1" });
  const { result, warnings } = await captureConsole(async () => [await big(1000), await big(1000)]);
  assert.deepEqual(result, [new Float64Array(1000).fill(1000), new Float64Array(1000).fill(1000)]);
  assert.equal(calls, 2); // nothing was stored, so the second call computes too
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot store the result of big: ENOSPC: no space left on device.*returned but not cached/);
  assert.equal(memory.stats().entries, 0);
});

// A tmpfs of its own (needs root and mount, as on the project's machines); undefined where that is not possible.
function tmpfs(t: { after: (fn: () => void) => void }, size: string): { path: string; readOnly: () => void } | undefined {
  const dir = tempDir();
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir.path]).status === 0;
  if (!mounted) {
    dir.remove();
    return undefined;
  }
  t.after(() => {
    spawnSync("umount", [dir.path]);
    dir.remove();
  });
  return {
    path: dir.path,
    readOnly: () => assert.equal(spawnSync("mount", ["-o", "remount,ro", dir.path]).status, 0),
  };
}

test("a full disk (a 256 KiB tmpfs) still returns every computed value, with a warning", async (t) => {
  const disk = tmpfs(t, "256k");
  if (!disk) return cannotRun(t, "cannot mount a tmpfs here (needs root)");
  const memory = await Memory.open(join(disk.path, "cache"), { log: "warn" });
  const ramp = memory.fn("ramp", (n: number) => Float64Array.from({ length: n }, (_, i) => i), { version: "1" });
  const { result, warnings } = await captureConsole(async () => [await ramp(100_000), await ramp(10)]);
  const small = await ramp(10);
  await memory.close();
  assert.equal(result[0]!.length, 100_000);
  assert.equal(result[0]![99_999], 99_999);
  assert.deepEqual(result[1], Float64Array.from({ length: 10 }, (_, i) => i));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot store the result of ramp: .*(ENOSPC|No space left).*returned but not cached/);
  assert.deepEqual(small, result[1]); // the small one fit
});

// Opens the cache at `cache`, calls a memoized f(x) => ({ x }) with each of `xs`, closes it; returns what
// the calls returned, how many computed, and the warnings printed.
async function useCache(cache: string, xs: number[]) {
  let calls = 0;
  const { result, warnings } = await captureConsole(async () => {
    const memory = await Memory.open(cache, withTestStore({ log: "warn" }));
    const f = memory.fn("f", (x: number) => (calls++, { x }), { version: "1" });
    const values = [];
    for (const x of xs) values.push(await f(x));
    await memory.close();
    return values;
  });
  return { values: result, calls, warnings };
}

test("a cache directory on a read-only disk is used in memory only, with one warning", fileStoreOnly, async (t) => {
  const disk = tmpfs(t, "1m");
  if (!disk) return cannotRun(t, "cannot mount a tmpfs here (needs root)");
  disk.readOnly();
  const { values, calls, warnings } = await useCache(join(disk.path, "cache"), [1, 1, 2]);
  assert.deepEqual(values, [{ x: 1 }, { x: 1 }, { x: 2 }]);
  assert.equal(calls, 2); // kept in memory for this process
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot open the cache at .*cache: .*\. Results are kept in memory for this process only\./);
  assert.deepEqual(readdirSync(disk.path), []);
});

test("an existing cache on a disk turned read-only still returns computed values, with one warning", fileStoreOnly, async (t) => {
  const disk = tmpfs(t, "1m");
  if (!disk) return cannotRun(t, "cannot mount a tmpfs here (needs root)");
  const cache = join(disk.path, "cache");
  assert.equal((await useCache(cache, [1])).calls, 1);
  const before = readFileSync(join(cache, "catalog.sqlite"));
  disk.readOnly();
  const { values, calls, warnings } = await useCache(cache, [1]);
  assert.deepEqual(values, [{ x: 1 }]);
  assert.equal(calls, 1); // the stored entry is out of reach: computed again
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot open the cache at .*Results are kept in memory for this process only/);
  assert.deepEqual(readFileSync(join(cache, "catalog.sqlite")), before);
});

test("a catalog that is not a database is left alone: calls compute, with one warning", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const garbage = new TextEncoder().encode("this is not a database, but it is the user's file\n".repeat(100));
  writeFileSync(join(dir.path, "catalog.sqlite"), garbage);
  const { values, warnings } = await useCache(dir.path, [1]);
  assert.deepEqual(values, [{ x: 1 }]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot open the cache at .*not a database.*kept in memory/);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir.path, "catalog.sqlite"))), garbage);
});

test("a catalog path that cannot be opened at all (a directory) makes calls compute, with one warning", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  mkdirSync(join(dir.path, "catalog.sqlite"));
  const { values, warnings } = await useCache(dir.path, [1]);
  assert.deepEqual(values, [{ x: 1 }]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot open the cache at .*kept in memory/);
});
