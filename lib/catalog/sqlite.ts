// A thin wrapper over node:sqlite: open with the pragmas nbmemo relies on, statements and immediate
// transactions that retry while another process holds the lock; one connection per file, mode and process,
// opened again on the file now at its path when the one open was deleted or replaced.
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { runtimeTooOld } from "../runtime.ts";
// Through getBuiltinModule, not an ESM import: see "Built-ins" in lib/runtime.ts.
const { closeSync, existsSync, fstatSync, mkdirSync, openSync, rmSync, statSync } = process.getBuiltinModule("node:fs");

export type Row = Record<string, unknown>;

/** A prepared statement whose runs retry while the database is busy. */
export interface Statement {
  get(...params: SQLInputValue[]): Row | undefined;
  all(...params: SQLInputValue[]): Row[];
  run(...params: SQLInputValue[]): { changes: number | bigint };
}

const BUSY_RETRY_MS = 60_000;

// The part of node:sqlite nbmemo uses.
type SqliteModule = { readonly DatabaseSync: typeof DatabaseSync };
let sqlite: SqliteModule | undefined;

/**
 * node:sqlite, loaded on first use rather than imported: a static import fails on an older runtime
 * before any of nbmemo's code runs (Node 20: ERR_UNKNOWN_BUILTIN_MODULE), where this says what to
 * install (`RUNTIME_TOO_OLD`). Node 22 warns that SQLite is experimental when it loads; that one warning
 * is left out (nbmemo's use of it is tested there), for the length of the load only; any other goes through.
 */
export function loadSqlite(): SqliteModule {
  if (sqlite) return sqlite;
  let loaded: SqliteModule | undefined;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === "ExperimentalWarning" && String(warning).startsWith("SQLite is an experimental feature")) return;
    return (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    loaded = process.getBuiltinModule?.("node:sqlite");
  } catch { /* a runtime without it */ } finally {
    process.emitWarning = emitWarning;
  }
  if (!loaded) throw runtimeTooOld("node:sqlite");
  return sqlite = loaded;
}

/** How often, at most, {@link Database.replaced} looks at the file when not forced: a stat costs ~3 µs on Node, ~12 µs on Deno. */
const REPLACED_CHECK_MS = 500;

// One connection per database file (and mode: read-write or read-only) in this process, shared by every
// Memory open on it: a notebook cell that runs Memory.open again without close() would otherwise open two
// more descriptors each time (EMFILE after ~500 runs). Counted: the last release closes it.
const shared = new Map<string, Database>();
const sharedKey = (path: string, readOnly: boolean) => `${readOnly ? "r" : "w"}:${path}`;

/** What a connection may do: `readOnly` opens an existing file without writing anything, its folder included. */
export interface OpenMode {
  readonly readOnly: boolean;
}

/** The file a connection has open, and for a connection that cannot see other writers (immutable) its size and time then. */
interface OpenFile {
  readonly dev: number;
  readonly ino: number;
  readonly immutable?: { readonly size: number; readonly mtimeMs: number };
}

/**
 * A connection to one database file, shared in this process ({@link openDatabase}), that can be opened again
 * on the file now at its path ({@link Database.replaced}, {@link Database.reopen}). Statements made by
 * {@link prepare} follow it to the new connection.
 */
export class Database {
  readonly path: string;
  readonly readOnly: boolean;
  #db: DatabaseSync;
  #file: OpenFile | undefined;
  #refs = 1;
  #checkedAt = 0;
  #generation = 0;
  #reopenings = 0;
  readonly #setup: (db: Database) => void;

  constructor(path: string, setup: (db: Database) => void, mode: OpenMode = { readOnly: false }) {
    this.path = path;
    this.readOnly = mode.readOnly;
    this.#setup = setup;
    [this.#db, this.#file] = connect(path, this.readOnly);
    this.#init();
  }

  /** Counts up each time a connection is made again; statements prepared before are prepared again. */
  get generation(): number {
    return this.#generation;
  }

  /** Counts up each time the file at the path is opened again because it was deleted or replaced ({@link reopen}). */
  get reopenings(): number {
    return this.#reopenings;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  prepare(sql: string): StatementSync {
    return this.#db.prepare(sql);
  }

  /** Gives up one use; the last one closes the connection. */
  close(): void {
    if (--this.#refs > 0) return;
    const key = sharedKey(this.path, this.readOnly);
    if (shared.get(key) === this) shared.delete(key);
    this.#db.close();
  }

  /**
   * Whether the file at the path is no longer the one open (deleted, or replaced by another): looked at no
   * more than every {@link REPLACED_CHECK_MS} unless `force`. An in-memory database is never replaced. An
   * immutable connection (see {@link connect}) is looked at every time, and counts as replaced as soon as
   * the file changed or a write-ahead log appeared: another process writes it, so it is no longer immutable.
   */
  replaced(force: boolean): boolean {
    if (!this.#file) return false;
    const { immutable } = this.#file;
    const now = Date.now();
    if (!force && !immutable && now - this.#checkedAt < REPLACED_CHECK_MS) return false;
    this.#checkedAt = now;
    const found = statSync(this.path, { throwIfNoEntry: false });
    if (!found || found.ino !== this.#file.ino || found.dev !== this.#file.dev) return true;
    if (immutable && (found.size !== immutable.size || found.mtimeMs !== immutable.mtimeMs || existsSync(`${this.path}-wal`))) {
      this.#connect(); // the same file, now being written: read it as an ordinary reader
    }
    return false;
  }

  /**
   * Closes the connection and opens the file now at the path, creating it (and its directory) if it is gone.
   * SQLite neither checkpoints into nor deletes the WAL of a database file that moved (pager.c,
   * databaseIsUnmoved), so closing the old connection cannot harm a new file another process made there.
   */
  reopen(): void {
    this.#connect();
    this.#reopenings++;
  }

  #connect(): void {
    const [db, file] = connect(this.path, this.readOnly);
    try {
      this.#db.close();
    } catch { /* already unusable: what matters is the new one */ }
    [this.#db, this.#file] = [db, file];
    this.#generation++;
    this.#checkedAt = Date.now();
    this.#init();
  }

  /** One more use of a shared connection. */
  share(): this {
    this.#refs++;
    return this;
  }

  #init(): void {
    try {
      // busy_timeout covers most waits; everything below retries on top of it, since processes opening a
      // fresh directory at once race for the switch to WAL.
      this.#db.exec("PRAGMA busy_timeout = 5000");
      if (!this.readOnly) {
        // Only takes effect on a new, empty file (an existing catalog keeps its mode): space freed by eviction
        // can then be given back with `PRAGMA incremental_vacuum`.
        this.#db.exec("PRAGMA auto_vacuum = INCREMENTAL");
        retryBusy(() => this.#db.exec("PRAGMA journal_mode = WAL"));
        retryBusy(() => this.#db.exec("PRAGMA synchronous = NORMAL"));
      }
      // The catalog keeps running totals in triggers; without this, a row that INSERT OR REPLACE deletes
      // would not fire the delete trigger and the totals would drift.
      this.#db.exec("PRAGMA recursive_triggers = ON");
      // Hits read pages through the mapping instead of a read() call each: with 100,000 entries the catalog
      // outgrows the default 2 MB page cache; measured (bench/scale.bench.ts), a hit there went from ~1.6x the
      // cost of one with 1,000 entries to ~1.4x.
      this.#db.exec("PRAGMA mmap_size = 268435456");
      this.#setup(this);
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }
}

/**
 * The connection to the database at `path` (`setup` runs on a new connection: the schema), shared with
 * the other users of that file and mode in this process; each user closes it once. `":memory:"` is never
 * shared. Read-only, the file must exist: nothing is created.
 */
export function openDatabase(path: string, setup: (db: Database) => void = () => {}, mode: OpenMode = { readOnly: false }): Database {
  const key = sharedKey(path, mode.readOnly);
  const open = path === ":memory:" ? undefined : shared.get(key);
  if (open) {
    if (open.replaced(true)) open.reopen(); // its other users see the new generation
    return open.share();
  }
  const db = new Database(path, setup, mode);
  if (path !== ":memory:") shared.set(key, db);
  return db;
}

// Opens `path`, private, and says which file it opened.
function connect(path: string, readOnly: boolean): [DatabaseSync, OpenFile | undefined] {
  const { DatabaseSync } = loadSqlite();
  if (path === ":memory:") return [new DatabaseSync(path), undefined];
  if (readOnly) return connectReadOnly(path);
  if (!statSync(path, { throwIfNoEntry: false })) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // A -wal or -shm without its database belongs to one that was deleted: SQLite would replay that WAL into
    // the new file. (Another process creating the file in the instant between the stat and this is not
    // guarded against.)
    for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
  }
  // SQLite creates a new database 0644 and gives -wal and -shm the database file's mode: creating the
  // file first, private, keeps all three private (the umask still applies).
  const fd = openSync(path, "a", 0o600);
  let file;
  try {
    const { dev, ino } = fstatSync(fd);
    file = { dev, ino };
  } finally {
    closeSync(fd);
  }
  return [new DatabaseSync(path), file];
}

/**
 * Opens `path` read-only. A database in WAL mode is read through its -shm file, which SQLite creates when it
 * is missing: in a folder this process cannot write, with no other process holding the file open (so no
 * -wal, no -shm), that fails (SQLITE_READONLY_DIRECTORY). The file is then opened immutable: nobody is
 * writing it, and {@link Database.replaced} notices the first writer that comes (the file changes, or a
 * -wal appears) so that the connection is opened again, then as an ordinary reader.
 */
function connectReadOnly(path: string): [DatabaseSync, OpenFile] {
  const { DatabaseSync } = loadSqlite();
  const stamp = () => {
    const { dev, ino, size, mtimeMs } = statSync(path);
    return { dev, ino, size, mtimeMs };
  };
  const before = stamp();
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    return [db, { dev: before.dev, ino: before.ino }];
  } catch (error) {
    db.close();
    const code = ((error as { errcode?: number }).errcode ?? 0) & 0xff;
    if (code !== 8 /* SQLITE_READONLY */ || existsSync(`${path}-wal`)) throw error;
  }
  const url = pathToFileURL(path);
  url.search = "immutable=1";
  let immutable: DatabaseSync;
  try {
    // A URL, which node:sqlite takes in Deno and in Node after 22.13: the immutable flag has no other way in.
    immutable = new DatabaseSync(url as unknown as string, { readOnly: true });
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    throw new Error(`this runtime (Node ${process.versions.node}) cannot open a SQLite file by URL, which reading a catalog in a folder it cannot write needs: a newer Node or Deno can`);
  }
  return [immutable, { dev: before.dev, ino: before.ino, immutable: { size: before.size, mtimeMs: before.mtimeMs } }];
}

/** Prepares `sql` as a {@link Statement}. */
export function prepare(db: Database, sql: string): Statement {
  let statement: StatementSync = retryBusy(() => db.prepare(sql));
  let generation = db.generation;
  const current = () => {
    if (generation !== db.generation) [statement, generation] = [retryBusy(() => db.prepare(sql)), db.generation];
    return statement;
  };
  return {
    get: (...params) => retryBusy(() => current().get(...params)),
    all: (...params) => retryBusy(() => current().all(...params)),
    run: (...params) => retryBusy(() => current().run(...params)),
  };
}

/**
 * Runs `work` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a read-then-write
 * never fails half-way with SQLITE_BUSY_SNAPSHOT. Rolls back if `work` throws.
 */
export function immediate<T>(db: Database, work: () => T): T {
  retryBusy(() => db.exec("BEGIN IMMEDIATE"));
  try {
    const result = work();
    retryBusy(() => db.exec("COMMIT"));
    return result;
  } catch (error) {
    // SQLite may already have rolled back by itself (SQLITE_FULL, I/O errors): the original error matters.
    try {
      db.exec("ROLLBACK");
    } catch { /* no transaction left to roll back */ }
    throw error;
  }
}

function isBusy(error: unknown): boolean {
  const e = error as { errcode?: number; message?: string };
  // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
  return ((e.errcode ?? 0) & 0xff) === 5 || ((e.errcode ?? 0) & 0xff) === 6 || /database is (locked|busy)/.test(e.message ?? "");
}

/** Retries `work` while the database is busy, with growing sleeps, for up to a minute. */
export function retryBusy<T>(work: () => T): T {
  const deadline = Date.now() + BUSY_RETRY_MS;
  for (let wait = 5; ; wait = Math.min(wait * 2, 250)) {
    try {
      return work();
    } catch (error) {
      if (!isBusy(error) || Date.now() > deadline) throw error;
      sleepSync(wait + Math.random() * wait);
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
