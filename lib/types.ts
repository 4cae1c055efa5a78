// Types shared by several parts (catalog, memory, notebook, cli): what the cache holds and reports.

/** A call's key: which function, which version of it, which arguments. */
export interface EntryKey {
  readonly name: string;
  readonly version: string;
  readonly argsHash: string;
}

/** One stored result, as the catalog describes it. */
export interface Entry extends EntryKey {
  readonly object: string | null;
  readonly inline: Uint8Array | null;
  /** SHA-256 of the payload, checked when it is read; null for entries written before schema 3. */
  readonly checksum: string | null;
  readonly bytes: number;
  readonly createdAt: number;
  readonly accessedAt: number;
  readonly accessCount: number;
  readonly computeMs: number;
  readonly argsPreview: string;
  readonly runtime: string;
}

/** One version of one function, with what its entries hold. */
export interface FunctionVersion {
  readonly name: string;
  readonly version: string;
  /** Readable normalized source; null for a pinned version. */
  readonly source: string | null;
  readonly createdAt: number;
  readonly lastUsedAt: number;
  readonly entries: number;
  readonly bytes: number;
  /** Hits recorded on its entries. */
  readonly hits: number;
  /** Compute time that those hits did not spend, in ms. */
  readonly savedMs: number;
}

/** Totals over the whole cache. */
export interface CatalogTotals {
  readonly functions: number;
  readonly versions: number;
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly savedMs: number;
}

/** The orders {@link Memory.entries} can list entries in, largest or most recent first. */
export const ENTRY_SORTS = ["accessed", "created", "bytes", "hits", "computeMs"] as const;
export type EntrySort = typeof ENTRY_SORTS[number];

/**
 * The size and age limits in force; null where there is none.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo", { maxBytes: "2 GiB", maxAge: "7d" });
 * console.log(memory.stats().limits); // { maxBytes: 2147483648, maxEntries: null, maxAgeMs: 604800000 }
 * await memory.close();
 * ```
 */
export interface Limits {
  readonly maxBytes: number | null;
  readonly maxEntries: number | null;
  readonly maxAgeMs: number | null;
}

/** One stored result, as {@link Memory.entries} lists it (the payload itself is not loaded). */
export type EntryInfo = Omit<Entry, "inline">;

/** What {@link Memory.stats} reports: the cache's totals, the limits in force, and this process's hits and misses. */
export interface Stats extends CatalogTotals {
  /** The limits this Memory was opened with (null: none). */
  readonly limits: Limits;
  /** Hits, misses and evicted entries of this Memory since it was opened. */
  readonly session: { readonly hits: number; readonly misses: number; readonly evicted: number };
}


/** Where a memory.map() stands: how many items are done, of which read back and computed, and how many failed. */
export interface ProgressState {
  readonly name: string;
  readonly total: number;
  readonly hits: number;
  readonly computed: number;
  readonly failed: number;
  readonly elapsedMs: number;
}

/** Receives a map's state as it moves, and once more when it is done. */
export interface ProgressSink {
  update(state: ProgressState): void;
  done(state: ProgressState): void;
}
