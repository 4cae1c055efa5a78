import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "./harness.ts";
import { concat } from "../lib/bytes.ts";
import { parseBytes, parseDuration } from "../lib/options.ts";
import { Memory, type NbmemoError, type Store } from "../lib/mod.ts";
import { fileStore } from "../lib/store/file.ts";
import { captureConsole, fileStoreOnly, isDeno, lastJson, openSuiteStore, openTempMemory, padded, runFixture, startFixture, storedIds, tempDir, testStore, withSeams, withTestStore } from "./helpers.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 3));


test("sizes and durations accept numbers and strings with units, and refuse anything else", () => {
  assert.equal(parseBytes(1234, "maxBytes"), 1234);
  assert.equal(parseBytes("500 MB", "maxBytes"), 500_000_000);
  assert.equal(parseBytes("2 GiB", "maxBytes"), 2 * 2 ** 30);
  assert.equal(parseBytes("1.5gb", "maxBytes"), 1_500_000_000);
  assert.equal(parseBytes("64 KiB", "maxBytes"), 65536);
  assert.equal(parseDuration("7d", "maxAge"), 7 * 86_400_000);
  assert.equal(parseDuration("30 min", "maxAge"), 1_800_000);
  assert.equal(parseDuration("12h", "maxAge"), 43_200_000);
  assert.equal(parseDuration(250, "maxAge"), 250);
  for (const bad of [-1, 0, "lots", "5 XB", "", NaN, "1e3 MB"]) {
    assert.throws(() => parseBytes(bad, "maxBytes"), (e: NbmemoError) => e.code === "INVALID_OPTION" && /maxBytes=.*"500 MB"/.test(e.message));
  }
  assert.throws(() => parseDuration("soon", "maxAge"), /maxAge="soon": it must be milliseconds.*"7d"/);
});

test("Memory.open refuses bad limits with a clear error", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  await assert.rejects(Memory.open(dir.path, { maxBytes: -1 }), /Cannot use maxBytes=-1/);
  await assert.rejects(Memory.open(dir.path, { maxEntries: 2.5 }), /Cannot use maxEntries=2.5: it must be a whole number/);
  await assert.rejects(Memory.open(dir.path, { maxAge: "a week" }), /Cannot use maxAge="a week"/);
});

test("crossing maxEntries evicts the least recently used entries down to 90%, counting recent hits", async (t) => {
  const { memory } = await openTempMemory(t, withTestStore({ maxEntries: 10 }));
  const f = memory.fn("f", (x: number) => ({ x }), { version: "1" });
  for (let i = 0; i < 10; i++) await f(i), await tick();
  await f(0); // a hit: recorded in memory only, yet eviction must see it
  await tick();
  await f(10); // 11 entries > 10: evict down to 9
  await memory.settle();
  const left = memory.entries({ fn: "f" }).map((e) => Number(e.argsPreview)).sort((a, b) => a - b);
  assert.deepEqual(left, [0, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(memory.stats().session.evicted, 2);
});

test("crossing maxBytes evicts down to 90% of it and removes the evicted outputs (a shared store's stay, for the others)", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, withTestStore({ log: "silent", maxBytes: 10_000, inlineBytes: 0 }));
  t.after(() => memory.close());
  const blob = memory.fn("blob", (i: number) => new Uint8Array(1000).fill(i), { version: "1" });
  for (let i = 0; i < 12; i++) await blob(i), await memory.settle(), await tick();
  const { bytes, entries } = memory.stats();
  assert.ok(bytes <= 10_000, `${bytes} bytes left`);
  assert.ok(bytes <= 9_000 + 1100, `evicted down to about 90%: ${bytes}`);
  const outputs = (await storedIds(await openSuiteStore(t, dir.path))).length;
  assert.equal(outputs, testStore === "kv" ? 12 : entries);
  assert.ok(memory.entries().every((e) => Number(e.argsPreview) >= 12 - entries), "the oldest went first");
});

test("old versions of a function count like any other entry and go first when unused", async (t) => {
  const { memory } = await openTempMemory(t, withTestStore({ maxEntries: 4 }));
  const v1 = memory.fn("g", (x: number) => x, { version: "1" });
  const v2 = memory.fn("g", (x: number) => x, { version: "2" });
  for (let i = 0; i < 3; i++) await v1(i), await tick();
  for (let i = 0; i < 2; i++) await v2(i), await memory.settle(), await tick();
  const versions = memory.entries({ fn: "g" }).map((e) => e.version).sort();
  assert.deepEqual(versions, ["pinned:1", "pinned:2", "pinned:2"]);
});

test("a result older than maxAge is recomputed, not returned", async (t) => {
  let clock = Date.now();
  const { memory } = await openTempMemory(t, withSeams(withTestStore({ maxAge: 30 }), { now: () => clock }));
  let calls = 0;
  const now = memory.fn("now", () => ++calls, { version: "1" });
  assert.equal(await now(), 1);
  clock += 30;
  assert.equal(await now(), 1);
  clock += 1;
  assert.equal(await now(), 2);
  assert.equal(memory.entries().length, 1);
});

test("a value larger than maxBytes is returned, not stored, and evicts nothing", async (t) => {
  const dir = tempDir();
  const memory = await Memory.open(dir.path, withTestStore({ log: "warn", maxBytes: "2 kB" }));
  t.after(async () => {
    await memory.close();
    dir.remove();
  });
  const small = memory.fn("small", () => "x", { version: "1" });
  const huge = memory.fn("huge", () => new Uint8Array(5000), { version: "1" });
  await small();
  const { result, warnings } = await captureConsole(() => huge());
  assert.equal(result.length, 5000);
  assert.match(warnings.join("\n"), /Cannot store the result of huge: it takes 5\.\d kB, more than maxBytes \(2\.0 kB\)/);
  assert.deepEqual(memory.entries().map((e) => e.name), ["small"]);
});

test("hits are not written one by one: the catalog sees them on close", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, withTestStore({ log: "silent" }));
  const f = memory.fn("f", (x: number) => x + 1, { version: "1" });
  await f(1);
  for (let i = 0; i < 5; i++) await f(1);
  const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
  t.after(() => db.close());
  const count = () => Number(db.prepare("SELECT access_count FROM entries").get()!.access_count);
  assert.equal(count(), 0);
  await memory.close();
  assert.equal(count(), 5);
});

for (const which of ["node", "deno"] as const) {
  test(`hits of a ${which} process that exits without close are recorded at exit`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const first = lastJson<{ session: { hits: number } }>(await runFixture(which, "hit-and-exit.ts", [dir.path, "1"]));
    assert.equal(first.session.hits, 0);
    const second = lastJson<{ session: { hits: number } }>(await runFixture(which, "hit-and-exit.ts", [dir.path, "4"]));
    assert.equal(second.session.hits, 4);
    const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
    t.after(() => db.close());
    assert.equal(db.prepare("SELECT access_count FROM entries").get()!.access_count, 4);
  });
}

for (const which of ["node", "deno"] as const) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    // Under Deno nbmemo does not listen for signals (see onExit in lib/runtime.ts): the signal must still end
    // the process at once, which the listener once broke there.
    const recorded = which === "node";
    test(`${recorded ? "hits of " : ""}a ${which} process ended by ${signal}${recorded ? " are recorded, and the signal still ends it" : " ends at once"}`, async (t) => {
      const dir = tempDir();
      t.after(dir.remove);
      await runFixture(which, "hit-and-exit.ts", [dir.path, "1"]); // stores the entry
      const child = startFixture(which, "hit-and-wait.ts", [dir.path, "3"]);
      assert.equal(await child.firstLine, "ready");
      child.child.kill(signal);
      const { signal: ended, code } = await child.done;
      assert.ok(ended === signal || code === 128 + (signal === "SIGINT" ? 2 : 15), `ended by ${ended} with code ${code}`);
      const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
      t.after(() => db.close());
      if (recorded) assert.equal(db.prepare("SELECT access_count FROM entries").get()!.access_count, 3);
    });
  }
}

test("entries another process hit are kept when this process evicts", async (t) => {
  const { memory, dir } = await openTempMemory(t, withTestStore({ maxEntries: 6 }));
  const triple = memory.fn("triple", (x: number) => x * 3, { version: "1" }); // the fixture's function
  await triple(7), await tick();
  for (let i = 0; i < 5; i++) await triple(i), await tick();
  const child = await runFixture(isDeno ? "deno" : "node", "hit-and-exit.ts", [dir, "1"]);
  assert.equal(lastJson<{ session: { hits: number } }>(child).session.hits, 1);
  await tick();
  await triple(100); // 7 entries > 6: evict the 2 least recently used, down to 5
  await memory.settle();
  const left = memory.entries().map((e) => Number(e.argsPreview)).sort((a, b) => a - b);
  assert.deepEqual(left, [2, 3, 4, 7, 100]);
});

test("an eviction pass keeps the most recently used entry, even when 90% of the limit rounds to nothing", async (t) => {
  const { memory } = await openTempMemory(t, withTestStore({ maxEntries: 1, maxBytes: 1000 }));
  const f = memory.fn("f", (n: number) => "z".repeat(n), { version: "1" });
  await f(10), await tick();
  await f(20);
  await memory.settle();
  assert.deepEqual(memory.entries().map((e) => e.argsPreview), ["20"]);
  await tick();
  await f(950); // alone over 90% of maxBytes, yet within it
  await memory.settle();
  assert.deepEqual(memory.entries().map((e) => e.argsPreview), ["950"]);
});

test("eviction on a shared store drops this machine's rows and leaves the outputs to the others", async (t) => {
  const objects = new Map<string, Uint8Array>();
  const shared: Store = {
    flags: { shared: true },
    get: (id) => objects.get(id),
    set: (id, chunks) => void objects.set(id, concat(chunks)),
    delete: (id) => void objects.delete(id),
  };
  const { memory } = await openTempMemory(t, withTestStore({ maxEntries: 2, store: shared }));
  const f = memory.fn("f", (x: number) => x, { version: "1" });
  for (let i = 0; i < 3; i++) await f(i), await memory.settle(), await tick();
  assert.equal(memory.stats().entries, 1);
  assert.equal(objects.size, 3);
  await memory.delete("f", { shared: true });
  assert.equal(objects.size, 2); // the output this machine's catalog still knew
});

// Eviction in one process removes the objects of the rows it deleted, after its commit. With object names
// derived from the key, another process storing the same key in between had its new entry pointed at a
// file that was then removed: a "Cannot read the stored result" warning at the next read. Any warning fails
// the test (a store that failed because another process removed its folder is one too).
test("processes evicting and storing the same keys at once never break each other's entries", { ...fileStoreOnly, timeout: 120_000 }, async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const fixtures = (["node", "node", "deno"] as const).map((which, i) => startFixture(which, "churn.ts", [dir.path, String(i + 1), "700", "40"]));
  // Ended before the test's timeout, so that a hang fails with what the children printed so far (each
  // warning goes to stderr as it comes, with its time) rather than with a bare timeout.
  const stuck = setTimeout(() => fixtures.forEach((f) => f.child.kill("SIGKILL")), 100_000);
  const runs = await Promise.all(fixtures.map((f) => f.done)).finally(() => clearTimeout(stuck));
  if (runs.some((run) => run.signal === "SIGKILL")) {
    assert.fail(`the churn processes did not end in 100 s:\n${runs.map((run, i) => `process ${i + 1} (${run.signal ?? run.code}):\n${run.stderr}${run.stdout}`).join("\n")}`);
  }
  const results = runs.map((run) => lastJson<{ calls: number; warnings: string[]; wrong: number }>(run));
  const memory = await Memory.open(dir.path, { log: "silent" });
  t.after(() => memory.close());
  const broken = (await memory.verify()).problems.filter((p) => p.kind === "missing" || p.kind === "unreadable");
  const warnings = results.flatMap((r) => r.warnings);
  console.log(`churn: ${results.reduce((n, r) => n + r.calls, 0)} calls, ${warnings.length} warnings, ${broken.length} broken entries`);
  assert.deepEqual(warnings, []);
  assert.deepEqual(broken, []);
  assert.equal(results.reduce((n, r) => n + r.wrong, 0), 0);
});

test("an entry another process removes between the lookup and the read is a plain miss, without a warning", fileStoreOnly, async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const files = fileStore(join(dir.path, "objects"));
  const other = await Memory.open(dir.path, { log: "silent" }); // another connection to the catalog, as another process has
  t.after(() => other.close());
  let removeBeforeRead = false;
  // The files, except that the next read first lets the other connection delete the entry (row, then file).
  const store: Store = {
    ...files,
    async open(id) {
      if (removeBeforeRead) removeBeforeRead = false, await other.delete("racy");
      return await files.open!(id);
    },
  };
  const memory = await Memory.open(dir.path, { log: "warn", inlineBytes: 0, store });
  t.after(() => memory.close());
  let calls = 0;
  const f = memory.fn("racy", (x: number) => (calls++, new Uint8Array(100).fill(x)), { version: "1" });
  await f(1);
  removeBeforeRead = true;
  const { result, warnings } = await captureConsole(() => f(1));
  assert.deepEqual(result, new Uint8Array(100).fill(1));
  assert.equal(calls, 2);
  assert.deepEqual(warnings, []);
});

// A clock that moves on by `step` ms at every reading, and a scheduler that runs nothing until told:
// eviction batches are then timed and run as the test says.
function seams(step: number) {
  const queue: (() => Promise<void>)[] = [];
  let now = 1_000_000;
  return { queue, seams: { now: () => (now += step), schedule: (work: () => Promise<void>) => void queue.push(work) } };
}

test("an eviction pass runs after the call that crossed the limit returns, in short transactions another process can write between", async (t) => {
  const { queue, seams: s } = seams(25); // every batch over its 5 ms budget after its first 16 rows
  const { memory, dir } = await openTempMemory(t, withSeams(withTestStore({ maxEntries: 1000 }), s));
  const f = memory.fn("f", (x: number) => ({ x }), { version: "1" });
  for (let i = 0; i <= 1000; i++) await f(i); // the last store crosses the limit
  assert.equal(memory.stats().entries, 1001, "the call returned before anything was evicted");
  assert.equal(queue.length, 1, "one step scheduled");
  // Another connection, as another process has, that never waits for the lock: each of its writes between
  // two steps succeeds only if no step holds the lock across them.
  const other = new DatabaseSync(join(dir, "catalog.sqlite"));
  t.after(() => other.close());
  other.exec("PRAGMA busy_timeout = 0");
  const sizes: number[] = [];
  while (queue.length > 0) {
    const before = memory.stats().entries;
    await queue.shift()!();
    if (memory.stats().entries < before) sizes.push(before - memory.stats().entries);
    other.exec("BEGIN IMMEDIATE; UPDATE usage SET id = 1; COMMIT");
  }
  assert.deepEqual(sizes, [16, 16, 16, 16, 16, 16, 5], "batches of 16 rows, each its own transaction");
  assert.equal(memory.stats().entries, 900, "down to 90% of maxEntries");
  assert.equal(memory.stats().session.evicted, 101);
});

test("an eviction batch stops at 125 rows, whatever time is left", async (t) => {
  const { queue, seams: s } = seams(0); // a clock that stands still: only the row bound ends a batch, and no batch runs inline
  // The results inline in the catalog whatever store the suite runs on: no file bound either.
  const { memory } = await openTempMemory(t, withSeams({ maxEntries: 100 }, s));
  const f = memory.fn("f", (x: number) => x, { version: "1" });
  for (let i = 0; i < 1000; i++) await f(i); // the pass starts at the 101st; its first batch sees 1,000
  const sizes: number[] = [];
  while (queue.length > 0) {
    const before = memory.stats().entries;
    await queue.shift()!();
    if (memory.stats().entries < before) sizes.push(before - memory.stats().entries);
  }
  assert.deepEqual(sizes, [128, 128, 128, 128, 128, 128, 128, 14], "bounded by rows (checked every 16), down to 90");
});

test("batches evict in least-recently-used order by the injected clock, hits included", async (t) => {
  const { queue, seams: s } = seams(1);
  const { memory } = await openTempMemory(t, withSeams(withTestStore({ maxEntries: 10 }), s));
  const f = memory.fn("f", (x: number) => ({ x }), { version: "1" });
  for (let i = 0; i < 10; i++) await f(i);
  await f(1), await f(2); // hits, recorded in memory only: the pass flushes them first
  await f(10); // 11 entries > 10: evict the 2 least recently used, down to 9
  while (queue.length > 0) await queue.shift()!();
  const left = memory.entries({ fn: "f" }).map((e) => Number(e.argsPreview)).sort((a, b) => a - b);
  assert.deepEqual(left, [1, 2, 4, 5, 6, 7, 8, 9, 10]);
});

test("a loop of calls that never lets the scheduled batches run still keeps the cache near its limit", async (t) => {
  const { queue, seams: s } = seams(30);
  const { memory } = await openTempMemory(t, withSeams(withTestStore({ maxEntries: 50 }), s));
  const f = memory.fn("f", (x: number) => x, { version: "1" });
  let highest = 0;
  for (let i = 0; i < 400; i++) {
    await f(i);
    highest = Math.max(highest, memory.stats().entries);
  }
  assert.ok(queue.length > 0, "batches were scheduled but never ran");
  assert.ok(highest <= 60, `at most ${highest} entries at any time`);
});

// Each vacuum step gives back up to 128 pages: under Deno, whose exec() steps a statement once, it gave back
// one (a row per page freed), and this pass took ~3,000 steps there.
test("the catalog file shrinks after a large eviction, in a few dozen steps", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  await fillPadded(dir.path, 800);
  const before = statSync(path).size;
  const { queue, seams: s } = seams(0);
  const small = await Memory.open(dir.path, withSeams({ log: "silent", maxEntries: 100 }, s));
  await padded(small)(800);
  let steps = 0;
  while (queue.length > 0) await queue.shift()!(), steps++;
  await small.close();
  const after = statSync(path).size;
  assert.ok(after < before / 4, `${before} bytes before, ${after} after`);
  assert.ok(steps <= 50, `${steps} steps`);
});

// close() at a kernel's shutdown or a script's end took as long as the pass itself (7-19 s after one freeing
// 90% of 100,000 entries): it ran every remaining step with its pause.
test("close() gives a long pass a bounded time, and the next Memory resumes it: the limit holds, the file shrinks, totals stay exact", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "catalog.sqlite");
  let step = 0, now = 1_000_000;
  const queue: (() => Promise<void>)[] = [];
  // The results inline in the catalog whatever store the suite runs on: the catalog file is what is measured.
  const first = await Memory.open(dir.path, withSeams({ log: "silent", maxEntries: 100 }, { now: () => (now += step), schedule: (work) => void queue.push(work) }));
  const f = padded(first);
  for (let i = 0; i < 800; i++) await f(i); // the 101st store starts a pass; with the clock standing still, its steps wait in the queue
  const before = statSync(path).size;
  step = 25; // from now on a batch runs out of its 5 ms at its first 16 rows, and close's 250 ms go by in a few steps
  await first.close();
  for (const work of queue.splice(0)) await work(); // the steps it had scheduled find nothing left to do

  const second = await Memory.open(dir.path, withSeams({ log: "silent", maxEntries: 100 }, { now: () => now, schedule: (work) => void queue.push(work) }));
  t.after(() => second.close());
  const left = second.stats().entries;
  assert.ok(left >= 800 - 5 * 16, `close() ran a few batches at most: ${800 - left} entries evicted`);
  assert.equal(queue.length, 1, "opening the cache over its limit resumed the pass");
  let steps = 0;
  while (queue.length > 0) await queue.shift()!(), steps++;
  assert.equal(second.stats().entries, 90, "down to 90% of maxEntries");
  const kept = second.entries({ fn: "padded" }).map((e) => Number(e.argsPreview)).sort((a, b) => a - b);
  assert.deepEqual(kept, Array.from({ length: 90 }, (_, i) => 710 + i), "only the least recently used went");
  assert.deepEqual((await second.verify()).problems, [], "totals and entries agree");
  assert.ok(statSync(path).size < before / 4, `${before} bytes before, ${statSync(path).size} after ${steps} steps`);
});

// A catalog made before incremental vacuum (auto_vacuum NONE): the pass's vacuum steps gave nothing back, so
// the pass never ended and close() hung, without a timer ever firing again (the fixture runs in a child).
// A small one is rewritten once and shrinks, where SQLite can VACUUM (Deno 2.4's, built without attached
// databases, cannot); a large one keeps its size (a VACUUM would hold the lock long).
const canVacuum = (() => {
  try {
    return new DatabaseSync(":memory:").exec("VACUUM"), true;
  } catch {
    return false;
  }
})();
for (const [size, stored, kept] of [["small", 800, 100], ["large", 2000, 700]] as const) {
  const shrinks = size === "small" && canVacuum;
  test(`closing after a large eviction from a ${size} catalog made before incremental vacuum does not hang, and the file ${shrinks ? "shrinks" : "keeps its size"}`, { timeout: 120_000 }, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const path = join(dir.path, "catalog.sqlite");
    const old = new DatabaseSync(path); // a file that has had a table is past switching its mode, as an old catalog is
    old.exec("PRAGMA auto_vacuum = NONE; CREATE TABLE t (x); DROP TABLE t");
    old.close();
    await fillPadded(dir.path, stored);
    const before = statSync(path).size;
    const child = startFixture(isDeno ? "deno" : "node", "evict-and-close.ts", [dir.path, String(kept), String(stored)]);
    const timer = setTimeout(() => child.child.kill("SIGKILL"), 60_000);
    const run = await child.done.finally(() => clearTimeout(timer));
    assert.deepEqual(lastJson(run), { closed: true }, `the child was killed: ${run.signal}`);
    assert.equal(run.stderr, "", "no warning (a SQLite that cannot VACUUM is no eviction failure)");
    const db = new DatabaseSync(path);
    t.after(() => db.close());
    const mode = Number(db.prepare("PRAGMA auto_vacuum").get()!.auto_vacuum);
    const after = statSync(path).size;
    if (shrinks) {
      assert.equal(mode, 2, "rewritten in incremental mode");
      assert.ok(after < before / 4, `${before} bytes before, ${after} after`);
    } else {
      assert.equal(mode, 0, "left as it was");
      assert.ok(after >= before * 0.9, `${before} bytes before, ${after} after`);
    }
  });
}

// `n` padded results, inline in the catalog whatever store the suite runs on: the catalog file is what is measured.
async function fillPadded(dir: string, n: number): Promise<void> {
  const memory = await Memory.open(dir, { log: "silent" });
  const f = padded(memory);
  for (let i = 0; i < n; i++) await f(i);
  await memory.close();
}
