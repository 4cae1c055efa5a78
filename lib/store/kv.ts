// The Deno KV shim: a Store over any Deno-KV-shaped client (Deno.openKv under Deno, @deno/kv under Node,
// a local file or a remote KV Connect URL), with large values chunked and writes batched into atomic commits.
import { concat } from "../bytes.ts";
import { NbmemoError } from "../errors.ts";
import { checkOptions, invalid, optionNames, shown } from "../options.ts";
import { denoKvOpener, firstLine } from "../runtime.ts";
import { checkObjectId, isObjectId, type ObjectInfo, randomHex, type Store, type StoredObject } from "./store.ts";

/** One part of a Deno KV key. */
export type KvKeyPart = string | number | bigint | boolean | symbol | Uint8Array;
/** A Deno KV key. */
export type KvKey = readonly KvKeyPart[];

/** The parts of a Deno KV atomic operation that nbmemo calls. */
export interface KvAtomic {
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomic;
  delete(key: KvKey): KvAtomic;
  commit(): Promise<{ ok: boolean }>;
}

/** What a read returns: `value` is null when the key is absent. */
export interface KvEntryMaybe {
  readonly value: unknown;
  readonly versionstamp: string | null;
}

/**
 * The parts of a Deno KV client that nbmemo calls: `Deno.Kv` under Deno, the `Kv` of the npm package
 * `@deno/kv` under Node, or anything else of that shape. `getMany` may be missing.
 *
 * @example
 * ```ts
 * import { openKv } from "@deno/kv"; // under Deno, `await Deno.openKv("cache.kv")` gives one too
 * import { type KvClient, kvStore, Memory } from "nbmemo";
 * const kv: KvClient = await openKv("cache.kv");
 * const memory = await Memory.open(".nbmemo", { store: await kvStore(kv, { prefix: ["nbmemo", "project-a"] }) });
 * await memory.close();
 * kv.close(); // a client you opened yourself stays open until you close it
 * ```
 */
export interface KvClient {
  get(key: KvKey): Promise<KvEntryMaybe>;
  getMany?(keys: readonly KvKey[]): Promise<KvEntryMaybe[]>;
  // The selector is declared as wide as the clients' own unions, so that both clients fit this type.
  list(selector: { readonly prefix?: KvKey; readonly start?: KvKey; readonly end?: KvKey }): AsyncIterable<{ readonly key: KvKey; readonly value: unknown }>;
  atomic(): KvAtomic;
  close(): void;
}

/** Options of {@link kvStore}. */
export interface KvStoreOptions {
  /**
   * The key prefix under which the objects live, so that several caches can share one database.
   * Strings and whole numbers, 256 bytes at most in all. Default: `["nbmemo"]`.
   */
  prefix?: readonly (string | number)[];
  /**
   * Entries expire this many milliseconds after they are written, so that a shared database stays
   * bounded; an expired entry is a miss. Default: never.
   */
  expireIn?: number;
}


interface KvStoreConfig {
  readonly prefix: readonly (string | number)[];
  readonly expireIn: number | undefined;
}


/** Validates {@link KvStoreOptions}, filling the defaults. */
function parseKvStoreOptions(options: KvStoreOptions): KvStoreConfig {
  checkOptions(options, kvStoreOptionNames, "kvStore", "{ expireIn: 86_400_000 }");
  const prefix = options.prefix ?? ["nbmemo"];
  if (!Array.isArray(prefix) || prefix.some((p) => typeof p !== "string" && !Number.isSafeInteger(p)) ||
    new TextEncoder().encode(JSON.stringify(prefix)).byteLength > KV_PREFIX_BYTES) {
    throw invalid(`Cannot use prefix=${shown(options.prefix)} in kvStore: it must be an array of strings and whole numbers, ${KV_PREFIX_BYTES} bytes at most, such as ["nbmemo", "team"].`);
  }
  const { expireIn } = options;
  if (expireIn !== undefined && (!Number.isSafeInteger(expireIn) || expireIn <= 0)) {
    throw invalid(`Cannot use expireIn=${shown(expireIn)} in kvStore: it must be a whole number of milliseconds, more than 0.`);
  }
  return { prefix: [...prefix], expireIn };
}


const kvStoreOptionNames = optionNames<KvStoreOptions>({ prefix: true, expireIn: true });
const KV_PREFIX_BYTES = 256;

// Deno KV's limits (the same in Deno and @deno/kv, measured): a value is at most 64 KiB; an atomic
// commit holds at most 1000 mutations, 800 KiB of keys and values, 80 KiB of keys. Batches keep a margin.
const VALUE_BYTES = 65_536;
const BATCH_MUTATIONS = 1000;
const BATCH_BYTES = 760 * 1024;
const BATCH_KEY_BYTES = 64 * 1024;
const GET_MANY = 10; // Deno's getMany takes at most 10 keys

// A head record: magic, format version, JSON length (u32 LE), JSON, then the payload when it is inline.
const MAGIC = [0x4e, 0x42, 0x4b, 0x56]; // "NBKV"
const FORMAT = 1;
const HEAD_FIXED = 9;
// A reader that lost a race with a replacing writer tries again, backing off, for up to this long.
const READ_RETRY_MS = 5_000;

interface Head {
  /** Payload size in bytes. */
  readonly bytes: number;
  /** 0 when the payload is inline in the head; else how many chunks hold it under `generation`. */
  readonly chunks: number;
  readonly generation?: string;
  /** ms since the epoch after which the entry reads as missing (KV deletes expired keys lazily). */
  readonly expiresAt?: number;
  readonly computeMs?: number;
  readonly runtime?: string;
  /** When the value was computed, in ms since the epoch (records written before nbmemo 0.3 lack it). */
  readonly createdAt?: number;
  /** When it was written, in ms since the epoch (records written before nbmemo 0.2 lack it). */
  readonly writtenAt?: number;
}

// Where things live under the prefix: heads by object id, chunks by object id and generation, and the
// index from entry key digests to the object last written for them.
interface Keys {
  head(id: string): KvKey;
  chunks(id: string, generation: string): KvKey;
  index(key: string): KvKey;
}
const INDEX = "by-key";

// A write or delete of one object, waiting for the next batch.
interface Pending {
  readonly id: string;
  /** The head to commit, or null to delete the object. */
  readonly head: Uint8Array | null;
  readonly generation: string;
  readonly chunks: readonly Uint8Array[];
  /** The entry key digest to point at this object once it is written, if any. */
  readonly index: string | undefined;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Mutation {
  readonly owner: Pending;
  readonly key: KvKey;
  /** undefined for a delete. */
  readonly value?: Uint8Array;
  /** The mutation that makes the owner's write visible: the owner settles when it commits. */
  readonly publishes: boolean;
}

/**
 * A {@link Store} in a Deno KV database, shared by every process and machine that opens it: give it an
 * open client (`Deno.openKv()` under Deno, `openKv()` of `@deno/kv` under Node), or a path (relative to
 * the working directory), `":memory:"` or a KV Connect URL to open with the runtime's own client (closed
 * again by `close()`).
 *
 * Payloads are kept as raw bytes (never V8-serialized), so Node and Deno read each other's entries.
 * A value over 64 KiB is written in chunks under a new generation, then published by one atomic write
 * of its head record, so a reader never sees half a value. Writes made close together are committed
 * together, a few hundred per atomic operation.
 *
 * @example
 * ```ts
 * import { kvStore, Memory } from "nbmemo";
 * // A local file here; a KV Connect URL ("https://api.deno.com/databases/<id>/connect") shares it between machines.
 * const store = await kvStore("shared.kv", { expireIn: 7 * 86_400_000 });
 * const memory = await Memory.open(".nbmemo", { store });
 * await memory.close();
 * ```
 */
export async function kvStore(kv: KvClient | string, options: KvStoreOptions = {}): Promise<Store> {
  const { prefix, expireIn } = parseKvStoreOptions(options);
  const owned = typeof kv === "string";
  const client = owned ? await openKv(kv) : kv;
  const keys: Keys = {
    head: (id) => [...prefix, checkObjectId(id)],
    chunks: (id, generation) => [...prefix, id, generation],
    index: (key) => [...prefix, INDEX, checkObjectId(key)],
  };
  const batcher = new Batcher(client, keys, expireIn);

  const readHead = async (id: string) => {
    const entry = await client.get(keys.head(id));
    if (entry.value === null || entry.value === undefined) return undefined;
    const head = parseHead(asBytes(entry.value, id), id);
    if (head.record.expiresAt !== undefined && head.record.expiresAt <= Date.now()) return undefined;
    return head;
  };

  return {
    flags: { shared: true },
    async get(id) {
      const deadline = Date.now() + READ_RETRY_MS;
      for (let wait = 2; ; wait = Math.min(wait * 2, 200)) {
        const head = await readHead(id);
        if (!head) return undefined;
        if (head.record.chunks === 0) return head.inline;
        const parts: Uint8Array[] = [];
        for await (const entry of client.list({ prefix: keys.chunks(id, head.record.generation!) })) {
          parts.push(asBytes(entry.value, id));
        }
        const payload = concat(parts);
        if (parts.length === head.record.chunks && payload.byteLength === head.record.bytes) return payload;
        // A writer replaced or deleted the object between the two reads: its old chunks are going.
        if (Date.now() > deadline) throw new Error(`the chunks of object ${id} in Deno KV are incomplete`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    },
    async find(key) {
      const entry = await client.get(keys.index(key));
      if (!(entry.value instanceof Uint8Array)) return undefined;
      const id = new TextDecoder().decode(entry.value);
      return isObjectId(id) ? id : undefined;
    },
    async set(id, chunks, info) {
      keys.head(id);
      if (info?.key !== undefined) keys.index(info.key);
      const joined = concat(chunks);
      // A plain view, so that slice() below copies each chunk out (Buffer's slice would share memory).
      const payload = new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
      const generation = randomHex(8);
      const record: Head = {
        bytes: payload.byteLength,
        chunks: 0,
        writtenAt: Date.now(),
        ...(expireIn !== undefined && { expiresAt: Date.now() + expireIn }),
        ...(info && { computeMs: info.computeMs, runtime: info.runtime, createdAt: info.createdAt }),
      };
      const inline = payload.byteLength < VALUE_BYTES ? encodeHead(record, payload) : undefined;
      if (inline && inline.byteLength <= VALUE_BYTES) return await batcher.enqueue(id, inline, generation, [], info?.key);
      const parts: Uint8Array[] = [];
      for (let offset = 0; offset < payload.byteLength; offset += VALUE_BYTES) {
        parts.push(payload.slice(offset, offset + VALUE_BYTES));
      }
      const head = encodeHead({ ...record, chunks: parts.length, generation }, new Uint8Array(0));
      await batcher.enqueue(id, head, generation, parts, info?.key);
    },
    // An index record left pointing at a deleted object finds nothing: the read is a miss, and the key's
    // next write points it elsewhere.
    async delete(id) {
      keys.head(id);
      await batcher.enqueue(id, null, "", [], undefined);
    },
    async info(id): Promise<ObjectInfo | undefined> {
      const record = (await readHead(id))?.record;
      if (record?.computeMs === undefined || record.runtime === undefined) return undefined;
      return { computeMs: record.computeMs, runtime: record.runtime, createdAt: record.createdAt ?? record.writtenAt };
    },
    // Every head under the prefix (the chunks beside them are read and skipped: verify is rare, and KV
    // lists keys with their values).
    async list(): Promise<StoredObject[]> {
      await batcher.drain();
      const found: StoredObject[] = [];
      for await (const entry of client.list({ prefix })) {
        const id = entry.key[prefix.length];
        if (entry.key.length !== prefix.length + 1 || typeof id !== "string" || !isObjectId(id)) continue;
        const { record } = parseHead(asBytes(entry.value, id), id);
        if (record.expiresAt !== undefined && record.expiresAt <= Date.now()) continue;
        found.push({ id, modifiedAt: record.writtenAt ?? 0 });
      }
      return found;
    },
    async close() {
      await batcher.drain();
      if (owned) client.close();
    },
  };
}

/**
 * Group commit: writes queue up while a batch commits, then go together. A write settles when the atomic
 * commit holding its head does; its chunks go in that commit or earlier ones, and the replaced
 * generation's chunks are deleted in that commit or later ones.
 */
class Batcher {
  readonly #kv: KvClient;
  readonly #keys: Keys;
  readonly #expireIn: number | undefined;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;

  constructor(kv: KvClient, keys: Keys, expireIn: number | undefined) {
    this.#kv = kv;
    this.#keys = keys;
    this.#expireIn = expireIn;
  }

  enqueue(id: string, head: Uint8Array | null, generation: string, chunks: readonly Uint8Array[], index: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ id, head, generation, chunks, index, resolve, reject });
      this.#schedule();
    });
  }

  // Writes queued after the last loop of a flush but before it ended are picked up by the next one.
  #schedule(): void {
    if (this.#flushing || this.#queue.length === 0) return;
    this.#flushing = Promise.resolve().then(() => this.#flush()).finally(() => {
      this.#flushing = undefined;
      this.#schedule();
    });
  }

  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      // One write per object and per index record in a batch: the old head read below must be the one
      // each write replaces, and the index must end up at the later of two writes of one key.
      const taken = new Set<string>();
      const batch: Pending[] = [];
      const later: Pending[] = [];
      for (const pending of this.#queue) {
        const index = pending.index === undefined ? undefined : `key:${pending.index}`;
        const free = !taken.has(pending.id) && (index === undefined || !taken.has(index));
        (free ? batch : later).push(pending);
        taken.add(pending.id); // a write held back holds back what comes after it on the same id or key
        if (index !== undefined) taken.add(index);
      }
      this.#queue = later;
      try {
        const oldHeads = await this.#getMany(batch.map((p) => this.#keys.head(p.id)));
        await this.#commit(batch.flatMap((pending, i) => this.#mutations(pending, oldHeads[i])));
      } catch (error) {
        // A client that throws before committing (Deno checks some limits in set()): writes not yet
        // published fail; the published ones stay resolved.
        for (const pending of batch) pending.reject(kvError(error));
      }
    }
  }

  #mutations(owner: Pending, old: KvEntryMaybe | undefined): Mutation[] {
    const mutations: Mutation[] = owner.chunks.map((value, index) => ({
      owner, key: [...this.#keys.chunks(owner.id, owner.generation), index], value, publishes: false,
    }));
    // The index record goes after the head (in its commit or a later one), so it never points at nothing.
    mutations.push({ owner, key: this.#keys.head(owner.id), value: owner.head ?? undefined, publishes: owner.index === undefined });
    if (owner.index !== undefined) {
      mutations.push({ owner, key: this.#keys.index(owner.index), value: new TextEncoder().encode(owner.id), publishes: true });
    }
    const replaced = oldChunks(old, owner.id);
    if (replaced) {
      for (let index = 0; index < replaced.chunks; index++) {
        mutations.push({ owner, key: [...this.#keys.chunks(owner.id, replaced.generation), index], publishes: false });
      }
    }
    return mutations;
  }

  // Packs the mutations, in order, into atomic commits within KV's limits. A failed commit fails its
  // writes that had not been published yet; their remaining mutations are skipped.
  async #commit(mutations: Mutation[]): Promise<void> {
    const failed = new Set<Pending>();
    let atomic = this.#kv.atomic();
    let held: Mutation[] = [];
    let bytes = 0;
    let keyBytes = 0;
    const commit = async () => {
      if (held.length === 0) return;
      const [committing, op] = [held, atomic];
      held = [], atomic = this.#kv.atomic(), bytes = 0, keyBytes = 0;
      try {
        const { ok } = await op.commit();
        if (!ok) throw new Error("the atomic commit was refused");
        for (const m of committing) if (m.publishes) m.owner.resolve();
      } catch (error) {
        // A write already published stays resolved (a promise settles once); the others fail here.
        for (const m of committing) failed.add(m.owner), m.owner.reject(kvError(error));
      }
    };
    for (const mutation of mutations) {
      if (failed.has(mutation.owner)) continue;
      const size = keySize(mutation.key);
      const valueSize = mutation.value?.byteLength ?? 0;
      if (held.length + 1 > BATCH_MUTATIONS || bytes + size + valueSize > BATCH_BYTES || keyBytes + size > BATCH_KEY_BYTES) {
        await commit();
        if (failed.has(mutation.owner)) continue;
      }
      if (mutation.value) atomic.set(mutation.key, mutation.value, this.#expireIn === undefined ? undefined : { expireIn: this.#expireIn });
      else atomic.delete(mutation.key);
      held.push(mutation);
      bytes += size + valueSize;
      keyBytes += size;
    }
    await commit();
  }

  async #getMany(keys: KvKey[]): Promise<(KvEntryMaybe | undefined)[]> {
    const groups: KvKey[][] = [];
    for (let i = 0; i < keys.length; i += GET_MANY) groups.push(keys.slice(i, i + GET_MANY));
    const kv = this.#kv;
    const results = await Promise.all(groups.map((group) => kv.getMany ? kv.getMany(group) : Promise.all(group.map((key) => kv.get(key)))));
    return results.flat();
  }
}

// The chunks of a replaced head, if it had any. An unreadable old head leaves its chunks (if any) to expire.
function oldChunks(old: KvEntryMaybe | undefined, id: string): { chunks: number; generation: string } | undefined {
  if (old?.value === null || old?.value === undefined) return undefined;
  try {
    const { record } = parseHead(asBytes(old.value, id), id);
    return record.chunks > 0 && record.generation ? { chunks: record.chunks, generation: record.generation } : undefined;
  } catch {
    return undefined;
  }
}

function encodeHead(record: Head, inline: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ v: FORMAT, ...record }));
  const out = new Uint8Array(HEAD_FIXED + json.byteLength + inline.byteLength);
  out.set(MAGIC, 0);
  out[4] = FORMAT;
  new DataView(out.buffer).setUint32(5, json.byteLength, true);
  out.set(json, HEAD_FIXED);
  out.set(inline, HEAD_FIXED + json.byteLength);
  return out;
}

function parseHead(bytes: Uint8Array, id: string): { record: Head; inline: Uint8Array } {
  const bad = (why: string) => new Error(`the Deno KV record of object ${id} ${why}`);
  if (bytes.byteLength < HEAD_FIXED || MAGIC.some((b, i) => bytes[i] !== b)) throw bad("is not an nbmemo record");
  if (bytes[4] !== FORMAT) throw bad(`has format ${bytes[4]}, which this nbmemo does not read (it reads ${FORMAT}); upgrade nbmemo`);
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5, true);
  if (HEAD_FIXED + length > bytes.byteLength) throw bad("is truncated");
  let record: Head;
  try {
    record = JSON.parse(new TextDecoder().decode(bytes.subarray(HEAD_FIXED, HEAD_FIXED + length))) as Head;
  } catch {
    throw bad("has an unreadable header");
  }
  const inline = bytes.slice(HEAD_FIXED + length);
  if (record.chunks === 0 && inline.byteLength !== record.bytes) throw bad("is truncated");
  return { record, inline };
}

// @deno/kv returns a Buffer; Deno a Uint8Array. Anything else is not ours.
function asBytes(value: unknown, id: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new Error(`the Deno KV value of object ${id} is not bytes (not written by nbmemo)`);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

// An upper bound of a key's encoded size (strings as UTF-8, numbers as 9 bytes, plus tags).
function keySize(key: KvKey): number {
  let size = 0;
  for (const part of key) size += 2 + (typeof part === "string" ? part.length * 3 : part instanceof Uint8Array ? part.byteLength : 9);
  return size;
}

// The two clients fail differently (a TypeError in Deno, an Error with a Rust backtrace from @deno/kv).
function kvError(error: unknown): Error {
  return new Error(`Deno KV refused the write (${firstLine(error)})`, { cause: error });
}

/**
 * Opens a Deno KV database: a local file path, ":memory:", or a KV Connect URL (http/https, such as a
 * Deno Deploy database or a self-hosted denokv server). Deno's own `Deno.openKv` under Deno, the npm
 * package `@deno/kv` under Node. Both read the access token of a remote database from the environment
 * variable `DENO_KV_ACCESS_TOKEN`.
 */
export async function openKv(pathOrUrl: string): Promise<KvClient> {
  const unavailable = (reason: string, cause?: unknown) =>
    new NbmemoError("STORE_UNAVAILABLE", `Cannot open the Deno KV store ${pathOrUrl}: ${reason}`, { cause });
  let open = denoKvOpener<KvClient>();
  if (open === undefined) {
    throw unavailable('Deno KV is unstable in Deno and off. Run with --unstable-kv, or add "unstable": ["kv"] to deno.json.');
  }
  if (open === null) {
    try {
      open = (await import("@deno/kv")).openKv;
    } catch (error) {
      throw unavailable("the npm package @deno/kv is not installed. Run `npm install @deno/kv`.", error);
    }
  }
  try {
    return await open(pathOrUrl);
  } catch (error) {
    throw unavailable(`${firstLine(error)}. Check the path or URL, and DENO_KV_ACCESS_TOKEN for a remote one.`, error);
  }
}
