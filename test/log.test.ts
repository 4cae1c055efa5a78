import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { pathToFileURL } from "node:url";
import { Memory, type MemoryOptions } from "../lib/mod.ts";
import { captureConsole, nodeTypeScript, openTempMemory, root, runtimePath, tempDir } from "./helpers.ts";

// Opens a temp cache with NBMEMO_LOG set to `level` (or unset), makes one miss, one hit and one
// unstorable result, and returns what was printed.
async function session(t: { after: (fn: () => void) => void }, level: string | undefined, options: MemoryOptions = {}) {
  const dir = tempDir();
  t.after(dir.remove);
  const saved = process.env.NBMEMO_LOG;
  if (level === undefined) delete process.env.NBMEMO_LOG;
  else process.env.NBMEMO_LOG = level;
  try {
    return await captureConsole(async () => {
      const memory = await Memory.open(dir.path, options);
      const square = memory.fn("square", (x: number) => x * x);
      await square(3);
      await square(3);
      await memory.fn("make_adder", (n: number) => (x: number) => x + n)(1);
      await memory.close();
    });
  } finally {
    if (saved === undefined) delete process.env.NBMEMO_LOG;
    else process.env.NBMEMO_LOG = saved;
  }
}

test("a script prints no hit or miss notices by default, only warnings", async (t) => {
  const { notices, warnings } = await session(t, undefined);
  assert.deepEqual(notices, []);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^nbmemo: Cannot store the result of make_adder/);
});

test("NBMEMO_LOG=info prints a notice per call: name, hit or miss, time spent or saved", async (t) => {
  const { notices } = await session(t, "info");
  assert.equal(notices.length, 3);
  assert.match(notices[0]!, /^nbmemo: square miss \(computed in [\d.]+ ms, stored \d+ B\)$/);
  // A square computes faster than its hit reads back: the notice says so rather than claim time saved.
  assert.match(notices[1]!, /^nbmemo: square hit \((saved [\d.]+ ms|no time saved: read back in [\d.]+ ms, computed in [\d.]+ ms)\)$/);
  assert.match(notices[2]!, /^nbmemo: make_adder miss \(computed in [\d.]+ ms\)$/);
});

test("NBMEMO_LOG=silent silences warnings too", async (t) => {
  const { notices, warnings } = await session(t, "silent");
  assert.deepEqual([notices, warnings], [[], []]);
});

test("the log option overrides NBMEMO_LOG", async (t) => {
  const { notices, warnings } = await session(t, "silent", { log: "info" });
  assert.equal(notices.length, 3);
  assert.equal(warnings.length, 1);
});

test("an unknown NBMEMO_LOG value is refused, naming the variable", async (t) => {
  await assert.rejects(session(t, "loud"), /Cannot use NBMEMO_LOG="loud": not a log level/);
});

test("a script in a folder named tslab is still a script: no notices", (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  mkdirSync(join(dir.path, "tslab"));
  const script = join(dir.path, "tslab", "analysis.mts");
  writeFileSync(script, [
    `import { Memory } from ${JSON.stringify(pathToFileURL(join(root, "lib", "mod.ts")).href)};`,
    `const memory = await Memory.open(${JSON.stringify(join(dir.path, "cache"))});`,
    `await memory.fn("square", (x: number) => x * x)(3);`,
    `await memory.close();`,
  ].join("\n"));
  const env = { ...process.env };
  delete env.NBMEMO_LOG;
  const child = spawnSync(runtimePath("node"), [...nodeTypeScript(), script], { encoding: "utf8", env });
  assert.equal(child.status, 0, child.stderr);
  assert.doesNotMatch(child.stdout + child.stderr, /nbmemo: square/);
});

test("a hit that reads back slower than the function computes says so once, with the figures", async (t) => {
  const { memory } = await openTempMemory(t, { log: "warn" });
  const rows = Array.from({ length: 400_000 }, (_, i) => ({ i, s: `r${i}`, x: i / 3, tags: [i] })); // reading back costs more than returning it
  const table = memory.fn("table", () => rows, { version: "1" });
  await table();
  const { warnings } = await captureConsole(async () => {
    await table();
    await table();
  });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^nbmemo: table: reading its stored result back took [\d.]+ m?s, longer than computing it \([\d.]+ ms\): caching it costs time\./);
});

test("a loop of calls gives its first notices a line each and the rest one summary line; other functions keep their lines", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const { notices } = await captureConsole(async () => {
    const memory = await Memory.open(dir.path, { log: "info" });
    const half = memory.fn("half", (x: number) => x / 2);
    for (let i = 0; i < 50; i++) await half(i % 10);
    await memory.fn("double", (x: number) => x * 2)(1); // during half's burst, yet a line of its own
    await memory.close(); // ends the burst
  });
  assert.equal(notices.length, 5, notices.join("\n"));
  assert.match(notices[3]!, /^nbmemo: double miss/);
  assert.match(notices[2]!, /^nbmemo: half miss/);
  assert.match(notices[4]!, /^nbmemo: half: 47 more calls: 40 hits \(saved [\d.]+ (ms|s)\), 7 misses$/);
});

test("a warning already given is not repeated by a Memory opened again on the same directory", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const LIMIT = 3;
  const { warnings } = await captureConsole(async () => {
    for (let run = 0; run < 2; run++) {
      const memory = await Memory.open(dir.path, { log: "warn" });
      await memory.fn("capped", (x: number) => Math.min(x, LIMIT))(5);
      await memory.close();
    }
  });
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /capped reads LIMIT from outside/);
});
