// Timing helpers and test data shared by the benchmark workers: repeated runs, medians and percentiles, arrays and rows.

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

/** 1M rows of 5 fields, as a parsed CSV gives them: int, short string, float, bool, null-or-string. */
export function tableRows(n = 1_000_000): { id: number; station: string; value: number; ok: boolean; note: string | null }[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i, station: `ST${(i * 7919) % 5000}`, value: ((i * 16807) % 2147483647) / 2147483647, ok: i % 3 === 0,
    note: i % 7 === 0 ? null : `n${i % 977}`,
  }));
}
