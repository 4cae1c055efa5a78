// Benchmarks nbmemo in this process (run under Node or Deno): small hits, small misses, 1 MB and 80 MB
// Float64Array outputs, argument hashing. Prints one JSON line of results (times in ms).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashValues } from "../../lib/keys/args.ts";
import { Memory } from "../../lib/mod.ts";
import { floats, median, percentile, report, timeRuns } from "../measure.ts";

const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-"));
try {
  const memory = await Memory.open(dir, { log: "silent" });
  const small = memory.fn("small", (a: number, b: string) => ({ a, b, sum: a + 1, tags: ["x", "y"] }));
  await small(1, "x");
  const hits = await timeRuns(20_000, () => small(1, "x"), 2_000);
  const misses = await timeRuns(2_000, (i) => small(i, "miss"), 100);

  // Freeing an 80 MB buffer unmaps it on a V8 background thread, which holds the process's memory-map
  // lock while tens of MB of page faults wait on it: collect and let that finish before each timed step.
  // (The orchestrator runs this worker with --expose-gc.)
  const gc = (globalThis as { gc?: () => void }).gc;
  const settle = async () => {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 30));
  };
  // nbmemo's stores and hits alternate with raw writes and reads of the same bytes, in either order by
  // turns, so that both meet the same page cache and writeback state (on a busy disk that matters more
  // than anything measured here). Each write is preceded by the removal of the previous file, as
  // big.clear() does for nbmemo's.
  const sized = async (bytes: number, reps: number) => {
    const value = floats(bytes);
    const big = memory.fn(`big${bytes}`, (_i: number) => value);
    const raw = join(dir, "raw");
    const times = { store: [] as number[], hit: [] as number[], rawWrite: [] as number[], rawRead: [] as number[] };
    const timed = async (into: number[] | undefined, work: () => unknown) => {
      if (bytes >= 10_000_000) await settle(); // at 1 MB the pause would only cool the caches
      const started = performance.now();
      await work();
      into?.push(performance.now() - started);
    };
    for (let i = -1; i < reps; i++) {
      const keep = i >= 0 ? times : undefined;
      const store = async () => {
        await big.clear();
        await timed(keep?.store, () => big(0));
      };
      const write = async () => {
        rmSync(raw, { force: true });
        await timed(keep?.rawWrite, () => writeFileSync(raw, new Uint8Array(value.buffer)));
      };
      const object = () => memory.entries({ fn: `big${bytes}` })[0]!.object!;
      const hit = () => timed(keep?.hit, async () => {
        if ((await big(0)).length !== value.length) throw new Error("wrong value read back");
      });
      const read = () => timed(keep?.rawRead, () => readFileSync(join(dir, "objects", object().slice(0, 2), object().slice(2))));
      for (const step of i % 2 === 0 ? [store, write, hit, read] : [write, store, read, hit]) await step();
    }
    await big.clear();
    return { store: median(times.store), hit: median(times.hit), rawWrite: median(times.rawWrite), rawRead: median(times.rawRead) };
  };
  const mb1 = await sized(1_000_000, 21);
  const mb80 = await sized(80_000_000, 7);

  const data = floats(80_000_000);
  const hashMs = median(await timeRuns(5, () => hashValues([data], "args", () => ""), 1));
  await memory.close();
  report({
    smallHitP50: percentile(hits, 50), smallHitP99: percentile(hits, 99),
    smallMiss: median(misses),
    store1MB: mb1.store, hit1MB: mb1.hit, store80MB: mb80.store, hit80MB: mb80.hit,
    rawWrite1MB: mb1.rawWrite, rawRead1MB: mb1.rawRead, rawWrite80MB: mb80.rawWrite, rawRead80MB: mb80.rawRead,
    hashMBps: 80 / (hashMs / 1000),
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
