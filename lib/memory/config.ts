// Options, validated once at the edge (Memory.open) into a config with every default filled in.
import { isAbsolute, resolve } from "node:path";
import { ENTRY_SORTS, type EntrySort, type Limits } from "../types.ts";
import { type Compression, COMPRESSIONS, compressionSupported } from "../codec/compression.ts";
import { type LogLevel, resolveLogLevel } from "../log.ts";
import { byteCount, checkKnown, checkOptions, invalid, optionNames, parseBytes, parseDuration, shown, withoutPassword } from "../options.ts";
import { isRedisUrl } from "../store/redis.ts";
import type { Store } from "../store/store.ts";
import { MIN_KEY_BYTES } from "../codec/signature.ts";

/** Options of {@link Memory.open}. */
export interface MemoryOptions {
  /**
   * How much nbmemo prints. Default: `NBMEMO_LOG` if set, else `"info"` in a notebook (hit/miss
   * notices) and `"warn"` in scripts.
   */
  log?: LogLevel;
  /** Outputs up to this many bytes are kept inside the catalog instead of a file. Default: 16384. */
  inlineBytes?: number;
  /**
   * Where outputs live. A {@link Store}, such as `s3Store({ ... })` or `await kvStore(...)`; or a string:
   * a Redis URL (`redis://host:6379`, `rediss://` for TLS), opened as `redisStore(url)`; else a Deno KV
   * database: a KV Connect URL (`https://...`, token in `DENO_KV_ACCESS_TOKEN`), `":memory:"`, or a file
   * path (a relative one is taken inside the cache directory). Default: files under `dir/objects`.
   */
  store?: Store | string;
  /**
   * When the same call is already being computed by another process on this cache, wait for its result
   * instead of computing it again. `false` computes at once. Default: true.
   */
  lock?: boolean;
  /**
   * How long, in ms, a call waits for another process computing the same call before it computes the
   * value itself. A process on this machine that is gone (crashed, killed) loses its claim at once, one on
   * another machine within 30 s. Default: 600000 (10 min).
   */
  lockTimeout?: number;
  /**
   * Keep the cache's stored outputs under this many bytes: a number, or a string such as "500 MB" or
   * "2 GiB" (kB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024). When a store crosses it,
   * the least recently used entries are evicted down to 90% of it. Default: no limit.
   */
  maxBytes?: number | string;
  /** Keep at most this many entries; crossing it evicts the least recently used down to 90%. Default: no limit. */
  maxEntries?: number;
  /**
   * Results older than this (since they were computed) are not returned but recomputed, and are removed
   * by eviction and {@link Memory.prune}: milliseconds, or a string such as "7d", "12h", "30 min".
   * Default: no limit.
   */
  maxAge?: number | string;
  /**
   * Create the cache if `dir` holds none. With `false`, a directory without a cache is refused with
   * `NOT_A_CACHE` (the CLI opens caches this way). Default: true.
   */
  create?: boolean;
  /**
   * Read the cache and write nothing: not the cache directory, not the store (a user who can only read
   * them, such as a team's shared store). Hits are returned; a miss is computed and returned but not stored.
   * `delete`, `clear`, `prune` and `verify({ repair: true })` throw `READ_ONLY`. A cache directory this
   * process cannot write is opened this way by itself, after one warning. Default: false.
   */
  readOnly?: boolean;
  /**
   * Compresses outputs of at least `compressMinBytes` with gzip or zstd (zstd needs Node >= 22.15 or
   * Deno 2). Reading needs no option: every payload says how it was written. Default: false.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo", { compress: "gzip" }); // or "zstd" where node:zlib has it
 * await memory.close();
   * ```
   */
  compress?: Compression | false;
  /** Outputs smaller than this are stored uncompressed even with `compress`. Default: 65536. */
  compressMinBytes?: number;
  /**
   * A team's secret key for a shared store (Deno KV, S3, Redis): every output written there carries an
   * HMAC-SHA256 over its entry key, payload and info, and an output that is unsigned, signed with another
   * key, altered or moved is a miss with one warning, never returned. A string (its UTF-8 bytes) or bytes,
   * at least 16 bytes; for instance `openssl rand -hex 32`. Everyone sharing the store needs the same key.
   * Not used with the local file store. Default: `NBMEMO_SIGNING_KEY` if set, else none (unsigned).
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo", { store: "team.kv", signingKey: "0123456789abcdef0123456789abcdef" });
   * await memory.close();
   * ```
   */
  signingKey?: string | Uint8Array;
}

/**
 * What {@link Memory.fn} does when it meets a new version of a name it has results for.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const fit = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
 * const fitted = memory.fn("fit_mean", fit, { onChange: "clear" }); // keep only the current version's results
 * console.log(await fitted([1, 2, 3])); // 2
 * await memory.close();
 * ```
 */
export const ON_CHANGE = ["warn", "clear", "ignore"] as const;
export type OnChange = typeof ON_CHANGE[number];

/**
 * Seams for nbmemo's own tests, passed under the {@link testingSeams} symbol key of the options; not part
 * of the public API (mod.ts does not export the symbol).
 */
export interface TestingSeams {
  /** How long a lease lasts without a heartbeat, in ms (default {@link LEASE_MS}). */
  leaseMs?: number;
  /** The clock of the Memory, in ms since the epoch (default `Date.now`): when entries were computed,
   * whether they are past maxAge, and how long an eviction batch has run. */
  now?: () => number;
  /** How eviction steps are run after the call, `pauseMs` later (default: an unref'd timer). */
  schedule?: (work: () => Promise<void>, pauseMs: number) => void;
}
export const testingSeams: unique symbol = Symbol("nbmemo.testingSeams");

/** How long a lease on a call lasts without a heartbeat: what a crashed or hung holder delays others by. */
export const LEASE_MS = 30_000;

/** Options of {@link Memory.fn} and {@link Memory.cell}. */
export interface FnOptions {
  /**
   * Pins the function's version by hand: the source is then not hashed, and editing the function
   * keeps its results until you change this string. Default: the hash of the normalized source.
   */
  version?: string;
  /**
   * Helpers and values the function reads from outside, folded into its version: functions by their
   * normalized source (a memoized function by its name and version, deps included), values by their
   * canonical hash. Give a function, `() => ({ helper, LIMIT })`: it is called at every call (a few
   * microseconds for small values), so a value changed since (its cell re-run) makes a new version instead of
   * hitting results computed with the old one. An object, `{ helper, LIMIT }`, holds the values as they were
   * when memory.fn ran: a name rebound later is not seen until memory.fn runs again. Default: none.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * let LIMIT = 10;
   * const clean = (s: string) => s.trim();
   * const top = memory.fn("top_clean", (xs: string[]) => xs.map(clean).slice(0, LIMIT), { deps: () => ({ clean, LIMIT }) });
   * console.log(await top([" a ", "b "])); // ["a", "b"]
   * await memory.close();
   * ```
   */
  deps?: Deps | (() => Deps);
  /**
   * Names the function reads from outside that need not be in its key (imports, the runtime's own
   * globals, a constant that never changes): they are not reported. `"all"` reports none. Default: none,
   * so every name read from outside and not in `deps` is warned about once per version and process.
   *
   * @example
   * ```ts
   * import { readFileSync } from "node:fs";
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const load = memory.fn("load", (path: string) => readFileSync(path, "utf8"), { unkeyed: ["readFileSync"] });
   * await memory.close();
   * ```
   */
  unkeyed?: readonly string[] | "all";
  /**
   * When the name's version changes: `"warn"` prints the change once, with a diff, and keeps the old
   * results (a revert hits them again); `"clear"` also deletes the results of the name's other versions;
   * `"ignore"` keeps them and says nothing. Default: `"warn"`.
   */
  onChange?: OnChange;
}

/** A function's dependencies by name (see {@link FnOptions.deps}). */
export type Deps = Readonly<Record<string, unknown>>;

/** {@link FnOptions} validated, with defaults filled in. */
export interface FnConfig {
  readonly version: string | undefined;
  readonly deps: Deps | (() => Deps) | undefined;
  readonly unkeyed: readonly string[] | "all";
  readonly onChange: OnChange;
}

/**
 * Options of {@link Memory.prune}.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * await memory.prune({ oldVersionsUnusedFor: "1d" });
 * await memory.close();
 * ```
 */
export interface PruneOptions {
  /**
   * Old versions of a function (every version but its most recently used one) that were not used for
   * this long lose their entries and are forgotten: milliseconds or a duration such as "7d"; 0 drops
   * every old version now. Default: "7d".
   */
  oldVersionsUnusedFor?: number | string;
}

/**
 * Which entries {@link Memory.entries} lists, in which order, how many.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const largest = memory.entries({ fn: "load_counties", sort: "bytes", limit: 3 });
 * console.log(largest.map((e) => e.bytes));
 * await memory.close();
 * ```
 */
export interface EntryFilter {
  /** Only this function's entries. */
  fn?: string;
  /** Only this version's entries (a version as {@link Memory.functions} reports it). */
  version?: string;
  /**
   * Order, largest or most recent first: `"accessed"` (default), `"created"`, `"bytes"`, `"hits"`,
   * `"computeMs"`.
   */
  sort?: EntrySort;
  /** At most this many. Default: all. */
  limit?: number;
}

export interface Config {
  readonly dir: string;
  readonly log: LogLevel;
  readonly inlineBytes: number;
  /** A store given by the caller, a Redis URL or Deno KV path or URL to open, or undefined for the file store. */
  readonly store: Store | string | undefined;
  readonly lock: boolean;
  readonly lockTimeout: number;
  readonly leaseMs: number;
  /** The clock of entry ages (when an entry was computed, whether it is past maxAge) and of eviction batches. */
  readonly now: () => number;
  readonly schedule: ((work: () => Promise<void>, pauseMs: number) => void) | undefined;
  readonly limits: Limits;
  readonly create: boolean;
  readonly readOnly: boolean;
  readonly compress: Compression | false;
  readonly compressMinBytes: number;
  /** The team key that signs outputs in a shared store, if any. */
  readonly signingKey: Uint8Array | undefined;
}

const memoryOptionNames = optionNames<MemoryOptions>({
  log: true, inlineBytes: true, store: true, lock: true, lockTimeout: true, maxBytes: true, maxEntries: true, maxAge: true,
  create: true, readOnly: true, compress: true, compressMinBytes: true, signingKey: true,
});
const fnOptionNames = optionNames<FnOptions>({ version: true, deps: true, unkeyed: true, onChange: true });
const pruneOptionNames = optionNames<PruneOptions>({ oldVersionsUnusedFor: true });
const entryFilterNames = optionNames<EntryFilter>({ fn: true, version: true, sort: true, limit: true });

export function parseMemoryOptions(dir: unknown, options: MemoryOptions): Config {
  if (typeof dir !== "string" || dir.trim() === "") {
    throw invalid(`Cannot open a cache at ${JSON.stringify(dir) ?? String(dir)}: the directory must be a non-empty path string, such as ".nbmemo".`);
  }
  if (dir.includes("\0")) {
    throw invalid(`Cannot open a cache at ${shown(dir)}: the path holds a NUL character ("\\0"), which no file system accepts. Check how the path was built.`);
  }
  checkOptions(options, memoryOptionNames, "Memory.open", '{ log: "info" }');
  const inlineBytes = byteCount(options.inlineBytes, 16 * 1024, "inlineBytes");
  const lock = options.lock ?? true;
  if (typeof lock !== "boolean") {
    throw invalid(`Cannot use lock=${shown(options.lock)}: it must be true (wait for another process computing the same call) or false.`);
  }
  const lockTimeout = options.lockTimeout ?? 600_000;
  if (typeof lockTimeout !== "number" || !Number.isFinite(lockTimeout) || lockTimeout < 0) {
    throw invalid(`Cannot use lockTimeout=${shown(options.lockTimeout)}: it must be a number of milliseconds, 0 or more, such as 60000.`);
  }
  if (options.create !== undefined && typeof options.create !== "boolean") {
    throw invalid(`Cannot use create=${shown(options.create)}: it must be true or false.`);
  }
  if (options.readOnly !== undefined && typeof options.readOnly !== "boolean") {
    throw invalid(`Cannot use readOnly=${shown(options.readOnly)}: it must be true (read the cache, write nothing) or false.`);
  }
  const seams = (options as { [testingSeams]?: TestingSeams })[testingSeams] ?? {};
  return {
    dir, log: resolveLogLevel(options.log), inlineBytes, store: parseStore(options.store, dir), lock, lockTimeout,
    leaseMs: seams.leaseMs ?? LEASE_MS, now: seams.now ?? Date.now, schedule: seams.schedule, limits: parseLimits(options), create: options.create ?? true, readOnly: options.readOnly ?? false, ...parseCompression(options),
    signingKey: parseSigningKey(options.signingKey),
  };
}

// The option, else NBMEMO_SIGNING_KEY; an empty variable counts as unset.
function parseSigningKey(option: unknown): Uint8Array | undefined {
  const fromEnv = option === undefined ? process.env.NBMEMO_SIGNING_KEY || undefined : undefined;
  const key = option ?? fromEnv;
  if (key === undefined) return undefined;
  const where = fromEnv === undefined ? "signingKey" : "NBMEMO_SIGNING_KEY";
  const bytes = typeof key === "string" ? new TextEncoder().encode(key) : key instanceof Uint8Array ? key : undefined;
  if (!bytes) throw invalid(`Cannot use ${where}=${shown(key)}: a signing key is a string or a Uint8Array, such as the output of \`openssl rand -hex 32\`.`);
  if (bytes.byteLength < MIN_KEY_BYTES) {
    throw invalid(`Cannot use ${where}: it has ${bytes.byteLength} bytes, and a signing key needs at least ${MIN_KEY_BYTES} (an HMAC is only as strong as its key). Make one with \`openssl rand -hex 32\`.`);
  }
  return Uint8Array.from(bytes);
}

/** Parses the options of Memory.prune into milliseconds. */
export function parsePruneOptions(options: PruneOptions): { oldVersionsUnusedForMs: number } {
  checkOptions(options, pruneOptionNames, "memory.prune", '{ oldVersionsUnusedFor: "7d" }');
  return { oldVersionsUnusedForMs: parseDuration(options.oldVersionsUnusedFor ?? "7d", "oldVersionsUnusedFor") };
}

/** Parses the three limits, as Memory.open and the CLI's prune take them. */
export function parseLimits(options: Pick<MemoryOptions, "maxBytes" | "maxEntries" | "maxAge">): Limits {
  const maxEntries = options.maxEntries ?? null;
  if (maxEntries !== null && (!Number.isSafeInteger(maxEntries) || maxEntries < 1)) {
    throw invalid(`Cannot use maxEntries=${shown(maxEntries)}: it must be a whole number of entries, 1 or more.`);
  }
  return {
    maxBytes: options.maxBytes === undefined ? null : parseBytes(options.maxBytes, "maxBytes"),
    maxEntries,
    maxAgeMs: options.maxAge === undefined ? null : parseDuration(options.maxAge, "maxAge"),
  };
}

function parseStore(store: unknown, dir: string): Store | string | undefined {
  if (store === undefined) return undefined;
  if (typeof store === "string") {
    if (store.trim() === "") {
      throw invalid('Cannot use store="": name a Redis URL, a Deno KV file path, ":memory:" or a KV Connect URL, or leave store out for files.');
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(store)) {
      if (!isRedisUrl(store) && !/^https?:\/\//i.test(store)) {
        throw invalid(`Cannot use store=${shown(withoutPassword(store))}: a store URL is a Redis URL (redis:// or rediss://) or a Deno KV Connect URL (http:// or https://); for S3, pass \`s3Store({ ... })\`.`);
      }
      return store;
    }
    return store === ":memory:" || isAbsolute(store) ? store : resolve(dir, store);
  }
  const candidate = store as Partial<Store> | null;
  if (typeof candidate !== "object" || candidate === null || typeof candidate.get !== "function" ||
    typeof candidate.set !== "function" || typeof candidate.delete !== "function") {
    throw invalid("Cannot use the store option: pass a Store (get/set/delete), such as `s3Store({ ... })`, or a Redis URL, or a Deno KV path or URL.");
  }
  return candidate as Store;
}

function parseCompression(options: MemoryOptions): Pick<Config, "compress" | "compressMinBytes"> {
  const compress = options.compress ?? false;
  if (compress !== false && !(COMPRESSIONS as readonly unknown[]).includes(compress)) {
    throw invalid(`Cannot use compress=${shown(compress)}: it must be ${COMPRESSIONS.map((c) => `"${c}"`).join(", ")} or false.`);
  }
  if (compress && !compressionSupported(compress)) {
    throw invalid(`Cannot use compress="${compress}": this runtime's node:zlib has no ${compress} (it needs Node >= 22.15 or Deno 2). Use "gzip", or a newer runtime.`);
  }
  const compressMinBytes = byteCount(options.compressMinBytes, 64 * 1024, "compressMinBytes");
  return { compress, compressMinBytes };
}

export function parseFnOptions(options: FnOptions, where: string): FnConfig {
  checkOptions(options, fnOptionNames, where, '{ version: "2" }');
  if (options.version !== undefined && (typeof options.version !== "string" || options.version === "")) {
    throw invalid(`Cannot use version=${shown(options.version)} in ${where}: a pinned version is a non-empty string, such as "2".`);
  }
  // The catalog keeps a pinned version as TEXT, which Deno's node:sqlite reads back only up to a NUL.
  if (options.version?.includes("\0")) {
    throw invalid(`Cannot use version=${shown(options.version)} in ${where}: a pinned version cannot hold a NUL character. Use another string, such as "2".`);
  }
  const { deps, onChange = "warn", unkeyed = [] } = options;
  if (unkeyed !== "all" && !(Array.isArray(unkeyed) && unkeyed.every((name) => typeof name === "string"))) {
    throw invalid(`Cannot use unkeyed in ${where}: it must list names, such as ["readFileSync"], or be "all".`);
  }
  if (deps !== undefined && typeof deps !== "function" && (typeof deps !== "object" || deps === null || Array.isArray(deps))) {
    throw invalid(`Cannot use deps in ${where}: it must be a function returning an object that names each dependency, such as () => ({ helper, LIMIT }).`);
  }
  if (!(ON_CHANGE as readonly string[]).includes(onChange)) {
    throw invalid(`Cannot use onChange=${shown(onChange)} in ${where}: use one of ${ON_CHANGE.map((v) => `"${v}"`).join(", ")}.`);
  }
  return { version: options.version, deps, unkeyed, onChange };
}

/** Options of {@link Memory.map}: those of {@link Memory.fn}, and how the items are run and reported. */
export interface MapOptions extends FnOptions {
  /** How many items run at once (their promises in flight: an async `f` waiting on I/O overlaps). Default: 4. */
  concurrency?: number;
  /**
   * Progress: in a notebook one display updated in place, on a terminal one rewritten line (stderr). `"auto"`
   * shows nothing in a script whose stderr is not a terminal; `true` prints a line per tenth done there;
   * `false` shows nothing anywhere. Default: "auto".
   */
  progress?: boolean | "auto";
  /**
   * What a failing item does: `"throw"` runs every other item, then rejects with a `MapError` listing the
   * failures (the finished results are cached and on the error); `"return"` resolves with a
   * {@link MapFailure} in each failed item's place. Default: "throw".
   */
  errors?: "throw" | "return";
}

/** memory.map's own options, with defaults filled in. */
export interface MapConfig {
  readonly concurrency: number;
  readonly progress: boolean | "auto";
  readonly errors: "throw" | "return";
}

const mapOnlyNames = optionNames<Omit<MapOptions, keyof FnOptions>>({ concurrency: true, progress: true, errors: true });

/** Splits memory.map's options into memory.fn's (checked) and its own. */
export function parseMapOptions(options: MapOptions, where: string): { fn: FnConfig; map: MapConfig } {
  checkOptions(options, [...fnOptionNames, ...mapOnlyNames], where, "{ concurrency: 4 }");
  const { concurrency = 4, progress = "auto", errors = "throw", ...fnOptions } = options;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw invalid(`Cannot use concurrency=${JSON.stringify(concurrency)} in ${where}: it must be a whole number, 1 or more.`);
  }
  if (progress !== true && progress !== false && progress !== "auto") {
    throw invalid(`Cannot use progress=${JSON.stringify(progress)} in ${where}: use true, false or "auto".`);
  }
  if (errors !== "throw" && errors !== "return") {
    throw invalid(`Cannot use errors=${JSON.stringify(errors)} in ${where}: use "throw" or "return".`);
  }
  return { fn: parseFnOptions(fnOptions, where), map: { concurrency, progress, errors } };
}

/** Checks the filter of memory.entries. */
export function parseEntryFilter(filter: EntryFilter): EntryFilter {
  const bad = (what: string) => invalid(`Cannot list entries: ${what}.`);
  if (typeof filter !== "object" || filter === null) throw bad("the filter must be an object such as { fn: \"load\", limit: 10 }");
  checkKnown(filter, entryFilterNames, "memory.entries");
  if (filter.sort !== undefined && !(ENTRY_SORTS as readonly unknown[]).includes(filter.sort)) {
    throw bad(`sort=${JSON.stringify(filter.sort)} is not one of ${ENTRY_SORTS.join(", ")}`);
  }
  if (filter.limit !== undefined && (!Number.isSafeInteger(filter.limit) || filter.limit < 0)) {
    throw bad(`limit=${JSON.stringify(filter.limit)} must be a whole number, 0 or more`);
  }
  return filter;
}

/**
 * Options of `memory.delete`, `memory.clear` and a memoized function's `clear`.
 *
 * @example
 * ```ts
 * import { type DeleteOptions, Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const everywhere: DeleteOptions = { shared: true };
 * await memory.delete("fit", everywhere);
 * await memory.close();
 * ```
 */
export interface DeleteOptions {
  /** One version only, as `memory.functions()` names it (`memory.delete` only). */
  readonly version?: string;
  /**
   * With a shared store (a team's bucket, Redis, Deno KV), also delete the outputs from it, for every
   * machine. Without it only this machine's entries and local copies go: the shared store keeps the team's
   * outputs, and a later call here reads them back.
   */
  readonly shared?: boolean;
}

/** Checks the options of memory.delete / memory.clear / fn.clear (`what`: what is deleted, for the error). */
export function parseDeleteOptions(options: DeleteOptions, what: string, versions = true): { version?: string; shared: boolean } {
  const bad = typeof options !== "object" || options === null ||
    (options.version !== undefined && (typeof options.version !== "string" || !versions)) ||
    (options.shared !== undefined && typeof options.shared !== "boolean");
  if (bad) {
    const example = versions ? `{ version: "pinned:2" } or { shared: true }` : "{ shared: true }";
    throw invalid(`Cannot delete ${what}: the options must be an object such as ${example}.`);
  }
  return { version: options.version, shared: options.shared ?? false };
}

/** Checks the options of memory.verify. */
export function parseVerifyOptions(options: { repair?: boolean }): { repair: boolean } {
  if (typeof options !== "object" || options === null || (options.repair !== undefined && typeof options.repair !== "boolean")) {
    throw invalid("Cannot verify the cache: the options must be an object such as { repair: true }.");
  }
  return { repair: options.repair ?? false };
}
