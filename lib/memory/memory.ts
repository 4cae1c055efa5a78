// Memory: opens a cache directory and memoizes functions and cell blocks in it.
// A call goes: key (name, version, argument hash) -> catalog lookup -> hit | miss -> compute -> store.
import { join, resolve } from "node:path";
import { setTimeout } from "node:timers";
import { Catalog, type Found } from "../catalog/catalog.ts";
import { CREATION_LOCK, loadSqlite } from "../catalog/sqlite.ts";
import { describe, NbmemoError } from "../errors.ts";
import { formatBytes, formatDuration } from "../format.ts";
import { type ArgsHash, type FunctionHasher, hashArguments, KEY, previewArgs } from "../keys/args.ts";
import { memoizedKey, sourceKey, VERSION_OF, VersionPending, withVersions } from "../keys/deps.ts";
import { type FileStamps, InputFile } from "../keys/inputs.ts";
import { checkName } from "../keys/name.ts";
import { argsShape } from "../keys/shape.ts";
import { type KnownSources, ParserNotLoaded, sha256, SourceHasher } from "../keys/source.ts";
import { createLogger, type Logger } from "../log.ts";
import { runtime } from "../runtime.ts";
import { fileStore } from "../store/file.ts";
import { openStore } from "../store/open.ts";
import { removeObjects, type Store } from "../store/store.ts";
import type { Entry, EntryInfo, EntryKey, FunctionVersion, Stats } from "../types.ts";
import { AccessLog } from "./access.ts";
import { ArgumentsMoved, Calls, type Settled } from "./calls.ts";
import { changedFrom, describeChange, freeNotice, type Version } from "./changes.ts";
import {
  type Config, type DeleteOptions, type EntryFilter, type FnConfig, type FnOptions, type MapOptions, type MemoryOptions, parseDeleteOptions, parseEntryFilter,
  parseFnOptions, parseMapOptions, parseMemoryOptions, parsePruneOptions, type PruneOptions, parseVerifyOptions,
} from "./config.ts";
import { adoptEntry, copyOutput, MissingPayload, PLAIN_TEXT, readEntry, warnForged, writeEntry } from "./entries.ts";
import { ForgedPayload, Signer } from "../codec/signature.ts";
import { Evictor, KEEP_VERSIONS, keepNewestVersions, prune, type PruneReport } from "./eviction.ts";
import { type Explanation, explainHit, explainMiss, explainUnknown } from "./explain.ts";
import { Leases } from "./lease.ts";
import { type MapFailure, MapError, runMap } from "./map.ts";
import { type InputUrl, openUrl } from "./url.ts";
import { ORPHAN_GRACE_MS, verify, type VerifyReport } from "./verify.ts";
import { versions } from "./versions.ts";
// Through getBuiltinModule, not an ESM import: see "Built-ins" in lib/runtime.ts.
const { existsSync, mkdirSync, readdirSync, statSync } = process.getBuiltinModule("node:fs");

/** A memoized function: same parameters, always returns a Promise. */
export interface Memoized<A extends unknown[], R> {
  (...args: A): Promise<Awaited<R>>;
  /** The name it is stored under. */
  readonly memoName: string;
  /**
   * Deletes every stored result of this name (all versions); resolves to how many were deleted. With a
   * shared store, `{ shared: true }` deletes them from it too (see {@link DeleteOptions}).
   */
  clear(options?: DeleteOptions): Promise<number>;
  /**
   * The version its results are keyed by, as `memory.functions()` and the CLI name it (the hash of its
   * normalized source and deps, or `pinned:V`), without calling it.
   */
  version(): Promise<string>;
}

// What explain() needs of a name defined through this Memory: its latest definition's version, and
// what its arguments are called (`args`, or `deps` for a cell).
interface Definition {
  readonly versionOf: () => Promise<Version>;
  readonly root: string;
}

// What a lookup found (a hit) or a miss computed.
interface Outcome {
  readonly value: unknown;
  readonly computeMs: number;
  /** Bytes stored for a computed value (0: not stored); absent for a value read back. */
  readonly stored?: number;
  /** Bytes read back, for a value read from the local cache. */
  readonly read?: number;
}

const CATALOG_FILE = "catalog.sqlite";
// A Memory dropped without close() (a notebook cell that opens one, run again) gives up its share of the
// catalog connection, and closes a store it opened itself, when it is collected.
const unreachable = new FinalizationRegistry<() => void>((release) => release());
// How many times a call starts again because its arguments changed before it ran, before it gives up.
const MAX_ATTEMPTS = 8;
// A hit is told slower than computing only when it read at least this much and lost at least this long:
// a small value's read can lose a few ms to a busy machine, which is no advice worth giving.
const SLOW_HIT = { bytes: 1_000_000, ms: 50 };

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
 * await memory.close();
 * ```
 */
export class Memory {
  /** The cache directory, as an absolute path. */
  readonly dir: string;
  readonly #config: Config;
  readonly #catalog: Catalog;
  readonly #store: Store;
  // Signs and checks outputs in a shared store, when the Memory has a team key.
  readonly #signer: Signer | undefined;
  readonly #hasher: SourceHasher;
  // Functions among arguments: memoized ones by their name and version (their key method), others by
  // their normalized source.
  readonly #hashFunction: FunctionHasher;
  readonly #log: Logger;
  readonly #leases: Leases | undefined;
  readonly #calls = new Calls();
  // The versions met in this process, by `name\0version`: recorded again in a fresh catalog.
  readonly #usedVersions = new Map<string, { readonly name: string; readonly version: Version }>();
  readonly #definitions = new Map<string, Definition>();
  readonly #session = { hits: 0, misses: 0, evicted: 0 };
  readonly #accesses: AccessLog;
  readonly #evictor: Evictor;
  readonly #fileStamps: FileStamps;
  // Why nothing is written (the readOnly option, or a cache this process cannot write); undefined when writable.
  readonly #readOnly: string | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  // The catalog file's generation this Memory has seen (see #followCatalog).
  #generation: number;

  private constructor(config: Config, catalog: Catalog, store: Store, readOnly?: string) {
    this.dir = config.dir;
    this.#config = config;
    this.#catalog = catalog;
    this.#store = store;
    this.#readOnly = readOnly;
    this.#log = createLogger(config.log, config.dir);
    this.#signer = config.signingKey && store.flags?.shared ? new Signer(config.signingKey) : undefined;
    if (config.signingKey && !this.#signer) this.#log.debug("signingKey is not used: the store is not shared (files under the cache directory are this machine's own)");
    this.#hasher = new SourceHasher(tolerant(catalog, this.#log));
    this.#hashFunction = sourceKey(this.#hasher);
    this.#leases = config.lock && !readOnly ? new Leases(catalog, this.#log, { leaseMs: config.leaseMs, timeoutMs: config.lockTimeout }, store) : undefined;
    this.#fileStamps = fileStamps(catalog, readOnly !== undefined);
    this.#accesses = accessLog(catalog, this.#log);
    this.#generation = catalog.generation;
    unreachable.register(this, release(catalog, this.#accesses, typeof config.store === "string" ? store : undefined), this);
    this.#evictor = new Evictor(catalog, store, {
      limits: config.limits,
      clock: config.now,
      schedule: config.schedule ?? soon,
      beforePass: () => this.#accesses.flush(), // so that what this process read recently is not taken for unused
      removed: (removed) => {
        this.#session.evicted += removed.count;
        this.#log.info(`evicted ${removed.count} least recently used or expired entries (${formatBytes(removed.bytes)})`);
      },
      failed: (error) =>
        this.#log.warn(`Cannot evict entries from ${this.dir}: ${describe(error)}. The cache may stay over its limits until the next store.`),
    });
  }

  /**
   * Opens the cache in `dir`, creating it if needed (mode 0700; `{ create: false }` refuses instead). A cache that cannot be opened for
   * writing (a read-only or full disk, no permission, a damaged catalog file) is not an error: calls then
   * compute and keep their results in memory for this process only, after one warning.
   *
   * @throws NbmemoError `INVALID_OPTION` for a bad option, `NOT_A_CACHE` for a path that is a file or a
   * non-empty directory holding no cache, `CATALOG_TOO_NEW` for a cache written by a newer nbmemo,
   * `RUNTIME_TOO_OLD` on a runtime without node:sqlite (Node < 22.13).
   */
  static async open(dir = ".nbmemo", options: MemoryOptions = {}): Promise<Memory> {
    const parsed = parseMemoryOptions(dir, options);
    loadSqlite(); // before anything is created on a runtime that cannot use it
    const config = { ...parsed, dir: resolve(parsed.dir) };
    const catalogPath = join(config.dir, CATALOG_FILE);
    let catalog: Catalog | undefined;
    let unusable: unknown;
    let readOnly = config.readOnly ? "readOnly: true" : undefined;
    let unwritable: unknown;
    try {
      if (config.readOnly) catalog = existsSync(catalogPath) ? Catalog.open(catalogPath, { readOnly: true }) : undefined;
      else {
        prepareDirectory(config.dir, config.create);
        catalog = Catalog.open(catalogPath);
      }
    } catch (error) {
      if (error instanceof NbmemoError) throw error; // not a cache, or too new: never to be written over
      // A cache this process can read but not write (another user's, a read-only mount) still serves its hits.
      let readFailure: unknown;
      if (cannotWrite(error) && existsSync(catalogPath)) {
        try {
          catalog = Catalog.open(catalogPath, { readOnly: true });
          [readOnly, unwritable] = ["this process cannot write it", error];
        } catch (second) {
          if (second instanceof NbmemoError) throw second;
          readFailure = second;
        }
      }
      if (!catalog && !config.create) throw error; // the caller wants the cache that is there, not an empty stand-in
      if (!catalog) unusable = readFailure ? `${describe(error)}, and reading it without writing failed too: ${describe(readFailure)}` : error;
    }
    let store: Store;
    try {
      store = typeof config.store === "string" ? await openStore(config.store) : config.store ?? fileStore(join(config.dir, "objects"));
    } catch (error) {
      catalog?.close();
      throw error;
    }
    if (catalog) {
      const memory = new Memory(config, catalog, store, readOnly);
      if (!readOnly) memory.#evictor.resume(); // a pass an earlier close() cut short goes on
      if (unwritable) {
        memory.#log.warnOnce(`read-only:${config.dir}`, `Cannot write the cache at ${config.dir}: ${describe(unwritable)}. Its results are read; ` +
          "new ones are computed and returned but not stored. Open it with { readOnly: true } to say so and leave out this warning.");
      }
      return memory;
    }
    // A catalog of its own, in memory, with every output inline (except in a shared store, which still
    // works): nothing touches the directory.
    const memory = new Memory({ ...config, inlineBytes: Number.MAX_SAFE_INTEGER }, Catalog.open(":memory:"), store, readOnly);
    if (readOnly) {
      if (!store.flags?.shared) memory.#log.warnOnce(`read-only:${config.dir}`, `There is no cache at ${config.dir} to read (readOnly: true): every call computes.`);
    } else memory.#log.warn(`Cannot open the cache at ${config.dir}: ${describe(unusable)}. Results are kept in memory for this process only.`);
    return memory;
  }

  /**
   * Memoizes `f` under `name`. Results are keyed by `name`, the normalized source of `f` (or
   * `options.version`) and the arguments. Sync and async functions both work; the memoized function
   * returns a Promise. A call that throws or rejects is not cached.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const slowSquare = memory.fn("slow_square", async (x: number) => {
   *   await new Promise((r) => setTimeout(r, 100));
   *   return x * x;
   * });
   * console.log(await slowSquare(3)); // 9, after 100 ms the first time, at once afterwards
   * await memory.close();
   * ```
   */
  fn<A extends unknown[], R>(name: string, f: (...args: A) => R, options: FnOptions = {}): Memoized<A, R> {
    const where = `memory.fn(${JSON.stringify(name)})`;
    checkName(name, "memory.fn");
    return this.#memoize(name, f, parseFnOptions(options, where), where).memoized;
  }

  /**
   * Memoizes `f` under `name` (as {@link Memory.fn}) and calls it on every item, at most `concurrency` at
   * once; resolves to the results in item order. Progress shows as one display updated in place in a
   * notebook and one rewritten line on a terminal. Each finished item is stored as it ends, so after a
   * kernel restart or a crash the same call reads those back and computes only the rest. A failing item
   * does not stop the others: the call then rejects with a {@link MapError} listing every failure (or,
   * with `errors: "return"`, resolves with a {@link MapFailure} in each failed place).
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const squares = await memory.map("square_all", [1, 2, 3], async (x: number) => x * x, { concurrency: 2 });
   * console.log(squares); // [1, 4, 9]
   * await memory.close();
   * ```
   */
  map<T, R>(name: string, items: Iterable<T>, f: (item: T) => R, options: MapOptions & { errors: "return" }): Promise<(Awaited<R> | MapFailure<T>)[]>;
  map<T, R>(name: string, items: Iterable<T>, f: (item: T) => R, options?: MapOptions): Promise<Awaited<R>[]>;
  async map<T, R>(name: string, items: Iterable<T>, f: (item: T) => R, options: MapOptions = {}): Promise<(Awaited<R> | MapFailure<T>)[]> {
    const where = `memory.map(${JSON.stringify(name)})`;
    checkName(name, "memory.map");
    if (items === null || typeof (items as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== "function") {
      throw new NbmemoError("INVALID_OPTION", `Cannot run ${where}: the items must be an array or another iterable, not ${items === null ? "null" : typeof items}.`);
    }
    const config = parseMapOptions(options, where);
    const list = [...items];
    const hits = new WeakSet<object>();
    const { run } = this.#memoize(name, f, config.fn, where, (token) => hits.add(token));
    const call = async (item: T) => {
      const token = {};
      const value = await run(token, [item]);
      return { value, hit: hits.has(token) };
    };
    // The progress view is loaded only where it may show.
    const progress = config.map.progress === false ? undefined : (await import("../notebook/progress.ts")).progressSink(config.map.progress);
    const { results, failures } = await runMap(name, list, call, config.map.concurrency, progress);
    if (failures.length === 0) return results as Awaited<R>[];
    if (config.map.errors === "throw") throw new MapError(name, failures, results);
    const merged: (Awaited<R> | MapFailure<T>)[] = results as Awaited<R>[];
    for (const failure of failures) merged[failure.index] = failure;
    return merged;
  }

  // memory.fn's work after its checks. `onHit`, when given, hears of each call read back (or joined to
  // one in flight) by the token the call was made with through `withToken`.
  #memoize<A extends unknown[], R>(name: string, f: (...args: A) => R, config: FnConfig, where: string,
    onHit?: (token: object) => void): { memoized: Memoized<A, R>; run(token: object, args: A): Promise<Awaited<R>> } {
    if (typeof f !== "function") {
      throw new NbmemoError("INVALID_OPTION", `Cannot memoize ${where}: the second argument must be a function, not ${typeof f}.`);
    }
    const version = versions(f, config, this.#hasher, where);
    this.#definitions.set(name, { versionOf: async () => await version.now(), root: "args" });
    const met = this.#meetings(name, config, { kind: "fn" });
    // Synchronous up to the call once the version is known and met: a hit then awaits nothing.
    const run = (token: object | undefined, args: A): Promise<Awaited<R>> => this.#admit<Awaited<R>>(`call ${name}`, () => {
      const hit = token && onHit ? () => onHit(token) : undefined;
      const call = (current: Version) => this.#call(name, current, args, "args", () => f(...args), hit);
      const now = version.now();
      type Later = Promise<Awaited<R>>;
      if (now instanceof Promise) return now.then(async (current) => (await met(current), await call(current))) as Later;
      const meeting = met(now);
      return meeting ? meeting.then(() => call(now)) as Later : call(now);
    });
    const memoized = (...args: A): Promise<Awaited<R>> => run(undefined, args);
    const handle = { resolved: version.peek, resolve: async () => (await version.now()).id };
    return {
      memoized: Object.assign(memoized, {
        memoName: name,
        clear: async (options: DeleteOptions = {}) => {
          const { shared } = parseDeleteOptions(options, `the results of ${name}`, false);
          return await this.#deleteEntries({ name }, shared);
        },
        version: async () => (await version.now()).id,
        [VERSION_OF]: handle,
        [KEY]: memoizedKey(name, handle),
      }),
      run,
    };
  }

  /**
   * An input file, to pass as an argument (the function reads its `.path`) or list in `deps`: its key is the
   * hash of the file's contents, so a changed file is a miss (and `explain` names it) and an unchanged one
   * a hit. The file's size, mtime and inode are remembered in the catalog with the hash, so an unchanged
   * file is not read again (a file touched but not changed is read once more, and hits).
   *
   * @example
   * ```ts
   * import { readFileSync, writeFileSync } from "node:fs";
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * writeFileSync("words.txt", "to be or not to be");
   * const count = memory.fn("count_words", (input: { path: string }) => readFileSync(input.path, "utf8").split(" ").length);
   * console.log(await count(memory.file("words.txt"))); // 6, computed; read back while words.txt is unchanged
   * await memory.close();
   * ```
   */
  file(path: string): InputFile {
    return new InputFile("file", path, this.#fileStamps);
  }

  /** Every file under a directory as one input (see {@link Memory.file}): keyed by their relative paths and contents. `.files()` lists them. */
  directory(path: string): InputFile {
    return new InputFile("directory", path, this.#fileStamps);
  }

  /**
   * The files a glob matches (`data/*.csv`; `**` for any depth of directories, `{a,b}` for alternatives)
   * as one input (see {@link Memory.file}): a file added, removed or changed is a miss. `.files()` lists them.
   */
  glob(pattern: string): InputFile {
    return new InputFile("glob", pattern, this.#fileStamps);
  }

  /**
   * A URL as an input, to pass as an argument (the function fetches its `.url`) or list in `deps`: keyed by
   * the server's validators as they are now (ETag, else Last-Modified; the hash of the body when it sends
   * neither), so that new content on the server is a miss. Asks the server once per call of `url()`.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const size = memory.fn("page_size", async (page: { url: string }) => (await (await fetch(page.url)).text()).length);
   * // fetched again only when the page changes on the server:
   * const pageSize = async (url: string) => await size(await memory.url(url));
   * await memory.close();
   * ```
   */
  async url(url: string): Promise<InputUrl> {
    this.#checkOpen(`open ${url}`);
    return await openUrl(url);
  }

  /**
   * The `%cache`-style cell helper: runs `compute` once for a given `name`, source of `compute` and
   * `deps`, and reads the result back on later runs, also after a kernel restart. List in `deps`
   * every value from other cells that `compute` reads.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const url = "https://example.org/data.csv";
   * const { rows } = await memory.cell("prepare", [url], async () => {
   *   return { rows: [1, 2, 3] }; // slow work that uses `url`
   * });
   * console.log(rows.length); // 3
   * await memory.close();
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
    const config = parseFnOptions(options, where);
    return await this.#admit(`run ${where}`, async () => {
      const versionsOf = versions(compute, config, this.#hasher, where);
      this.#definitions.set(name, { versionOf: async () => await versionsOf.now(), root: "deps" });
      const version = await versionsOf.now();
      await this.#meetVersion(name, version, config, { kind: "cell", deps: deps.length });
      return await this.#call(name, version, deps, "deps", compute);
    });
  }

  /**
   * Says why calling `name` with `args` would miss, without calling it: nothing stored under the name,
   * a new version (with the diff against the previous one), or new arguments (with the closest cached
   * argument set and the paths that differ); or that it would hit. `name` must have been defined through
   * this Memory (`memory.fn` or `memory.cell`) in this process; for a cell, `args` are its deps.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const load = memory.fn("load", (state: string, opts: { year: number }) => `${state} ${opts.year}`);
   * await load("CA", { year: 2020 });
   * const why = await memory.explain("load", "CA", { year: 2024 });
   * console.log(why.kind); // "new-arguments"
   * console.log(why.text); // ... args[1].year: cached 2020, given 2024
   * await memory.close();
   * ```
   */
  async explain(name: string, ...args: unknown[]): Promise<Explanation> {
    this.#checkOpen(`explain ${name}`);
    const versions = this.#catalog.functions(name);
    if (versions.length === 0) return explainUnknown(name);
    const definition = this.#definitions.get(name);
    if (!definition) {
      throw new NbmemoError("INVALID_NAME", `Cannot explain ${JSON.stringify(name)}: the cache knows it, but no function of that name ` +
        `was defined through this Memory in this process. Run the cell that calls memory.fn(${JSON.stringify(name)}, ...) first.`);
    }
    const version = await definition.versionOf();
    const argsHash = (await this.#argsHash(args, definition.root)).hash;
    if (this.#catalog.get({ name, version: version.id, argsHash })) return explainHit(name, version.id, argsHash);
    const given = await this.#withKeysReady(() => argsShape(args, this.#hashFunction));
    return explainMiss({
      name, root: definition.root, version, argsHash, versions, given, now: Date.now(),
      cached: this.#catalog.argsShapes(name, version.id),
    });
  }

  /**
   * Every function version the cache knows, with its entries, bytes, hits and the compute time its hits
   * saved; most recently used first.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * for (const f of memory.functions()) console.log(f.name, f.entries, f.bytes);
   * await memory.close();
   * ```
   */
  functions(): FunctionVersion[] {
    this.#checkOpen("list functions");
    this.#accesses.flush();
    return this.#catalog.functions();
  }

  /**
   * The stored results, most recently used first; `fn` and `version` filter them, `sort` and `limit`
   * choose which come first and how many.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const recent = memory.entries({ fn: "load_counties", limit: 5 });
   * const largest = memory.entries({ sort: "bytes", limit: 10 });
   * console.log(recent.length, largest.map((e) => `${e.name}(${e.argsPreview}) ${e.bytes} B`));
   * await memory.close();
   * ```
   */
  entries(filter: EntryFilter = {}): EntryInfo[] {
    this.#checkOpen("list entries");
    const { fn, version, sort, limit } = parseEntryFilter(filter);
    this.#accesses.flush();
    return this.#catalog.entries({ name: fn, version, sort, limit }).map(({ inline: _, ...info }) => info);
  }

  /**
   * Totals over the cache (functions, versions, entries, bytes, hits, time saved) and this process's
   * hits and misses.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const { entries, bytes, session } = memory.stats();
   * console.log(`${entries} entries, ${bytes} bytes; this session: ${session.hits} hits`);
   * await memory.close();
   * ```
   */
  stats(): Stats {
    this.#checkOpen("read stats");
    this.#accesses.flush();
    return { ...this.#catalog.totals(), limits: this.#config.limits, session: { ...this.#session } };
  }

  /**
   * Deletes the stored results of `name`, of every version or of one; resolves to how many were deleted.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * await memory.delete("load_counties");                  // every version
   * await memory.delete("fit", { version: "pinned:2" });  // one version, as memory.functions() names it
   * await memory.close();
   * ```
   *
   * With a shared store, only this machine's entries (and local copies) go unless `{ shared: true }`: see
   * {@link DeleteOptions}.
   */
  async delete(name: string, options: DeleteOptions = {}): Promise<number> {
    checkName(name, "memory.delete", { spelling: false });
    this.#checkWritable(`delete the results of ${name}`);
    const { version, shared } = parseDeleteOptions(options, name);
    return await this.#deleteEntries({ name, version }, shared);
  }

  /**
   * Deletes every stored result and forgets every function version; resolves to how many results were deleted.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * console.log(await memory.clear()); // how many results it deleted
   * await memory.close();
   * ```
   *
   * With a shared store, only this machine's entries (and local copies) go unless `{ shared: true }`, which
   * empties the shared store for every machine: see {@link DeleteOptions}.
   */
  async clear(options: DeleteOptions = {}): Promise<number> {
    const { shared } = parseDeleteOptions(options, "the cache", false);
    this.#checkOpen("clear the cache");
    this.#checkWritable("clear the cache");
    const { count, objects } = this.#catalog.clear();
    // Every machine's outputs, also those this catalog never read.
    const others = shared && this.#store.flags?.shared ? ((await this.#store.list?.()) ?? []).map((o) => o.id) : [];
    await this.#removeObjects("every function", [...new Set([...objects, ...others])], shared);
    return count;
  }

  /**
   * Tidies the cache: removes results past `maxAge`, evicts the least recently used down to 90% of a
   * crossed `maxBytes` / `maxEntries` (as after a store), and removes the results of old versions of
   * each function (any version but its most recently used) not used for `oldVersionsUnusedFor`
   * (default "7d"), forgetting those versions.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo", { maxBytes: "2 GB" });
   * const { evicted, oldVersionEntries, bytes } = await memory.prune({ oldVersionsUnusedFor: "1d" });
   * console.log(`removed ${evicted + oldVersionEntries} results, ${bytes} bytes`);
   * await memory.close();
   * ```
   */
  async prune(options: PruneOptions = {}): Promise<PruneReport> {
    const { oldVersionsUnusedForMs } = parsePruneOptions(options);
    this.#checkOpen("prune the cache");
    this.#checkWritable("prune the cache");
    this.#accesses.flush();
    return await prune(this.#catalog, this.#store, this.#evictor, oldVersionsUnusedForMs, this.#config.now(), ORPHAN_GRACE_MS);
  }

  /**
   * Checks the cache: reads back and decodes every stored result, looks for stored outputs no entry
   * refers to (older than a minute, so that another process's store in progress is left alone) and for
   * running totals that are off (in a shared store, outputs of other machines are not orphans). With
   * `{ repair: true }`, removes the broken entries and the orphan outputs and fixes the totals.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * const report = await memory.verify({ repair: true });
   * for (const p of report.problems) console.log(p.kind, p.name ?? p.object, p.detail);
   * await memory.close();
   * ```
   */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyReport> {
    const { repair } = parseVerifyOptions(options);
    this.#checkOpen("verify the cache");
    if (repair) this.#checkWritable("repair the cache");
    this.#accesses.flush();
    return await verify(this.#catalog, this.#store, repair, this.#config.now(), this.#signer);
  }

  /**
   * Shows what the cache holds: in Jupyter (tslab or the Deno kernel) an HTML table of the function
   * versions (entries, bytes, hits, time saved, last used) with a bar chart of bytes per function; in a
   * terminal the same table as text on stdout.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo");
   * await memory.show();
   * await memory.close();
   * ```
   */
  async show(): Promise<void> {
    // The notebook part renders; loaded on first use, so that a script that never shows pays nothing for it.
    const { show } = await import("../notebook/show.ts");
    await show({ dir: this.dir, functions: this.functions(), stats: this.stats() }, Date.now());
  }

  /**
   * Waits for the eviction pass a store started, which runs in small batches after the calls return.
   *
   * @example
   * ```ts
   * import { Memory } from "nbmemo";
   * const memory = await Memory.open(".nbmemo", { maxEntries: 100 });
   * const f = memory.fn("f", (x: number) => x, { version: "1" });
   * for (let i = 0; i < 200; i++) await f(i);
   * await memory.settle();
   * console.log(memory.stats().entries <= 100); // true
   * await memory.close();
   * ```
   */
  async settle(): Promise<void> {
    await this.#evictor.finish();
  }

  /**
   * Closes the catalog once every call in flight has settled, those still computing their function's
   * version included (and the calls they make meanwhile). An eviction pass in progress goes on for 250 ms at
   * most, and the next Memory to open the cache resumes the rest (`settle()` first to wait for all of it).
   * Calls made after are refused with `CLOSED`.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    unreachable.unregister(this);
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#evictor.stop();
    this.#accesses.flush();
    this.#log.flush();
    await this.#store.close?.();
    this.#catalog.close();
  }

  // Every call from its start (before its version is known) to its end, so that close() waits for it; a
  // call made after close() is refused, unless an admitted call makes it while it computes.
  #admit<T>(what: string, work: () => T | Promise<T>): Promise<T> {
    if (this.#closed && !this.#calls.inside()) return Promise.reject(this.#closedError(what));
    let result: T | Promise<T>;
    try {
      result = work();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!(result instanceof Promise)) return Promise.resolve(result); // settled already: nothing to wait for on close
    const promise = result;
    this.#inFlight.add(promise);
    promise.then(() => this.#inFlight.delete(promise), () => this.#inFlight.delete(promise));
    return promise;
  }

  #closedError(what: string): NbmemoError {
    return new NbmemoError("CLOSED", `Cannot ${what}: this Memory (${this.dir}) is closed. Open it again with Memory.open.`);
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw this.#closedError(what);
  }

  #checkWritable(what: string): void {
    if (this.#readOnly) {
      throw new NbmemoError("READ_ONLY", `Cannot ${what}: the cache at ${this.dir} is open read-only (${this.#readOnly}). ` +
        "Open it without readOnly, as a user who can write it.");
    }
  }

  // Meets each version of a definition once (see #meetVersion), then lets its calls through without waiting.
  #meetings(name: string, config: FnConfig, use: { kind: "fn" }): (version: Version) => Promise<void> | undefined {
    const meeting = new Map<string, Promise<void>>();
    const met = new Set<string>();
    return (version) => {
      if (met.has(version.id)) return undefined;
      let promise = meeting.get(version.id);
      if (!promise) {
        promise = this.#meetVersion(name, version, config, use).then(() => void met.add(version.id));
        promise.catch(() => meeting.delete(version.id)); // do not remember a failure
        meeting.set(version.id, promise);
      }
      return promise;
    };
  }

  // Synchronous unless the arguments hold a source TypeScript must parse first or a memoized function
  // whose version is still pending, so that a hit awaits nothing here.
  #argsHash(values: readonly unknown[], root: string): ArgsHash | Promise<ArgsHash> {
    try {
      return hashArguments(values, root, this.#hashFunction);
    } catch (error) {
      if (!(error instanceof ParserNotLoaded || error instanceof VersionPending)) throw error;
      return this.#withKeysReady(() => hashArguments(values, root, this.#hashFunction));
    }
  }

  // The arguments' hash now, if it can be had at once; undefined if not (it would wait, or they can no
  // longer be hashed at all).
  #argsHashNow(values: readonly unknown[], root: string): string | undefined {
    try {
      return hashArguments(values, root, this.#hashFunction).hash;
    } catch {
      return undefined;
    }
  }

  // Runs work that hashes functions among values: loads TypeScript and resolves the versions of memoized
  // functions as it turns out to need them, retrying until it can finish.
  #withKeysReady<T>(work: () => T): Promise<T> {
    return withVersions(() => this.#hasher.withParser(work));
  }

  // A call's arguments are hashed at the call, but the function runs later (after the lookup, maybe after a
  // wait): if they were changed meanwhile (an object changed between un-awaited calls), the call starts
  // again under the key of what it will compute with, and a computation during which they changed is
  // returned to its own caller but neither stored nor given to calls that joined it.
  // A hit read from the catalog (arguments hashed at once, an inline entry) returns its value synchronously:
  // a loop of such hits awaits nothing but the caller's own await.
  #call<R>(name: string, version: Version, values: readonly unknown[], root: string, invoke: () => R,
    onHit?: () => void): Awaited<R> | Promise<Awaited<R>> {
    const hashed = this.#argsHash(values, root);
    if (hashed instanceof Promise) return this.#attempts(name, version, values, root, invoke, onHit);
    const id = callId(name, version.id, hashed.hash);
    if (this.#calls.join(id, name)) return this.#attempts(name, version, values, root, invoke, onHit);
    const found = this.#lookupOrCompute({ name, version: version.id, argsHash: hashed.hash }, version, values, id, invoke,
      this.#changed(hashed, values, root), onHit !== undefined);
    if (found instanceof Promise) return this.#attempts(name, version, values, root, invoke, onHit, { hashed, found });
    if (found.hit) onHit?.();
    return found.value; // settled before any other call could join it
  }

  // Whether the arguments no longer hash to what they did (absent: they cannot change, being primitives).
  #changed(hashed: ArgsHash, values: readonly unknown[], root: string): (() => boolean) | undefined {
    return hashed.mutable ? () => this.#argsHashNow(values, root) !== hashed.hash : undefined;
  }

  // The attempts of a call that waits for something; `first`, the first one's lookup, already started.
  async #attempts<R>(name: string, version: Version, values: readonly unknown[], root: string, invoke: () => R,
    onHit?: () => void, first?: { hashed: ArgsHash; found: Promise<Settled<Awaited<R>>> }): Promise<Awaited<R>> {
    for (let attempt = 1; ; attempt++) {
      const hashed = first?.hashed ?? this.#argsHash(values, root);
      const { hash: argsHash, mutable } = hashed instanceof Promise ? await hashed : hashed;
      const key: EntryKey = { name, version: version.id, argsHash };
      const id = callId(name, version.id, argsHash);
      const running = first ? undefined : this.#calls.join(id, name);
      const changed = this.#changed({ hash: argsHash, mutable }, values, root);
      // A map's items tell no hit or miss each: its progress display counts them.
      const found = first?.found ?? running ?? this.#lookupOrCompute(key, version, values, id, invoke, changed, onHit !== undefined);
      first = undefined;
      const promise = Promise.resolve(found);
      if (!running) this.#calls.start(id, promise);
      try {
        const settled = await promise as Settled<Awaited<R>>;
        if (!running) {
          if (settled.hit) onHit?.();
          return settled.value;
        }
        if (settled.shared) {
          onHit?.();
          return copyOutput(settled.value) as Awaited<R>;
        }
      } catch (error) {
        if (!(error instanceof ArgumentsMoved)) throw error;
      } finally {
        if (!running) this.#calls.end(id);
      }
      if (attempt === MAX_ATTEMPTS) {
        throw new NbmemoError("ARGUMENTS_CHANGED", `Cannot compute ${name}: its arguments changed after each of ${MAX_ATTEMPTS} calls and before ` +
          "it could run. Await each call before changing the objects it was given, or pass a copy (structuredClone).");
      }
    }
  }

  // A miss is computed under a lease, so that the same call started in other processes waits for this
  // one's result (or this one for theirs) instead of computing it again. `changed` tells whether the
  // arguments no longer hash to the key (absent: they cannot change, being primitives).
  #lookupOrCompute<R>(key: EntryKey, version: Version, values: readonly unknown[], id: string, invoke: () => R,
    changed: (() => boolean) | undefined, quiet = false): Settled<Awaited<R>> | Promise<Settled<Awaited<R>>> {
    const started = performance.now();
    const direct = this.#read(key, id, values, true);
    if (direct === undefined || direct instanceof Promise) return this.#computeUnlessRead(key, values, id, invoke, changed, quiet, started, direct);
    return this.#settle<R>(key, direct, started, direct.read ?? 0, quiet, true);
  }

  async #computeUnlessRead<R>(key: EntryKey, values: readonly unknown[], id: string, invoke: () => R, changed: (() => boolean) | undefined,
    quiet: boolean, started: number, reading: Promise<Outcome | undefined> | undefined): Promise<Settled<Awaited<R>>> {
    let shared = true;
    const compute = async (): Promise<Outcome> => {
      if (changed?.()) throw new ArgumentsMoved();
      this.#catalog.endReads(); // a long computation must not keep a read transaction open
      const started = performance.now();
      const value = await this.#calls.within(id, key.name, invoke);
      const computeMs = performance.now() - started;
      if (changed?.()) {
        shared = false;
        this.#log.warnOnce(`moved:${key.name}`, `Cannot store the result of ${key.name}: its arguments were changed while it ran, so ` +
          "the result may belong to neither their old nor their new value. It is returned but not cached; await each call before changing what it was given.");
        return { value, computeMs, stored: 0 };
      }
      const stored = await this.#write(key, value, computeMs, values);
      return { value, computeMs, stored };
    };
    const direct = await reading;
    const outcome = direct ??
      await (this.#leases ? this.#leases.run(key, async () => await this.#read(key, id, values, false), compute) : compute());
    return this.#settle<R>(key, outcome, started, direct?.read ?? 0, quiet, shared);
  }

  // Counts and tells a call's outcome.
  #settle<R>(key: EntryKey, outcome: Outcome, started: number, readBytes: number, quiet: boolean, shared: boolean): Settled<Awaited<R>> {
    if (outcome.stored === undefined) {
      this.#session.hits++;
      this.#tellHit(key.name, outcome.computeMs, performance.now() - started, readBytes, quiet);
    } else {
      this.#session.misses++;
      if (!quiet) this.#log.call(key.name, () => `${key.name} miss (computed in ${formatDuration(outcome.computeMs)}${outcome.stored ? `, stored ${formatBytes(outcome.stored)}` : this.#readOnly ? ", not stored: read-only" : ""})`,
        { hit: false, savedMs: 0 });
    }
    return { value: outcome.value as Awaited<R>, shared, hit: outcome.stored === undefined };
  }

  // What a hit saved is the compute time less the time the hit took. A large read back clearly slower
  // than the computation (not a wait for another process computing it: `readBytes` is 0 then) is told
  // once, with the figures.
  #tellHit(name: string, computeMs: number, hitMs: number, readBytes: number, quiet: boolean): void {
    const saved = computeMs - hitMs;
    if (readBytes >= SLOW_HIT.bytes && -saved >= SLOW_HIT.ms) {
      this.#log.warnOnce(`slow-hit:${name}`, `${name}: reading its stored result back took ${formatDuration(hitMs)}, longer than ` +
        `computing it (${formatDuration(computeMs)}): caching it costs time. Memoize a slower step instead, or call this one directly.`);
    }
    if (!quiet) this.#log.call(name, () => `${name} hit (${saved > 0 ? `saved ${formatDuration(saved)}` : `no time saved: read back in ${formatDuration(hitMs)}, computed in ${formatDuration(computeMs)}`})`,
      { hit: true, savedMs: saved });
  }

  // Once per definition (a memory.fn or memory.cell run): warn if the name's code changed since its last
  // use (onChange), once per change and process; tell its free identifiers once per version and process;
  // record the use.
  async #meetVersion(name: string, version: Version, config: FnConfig, use: { kind: "fn" } | { kind: "cell"; deps: number }): Promise<void> {
    try {
      if (config.onChange !== "ignore") await this.#tellChange(name, version, config);
    } catch (error) {
      this.#log.debug(`could not compare ${name} with its earlier versions: ${describe(error)}`);
    }
    const id = `${name}\0${version.id}`;
    if (!this.#usedVersions.has(id)) this.#usedVersions.set(id, { name, version });
    // Once per version and cache in this process: a Memory opened again does not repeat it.
    const { unkeyed } = config;
    const notice = freeNotice(name, unkeyed === "all" ? [] : version.free.filter((n) => !unkeyed.includes(n)), use.kind);
    // A name read from outside is warned about, at the default level of scripts too: the key does not
    // cover it. A cell that passes deps most likely passes those names there, which nbmemo cannot match
    // to values: it is told at info level (shown in notebooks) instead.
    if (notice && use.kind === "cell" && use.deps > 0) this.#log.infoOnce(`free:${id}`, notice);
    else if (notice) this.#log.warnOnce(`free:${id}`, notice);
    if (this.#readOnly) return;
    try {
      this.#catalog.useFunction(name, version.id, version.source, Date.now());
      const dropped = await keepNewestVersions(this.#catalog, this.#store, name, version.id);
      if (dropped > 0) this.#log.info(`${name}: removed ${dropped} results of versions older than its ${KEEP_VERSIONS} most recently used`);
    } catch (error) {
      this.#log.debug(`could not record the use of ${name}: ${describe(error)}`);
    }
  }

  async #tellChange(name: string, version: Version, config: FnConfig): Promise<void> {
    const versions = this.#catalog.functions(name);
    const previous = changedFrom(versions, version.id);
    if (!previous) return;
    const known = versions.find((v) => v.version === version.id);
    const { summary, diff } = describeChange(name, previous, version, Date.now(), known);
    let outcome = `Results of other versions are kept: going back to their code hits them again (onChange: "clear" deletes them, "ignore" hides this).`;
    if (config.onChange === "clear" && this.#readOnly) {
      outcome = `onChange: "clear" deleted nothing: the cache is open read-only (${this.#readOnly}).`;
    } else if (config.onChange === "clear") {
      let deleted = 0;
      for (const old of versions) if (old.version !== version.id) deleted += await this.#deleteEntries({ name, version: old.version });
      outcome = `onChange: "clear" deleted the results of its other versions (${deleted}).`;
    }
    this.#log.warnOnce(`change:${name}\0${previous.version}\0${version.id}`, `${summary}\n${outcome}\n${diff}`);
  }

  // Deleting the cache directory while a process has it open is a common way to reset a cache: the catalog
  // connection would go on writing into a file nobody reads, and the store would make objects/ again beside
  // no catalog. So each lookup looks at the catalog file (a stat, at most twice a second) and each store
  // always does: once it is gone or replaced, the catalog now at the path is opened (a new, empty one if it is
  // gone), with one notice, and this Memory's function versions are recorded in it again.
  #followCatalog(force: boolean): void {
    if (this.#catalog.replaced(force)) this.#catalog.reopen();
    if (this.#catalog.generation === this.#generation) return;
    this.#generation = this.#catalog.generation;
    this.#log.warn(`The cache at ${this.dir} was deleted or replaced while this process had it open: continuing with the cache now there ` +
      "(a new, empty one if it was deleted). Results stored before are gone; calls compute them again.");
    if (this.#readOnly) return;
    for (const { name, version } of this.#usedVersions.values()) this.#catalog.useFunction(name, version.id, version.source, Date.now());
  }

  // The fingerprint explain() compares; a failure only makes explain() less precise.
  #argsShape(key: EntryKey, values: readonly unknown[]): string | undefined {
    try {
      return JSON.stringify(argsShape(values, this.#hashFunction));
    } catch (error) {
      this.#log.debug(`could not record the argument shape of ${key.name}: ${describe(error)}`);
      return undefined;
    }
  }

  // A corrupt or missing payload, or an unreadable catalog, is a miss (with a warning if `warn`), never
  // an error. Synchronous while nothing needs waiting for (an inline entry, or none). `id` is the call's
  // (see #call), which the access log is keyed by.
  #read(key: EntryKey, id: string, values: readonly unknown[], warn: boolean): Outcome | undefined | Promise<Outcome | undefined> {
    let entry: Found | undefined;
    try {
      this.#followCatalog(false);
      entry = this.#catalog.lookup(key, PLAIN_TEXT);
    } catch (error) {
      this.#log.warnOnce(`read:${key.name}`, `Cannot look up ${key.name} in the catalog: ${describe(error)}. Computing it.`);
      return undefined;
    }
    if (!entry) return this.#store.flags?.shared ? this.#adopt(key, id, values) : undefined;
    const now = this.#config.now();
    const { maxAgeMs } = this.#config.limits;
    if (maxAgeMs !== null && entry.createdAt < now - maxAgeMs) {
      this.#log.debug(`${key.name}(${previewArgs(values)}) is older than maxAge: recomputing it, unless a shared store holds a newer one`);
      return this.#store.flags?.shared ? this.#adopt(key, id, values) : undefined;
    }
    const found = entry;
    const done = ({ value, bytes }: { value: unknown; bytes: number }): Outcome => {
      this.#accesses.record(id, key, now);
      return { value, computeMs: found.computeMs, read: bytes };
    };
    let read;
    try {
      read = readEntry(this.#store, entry, { signer: this.#signer, key });
    } catch (error) {
      return this.#unreadable(key, id, values, found, error, warn);
    }
    return read instanceof Promise ? read.then(done, (error) => this.#unreadable(key, id, values, found, error, warn)) : done(read);
  }

  // Why a stored output could not be read: a miss, or an entry a shared store holds again.
  #unreadable(key: EntryKey, id: string, values: readonly unknown[], entry: Pick<Entry, "object">, error: unknown, warn: boolean): Promise<Outcome | undefined> | undefined {
    const current = this.#currentEntry(key);
    const args = current?.argsPreview ?? "…";
    if (error instanceof ForgedPayload) {
      warnForged(this.#log, key.name, args, error);
      return undefined;
    }
    if (error instanceof MissingPayload && this.#store.flags?.shared) {
      // Another machine may have written it again since: the store's index knows.
      this.#log.debug(`${key.name}(${args}) is gone from the shared store (expired, or cleared elsewhere)`);
      return this.#adopt(key, id, values);
    }
    if (error instanceof MissingPayload && current?.object !== entry.object) {
      // Evicted, deleted or replaced by another process between the lookup and the read: no damage.
      this.#log.debug(`${key.name}(${args}) was removed or replaced by another process while it was read`);
      return undefined;
    }
    if (warn) this.#log.warn(`Cannot read the stored result of ${key.name}(${args}): ${describe(error)}. Recomputing it.`);
    return undefined;
  }

  // The entry's row as it is now (another process may have changed it), if the catalog can say.
  #currentEntry(key: EntryKey): Entry | undefined {
    try {
      this.#catalog.endReads(); // the lookup's read transaction still shows the row as it was
      return this.#catalog.get(key);
    } catch {
      return undefined;
    }
  }

  // A shared store may hold an entry that another machine wrote: it is a hit, and the local catalog learns it.
  async #adopt(key: EntryKey, id: string, values: readonly unknown[]): Promise<Outcome | undefined> {
    const now = this.#config.now();
    const adopted = await adoptEntry(this.#catalog, this.#store, key, previewArgs(values), this.#log, { now, maxAgeMs: this.#config.limits.maxAgeMs }, this.#signer);
    if (adopted) this.#accesses.record(id, key, now);
    return adopted;
  }

  // Returns the stored size, or 0 when the value could not be stored; never throws (the caller gets
  // the computed value whatever happens here).
  async #write(key: EntryKey, value: unknown, computeMs: number, values: readonly unknown[]): Promise<number> {
    if (this.#readOnly) return 0;
    try {
      this.#followCatalog(true);
    } catch (error) {
      this.#log.warnOnce(`reopen:${this.dir}`, `Cannot open the cache at ${this.dir} again: ${describe(error)}. Results are not stored.`);
      return 0;
    }
    const { inlineBytes, compress, compressMinBytes, limits } = this.#config;
    const settings = { inlineBytes, compress, compressMinBytes, maxBytes: limits.maxBytes, runtime: `${runtime.name} ${runtime.version}`, signer: this.#signer };
    const outcome = await writeEntry(this.#catalog, this.#store, settings, {
      key, value, computeMs, argsPreview: previewArgs(values), createdAt: this.#config.now(),
      // The lease, if this Memory holds it, ends with the entry's commit: the heartbeat's release then writes nothing.
      extra: { argsShape: this.#argsShape(key, values), releaseLease: this.#leases?.holder },
    }, this.#log);
    if ("refused" in outcome) {
      this.#log.warnOnce(`store:${key.name}:${outcome.refused}`, `Cannot store the result of ${key.name}: ${outcome.refused}. The value is returned but not cached.`);
      return 0;
    }
    await this.#evictor.afterStore();
    return outcome.stored;
  }

  // `shared`: the user's choice (see DeleteOptions); undefined for nbmemo's own deletes (onChange: "clear"),
  // which keep the shared store's outputs without a notice.
  async #deleteEntries(filter: { name: string; version?: string }, shared?: boolean): Promise<number> {
    this.#checkOpen(`clear ${filter.name}`);
    const { count, objects } = this.#catalog.delete(filter);
    await this.#removeObjects(filter.name, objects, shared);
    return count;
  }

  // Removes deleted entries' outputs: from a shared store only with `shared` (said once when the user's
  // delete keeps some there).
  async #removeObjects(what: string, objects: readonly string[], shared?: boolean): Promise<void> {
    if (this.#store.flags?.shared && shared === false && objects.length > 0) {
      this.#log.infoOnce(`kept-shared:${what}`, `Deleted this machine's results of ${what}; the shared store keeps the team's (a later call here reads them back). Pass { shared: true } to delete them for every machine.`);
    }
    await removeObjects(this.#store, objects, shared ?? false);
  }
}

// Made outside the Memory: a closure made in its constructor would keep it reachable (V8 gives the closures
// of one scope one context, which holds `this` once any of them uses it).
function accessLog(catalog: Catalog, log: Logger): AccessLog {
  return new AccessLog(catalog, (error) => log.debug(`could not record hits: ${describe(error)}`));
}

// What a Memory collected without close() gives up: its hits not yet recorded, its share of the catalog
// connection, and the store it opened itself (a Deno KV path or URL).
function release(catalog: Catalog, accesses: AccessLog, ownStore: Store | undefined): () => void {
  return () => {
    accesses.flush();
    catalog.close();
    if (ownStore) void Promise.resolve(ownStore.close?.()).catch(() => {});
  };
}

// A call's id: its entry key as one string (calls in flight join by it; the access log is keyed by it).
function callId(name: string, version: string, argsHash: string): string {
  return `${name}\0${version}\0${argsHash}`;
}

// Eviction steps run from a timer that never keeps the process alive.
function soon(work: () => Promise<void>, pauseMs: number): void {
  setTimeout(() => void work(), pauseMs).unref();
}

// Where memory.file() keeps what it knows of input files; read-only, it learns nothing.
function fileStamps(catalog: Catalog, readOnly: boolean): FileStamps {
  return { get: (path) => catalog.fileStamp(path), put: readOnly ? () => {} : (path, stamp) => catalog.putFileStamp(path, stamp) };
}

// Errors that say the cache's files cannot be written here, though they may be read.
function cannotWrite(error: unknown): boolean {
  const { code, errcode } = error as { code?: string; errcode?: number };
  return code === "EACCES" || code === "EPERM" || code === "EROFS" || ((errcode ?? 0) & 0xff) === 8; // SQLITE_READONLY
}

// Remembering normalized sources only saves loading TypeScript: a catalog that cannot do it is no error.
function tolerant(known: KnownSources, log: Logger): KnownSources {
  return {
    getSource(rawHash) {
      try {
        return known.getSource(rawHash);
      } catch (error) {
        log.debug(`could not look up a known source: ${describe(error)}`);
        return undefined;
      }
    },
    putSource(rawHash, source) {
      try {
        known.putSource(rawHash, source);
      } catch (error) {
        log.debug(`could not remember a source: ${describe(error)}`);
      }
    },
  };
}

// The cache directory is created if missing (unless `create` is false); an existing one must be empty or
// hold a catalog.
function prepareDirectory(dir: string, create: boolean): void {
  const notACache = (reason: string) =>
    new NbmemoError("NOT_A_CACHE", `Cannot open the cache at ${dir}: ${reason}. Choose a new or empty directory, such as ".nbmemo".`);
  let stats;
  try {
    stats = statSync(dir);
  } catch {
    if (!create) throw new NbmemoError("NOT_A_CACHE", `Cannot open the cache at ${dir}: there is no such directory. Check the path.`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return;
  }
  if (!stats.isDirectory()) throw notACache("it is a file, not a directory");
  const names = readdirSync(dir);
  if (!create && !names.includes(CATALOG_FILE)) {
    throw new NbmemoError("NOT_A_CACHE", `Cannot open the cache at ${dir}: the directory holds no ${CATALOG_FILE}, so it is not an nbmemo cache. Check the path.`);
  }
  const others = names.includes(CATALOG_FILE) ? [] : names.filter((name) => !isLeftover(dir, name));
  if (others.length > 0) throw notACache(`the directory holds other files (${others.slice(0, 3).join(", ")}) and no ${CATALOG_FILE}`);
}

// What a cache leaves behind when its catalog is deleted under a running process (which made objects/ again,
// or kept its -wal and -shm), and the creation lock (with the journal of a creator killed holding it): nbmemo's
// own, so a fresh cache may start there. A -wal or -shm is removed before the new catalog is made (lib/catalog/sqlite.ts).
function isLeftover(dir: string, name: string): boolean {
  if (name === "objects") return statSync(join(dir, name), { throwIfNoEntry: false })?.isDirectory() ?? false;
  return [`${CATALOG_FILE}-wal`, `${CATALOG_FILE}-shm`, `${CATALOG_FILE}${CREATION_LOCK}`, `${CATALOG_FILE}${CREATION_LOCK}-journal`].includes(name);
}
