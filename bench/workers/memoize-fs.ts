// Benchmarks memoize-fs (npm) the way nbmemo is benchmarked. It stores JSON, so the float64 outputs
// are given to it as number[] (a Float64Array would not read back as one).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import memoizeFs from "memoize-fs";
import { floats, median, percentile, report, timeRuns } from "../measure.ts";

const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-mfs-"));
try {
  const memoizer = memoizeFs({ cachePath: dir });
  const small = await memoizer.fn((a: number, b: string) => ({ a, b, sum: a + 1, tags: ["x", "y"] }), { cacheId: "small" });
  await small(1, "x");
  const hits = await timeRuns(5_000, () => small(1, "x"), 500);
  const misses = await timeRuns(1_000, (i) => small(i, "miss"), 50);
  // An 80 MB output takes memoize-fs seconds per call: one run of each (no warm-up) is enough to rank it.
  const sized = async (bytes: number, reps: number, warmup: number) => {
    const value = Array.from(floats(bytes));
    const big = await memoizer.fn((_i: number) => value, { cacheId: `big${bytes}` });
    const store = await timeRuns(reps, (i) => big(i), warmup);
    const hit = await timeRuns(reps, () => big(0), warmup);
    return { store: median(store), hit: median(hit) };
  };
  const mb1 = await sized(1_000_000, 7, 1);
  const mb80 = await sized(80_000_000, 1, 0);
  report({
    smallHitP50: percentile(hits, 50), smallHitP99: percentile(hits, 99), smallMiss: median(misses),
    store1MB: mb1.store, hit1MB: mb1.hit, store80MB: mb80.store, hit80MB: mb80.hit,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
