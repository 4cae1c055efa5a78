// The Redis store: a shared Store in Redis or Valkey through node-redis (an optional peer dependency,
// loaded on first use), with large values chunked and every write published by one atomic script.
import { Buffer } from "node:buffer";
import { concat } from "../bytes.ts";
import { NbmemoError } from "../errors.ts";
import { checkOptions, invalid, optionNames, shown, withoutPassword } from "../options.ts";
import { firstLine } from "../runtime.ts";
import { checkObjectId, isObjectId, type ObjectInfo, randomHex, type Store, type StoredObject } from "./store.ts";

/** What a command is sent as: node-redis takes strings and Buffers. */
export type RedisArgument = string | Buffer;

/**
 * The parts of a node-redis client (`createClient()` of the npm package `redis`, version 5 or 6) that
 * nbmemo calls. A client you pass is yours: nbmemo neither connects nor closes it.
 *
 * @example
 * ```ts
 * import { createClient } from "redis";
 * import { Memory, type RedisClient, redisStore } from "nbmemo";
 * async function shareThroughRedis() {
 *   const client = await createClient({ url: "redis://cache.example.org:6379" }).connect();
 *   const redis: RedisClient = client;
 *   const memory = await Memory.open(".nbmemo", { store: await redisStore(redis, { prefix: "team-a" }) });
 *   await memory.close();
 *   await client.close(); // a client you connected yourself stays open until you close it
 * }
 * ```
 */
export interface RedisClient {
  // Options are the client's own; nbmemo passes a reply type mapping (bytes as Buffers) and a timeout.
  sendCommand(args: readonly RedisArgument[], options?: { typeMapping?: Record<number, unknown>; timeout?: number }): Promise<unknown>;
}

// What nbmemo calls on a client it connected itself.
interface OwnedClient extends RedisClient {
  readonly isReady: boolean;
  close(): Promise<unknown>;
  destroy(): void;
}

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * The namespace of nbmemo's keys (`<prefix>:obj:<id>` and so on), so that several caches share one
   * database. Default: `"nbmemo"`.
   */
  prefix?: string;
  /**
   * Entries expire this many milliseconds after they are written (Redis removes them), so that a shared
   * database stays bounded; an expired entry is a miss. Default: never.
   */
  expireIn?: number;
  /**
   * A value larger than this is written in chunks of this many bytes, so that no command holds the
   * server for long. Default: 1048576 (1 MiB).
   */
  chunkBytes?: number;
}

interface RedisStoreConfig {
  readonly prefix: string;
  readonly expireIn: number | undefined;
  readonly chunkBytes: number;
}

const redisStoreOptionNames = optionNames<RedisStoreOptions>({ prefix: true, expireIn: true, chunkBytes: true });
const DEFAULT_CHUNK_BYTES = 1024 * 1024;
const MIN_CHUNK_BYTES = 1024;
const MAX_CHUNK_BYTES = 64 * 1024 * 1024;

/** Validates {@link RedisStoreOptions}, filling the defaults. */
function parseRedisStoreOptions(options: RedisStoreOptions): RedisStoreConfig {
  checkOptions(options, redisStoreOptionNames, "redisStore", '{ prefix: "team", expireIn: 86_400_000 }');
  const prefix = options.prefix ?? "nbmemo";
  if (typeof prefix !== "string" || prefix === "" || prefix.length > 200) {
    throw invalid(`Cannot use prefix=${shown(options.prefix)} in redisStore: it must be a string of 1 to 200 characters, such as "nbmemo:team".`);
  }
  const { expireIn } = options;
  if (expireIn !== undefined && (!Number.isSafeInteger(expireIn) || expireIn <= 0)) {
    throw invalid(`Cannot use expireIn=${shown(expireIn)} in redisStore: it must be a whole number of milliseconds, more than 0.`);
  }
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES) {
    throw invalid(`Cannot use chunkBytes=${shown(options.chunkBytes)} in redisStore: it must be a whole number of bytes from ${MIN_CHUNK_BYTES} to ${MAX_CHUNK_BYTES}.`);
  }
  return { prefix, expireIn, chunkBytes };
}

// The head record's format (the `v` of its meta): bump it when the layout changes.
const FORMAT = 1;
// Replies as Buffers (RESP_TYPES.BLOB_STRING is 36, "$"), not strings: payloads are bytes.
const AS_BYTES = { 36: Buffer } as const;
// A command that has no answer by then fails, so that a server that hangs cannot hang a call.
const COMMAND_MS = 30_000;
// Chunks not yet published expire by themselves if their writer dies before publishing them.
const STAGING_MS = 3_600_000;
// Chunks read or written at once, per value.
const WINDOW = 4;
// A reader that lost a race with a replacing writer tries again, backing off, for up to this long.
const READ_RETRY_MS = 5_000;

interface Meta {
  readonly v: number;
  /** Payload size in bytes. */
  readonly bytes: number;
  /** 0 when the payload is inline in the head (its `data` field); else how many chunks hold it. */
  readonly chunks: number;
  readonly computeMs?: number;
  readonly runtime?: string;
  readonly createdAt?: number;
  /** When it was written, in ms since the epoch. */
  readonly writtenAt: number;
}

// Publishes one write atomically: its chunks must all be there (staged, not expired), the head replaces
// the old one (whose chunks go), the chunks lose their staging expiry, the index points at the object.
// KEYS: head, chunk list (of this write's generation), index (optional).
// ARGV: meta, inline data, generation ("" when inline), chunk count, expireIn ms ("0": never), chunk key prefix, object id.
const PUBLISH = `
local chunks = tonumber(ARGV[4])
if chunks > 0 and redis.call('LLEN', KEYS[2]) ~= chunks then
  return redis.error_reply('ERR nbmemo: the chunks of this write expired before it was published')
end
local old = redis.call('HGET', KEYS[1], 'gen')
if old and old ~= '' and old ~= ARGV[3] then redis.call('DEL', ARGV[6] .. old) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'meta', ARGV[1], 'data', ARGV[2], 'gen', ARGV[3])
local expire = tonumber(ARGV[5])
if expire > 0 then
  redis.call('PEXPIRE', KEYS[1], expire)
  if chunks > 0 then redis.call('PEXPIRE', KEYS[2], expire) end
elseif chunks > 0 then
  redis.call('PERSIST', KEYS[2])
end
if KEYS[3] then
  if expire > 0 then redis.call('SET', KEYS[3], ARGV[7], 'PX', expire) else redis.call('SET', KEYS[3], ARGV[7]) end
end
return 1
`;

// Removes a head and its chunks together. KEYS: head. ARGV: chunk key prefix.
const DELETE = `
local gen = redis.call('HGET', KEYS[1], 'gen')
redis.call('DEL', KEYS[1])
if gen and gen ~= '' then redis.call('DEL', ARGV[1] .. gen) end
return 1
`;

// Takes or renews a lease: free (or expired: Redis removed it) or already this holder's. KEYS: lease. ARGV: holder, ms.
const LEASE = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

// Ends a lease only if it is still this holder's. KEYS: lease. ARGV: holder.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/**
 * A {@link Store} in Redis or Valkey, shared by every process and machine that reaches the server: give
 * it a `redis://` (or `rediss://`) URL, connected with the npm package `redis` (an optional peer
 * dependency: `npm install redis`) and closed again by `close()`, or a node-redis client you connected
 * yourself (left open).
 *
 * Under the prefix, each object is a hash `<prefix>:obj:<id>` (its metadata, and the payload itself up to
 * `chunkBytes`); a larger payload is a list `<prefix>:chunks:<id>:<generation>` of chunks, pushed first
 * and then published with the head by one atomic script, so a reader sees the whole old value, the
 * whole new one, or none. `<prefix>:key:<digest>` leads from an entry's key to its latest object, so
 * that another machine adopts it. With `expireIn`, Redis expires all of them. `<prefix>:lease:<digest>`
 * names the machine computing an entry ({@link Store.lease}), so that the others wait for its result.
 *
 * A URL's connection fails fast when the server goes away (commands are not queued while it
 * reconnects), so a memoized call then computes its value instead of waiting.
 *
 * @example
 * ```ts
 * import { Memory, redisStore } from "nbmemo";
 * // Defined, not called here: it needs a Redis server.
 * async function openTeamCache() {
 *   const store = await redisStore("redis://cache.example.org:6379", { prefix: "team-a", expireIn: 7 * 86_400_000 });
 *   return await Memory.open(".nbmemo", { store }); // memory.close() closes the store too
 * }
 * ```
 */
export async function redisStore(urlOrClient: string | RedisClient, options: RedisStoreOptions = {}): Promise<Store> {
  const { prefix, expireIn, chunkBytes } = parseRedisStoreOptions(options);
  const owned = typeof urlOrClient === "string" ? await connectRedis(urlOrClient) : undefined;
  const client: RedisClient = owned ?? urlOrClient as RedisClient;
  const where = typeof urlOrClient === "string" ? withoutPassword(urlOrClient) : "Redis";
  const head = (id: string) => `${prefix}:obj:${checkObjectId(id)}`;
  const chunkPrefix = (id: string) => `${prefix}:chunks:${id}:`;
  const index = (key: string) => `${prefix}:key:${checkObjectId(key)}`;
  const lease = (key: string) => `${prefix}:lease:${checkObjectId(key)}`;

  // One command, failing with a message that names the store and what was being done.
  const send = async (doing: string, args: readonly RedisArgument[], bytes = false): Promise<unknown> => {
    try {
      return await client.sendCommand(args, bytes ? { typeMapping: AS_BYTES, timeout: COMMAND_MS } : { timeout: COMMAND_MS });
    } catch (error) {
      throw new Error(`Cannot ${doing} in ${where}: ${firstLine(error)}`, { cause: error });
    }
  };
  const readHead = async (id: string) => {
    const [meta, data, generation] = await send(`read object ${id}`, ["HMGET", head(id), "meta", "data", "gen"], true) as (Buffer | null)[];
    if (!meta) return undefined;
    return { meta: parseMeta(meta, id), data: data ?? Buffer.alloc(0), generation: generation?.toString() ?? "" };
  };

  return {
    flags: { shared: true },
    async get(id) {
      const deadline = Date.now() + READ_RETRY_MS;
      for (let wait = 2; ; wait = Math.min(wait * 2, 200)) {
        const found = await readHead(id);
        if (!found) return undefined;
        const { meta, data, generation } = found;
        if (meta.chunks === 0) {
          if (data.byteLength !== meta.bytes) throw new Error(`the Redis record of object ${id} is truncated`);
          return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        }
        const payload = await readChunks(send, chunkPrefix(id) + generation, meta, id);
        if (payload) return payload;
        // A writer replaced or deleted the object between the two reads: its old chunks are gone.
        if (Date.now() > deadline) throw new Error(`the chunks of object ${id} in ${where} are incomplete`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    },
    async find(key) {
      const id = await send(`find entry ${key}`, ["GET", index(key)]);
      return typeof id === "string" && isObjectId(id) ? id : undefined;
    },
    async set(id, chunks, info) {
      const headKey = head(id);
      const indexKey = info?.key === undefined ? undefined : index(info.key);
      const payload = concat(chunks);
      const meta: Meta = {
        v: FORMAT,
        bytes: payload.byteLength,
        chunks: payload.byteLength > chunkBytes ? Math.ceil(payload.byteLength / chunkBytes) : 0,
        writtenAt: Date.now(),
        ...(info && { computeMs: info.computeMs, runtime: info.runtime, createdAt: info.createdAt }),
      };
      const generation = meta.chunks > 0 ? randomHex(8) : "";
      const listKey = chunkPrefix(id) + generation;
      const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      for (let start = 0; start < meta.chunks; start += WINDOW) {
        await Promise.all(Array.from({ length: Math.min(WINDOW, meta.chunks - start) }, (_, i) => {
          const offset = (start + i) * chunkBytes;
          // One chunk per command, in order: RPUSH of chunk n waits for n-1 (the same connection keeps order).
          return send(`write object ${id}`, ["RPUSH", listKey, bytes.subarray(offset, offset + chunkBytes)]);
        }));
        if (start === 0) await send(`write object ${id}`, ["PEXPIRE", listKey, String(STAGING_MS)]);
      }
      await send(`write object ${id}`, [
        "EVAL", PUBLISH, indexKey ? "3" : "2", headKey, listKey, ...(indexKey ? [indexKey] : []),
        JSON.stringify(meta), meta.chunks > 0 ? "" : bytes, generation, String(meta.chunks), String(expireIn ?? 0), chunkPrefix(id), id,
      ]);
    },
    // An index record left pointing at a deleted object finds nothing: the read is a miss, and the key's
    // next write points it elsewhere.
    async delete(id) {
      await send(`delete object ${id}`, ["EVAL", DELETE, "1", head(id), chunkPrefix(id)]);
    },
    async lease(key, holder, ms) {
      if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`Cannot take a lease for ${ms} ms: it must be a whole number of ms, more than 0`);
      return await send(`take the lease on ${key}`, ["EVAL", LEASE, "1", lease(key), holder, String(ms)]) === 1;
    },
    async release(key, holder) {
      await send(`release the lease on ${key}`, ["EVAL", RELEASE, "1", lease(key), holder]);
    },
    async info(id): Promise<ObjectInfo | undefined> {
      const meta = await send(`read object ${id}`, ["HGET", head(id), "meta"], true) as Buffer | null;
      if (!meta) return undefined;
      const record = parseMeta(meta, id);
      if (record.computeMs === undefined || record.runtime === undefined) return undefined;
      return { computeMs: record.computeMs, runtime: record.runtime, createdAt: record.createdAt ?? record.writtenAt };
    },
    async list(): Promise<StoredObject[]> {
      const ids: string[] = [];
      const match = `${globEscape(prefix)}:obj:*`;
      let cursor = "0";
      do {
        const reply = await send("list objects", ["SCAN", cursor, "MATCH", match, "COUNT", "1000"]) as [string, string[]];
        cursor = String(reply[0]);
        for (const key of reply[1]) {
          const id = key.slice(prefix.length + ":obj:".length);
          if (isObjectId(id)) ids.push(id);
        }
      } while (cursor !== "0");
      const found: StoredObject[] = [];
      for (let start = 0; start < ids.length; start += 100) {
        const batch = ids.slice(start, start + 100);
        const metas = await Promise.all(batch.map((id) => send("list objects", ["HGET", head(id), "meta"], true) as Promise<Buffer | null>));
        for (const [i, meta] of metas.entries()) {
          if (meta) found.push({ id: batch[i]!, modifiedAt: parseMeta(meta, batch[i]!).writtenAt });
        }
      }
      return found;
    },
    async close() {
      if (!owned) return;
      // A connection to a server that went away is dropped; a live one finishes what it sent first.
      if (owned.isReady) await owned.close().catch(() => owned.destroy());
      else owned.destroy();
    },
  };
}

type Send = (doing: string, args: readonly RedisArgument[], bytes?: boolean) => Promise<unknown>;

// The payload in the chunk list `key`, or undefined if the list is not (or no longer) whole.
async function readChunks(send: Send, key: string, meta: Meta, id: string): Promise<Uint8Array | undefined> {
  const out = new Uint8Array(meta.bytes);
  let offset = 0;
  for (let start = 0; start < meta.chunks; start += WINDOW) {
    const parts = await send(`read object ${id}`, ["LRANGE", key, String(start), String(start + WINDOW - 1)], true) as Buffer[];
    if (parts.length !== Math.min(WINDOW, meta.chunks - start)) return undefined;
    for (const part of parts) {
      if (offset + part.byteLength > out.byteLength) return undefined;
      out.set(part, offset);
      offset += part.byteLength;
    }
  }
  return offset === meta.bytes ? out : undefined;
}

function parseMeta(bytes: Buffer, id: string): Meta {
  const bad = (why: string) => new Error(`the Redis record of object ${id} ${why}`);
  let meta: Meta;
  try {
    meta = JSON.parse(bytes.toString("utf8")) as Meta;
  } catch {
    throw bad("is not an nbmemo record");
  }
  if (typeof meta !== "object" || meta === null || typeof meta.v !== "number") throw bad("is not an nbmemo record");
  if (meta.v !== FORMAT) throw bad(`has format ${meta.v}, which this nbmemo does not read (it reads ${FORMAT}); upgrade nbmemo`);
  if (!Number.isSafeInteger(meta.bytes) || !Number.isSafeInteger(meta.chunks)) throw bad("has an unreadable header");
  return meta;
}

// SCAN's MATCH is a glob: the prefix's own *, ?, [ and \ are taken literally.
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** True if `url` names a Redis server (`redis://`, or `rediss://` for TLS). */
export function isRedisUrl(url: string): boolean {
  return /^rediss?:\/\//i.test(url);
}

// How long a first connection may take, and how often a lost one is tried again.
const CONNECT_MS = 5_000;
const RECONNECT_MAX_MS = 2_000;

/**
 * Connects to the Redis server at `url` with node-redis (the npm package `redis`), loaded only now. Lost
 * connections are retried in the background while commands fail at once, so nothing waits on a server
 * that went away.
 */
async function connectRedis(url: string): Promise<OwnedClient> {
  const unavailable = (reason: string, cause?: unknown) =>
    new NbmemoError("STORE_UNAVAILABLE", `Cannot open the Redis store ${withoutPassword(url)}: ${reason}`, { cause });
  if (!isRedisUrl(url)) throw invalid(`Cannot use the Redis URL ${shown(withoutPassword(url))}: it must start with redis:// or rediss://.`);
  let redis: typeof import("redis");
  try {
    redis = await import("redis");
  } catch (error) {
    throw unavailable("the npm package redis is not installed. Run `npm install redis`.", error);
  }
  let connected = false;
  const client = redis.createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_MS,
      // Not connected yet: give up at once (the caller hears why); connected: keep trying, backing off.
      reconnectStrategy: (retries, cause) => connected ? Math.min(50 * 2 ** retries, RECONNECT_MAX_MS) : cause,
    },
  });
  // Errors of the background connection surface in the commands that fail; unhandled, they would crash the process.
  client.on("error", () => {});
  try {
    await client.connect();
    connected = true;
  } catch (error) {
    client.destroy();
    throw unavailable(`${firstLine(error) || "no connection"}. Check the URL, and that the server runs and is reachable.`, error);
  }
  return client as unknown as OwnedClient;
}
