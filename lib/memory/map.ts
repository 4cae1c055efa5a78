// memory.map(): a memoized function over many items, at most `concurrency` at once, results in order; a failing item does not stop the others, and the finished ones are kept (a re-run after a crash reads them back).
import { describe, NbmemoError } from "../errors.ts";
import { preview } from "../keys/args.ts";
import type { ProgressSink, ProgressState } from "../types.ts";

/** One item that failed in {@link Memory.map}: where it was, the item, and what it threw. */
export interface MapFailure<T = unknown> {
  readonly index: number;
  readonly item: T;
  readonly error: unknown;
}

/**
 * The rejection of {@link Memory.map} when items failed: every failure, and the results of the items
 * that did not fail (undefined at the failed places). The finished items are cached: running the map
 * again computes only the failed ones.
 */
export class MapError<T = unknown, R = unknown> extends NbmemoError {
  readonly failures: readonly MapFailure<T>[];
  readonly results: readonly (R | undefined)[];

  constructor(name: string, failures: readonly MapFailure<T>[], results: readonly (R | undefined)[]) {
    const listed = failures.slice(0, 5).map((f) => `  [${f.index}] ${preview(f.item, 40)}: ${describe(f.error)}`);
    if (failures.length > 5) listed.push(`  ... and ${failures.length - 5} more`);
    super("MAP_FAILED", `Cannot map ${name} over every item: ${failures.length} of ${results.length} failed (the other results are cached; ` +
      `error.failures lists each failure, errors: "return" returns them instead):\n${listed.join("\n")}`, { cause: failures[0]?.error });
    this.name = "MapError";
    this.failures = failures;
    this.results = results;
  }
}

/** How one item's call went: its value, and whether it was read back (or joined a call in flight). */
export interface ItemOutcome<R> {
  readonly value: R;
  readonly hit: boolean;
}

/**
 * Calls `call` on every item, at most `concurrency` at once, and gives the results in item order with
 * the failures beside them; `progress` hears of each item as it ends.
 */
export async function runMap<T, R>(name: string, items: readonly T[], call: (item: T) => Promise<ItemOutcome<R>>,
  concurrency: number, progress: ProgressSink | undefined, now: () => number = () => performance.now()):
  Promise<{ results: (R | undefined)[]; failures: MapFailure<T>[] }> {
  const started = now();
  const results: (R | undefined)[] = Array.from({ length: items.length }, () => undefined);
  const failures: MapFailure<T>[] = [];
  const counts = { hits: 0, computed: 0 };
  const state = (): ProgressState => ({ name, total: items.length, ...counts, failed: failures.length, elapsedMs: now() - started });
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const item = items[index] as T;
      try {
        const outcome = await call(item);
        results[index] = outcome.value;
        if (outcome.hit) counts.hits++;
        else counts.computed++;
      } catch (error) {
        failures.push({ index, item, error });
      }
      progress?.update(state());
    }
  };
  progress?.update(state());
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  progress?.done(state());
  failures.sort((a, b) => a.index - b.index);
  return { results, failures };
}
