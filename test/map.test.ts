// memory.map: results in order, at most `concurrency` at once, failures collected, and a map killed
// part-way computes only the rest when it runs again.
import assert from "node:assert/strict";
import { MapError, type MapFailure, NbmemoError } from "../lib/mod.ts";
import { progressText } from "../lib/notebook/progress.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cannotRun, test } from "./harness.ts";
import { nodeTypeScript, openTemp, root, runtimePath, startFixture, startProcess, tempDir } from "./helpers.ts";

test("map returns the results in item order, whatever order they finish in", async (t) => {
  const memory = await openTemp(t);
  const delays = [30, 0, 20, 5, 10];
  const results = await memory.map("delayed", delays, async (ms: number) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return `waited ${ms}`;
  }, { concurrency: 5, progress: false });
  assert.deepEqual(results, delays.map((ms) => `waited ${ms}`));
});

test("map runs at most `concurrency` items at once", async (t) => {
  const memory = await openTemp(t);
  let running = 0;
  let most = 0;
  await memory.map("counted", Array.from({ length: 12 }, (_, i) => i), async (i: number) => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 2));
    running--;
    return i;
  }, { concurrency: 3, progress: false });
  assert.equal(most, 3);
});

test("a second map over the same items reads every result back, and a longer list computes only the new items", async (t) => {
  const memory = await openTemp(t);
  let computed = 0;
  const square = (x: number) => (computed++, x * x);
  assert.deepEqual(await memory.map("square", [1, 2, 3], square, { progress: false }), [1, 4, 9]);
  assert.deepEqual(await memory.map("square", [1, 2, 3], square, { progress: false }), [1, 4, 9]);
  assert.equal(computed, 3);
  assert.deepEqual(await memory.map("square", [1, 2, 3, 4, 5], square, { progress: false }), [1, 4, 9, 16, 25]);
  assert.equal(computed, 5);
  // memory.fn of the same name and code shares the results
  assert.equal(await memory.fn("square", square)(2), 4);
  assert.equal(computed, 5);
});

test("a failing item does not stop the others: the map rejects with every failure, and the rest is cached", async (t) => {
  const memory = await openTemp(t);
  let computed = 0;
  const check = (x: number) => {
    computed++;
    if (x % 3 === 0) throw new Error(`${x} is a multiple of 3`);
    return x * 10;
  };
  const items = [1, 2, 3, 4, 5, 6, 7];
  const error = await memory.map("check", items, check, { progress: false }).then(() => assert.fail("resolved"), (e: unknown) => e);
  assert.ok(error instanceof MapError && error instanceof NbmemoError);
  assert.equal(error.code, "MAP_FAILED");
  assert.deepEqual(error.failures.map((f) => f.index), [2, 5]);
  assert.match(error.message, /2 of 7 failed/);
  assert.match(error.message, /\[2\] 3: 3 is a multiple of 3/);
  assert.deepEqual(error.results, [10, 20, undefined, 40, 50, undefined, 70]);
  assert.equal(computed, 7);
  // errors: "return" puts each failure in its place; the finished items are hits, the failed ones run again
  const results = await memory.map("check", items, check, { errors: "return", progress: false });
  assert.equal(computed, 9);
  assert.deepEqual(results.filter((r): r is number => typeof r === "number"), [10, 20, 40, 50, 70]);
  const failure = results[5] as MapFailure<number>;
  assert.equal(failure.item, 6);
  assert.equal((failure.error as Error).message, "6 is a multiple of 3");
});

test("map refuses bad options and items with clear errors", async (t) => {
  const memory = await openTemp(t);
  const square = (x: number) => x * x;
  await assert.rejects(memory.map("sq", [1], square, { concurrency: 0 }), /concurrency=0 .* 1 or more/);
  await assert.rejects(memory.map("sq", [1], square, { errors: "ignore" as "throw" }), /errors="ignore"/);
  await assert.rejects(memory.map("sq", [1], square, { progress: "yes" as "auto" }), /progress="yes"/);
  await assert.rejects(memory.map("sq", 5 as unknown as number[], square), /items must be an array or another iterable/);
  await assert.rejects(memory.map("sq", [1], square, { concurency: 2 } as object), /no such option/);
});

test("the progress line tells done/total, hits and computed, elapsed and the time left", () => {
  assert.equal(progressText({ name: "fit", total: 10, hits: 4, computed: 2, failed: 0, elapsedMs: 2000 }),
    "fit: 6/10 (4 hits, 2 computed), 2.00 s, about 4.00 s left");
  assert.equal(progressText({ name: "fit", total: 3, hits: 1, computed: 1, failed: 1, elapsedMs: 500 }),
    "fit: 3/3 (1 hits, 1 computed, 1 failed), 500 ms");
});

test("a script on a pipe shows no progress unless asked; with progress: true it prints lines to stderr", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const quiet = await startFixture("node", "mapper.ts", [dir.path, "20", "1"]).done;
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, "");
  const asked = await startFixture("node", "mapper.ts", [dir.path, "40", "1", "progress"]).done;
  assert.equal(asked.code, 0, asked.stderr);
  const lines = asked.stderr.trim().split("\n");
  assert.ok(lines.length >= 2 && lines.length <= 11, asked.stderr); // a line per tenth at most, and the last
  assert.equal(lines.at(-1)!.replace(/\d+(\.\d+)? m?s/, "T"), "slow_square: 40/40 (20 hits, 20 computed), T");
  assert.ok(!asked.stderr.includes("\r"));
});

test("on a terminal, progress is one line rewritten in place on stderr", async (t) => {
  // util-linux `script` gives the child a pseudo-terminal; its stdout goes to /dev/null inside.
  if (!existsSync("/usr/bin/script")) return cannotRun(t, "no /usr/bin/script to give the child a terminal");
  const dir = tempDir();
  t.after(dir.remove);
  const command = [runtimePath("node"), ...nodeTypeScript(), join(root, "test", "fixtures", "mapper.ts"), dir.path, "30", "5"].map((a) => `'${a}'`).join(" ");
  const run = await startProcess("/usr/bin/script", ["-qec", `${command} >/dev/null`, "/dev/null"]).done;
  assert.equal(run.code, 0, run.stderr);
  const output = run.stdout.replace(/\r\n/g, "\n");
  assert.equal(output.split("\n").filter(Boolean).length, 1, JSON.stringify(output)); // one line, however many redraws
  const redraws = output.split("\r\x1b[2K").filter(Boolean);
  assert.ok(redraws.length >= 2, JSON.stringify(output));
  assert.match(redraws[0]!, /^slow_square: 0\/30 \(0 hits, 0 computed\)/);
  assert.match(redraws.at(-1)!, /^slow_square: 30\/30 \(0 hits, 30 computed\), [\d.]+ m?s\n$/);
});

// The figures are printed for the report: the first run is killed after a few items, the second reads
// those back and computes the rest.
for (const runtime of ["node", "deno"] as const) {
  test(`a map killed with SIGKILL part-way (${runtime}) computes only the unfinished items when run again`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const [count, ms] = [20, 100];
    const first = startFixture(runtime, "mapper.ts", [dir.path, String(count), String(ms)]);
    let seen = "";
    await new Promise<void>((resolve) => {
      first.child.stdout!.on("data", (d) => {
        seen += d;
        if ((seen.match(/^computed /gm) ?? []).length >= 8) resolve();
      });
    });
    first.child.kill("SIGKILL");
    const killed = await first.done;
    assert.equal(killed.signal, "SIGKILL");
    const before = new Set(killed.stdout.match(/^computed \d+/gm));
    const second = await startFixture(runtime, "mapper.ts", [dir.path, String(count), String(ms)]).done;
    assert.equal(second.code, 0, second.stderr);
    const summary = JSON.parse(second.stdout.trim().split("\n").at(-1)!) as { computed: number; mapMs: number; sum: number };
    const again = new Set(second.stdout.match(/^computed \d+/gm));
    assert.equal(summary.sum, Array.from({ length: count }, (_, i) => i * i).reduce((a, b) => a + b, 0));
    // An item the kill caught between computing and storing (at most the 2 in flight) is computed again.
    const twice = [...again].filter((item) => before.has(item));
    assert.ok(twice.length <= 2, `computed twice: ${twice.join(", ")}`);
    assert.equal(summary.computed, count - before.size + twice.length);
    // A lease held by the killed process is taken over at once (it would otherwise hold its items for 30 s).
    assert.ok(summary.mapMs < 10_000, `the re-run took ${summary.mapMs} ms`);
    console.log(`[figures] ${runtime}: killed after ${before.size} of ${count} items (${ms} ms each, concurrency 2); ` +
      `the re-run computed ${summary.computed} and finished in ${summary.mapMs} ms (all ${count}: about ${(count * ms) / 2} ms)`);
  });
}
