// The small interface every output store implements; the memoizer knows nothing else about storage.

/** A value or a promise of it: the file store answers synchronously, remote stores asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Where encoded outputs live, by object id (a hex digest). Writes must be atomic: a reader sees the
 * whole old value, the whole new one, or none, never a part.
 */
export interface Store {
  /** The payload stored under `id`, or undefined if there is none. */
  get(id: string): MaybePromise<Uint8Array | undefined>;
  /** Stores `chunks`, concatenated, under `id`, replacing any previous payload atomically. */
  set(id: string, chunks: readonly Uint8Array[]): MaybePromise<void>;
  /** Removes the payload under `id`; removing a missing id is not an error. */
  delete(id: string): MaybePromise<void>;
  /** Releases what the store holds open. */
  close?(): MaybePromise<void>;
}
