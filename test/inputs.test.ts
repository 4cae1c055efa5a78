// Input files in keys: memory.file / directory / glob are keyed by contents, across processes, with a
// (size, mtime, inode) fast path; a changed file is a miss that explain() names.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { Memory, NbmemoError } from "../lib/mod.ts";
import { lastJson, openTemp, runFixture, tempDir } from "./helpers.ts";

// A file whose mtime is set well in the past, so that its stamp is trusted (not "racy": see RACY_MS).
function writeOld(path: string, text: string, secondsAgo = 60): void {
  writeFileSync(path, text);
  const at = Date.now() / 1000 - secondsAgo;
  utimesSync(path, at, at);
}

for (const runtime of ["node", "deno"] as const) {
  test(`a file edited between runs is a miss in the next process, an untouched one a hit (${runtime})`, async (t) => {
    const cache = tempDir();
    const data = tempDir("nbmemo-data-");
    t.after(() => (cache.remove(), data.remove()));
    const file = join(data.path, "numbers.txt");
    writeFileSync(file, "1 2 3");
    const run = async () => lastJson<{ sum: number; computed: number }>(await runFixture(runtime, "file-reader.ts", [cache.path, file]));
    assert.deepEqual(await run(), { sum: 6, computed: 1 });
    assert.deepEqual(await run(), { sum: 6, computed: 0 });
    writeFileSync(file, "1 2 3 4");
    assert.deepEqual(await run(), { sum: 10, computed: 1 });
    // the same size, other contents, a new mtime: a miss too
    writeFileSync(file, "1 2 3 5");
    assert.deepEqual(await run(), { sum: 11, computed: 1 });
    // touched, not changed: a hit (its contents are read again and hash the same)
    const later = Date.now() / 1000 + 5;
    utimesSync(file, later, later);
    assert.deepEqual(await run(), { sum: 11, computed: 0 });
  });
}

test("an unchanged file is not read again: its size, mtime and inode stand for its contents", async (t) => {
  const memory = await openTemp(t);
  const data = tempDir("nbmemo-data-");
  t.after(data.remove);
  const file = join(data.path, "big.txt");
  writeOld(file, "aaaa");
  const before = statSync(file);
  let computed = 0;
  const read = memory.fn("read", (input: { path: string }) => (computed++, readFileSync(input.path, "utf8")));
  assert.equal(await read(memory.file(file)), "aaaa");
  // The same size and mtime and inode, other bytes (written in place, mtime put back): only reading the
  // file could tell, and the fast path does not read it. This is the fast path's one blind spot, shown here
  // to prove the file is not read; the README says so.
  writeFileSync(file, "bbbb");
  utimesSync(file, before.atime, before.mtime);
  assert.equal(statSync(file).ino, before.ino);
  assert.equal(await read(memory.file(file)), "aaaa");
  assert.equal(computed, 1);
  // A new mtime: read again, a miss.
  writeOld(file, "bbbb", 30);
  assert.equal(await read(memory.file(file)), "bbbb");
  assert.equal(computed, 2);
});

test("a file written just now is read again at the next call (its mtime tick may not be over)", async (t) => {
  const memory = await openTemp(t);
  const data = tempDir("nbmemo-data-");
  t.after(data.remove);
  const file = join(data.path, "fresh.txt");
  writeFileSync(file, "aaaa");
  const before = statSync(file);
  let computed = 0;
  const read = memory.fn("read", (input: { path: string }) => (computed++, readFileSync(input.path, "utf8")));
  assert.equal(await read(memory.file(file)), "aaaa");
  writeFileSync(file, "bbbb");
  utimesSync(file, before.atime, before.mtime); // the same stamp, but taken too soon after the write to trust
  assert.equal(await read(memory.file(file)), "bbbb");
  assert.equal(computed, 2);
});

test("explain names the input file that changed", async (t) => {
  const memory = await openTemp(t);
  const data = tempDir("nbmemo-data-");
  t.after(data.remove);
  const file = join(data.path, "stations.csv");
  writeFileSync(file, "id,name\n1,Oslo\n");
  const load = memory.fn("load", (input: { path: string }, limit: number) => readFileSync(input.path, "utf8").split("\n").slice(0, limit));
  await load(memory.file(file), 10);
  writeFileSync(file, "id,name\n1,Oslo\n2,Bergen\n");
  const why = await memory.explain("load", memory.file(file), 10);
  assert.equal(why.kind, "new-arguments");
  assert.match(why.text, /args\[0\]: cached file …[^ ]*\/stations\.csv #([0-9a-f]{8}), given file …[^ ]*\/stations\.csv #(?!\1)[0-9a-f]{8}/);
  assert.doesNotMatch(why.text, /args\[1\]/);
});

test("a file in deps: a changed file makes a new version, in the function and in the object form", async (t) => {
  const memory = await openTemp(t);
  const data = tempDir("nbmemo-data-");
  t.after(data.remove);
  const file = join(data.path, "rates.json");
  writeFileSync(file, '{"rate": 2}');
  const rates = memory.file(file);
  let computed = 0;
  const rate = () => JSON.parse(readFileSync(rates.path, "utf8")).rate as number;
  const byFunction = memory.fn("scaled_f", (x: number) => (computed++, x * rate()), { deps: () => ({ rates }), unkeyed: "all" });
  const byObject = memory.fn("scaled_o", (x: number) => (computed++, x * rate()), { deps: { rates }, unkeyed: "all" });
  assert.equal(await byFunction(3), 6);
  assert.equal(await byObject(3), 6);
  assert.equal(await byFunction(3), 6);
  assert.equal(await byObject(3), 6);
  assert.equal(computed, 2);
  writeFileSync(file, '{"rate": 5}');
  assert.equal(await byFunction(3), 15);
  assert.equal(await byObject(3), 15);
  assert.equal(computed, 4);
  const why = await memory.explain("scaled_o", 3);
  assert.equal(why.kind, "hit");
});

test("a directory and a glob are keyed by every file they hold: added, removed and changed files are misses", async (t) => {
  const memory = await openTemp(t);
  const data = tempDir("nbmemo-data-");
  t.after(data.remove);
  mkdirSync(join(data.path, "2024"));
  writeFileSync(join(data.path, "2024", "a.csv"), "1");
  writeFileSync(join(data.path, "2024", "b.csv"), "2");
  writeFileSync(join(data.path, "notes.txt"), "not data");
  let computed = 0;
  const sum = memory.fn("sum_files", (input: { files(): string[] }) => (computed++, input.files().map((f) => Number(readFileSync(f, "utf8"))).reduce((a, b) => a + b, 0)));
  const glob = () => memory.glob(`${data.path}/**/*.csv`);
  assert.deepEqual(glob().files(), [join(data.path, "2024", "a.csv"), join(data.path, "2024", "b.csv")]);
  assert.equal(await sum(glob()), 3);
  assert.equal(await sum(glob()), 3);
  writeFileSync(join(data.path, "notes.txt"), "changed, but not matched");
  assert.equal(await sum(glob()), 3);
  assert.equal(computed, 1);
  writeFileSync(join(data.path, "2024", "c.csv"), "4");
  assert.equal(await sum(glob()), 7);
  rmSync(join(data.path, "2024", "a.csv"));
  assert.equal(await sum(glob()), 6);
  assert.equal(computed, 3);
  const countFiles = memory.fn("count_files", (input: { files(): string[] }) => (computed++, input.files().length));
  assert.equal(await countFiles(memory.directory(data.path)), 3);
  assert.equal(await countFiles(memory.directory(data.path)), 3);
  writeFileSync(join(data.path, "notes.txt"), "changed again");
  assert.equal(await countFiles(memory.directory(data.path)), 3);
  assert.equal(computed, 5);
});

test("a missing input file is refused with an error naming it", async (t) => {
  const memory = await openTemp(t);
  const read = memory.fn("read", (input: { path: string }) => input.path);
  await assert.rejects(read(memory.file("no/such/file.csv")), (error: unknown) =>
    error instanceof NbmemoError && error.code === "UNHASHABLE_ARGUMENT" && /no\/such\/file\.csv/.test(error.message) && /ENOENT/.test(error.message));
  assert.throws(() => memory.file(""), /non-empty path/);
});
