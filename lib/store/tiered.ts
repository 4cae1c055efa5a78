// A local store in front of a shared one: reads go to the local copy first and fetch from the shared store
// once (then keep a copy), writes go to both. A team hit costs one network round trip, local speed after.
import { fileStore } from "./file.ts";
import { checkObjectId, type PayloadReader, type Store } from "./store.ts";

/**
 * A {@link Store} that keeps a local copy of what it reads from and writes to `shared`: the first hit of an
 * output another machine wrote fetches it from the shared store, every later one reads the local copy
 * (plain file reads at offsets, when `copies` is a directory). `copies` is a directory (a file store), or any
 * store. The shared store stays the truth: its index finds entries, and a delete removes both copies; what
 * this machine's limits evict, it only drops its copy of (so the copies stay within `maxBytes`). A
 * local copy that cannot be written (disk full, read-only) only costs speed. Objects are never rewritten
 * under an id (each write has a fresh one), so a local copy is never stale.
 *
 * @example
 * ```ts
 * import { kvStore, Memory, tieredStore } from "nbmemo";
 * const store = tieredStore(await kvStore("team.kv"), ".nbmemo/team-copies");
 * const memory = await Memory.open(".nbmemo", { store });
 * await memory.close(); // closes both
 * ```
 */
export function tieredStore(shared: Store, copies: string | Store): Store {
  const front = typeof copies === "string" ? fileStore(copies) : copies;
  // Fetches the shared payload and keeps a copy; undefined if the shared store has none.
  const fetchCopy = async (id: string): Promise<Uint8Array | undefined> => {
    const bytes = await shared.get(id);
    if (bytes) {
      try {
        await front.set(id, [bytes]);
      } catch {
        // No local copy: the next read fetches again.
      }
    }
    return bytes;
  };
  // The local copy, or undefined when there is none or it cannot be read (then the shared store answers).
  const local = async <T>(read: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch {
      return undefined;
    }
  };
  const store: Store = {
    flags: { ...shared.flags },
    async get(id) {
      checkObjectId(id);
      return (await local(() => front.get(id))) ?? await fetchCopy(id);
    },
    async set(id, chunks, info) {
      await shared.set(id, chunks, info);
      try {
        await front.set(id, chunks, info);
      } catch {
        // As for a fetch: written to the shared store, only the local copy is missing.
      }
    },
    async delete(id) {
      await shared.delete(id);
      await local(() => front.delete(id));
    },
    async dropCopy(id) {
      checkObjectId(id);
      await local(() => front.delete(id));
    },
    async close() {
      try {
        await shared.close?.();
      } finally {
        await front.close?.();
      }
    },
  };
  if (shared.find) store.find = (key) => shared.find!(key);
  if (shared.info) store.info = (id) => shared.info!(id);
  if (shared.list) store.list = () => shared.list!();
  if (front.strays) store.strays = (before, remove) => front.strays!(before, remove);
  if (front.open) {
    const open = front.open.bind(front);
    store.open = async (id) => {
      checkObjectId(id);
      const copy = await local(() => open(id));
      if (copy) return copy;
      const bytes = await fetchCopy(id);
      return bytes && ((await local(() => open(id))) ?? bytesReader(bytes));
    };
  }
  return store;
}

// A payload already in memory, read at offsets (when its local copy could not be written).
function bytesReader(bytes: Uint8Array): PayloadReader {
  return {
    size: bytes.byteLength,
    read(offset, into) {
      if (offset + into.byteLength > bytes.byteLength) throw new RangeError(`the payload ended at ${bytes.byteLength} bytes`);
      into.set(bytes.subarray(offset, offset + into.byteLength));
    },
    close() {},
  };
}
