// The small interface every output store implements; the memoizer knows nothing else about storage.
import { nodeCrypto } from "../runtime.ts";

/** A value or a promise of it: the file store answers synchronously, remote stores asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** Capabilities a store declares (the memoizer reads them, it never probes). */
export interface StoreFlags {
  /**
   * Other processes or machines with catalogs of their own read and write this store. The memoizer
   * then puts every output in the store (none inline in the local catalog), looks a catalog miss up
   * in the store (adopting an entry another machine wrote), and takes a missing object for an
   * ordinary miss (expired, or cleared elsewhere) rather than damage.
   */
  readonly shared?: boolean;
}

/** What a shared store keeps beside a payload, so that another machine can adopt the entry. */
export interface ObjectInfo {
  /** How long the value took to compute, in ms: what a hit saves. */
  readonly computeMs: number;
  /** The runtime that wrote it, e.g. "deno 2.9.6". */
  readonly runtime: string;
  /**
   * When the value was computed, in ms since the epoch: `maxAge` counts from it on every machine, also
   * for an entry adopted later (records written before nbmemo 0.3 lack it).
   */
  readonly createdAt?: number;
  /** The digest of the entry's key (a hex digest): a store that declares {@link Store.find} indexes the payload by it. */
  readonly key?: string;
}

/** A payload as {@link Store.list} reports it. */
export interface StoredObject {
  readonly id: string;
  /** When it was last written, in ms since the epoch. */
  readonly modifiedAt: number;
}

/**
 * Where encoded outputs live, by object id (a hex digest, fresh for every write: {@link newObjectId}).
 * Writes must be atomic: a reader sees the
 * whole old value, the whole new one, or none, never a part.
 *
 * @example
 * ```ts
 * import { kvStore, Memory, type Store } from "nbmemo";
 * const store: Store = await kvStore("kv.sqlite");
 * const memory = await Memory.open(".nbmemo", { store });
 * await memory.close(); // closes the store too
 * ```
 */
export interface Store {
  /** Declared capabilities; none when absent. */
  readonly flags?: StoreFlags;
  /** The payload stored under `id`, or undefined if there is none. */
  get(id: string): MaybePromise<Uint8Array | undefined>;
  /**
   * Stores `chunks`, concatenated, under `id`, atomically. Every write has a fresh id, so a store may refuse
   * an id it already holds (create-only, as S3's `If-None-Match: *`); one that takes it replaces the
   * payload atomically. A store that took the checksum (lib/codec/checksum.ts) of what it wrote on the way
   * (the file store does for a large payload, on a thread of its own) returns it, and the caller need not
   * sum it again.
   */
  set(id: string, chunks: readonly Uint8Array[], info?: ObjectInfo): MaybePromise<void> | string;
  /**
   * Optional: stores the concatenation of `pieces` under `id`, as {@link Store.set}, taking them one at a
   * time, synchronously (each piece may be overwritten by the next: a large string's UTF-8 is made a few
   * hundred KB at a time as it is written). Used for outputs stored uncompressed and unsigned.
   */
  setPieces?(id: string, pieces: Iterable<Uint8Array>): void;
  /** Removes the payload under `id`; removing a missing id is not an error. */
  delete(id: string): MaybePromise<void>;
  /**
   * Optional power of a store that keeps local copies in front of a shared one ({@link tieredStore}):
   * removes this machine's copy of the payload under `id` and leaves the shared one, which other machines
   * may still read. See {@link removeObjects}.
   */
  dropCopy?(id: string): MaybePromise<void>;
  /**
   * Optional power of shared stores: the id of the payload most recently written for the entry key
   * `key` (the {@link ObjectInfo.key} given to `set`), or undefined. Ids are never reused across writes,
   * so another machine finds an entry by its key through this index.
   */
  find?(key: string): MaybePromise<string | undefined>;
  /**
   * Optional power of shared stores, declared with {@link Store.release}: takes the lease on the entry key
   * `key` (a hex digest, as in {@link Store.find}) for `holder` for `ms` milliseconds, so that one machine
   * computes a call while the others wait for its result. True if `holder` now holds it: it was free or
   * expired, or `holder` held it already (the call then renews it, for `ms` from now); false while
   * another holder does. Atomic across every machine on the store; a lease not renewed ends by itself.
   */
  lease?(key: string, holder: string, ms: number): MaybePromise<boolean>;
  /** Ends the lease on `key` if `holder` still holds it (one taken over after it expired is left alone). */
  release?(key: string, holder: string): MaybePromise<void>;
  /** The info written with the payload under `id` (shared stores keep it), or undefined. */
  info?(id: string): MaybePromise<ObjectInfo | undefined>;
  /** Every payload the store holds (what `memory.verify` compares with the catalog); optional. */
  list?(): MaybePromise<StoredObject[]>;
  /**
   * Optional power of stores kept in a directory: the files that are no payload (a temp file a killed
   * writer left, anything put there by hand) and last changed before `before`, by their paths relative to
   * the store's directory; with `remove`, they are removed, and then every folder left empty.
   */
  strays?(before: number, remove: boolean): MaybePromise<string[]>;
  /**
   * Optional power, declared by stores that can read a payload at offsets: opens the payload under `id`
   * (undefined if there is none), so that the codec reads large binary sections straight into the
   * buffers the decoded values keep, instead of reading the whole payload and copying out of it.
   */
  open?(id: string): MaybePromise<PayloadReader | undefined>;
  /** Releases what the store holds open. */
  close?(): MaybePromise<void>;
}

/**
 * One stored payload, opened for reads at offsets (see {@link Store.open}).
 *
 * @example
 * ```ts
 * import type { PayloadReader } from "nbmemo";
 * // A store that keeps payloads in memory opens one like this:
 * function reader(payload: Uint8Array): PayloadReader {
 *   return {
 *     size: payload.length,
 *     read(offset, into) {
 *       if (offset + into.length > payload.length) throw new RangeError("the payload is shorter");
 *       into.set(payload.subarray(offset, offset + into.length));
 *     },
 *     close() {},
 *   };
 * }
 * const header = new Uint8Array(2);
 * const opened = reader(new Uint8Array([1, 2, 3, 4]));
 * await opened.read(1, header); // header is [2, 3]
 * await opened.close();
 * ```
 */
export interface PayloadReader {
  /** The payload's length in bytes. */
  readonly size: number;
  /** Fills all of `into` with the payload's bytes from `offset`; fails if the payload is shorter. */
  read(offset: number, into: Uint8Array): MaybePromise<void>;
  /**
   * Optional: each read costs little (a local file, where a remote store makes a request per read). The
   * codec then reads a large section a few hundred KB at a time, checksumming each piece while it is in
   * the CPU's cache.
   */
  readonly cheapReads?: boolean;
  /**
   * Optional, for a reader whose reads are synchronous: the payload's bytes from `offset` to its end as
   * UTF-8 text, made by the runtime without a buffer of their size in JavaScript. Invalid bytes may become
   * U+FFFD: the codec uses it only for a payload whose checksum it has taken and the caller checks.
   */
  textToEnd?(offset: number): string;
  /** Releases the payload; called once, after the last read. */
  close(): MaybePromise<void>;
}

/**
 * Removes the payloads of entries this machine's catalog dropped (eviction, prune, delete, a replaced or
 * broken entry). A shared store's payloads are the team's: another machine's catalog may still refer to
 * them, and the store's own expiry bounds them. So there only this machine's copies go, unless
 * `everywhere` (the user asked to delete them for every machine).
 */
export async function removeObjects(store: Store, objects: readonly string[], everywhere = false): Promise<void> {
  const teams = store.flags?.shared && !everywhere;
  for (const object of objects) {
    if (!teams) await store.delete(object);
    else await store.dropCopy?.(object);
  }
}

const OBJECT_ID = /^[0-9a-f]{16,128}$/;

/** True if `id` is a hex digest, as every object id is. */
export function isObjectId(id: string): boolean {
  return OBJECT_ID.test(id);
}

/** Checks that `id` is a hex digest, so that no id can name a path or key outside the store's own. */
export function checkObjectId(id: string): string {
  if (!isObjectId(id)) throw new Error(`Cannot use object id ${JSON.stringify(id)}: not a hex digest`);
  return id;
}

/**
 * A fresh object id for one write (128 random bits). Never derived from the entry's key: a process that
 * evicted an entry removes its payload after its commit, and a name reused by another process's write of
 * the same key in between would lose that newer payload. So a delete removes only what it evicted.
 */
export function newObjectId(): string {
  return randomHex(16);
}

/** `bytes` random bytes, as hex. */
export function randomHex(bytes: number): string {
  // node:crypto's, not the global crypto's: that one loads all of WebCrypto (~3 ms) in a process's first store.
  return nodeCrypto().randomBytes(bytes).toString("hex");
}
