// Memory: opens a cache directory and memoizes functions and cell blocks in it.
// A call goes: key (name, version, argument hash) -> catalog lookup -> hit | miss -> compute -> store.
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { Catalog, type CatalogTotals, type Entry, type EntryKey, type FunctionVersion } from "./catalog/catalog.ts";
import { byteLength, concat, CorruptPayload, decode, encode, UnstorableValue } from "./codec.ts";
import { type Config, type FnOptions, type MemoryOptions, parseFnOptions, parseMemoryOptions } from "./config.ts";
import { NbmemoError } from "./errors.ts";
import { formatBytes, formatDuration } from "./format.ts";
import { hashValues, preview } from "./keys/args.ts";
import { checkName } from "./keys/name.ts";
import { sha256, SourceHasher } from "./keys/source.ts";
import { createLogger, type Logger } from "./log.ts";
import { htmlTable } from "./notebook/html-table.ts";
import { summarize } from "./notebook/summary.ts";
import { svgBarChart } from "./notebook/svg-chart.ts";
import { textTable } from "./notebook/text-table.ts";
import { display, runtime } from "./runtime.ts";
import { fileStore } from "./store/file.ts";
import { kvStore } from "./store/kv.ts";
import type { ObjectInfo, Store } from "./store/store.ts";

/** One stored result, as {@link Memory.entries} lists it (the payload itself is not loaded). */
export type EntryInfo = Omit<Entry, "inline">;

/** What {@link Memory.stats} reports: the cache's totals, and this process's hits and misses. */
export interface Stats extends CatalogTotals {
  /** Hits and misses of calls made through this Memory since it was opened. */
  readonly session: { readonly hits: number; readonly misses: number };
}

/** A memoized function: same parameters, always returns a Promise. */
export interface Memoized<A extends unknown[], R> {
  (...args: A): Promise<Awaited<R>>;
  /** The name it is stored under. */
  readonly memoName: string;
  /** Deletes every stored result of this name (all versions); resolves to how many were deleted. */
  clear(): Promise<number>;
}

// A function's version: the normalized source hash, or a pinned string.
interface Version {
  readonly id: string;
  readonly source: string | null;
}

const CATALOG_FILE = "catalog.sqlite";

/**
 * A cache directory, opened. Results live in `dir` and survive restarts; several processes may use
 * one directory at once.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const square = memory.fn("square", (x: number) => x * x);
 * await square(4); // computed: 16
 * await square(4); // read back: 16
 * memory.close();
 * ```
 */
export class Memory {
  /** The cache directory, as an absolute path. */
  readonly dir: string;
  readonly #config: Config;
  readonly #catalog: Catalog;
  readonly #store: Store;
  readonly #hasher: SourceHasher;
  readonly #log: Logger;
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #usedVersions = new Set<string>();
  readonly #session = { hits: 0, misses: 0 };
  #closed = false;

  private constructor(config: Config, catalog: Catalog, store: Store) {
    this.dir = config.dir;
    this.#config = config;
    this.#catalog = catalog;
    this.#store = store;
    this.#hasher = new SourceHasher(catalog);
    this.#log = createLogger(config.log);
  }

  /**
   * Opens the cache in `dir`, creating it if needed (mode 0700).
   *
   * @throws NbmemoError `INVALID_OPTION` for a bad option, `NOT_A_CACHE` for a path that is a file or a
   * non-empty directory holding no cache, `CATALOG_TOO_NEW` for a cache written by a newer nbmemo.
   */
  static async open(dir = ".nbmemo", options: MemoryOptions = {}): Promise<Memory> {
    const parsed = parseMemoryOptions(dir, options);
    const config = { ...parsed, dir: resolve(parsed.dir) };
    prepareDirectory(config.dir);
    const store = typeof config.store === "string" ? await kvStore(config.store) : config.store ?? fileStore(join(config.dir, "objects"));
    let catalog: Catalog;
    try {
      catalog = Catalog.open(join(config.dir, CATALOG_FILE));
    } catch (error) {
      if (typeof config.store === "string") await store.close?.();
      throw error;
    }
    return new Memory(config, catalog, store);
  }

  /**
   * Memoizes `f` under `name`. Results are keyed by `name`, the normalized source of `f` (or
   * `options.version`) and the arguments. Sync and async functions both work; the memoized function
   * returns a Promise. A call that throws or rejects is not cached.
   *
   * @example
   * ```ts
   * const memory = await Memory.open(".nbmemo");
   * const slowSquare = memory.fn("slow_square", async (x: number) => {
   *   await new Promise((r) => setTimeout(r, 100));
   *   return x * x;
   * });
   * console.log(await slowSquare(3)); // 9, after 100 ms the first time, at once afterwards
   * ```
   */
  fn<A extends unknown[], R>(name: string, f: (...args: A) => R, options: FnOptions = {}): Memoized<A, R> {
    const where = `memory.fn(${JSON.stringify(name)})`;
    checkName(name, "memory.fn");
    if (typeof f !== "function") {
      throw new NbmemoError("INVALID_OPTION", `Cannot memoize ${where}: the second argument must be a function, not ${typeof f}.`);
    }
    const { version: pinned } = parseFnOptions(options, where);
    let version: Promise<Version> | undefined;
    const versionOf = () => {
      version ??= this.#version(f, pinned, `passed to ${where}`);
      version.catch(() => (version = undefined)); // do not remember a failure
      return version;
    };
    const memoized = async (...args: A): Promise<Awaited<R>> => {
      this.#checkOpen(`call ${name}`);
      return await this.#call(name, await versionOf(), args, "args", () => f(...args));
    };
    return Object.assign(memoized, {
      memoName: name,
      clear: async () => await this.#deleteEntries({ name }),
    });
  }

  /**
   * The `%cache`-style cell helper: runs `compute` once for a given `name`, source of `compute` and
   * `deps`, and reads the result back on later runs, also after a kernel restart. List in `deps`
   * every value from other cells that `compute` reads.
   *
   * @example
   * ```ts
   * const memory = await Memory.open(".nbmemo");
   * const url = "https://example.org/data.csv";
   * const { rows } = await memory.cell("prepare", [url], async () => {
   *   return { rows: [1, 2, 3] }; // slow work that uses `url`
   * });
   * ```
   */
  async cell<R>(name: string, deps: readonly unknown[], compute: () => R, options: FnOptions = {}): Promise<Awaited<R>> {
    const where = `memory.cell(${JSON.stringify(name)})`;
    checkName(name, "memory.cell");
    if (!Array.isArray(deps)) {
      throw new NbmemoError("INVALID_OPTION", `Cannot run ${where}: deps must be an array of the values the block reads, such as [url, year], or [].`);
    }
    if (typeof compute !== "function") {
      throw new NbmemoError("INVALID_OPTION", `Cannot run ${where}: the third argument must be a function that computes the block.`);
    }
    const { version: pinned } = parseFnOptions(options, where);
    this.#checkOpen(`run ${where}`);
    const version = await this.#version(compute, pinned, `passed to ${where}`);
    return await this.#call(name, version, deps, "deps", compute);
  }

  /**
   * Every function version the cache knows, with its entries, bytes, hits and the compute time its hits
   * saved; most recently used first.
   *
   * @example
   * ```ts
   * const memory = await Memory.open(".nbmemo");
   * for (const f of memory.functions()) console.log(f.name, f.entries, f.bytes);
   * ```
   */
  functions(): FunctionVersion[] {
    this.#checkOpen("list functions");
    return this.#catalog.functions();
  }

  /**
   * The stored results, most recently used first; `fn` and `version` filter them.
   *
   * @example
   * ```ts
   * const memory = await Memory.open(".nbmemo");
   * const recent = memory.entries({ fn: "load_counties" }).slice(0, 5);
   * ```
   */
  entries(filter: { fn?: string; version?: string } = {}): EntryInfo[] {
    this.#checkOpen("list entries");
    return this.#catalog.entries({ name: filter.fn, version: filter.version }).map(({ inline: _, ...info }) => info);
  }

  /**
   * Totals over the cache (functions, versions, entries, bytes, hits, time saved) and this process's
   * hits and misses.
   *
   * @example
   * ```ts
   * const memory = await Memory.open(".nbmemo");
   * const { entries, bytes, session } = memory.stats();
   * ```
   */
  stats(): Stats {
    this.#checkOpen("read stats");
    return { ...this.#catalog.totals(), session: { ...this.#session } };
  }

  /**
   * Shows what the cache holds: in Jupyter (tslab or the Deno kernel) an HTML table of the function
   * versions (entries, bytes, hits, time saved, last used) with a bar chart of bytes per function; in a
   * terminal the same table as text on stdout.
   *
   * @example
   * ```ts
   * const memory = await Memory.open(".nbmemo");
   * await memory.show();
   * ```
   */
  async show(): Promise<void> {
    const summary = summarize({ dir: this.dir, functions: this.functions(), stats: this.stats(), now: Date.now() });
    await display({ html: htmlTable(summary) + svgBarChart(summary.bars), text: textTable(summary) });
  }

  /** Closes the catalog after in-flight calls settle. Further calls fail with `CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(this.#inflight.values());
    await this.#store.close?.();
    this.#catalog.close();
  }

  #checkOpen(what: string): void {
    if (this.#closed) {
      throw new NbmemoError("CLOSED", `Cannot ${what}: this Memory (${this.dir}) is closed. Open it again with Memory.open.`);
    }
  }

  async #version(f: Function, pinned: string | undefined, where: string): Promise<Version> {
    if (pinned !== undefined) return { id: `pinned:${pinned}`, source: null };
    const source = await this.#hasher.normalize(f, where);
    return { id: source.hash, source: source.text };
  }

  async #call<R>(name: string, version: Version, values: readonly unknown[], root: string, invoke: () => R): Promise<Awaited<R>> {
    const argsHash = await this.#hasher.withParser(() =>
      hashValues(values, root, (fn, path) => this.#hasher.normalizeSync(fn, `at ${path}`).hash)
    );
    const key: EntryKey = { name, version: version.id, argsHash };
    const id = `${name}\0${version.id}\0${argsHash}`;
    const running = this.#inflight.get(id);
    if (running) return await (running as Promise<Awaited<R>>);
    const promise = this.#lookupOrCompute(key, version, values, invoke);
    this.#inflight.set(id, promise);
    try {
      return await promise;
    } finally {
      this.#inflight.delete(id);
    }
  }

  async #lookupOrCompute<R>(key: EntryKey, version: Version, values: readonly unknown[], invoke: () => R): Promise<Awaited<R>> {
    this.#useVersion(key.name, version);
    const hit = await this.#read(key, values);
    if (hit) {
      this.#session.hits++;
      this.#log.info(`${key.name} hit (saved ${formatDuration(hit.computeMs)})`);
      return hit.value as Awaited<R>;
    }
    const started = performance.now();
    const value = await invoke();
    const computeMs = performance.now() - started;
    this.#session.misses++;
    const stored = await this.#write(key, value, computeMs, values);
    this.#log.info(`${key.name} miss (computed in ${formatDuration(computeMs)}${stored ? `, stored ${formatBytes(stored)}` : ""})`);
    return value;
  }

  #useVersion(name: string, version: Version): void {
    const id = `${name}\0${version.id}`;
    if (this.#usedVersions.has(id)) return;
    this.#catalog.useFunction(name, version.id, version.source, Date.now());
    this.#usedVersions.add(id);
  }

  // A corrupt or missing payload is a miss with a warning, never an error.
  async #read(key: EntryKey, values: readonly unknown[]): Promise<{ value: unknown; computeMs: number } | undefined> {
    const entry = this.#catalog.get(key);
    if (!entry) return this.#store.flags?.shared ? await this.#adopt(key, values) : undefined;
    let value: unknown;
    try {
      const bytes = entry.inline ?? (entry.object ? await this.#store.get(entry.object) : undefined);
      if (!bytes && this.#store.flags?.shared) {
        this.#log.debug(`${key.name}(${entry.argsPreview}) is gone from the shared store (expired, or cleared elsewhere)`);
        return undefined;
      }
      if (!bytes) throw new CorruptPayload("its output is missing");
      value = decode(bytes);
    } catch (error) {
      this.#log.warn(`Cannot read the stored result of ${key.name}(${entry.argsPreview}): ${describe(error)}. Recomputing it.`);
      return undefined;
    }
    try {
      this.#catalog.touch(key, Date.now());
    } catch (error) {
      this.#log.debug(`could not record the access to ${key.name}: ${describe(error)}`);
    }
    return { value, computeMs: entry.computeMs };
  }

  // A shared store may hold an entry that another machine wrote under the same deterministic object
  // id: it is a hit, and the local catalog learns it. Anything unreadable there is a plain miss.
  async #adopt(key: EntryKey, values: readonly unknown[]): Promise<{ value: unknown; computeMs: number } | undefined> {
    const object = objectId(key);
    let value: unknown;
    let bytes: Uint8Array | undefined;
    let info: ObjectInfo | undefined;
    try {
      bytes = await this.#store.get(object);
      if (!bytes) return undefined;
      value = decode(bytes);
      info = await this.#store.info?.(object);
    } catch (error) {
      this.#log.debug(`could not adopt ${key.name} from the shared store: ${describe(error)}`);
      return undefined;
    }
    const computeMs = info?.computeMs ?? 0;
    try {
      this.#catalog.put({
        ...key, object, inline: null, bytes: bytes.byteLength, computeMs, argsPreview: preview(values).slice(1, -1), runtime: info?.runtime ?? "unknown",
      }, Date.now());
      this.#catalog.touch(key, Date.now());
    } catch (error) {
      this.#log.debug(`could not record ${key.name} from the shared store: ${describe(error)}`);
    }
    return { value, computeMs };
  }

  // Returns the stored size, or 0 when the value could not be stored; never throws (the caller gets
  // the computed value whatever happens here).
  async #write(key: EntryKey, value: unknown, computeMs: number, values: readonly unknown[]): Promise<number> {
    const notStored = (reason: string) => {
      this.#log.warnOnce(`store:${key.name}:${reason}`, `Cannot store the result of ${key.name}: ${reason}. The value is returned but not cached.`);
      return 0;
    };
    let chunks: Uint8Array[];
    try {
      chunks = encode(value);
    } catch (error) {
      if (error instanceof UnstorableValue) return notStored(`${error.message} (superjson cannot encode it)`);
      return notStored(describe(error));
    }
    const bytes = byteLength(chunks);
    // Outputs in a shared store must all be there, where other machines can see them.
    const inline = bytes <= this.#config.inlineBytes && !this.#store.flags?.shared ? concat(chunks) : null;
    const object = inline ? null : objectId(key);
    const writer = `${runtime.name} ${runtime.version}`;
    try {
      if (object) await this.#store.set(object, chunks, { computeMs, runtime: writer });
      const stale = this.#catalog.put({
        ...key, object, inline, bytes, computeMs, argsPreview: preview(values).slice(1, -1), runtime: writer,
      }, Date.now());
      if (stale) await this.#store.delete(stale);
    } catch (error) {
      return notStored(describe(error));
    }
    return bytes;
  }

  async #deleteEntries(filter: { name: string; version?: string }): Promise<number> {
    this.#checkOpen(`clear ${filter.name}`);
    const { count, objects } = this.#catalog.delete(filter);
    for (const object of objects) await this.#store.delete(object);
    return count;
  }
}

// Deterministic, so that every machine sharing a store finds an entry under the same id.
function objectId(key: EntryKey): string {
  return sha256(`${key.name}\0${key.version}\0${key.argsHash}`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// The cache directory is created if missing; an existing one must be empty or hold a catalog.
function prepareDirectory(dir: string): void {
  let stats;
  try {
    stats = statSync(dir);
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return;
  }
  const notACache = (reason: string) =>
    new NbmemoError("NOT_A_CACHE", `Cannot open the cache at ${dir}: ${reason}. Choose a new or empty directory, such as ".nbmemo".`);
  if (!stats.isDirectory()) throw notACache("it is a file, not a directory");
  const names = readdirSync(dir);
  if (names.length > 0 && !names.includes(CATALOG_FILE)) {
    throw notACache(`the directory holds other files (${names.slice(0, 3).join(", ")}) and no ${CATALOG_FILE}`);
  }
}
