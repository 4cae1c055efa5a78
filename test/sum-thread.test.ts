// The summing thread (lib/store/sum-thread.ts): the checksum it takes of a file read back as this thread
// writes it is XXH64's of the bytes written, however the progress is told; a failed or abandoned job gives
// none (the caller sums), and the next job is summed again.
import assert from "node:assert/strict";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import fc from "fast-check";
import { test } from "./harness.ts";
import { runFixture, tempDir } from "./helpers.ts";
import { Xxh64 } from "../lib/xxh64.ts";
import { beginSummedWrite, startSumThread, SUM_PART, type SummedWrite } from "../lib/store/sum-thread.ts";

const seed = process.env.NBMEMO_PROPERTY_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.NBMEMO_PROPERTY_SEED);
console.log(`summing thread property: seed ${seed} (NBMEMO_PROPERTY_SEED=${seed} replays it)`);

const xxh64Of = (data: Uint8Array) => {
  const sum = new Xxh64();
  sum.add(data);
  return sum.value();
};

// A job for the file at `path`, once the thread is running and done with its last job.
async function job(path: string, bytes: number): Promise<SummedWrite> {
  startSumThread();
  for (const started = Date.now(); Date.now() - started < 20_000;) {
    const summed = beginSummedWrite(path, bytes);
    if (summed) return summed;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error("the summing thread did not start in 20 s");
}

// Writes `data` to a new file at `path` in the pieces that `cuts` ends, telling the summing thread after
// each, as the file store does (saying the file has `said` bytes); returns the job, for its end.
async function writeTelling(path: string, data: Uint8Array, cuts: readonly number[], said = data.byteLength): Promise<SummedWrite> {
  const fd = openSync(path, "wx");
  try {
    const summed = await job(path, said);
    let at = 0;
    for (const end of [...cuts, data.byteLength]) {
      for (let n = at; n < end;) n += writeSync(fd, data, n, end - n);
      at = Math.max(at, end);
      summed.progress(at);
    }
    return summed;
  } finally {
    closeSync(fd);
  }
}

test("the summing thread's checksum of a file written in any pieces is XXH64's of its bytes (property, 300 cases)", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  let i = 0;
  const cut = fc.uint8Array({ maxLength: 100_000 }).chain((data) =>
    fc.tuple(fc.constant(data), fc.uniqueArray(fc.integer({ min: 0, max: data.length }), { maxLength: 8 }).map((cuts) => cuts.sort((a, b) => a - b))));
  await fc.assert(fc.asyncProperty(cut, async ([data, cuts]) => {
    const summed = await writeTelling(join(dir.path, `file-${i++}`), data, cuts);
    assert.equal(summed.end(), xxh64Of(data), `${data.byteLength} bytes cut at ${cuts.join(", ")}`);
  }), { numRuns: 300, seed });
});

test("the summing thread reads a file larger than its part in parts, and tells one changed byte", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const data = Uint8Array.from({ length: 2 * SUM_PART + 1_000_013 }, (_, i) => (i * 2654435761) >>> 23);
  const cuts = [5, 3_000_001, SUM_PART + 7, 2 * SUM_PART + 999_990];
  const path = join(dir.path, "large");
  const summed = await writeTelling(path, data, cuts);
  assert.equal(summed.end(), xxh64Of(data));
  const changed = data.slice();
  changed[SUM_PART + 12_345]! ^= 1;
  const other = await writeTelling(join(dir.path, "changed"), changed, [SUM_PART]);
  assert.notEqual(other.end(), xxh64Of(data));
});

test("a job that fails gives no checksum, and the next one is summed: a missing file, a file shorter than said, an abandoned write", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const data = Uint8Array.from({ length: 50_000 }, (_, i) => i % 253);

  const missing = await job(join(dir.path, "never-made"), 1000);
  assert.equal(missing.end(), undefined, "a file it cannot open");

  const shortJob = await writeTelling(join(dir.path, "short"), data, [], data.byteLength + 40);
  assert.equal(shortJob.end(), undefined, "a file shorter than its said size");

  (await writeTelling(join(dir.path, "abandoned"), data.subarray(0, 20_000), [])).abandon();

  const next = await writeTelling(join(dir.path, "after"), data, [1000]);
  assert.equal(next.end(), xxh64Of(data), "summed as before");
});

test("a process whose summing thread runs ends by itself, under Node and Deno (a hang fails at the test's timeout)", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const payload = Uint8Array.from({ length: 9 << 20 }, (_, i) => i % 241);
  for (const which of ["node", "deno"] as const) {
    const { code, stdout, stderr } = await runFixture(which, "summed-store.ts", [join(dir.path, which)]);
    assert.equal(code, 0, stderr);
    const { checksum } = JSON.parse(stdout) as { checksum: string };
    assert.equal(checksum, xxh64Of(payload), `${which}: a store summed by the thread`);
  }
});
