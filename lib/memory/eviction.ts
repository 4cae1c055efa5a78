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

/** How long one batch of a pass may hold the catalog's write lock (other processes wait that long at most). */
export const BATCH_MS = 20;
/** At most this many stored files removed per batch (~0.2 ms each measured for the file store). */
export const BATCH_OBJECTS = 64;
/** A pass whose next batch has waited this long (the process does not let timers run) gets one batch inline. */
export const INLINE_AFTER_MS = 100;
/** Free pages given back to the file system per step once a pass is done (4 KiB each). */
const VACUUM_PAGES = 128;

/** What an {@link Evictor} needs besides the catalog and store. */
export interface EvictorOptions {
  readonly limits: Limits;
  /** The time, in ms: Date.now, or a test's clock. */
  readonly clock: () => number;
  /** Runs `work` soon, after the current call has returned (a timer that never keeps the process alive). */
  readonly schedule: (work: () => Promise<void>) => void;
  /** Called before a pass starts (the caller flushes its pending hits, so that they count). */
  readonly beforePass: () => void;
  /** Told what each batch removed. */
  readonly removed: (removed: Removed) => void;
  readonly failed: (error: unknown) => void;
}

/**
 * Eviction off the caller's path: a store that crosses a limit starts a pass, whose batches (each one
 * short transaction, {@link BATCH_MS}) run from a timer after the call has returned. A process that never
 * lets timers run (a loop of memoized calls that await nothing slow) still makes progress: a store made
 * while a pass has been pending over {@link INLINE_AFTER_MS} runs one batch itself. Once a pass is done,
 * a catalog left with many free pages gives them back in steps (incremental vacuum).
 */
export class Evictor {
  readonly #catalog: Catalog;
  readonly #store: Store;
  readonly #options: EvictorOptions;
  // The pass in progress: since when it waits for its next batch, and the target its first batch decided
  // (undefined before that).
  #pass: { since: number; target?: EvictionTarget; vacuuming: boolean } | undefined;
  #scheduled = false;
  #running: Promise<Removed> | undefined;

  constructor(catalog: Catalog, store: Store, options: EvictorOptions) {
    this.#catalog = catalog;
    this.#store = store;
    this.#options = options;
  }

  /** After a store: starts a pass if a limit is crossed (an O(1) check), or helps a pass that is late. */
  async afterStore(): Promise<void> {
    const { limits, clock } = this.#options;
    if (limits.maxBytes === null && limits.maxEntries === null && limits.maxAgeMs === null) return;
    if (this.#pass) {
      if (clock() - this.#pass.since >= INLINE_AFTER_MS && !this.#running) await this.#batch();
      return;
    }
    try {
      if (!overLimits(limits, this.#catalog, clock())) return;
    } catch (error) {
      return this.#options.failed(error);
    }
    this.#options.beforePass();
    this.#pass = { since: clock(), vacuuming: false };
    this.#schedule();
  }

  /** Runs the pass in progress, if any, to its end (close waits for it); resolves to what it removed meanwhile. */
  async finish(): Promise<{ count: number; bytes: number }> {
    const total = { count: 0, bytes: 0 };
    while (this.#pass || this.#running) {
      const removed = await (this.#running ?? this.#batch());
      total.count += removed.count, total.bytes += removed.bytes;
    }
    return total;
  }

  /** Runs a whole pass now, in batches, whether or not a store started one (prune). */
  async runPass(): Promise<{ count: number; bytes: number }> {
    const before = await this.finish();
    this.#options.beforePass();
    this.#pass = { since: this.#options.clock(), vacuuming: false };
    const pass = await this.finish();
    return { count: before.count + pass.count, bytes: before.bytes + pass.bytes };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#options.schedule(async () => {
      this.#scheduled = false;
      await (this.#running ?? this.#batch());
      if (this.#pass) this.#schedule();
    });
  }

  // One batch: eviction rows in one short transaction and their objects, or one vacuum step. Never throws.
  #batch(): Promise<Removed> {
    const none: Removed = { count: 0, bytes: 0, objects: [] };
    const run = async (): Promise<Removed> => {
      const pass = this.#pass;
      if (!pass) return none;
      try {
        if (pass.vacuuming) {
          if (this.#catalog.vacuum(VACUUM_PAGES) === 0) this.#pass = undefined;
          return none;
        }
        const { limits, clock } = this.#options;
        const started = clock();
        // Files are removed after the commit, synchronously for the file store: they count against the budget.
        const removed = this.#catalog.evict(pass.target ? () => pass.target : evictionTarget(limits, clock()),
          (objects) => clock() - started >= BATCH_MS || objects >= BATCH_OBJECTS);
        pass.target ??= removed.target;
        await removeObjects(this.#store, removed.objects);
        if (removed.count > 0) this.#options.removed(removed);
        if (removed.done) {
          // Free pages are reused by later stores; only a large share of them is worth giving back.
          const { free, total } = this.#catalog.pages();
          if (free > 256 && free > total / 4) pass.vacuuming = true;
          else this.#pass = undefined;
        }
        return removed;
      } catch (error) {
        this.#pass = undefined;
        this.#options.failed(error);
        return none;
      }
    };
    const running = this.#running = run().finally(() => {
      this.#running = undefined;
      if (this.#pass) this.#pass.since = this.#options.clock(); // the wait for the next batch starts now
    });
    return running;
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
}

/** How many versions of each name keep their results: older ones go when a newer one is first used. */
export const KEEP_VERSIONS = 5;

/**
 * Prune = an eviction pass (expired entries, and the limits), then the old versions of every function
 * (any version but its most recently used one) that were not used for `oldVersionsUnusedForMs`, then what
 * killed processes left behind: expired leases, orphan sources and temp files older than `graceMs`.
 */
export async function prune(catalog: Catalog, store: Store, evictor: Evictor, oldVersionsUnusedForMs: number, now: number, graceMs: number): Promise<PruneReport> {
  const evicted = await evictor.runPass();
  const old = catalog.removeOldVersions(now - oldVersionsUnusedForMs);
  await removeObjects(store, old.objects);
  const staleLeases = catalog.staleLeases(now - graceMs, true);
  const orphanSources = catalog.orphanSources(true);
  const strays = ((await store.strays?.(now - graceMs, true)) ?? []).length;
  return {
    evicted: evicted.count, oldVersionEntries: old.count, versions: old.versions, bytes: evicted.bytes + old.bytes, staleLeases, orphanSources, strays,
  };
}

/** After a version of `name` is used: only the {@link KEEP_VERSIONS} most recently used keep their results. */
export async function keepNewestVersions(catalog: Catalog, store: Store, name: string, current: string): Promise<number> {
  const removed = catalog.keepNewestVersions(name, current, KEEP_VERSIONS);
  await removeObjects(store, removed.objects);
  return removed.count;
}
