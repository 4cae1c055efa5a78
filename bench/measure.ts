// Timing helpers shared by the benchmark workers: repeated runs, medians and percentiles.

/** Percentile `p` (0..100) of `samples` (sorted copy). */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const median = (samples: readonly number[]) => percentile(samples, 50);

/** Runs `work` `n` times after `warmup` runs; returns each run's duration in ms. */
export async function timeRuns(n: number, work: (i: number) => unknown, warmup = 0): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await work(-1 - i);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await work(i);
    times.push(performance.now() - started);
  }
  return times;
}

/** A Float64Array of `bytes` bytes with varied, non-compressible values. */
export function floats(bytes: number, seed = 1): Float64Array {
  const out = new Float64Array(bytes / 8);
  let x = seed;
  for (let i = 0; i < out.length; i++) out[i] = (x = (x * 16807) % 2147483647) / 2147483647;
  return out;
}

/** Prints the worker's result as the last line of stdout, for the orchestrator to read. */
export function report(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result));
}
