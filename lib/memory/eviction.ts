// The eviction policy: when the cache is over a limit, and how far one pass goes. Least recently used
// entries go first; a pass goes down to 90% of each limit it found crossed, so that the next stores do
// not each pay for a pass of their own.
import type { Catalog, EvictionTarget, Removed, Usage } from "../catalog/catalog.ts";
import type { Limits } from "../types.ts";
import { removeObjects, type Store } from "../store/store.ts";

/** A pass evicts down to this fraction of a crossed limit. */
export const EVICT_TO = 0.9;

/** True when `limits` are crossed (an O(1) check on the catalog's running totals, made after each store). */
export function overLimits(limits: Limits, catalog: Catalog, now: number): boolean {
  const usage = catalog.usage();
  if (crossed(limits, usage).length > 0) return true;
  if (limits.maxAgeMs === null) return false;
  const oldest = catalog.oldestCreatedAt();
  return oldest !== null && oldest < now - limits.maxAgeMs;
}

function crossed(limits: Limits, usage: Usage): ("entries" | "bytes")[] {
  const found: ("entries" | "bytes")[] = [];
  if (limits.maxEntries !== null && usage.entries > limits.maxEntries) found.push("entries");
  if (limits.maxBytes !== null && usage.bytes > limits.maxBytes) found.push("bytes");
  return found;
}

/**
 * How far a pass goes, decided on the usage read inside the pass's transaction: expired entries always,
 * and the least recently used down to 90% of each crossed limit. Undefined when there is nothing to do.
 */
export function evictionTarget(limits: Limits, now: number): (usage: Usage) => EvictionTarget | undefined {
  return (usage) => {
    const over = crossed(limits, usage);
    if (over.length === 0 && limits.maxAgeMs === null) return undefined;
    return {
      createdBefore: limits.maxAgeMs === null ? null : now - limits.maxAgeMs,
      entries: over.includes("entries") ? Math.floor(limits.maxEntries! * EVICT_TO) : null,
      bytes: over.includes("bytes") ? Math.floor(limits.maxBytes! * EVICT_TO) : null,
    };
  };
}

// Whether no limit is set: then there is nothing to evict, ever.
function unlimited(limits: Limits): boolean {
  return limits.maxBytes === null && limits.maxEntries === null && limits.maxAgeMs === null;
}

/**
 * How long one batch of a pass may hold the catalog's write lock (other processes wait that long at most).
 * Measured on the 90% pass of bench/scale.bench.ts (two runs each, same load): 5 ms and 125 rows gave
 * 57 / 32 ms longest waits of a call and 59 / 45 ms of another process's write, p99 16-26 ms; 10 ms and
 * 250 rows 54 / 64 and 58 / 46 ms, p99 21-37 ms, with the pass ~15% faster.
 */
export const BATCH_MS = 5;
/** At most this many entries removed per batch. */
export const BATCH_ROWS = 125;
/** At most this many stored files removed per batch (~0.2 ms each measured for the file store). */
export const BATCH_OBJECTS = 32;
/** A pass whose next batch has waited this long (the process does not let timers run) gets one batch inline. */
export const INLINE_AFTER_MS = 100;
/** Free pages given back to the file system per step once a pass is done (4 KiB each). */
const VACUUM_PAGES = 128;
/** A catalog made before incremental vacuum with at most this many pages in use is rewritten once (VACUUM) to shrink. */
const REBUILD_PAGES = 1000;
/** The pause after a step is twice as long as the step took (so that a writer in another process, whose busy
 * handler polls at growing intervals, finds the lock free: a pass holds it a third of the time at most),
 * within these bounds in ms. */
const PAUSE_MS = { min: 1, max: 30 };
/** close() goes on with a pass in progress for this long at most (by the clock, pauses included), so that a
 * kernel shutdown or a script's end does not wait for a long pass: the next Memory to open the cache resumes it. */
export const CLOSE_BUDGET_MS = 250;

/** What an {@link Evictor} needs besides the catalog and store. */
export interface EvictorOptions {
  readonly limits: Limits;
  /** The time, in ms: Date.now, or a test's clock. */
  readonly clock: () => number;
  /** Runs `work` after `pauseMs`, once the current call has returned (a timer that never keeps the process alive). */
  readonly schedule: (work: () => Promise<void>, pauseMs: number) => void;
  /** Called before a pass starts (the caller flushes its pending hits, so that they count). */
  readonly beforePass: () => void;
  /** Told what each batch removed. */
  readonly removed: (removed: Removed) => void;
  readonly failed: (error: unknown) => void;
}

// A pass in progress: since when it waits for its next step, the target its first batch decided
// (undefined before that), what it does next, and whether a checkpoint comes first.
interface Pass {
  since: number;
  target?: EvictionTarget;
  phase: "evict" | "vacuum" | "rebuild" | "end";
  checkpoint: boolean;
}

/**
 * Eviction off the caller's path: a store that crosses a limit starts a pass, run from timers after the call
 * has returned as a series of short steps, each followed by a pause twice as long as itself (so the process's
 * other calls and other processes' writes go on in between): batches of evictions, each one transaction of
 * at most {@link BATCH_MS}, {@link BATCH_ROWS} rows and {@link BATCH_OBJECTS} files, whose commit leaves the
 * write-ahead log alone, and after each a checkpoint of its own (PASSIVE: it never waits for other processes
 * nor makes them wait). A process that never lets timers run (a loop of memoized calls that await nothing
 * slow) still makes progress: a store made while a pass has been pending over {@link INLINE_AFTER_MS} runs
 * one step itself. Once a pass is done, a catalog left with many free pages gives them back in steps
 * (incremental vacuum); one made before that mode is rewritten once if small, else keeps its size. close()
 * gives a pass a bounded time and leaves the rest to the next Memory to open the cache, which resumes it.
 */
export class Evictor {
  readonly #catalog: Catalog;
  readonly #store: Store;
  readonly #options: EvictorOptions;
  #pass: Pass | undefined;
  #scheduled = false;
  #running: Promise<Removed> | undefined;
  // How long the next step waits, in real ms (what the last step took): never the injected clock.
  #pauseMs = PAUSE_MS.min;

  constructor(catalog: Catalog, store: Store, options: EvictorOptions) {
    this.#catalog = catalog;
    this.#store = store;
    this.#options = options;
  }

  /** After a store: starts a pass if a limit is crossed (an O(1) check), or helps a pass that is late. */
  async afterStore(): Promise<void> {
    const { limits, clock } = this.#options;
    if (unlimited(limits)) return;
    if (this.#pass) {
      if (clock() - this.#pass.since >= INLINE_AFTER_MS && !this.#running) await this.#step();
      return;
    }
    try {
      if (!overLimits(limits, this.#catalog, clock())) return;
    } catch (error) {
      return this.#options.failed(error);
    }
    this.#start();
    this.#schedule();
  }

  /** Runs the pass in progress, if any, to its end (settle waits for it); resolves to what it removed meanwhile. */
  async finish(): Promise<{ count: number; bytes: number }> {
    return await this.#drain(() => false);
  }

  /**
   * Goes on with the pass in progress for {@link CLOSE_BUDGET_MS} at most, its current step included, then drops
   * the rest (close): the cache may stay over its limits, or its file larger, until {@link resume} in the next
   * Memory to open it.
   */
  async stop(): Promise<void> {
    const end = this.#options.clock() + CLOSE_BUDGET_MS;
    await this.#drain(() => this.#options.clock() >= end);
    this.#pass = undefined; // a step still scheduled then finds nothing to do
  }

  /** When a Memory opens the cache: resumes what a pass that was cut short left, over a limit or free pages to give back. */
  resume(): void {
    const { limits, clock } = this.#options;
    if (unlimited(limits)) return;
    let phase: Pass["phase"];
    try {
      phase = overLimits(limits, this.#catalog, clock()) ? "evict" : this.#afterEviction();
    } catch (error) {
      return this.#options.failed(error);
    }
    if (phase === "end") return;
    this.#start(phase);
    this.#schedule();
  }

  // Runs steps, each followed by its pause, until the pass is done or `enough` says so after a step.
  async #drain(enough: () => boolean): Promise<{ count: number; bytes: number }> {
    const total = { count: 0, bytes: 0 };
    while (this.#pass || this.#running) {
      const removed = await (this.#running ?? this.#step());
      total.count += removed.count, total.bytes += removed.bytes;
      if (!this.#pass || enough()) break;
      await new Promise((resolve) => setTimeout(resolve, this.#pauseMs));
    }
    return total;
  }

  /** Runs a whole pass now, in steps, whether or not a store started one (prune). */
  async runPass(): Promise<{ count: number; bytes: number }> {
    const before = await this.finish();
    this.#start();
    const pass = await this.finish();
    return { count: before.count + pass.count, bytes: before.bytes + pass.bytes };
  }

  #start(phase: Pass["phase"] = "evict"): void {
    this.#options.beforePass();
    this.#pass = { since: this.#options.clock(), phase, checkpoint: false };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#options.schedule(async () => {
      this.#scheduled = false;
      await (this.#running ?? this.#step());
      if (this.#pass) this.#schedule();
    }, this.#pauseMs);
  }

  // One step of the pass, timed for the pause after it. Never throws.
  #step(): Promise<Removed> {
    const started = performance.now();
    const running = this.#running = this.#run().finally(() => {
      this.#running = undefined;
      this.#pauseMs = Math.min(PAUSE_MS.max, Math.max(PAUSE_MS.min, 2 * (performance.now() - started)));
      if (this.#pass) this.#pass.since = this.#options.clock(); // the wait for the next step starts now
    });
    return running;
  }

  async #run(): Promise<Removed> {
    const none: Removed = { count: 0, bytes: 0, objects: [] };
    const pass = this.#pass;
    if (!pass) return none;
    try {
      if (pass.checkpoint) {
        pass.checkpoint = false;
        this.#catalog.checkpoint();
      } else if (pass.phase === "evict") {
        const removed = await this.#evict(pass);
        if (removed.done) pass.phase = this.#afterEviction();
        pass.checkpoint = removed.count > 0;
        return removed;
      } else if (pass.phase === "vacuum") {
        if (this.#catalog.vacuum(VACUUM_PAGES) === 0) pass.phase = "end";
        pass.checkpoint = true;
      } else if (pass.phase === "rebuild") {
        this.#catalog.rebuild();
        pass.phase = "end", pass.checkpoint = true;
      }
      if (pass.phase === "end" && !pass.checkpoint) this.#pass = undefined;
      return none;
    } catch (error) {
      this.#pass = undefined;
      this.#options.failed(error);
      return none;
    }
  }

  // One batch of evictions: rows in one short transaction, then their objects.
  async #evict(pass: Pass): Promise<Removed & { done: boolean }> {
    const { limits, clock } = this.#options;
    const started = clock();
    // Files are removed after the commit, synchronously for the file store: they count against the budget.
    const removed = this.#catalog.evict(pass.target ? () => pass.target : evictionTarget(limits, clock()),
      (objects, rows) => clock() - started >= BATCH_MS || objects >= BATCH_OBJECTS || rows >= BATCH_ROWS);
    pass.target ??= removed.target;
    await removeObjects(this.#store, removed.objects);
    if (removed.count > 0) this.#options.removed(removed);
    return removed;
  }

  // What follows the last batch: free pages are reused by later stores, and only a large share of them is
  // worth giving back; a catalog made before incremental vacuum can only be rewritten whole.
  #afterEviction(): Pass["phase"] {
    const { free, total, incremental } = this.#catalog.pages();
    if (free <= 256 || free <= total / 4) return "end";
    if (incremental) return "vacuum";
    return total - free <= REBUILD_PAGES ? "rebuild" : "end";
  }
}

/**
 * What {@link Memory.prune} removed.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const { evicted, oldVersionEntries, versions, bytes } = await memory.prune();
 * console.log(evicted, oldVersionEntries, versions, bytes);
 * await memory.close();
 * ```
 */
export interface PruneReport {
  /** Entries removed for being past `maxAge` or over `maxBytes` / `maxEntries`. */
  readonly evicted: number;
  /** Entries removed because they belong to an old version of their function that was not used for a while. */
  readonly oldVersionEntries: number;
  /** Old function versions dropped from the catalog. */
  readonly versions: number;
  /** Bytes freed in all. */
  readonly bytes: number;
  /** Expired leases of processes that died or hung while computing. */
  readonly staleLeases: number;
  /** Remembered normalized sources of code that no known version uses any more. */
  readonly orphanSources: number;
  /** Files under the store's directory that are no stored output (temp files of killed writers). */
  readonly strays: number;
  /** Runtimes (`"node 24.11.0"`) the catalog named entries by, that no entry names any more. */
  readonly orphanRuntimes: number;
}

/** How many versions of each name keep their results: older ones go when a newer one is first used. */
export const KEEP_VERSIONS = 5;

/**
 * Prune = an eviction pass (expired entries, and the limits), then the old versions of every function
 * (any version but its most recently used one) that were not used for `oldVersionsUnusedForMs`, then what
 * killed processes left behind: expired leases, orphan sources and temp files older than `graceMs`; last, the
 * runtimes no entry names any more.
 */
export async function prune(catalog: Catalog, store: Store, evictor: Evictor, oldVersionsUnusedForMs: number, now: number, graceMs: number): Promise<PruneReport> {
  const evicted = await evictor.runPass();
  const old = catalog.removeOldVersions(now - oldVersionsUnusedForMs);
  await removeObjects(store, old.objects);
  const staleLeases = catalog.staleLeases(now - graceMs, true);
  const orphanSources = catalog.orphanSources(true);
  const strays = ((await store.strays?.(now - graceMs, true)) ?? []).length;
  const orphanRuntimes = catalog.orphanRuntimes(true);
  return {
    evicted: evicted.count, oldVersionEntries: old.count, versions: old.versions, bytes: evicted.bytes + old.bytes, staleLeases, orphanSources, strays,
    orphanRuntimes,
  };
}

/** After a version of `name` is used: only the {@link KEEP_VERSIONS} most recently used keep their results. */
export async function keepNewestVersions(catalog: Catalog, store: Store, name: string, current: string): Promise<number> {
  const removed = catalog.keepNewestVersions(name, current, KEEP_VERSIONS);
  await removeObjects(store, removed.objects);
  return removed.count;
}
