// The eviction policy: when the cache is over a limit, and how far one pass goes. Least recently used
// entries go first; a pass goes down to 90% of each limit it found crossed, so that the next stores do
// not each pay for a pass of their own.
import type { Catalog, EvictionTarget, Removed, Usage } from "../catalog/catalog.ts";
import type { Limits } from "../types.ts";
import type { Store } from "../store/store.ts";

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

/**
 * Runs one eviction pass: the catalog rows go in one transaction, then their objects. The caller flushes
 * its pending accesses first, so that what it read recently is not taken for unused.
 */
export async function evict(catalog: Catalog, store: Store, limits: Limits, now: number): Promise<Removed> {
  const removed = catalog.evict(evictionTarget(limits, now));
  await removeObjects(store, removed.objects);
  return removed;
}

// On a shared store the objects belong to every machine (and the store's own expiry bounds them): this
// machine's limits only drop its catalog rows, and a later miss here adopts the object again.
async function removeObjects(store: Store, objects: readonly string[]): Promise<void> {
  if (store.flags?.shared) return;
  for (const object of objects) await store.delete(object);
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
}

/**
 * Prune = an eviction pass (expired entries, and the limits), then the old versions of every function
 * (any version but its most recently used one) that were not used for `oldVersionsUnusedForMs`.
 */
export async function prune(catalog: Catalog, store: Store, limits: Limits, oldVersionsUnusedForMs: number, now: number): Promise<PruneReport> {
  const evicted = await evict(catalog, store, limits, now);
  const old = catalog.removeOldVersions(now - oldVersionsUnusedForMs);
  await removeObjects(store, old.objects);
  return { evicted: evicted.count, oldVersionEntries: old.count, versions: old.versions, bytes: evicted.bytes + old.bytes };
}
