// A thin wrapper over node:sqlite: open with the pragmas nbmemo relies on, statements and immediate
// transactions that retry while another process holds the lock; one connection per file, mode and process,
// opened again on the file now at its path when the one open was deleted or replaced. It also schedules
// transactions: reads share one read transaction per burst (see Database.beforeRead), and writes made
// together share a commit (see Database.write).
import { dirname } from "node:path";
import { setImmediate } from "node:timers";
import { pathToFileURL } from "node:url";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { runtimeTooOld } from "../runtime.ts";
// Through getBuiltinModule, not an ESM import: see "Built-ins" in lib/runtime.ts.
const { closeSync, existsSync, fstatSync, mkdirSync, openSync, rmSync, statSync } = process.getBuiltinModule("node:fs");

export type Row = Record<string, unknown>;

/** A value a statement binds. */
export type SqlValue = SQLInputValue;

/** A prepared statement whose runs retry while the database is busy. */
export interface Statement {
  get(...params: SQLInputValue[]): Row | undefined;
  all(...params: SQLInputValue[]): Row[];
  run(...params: SQLInputValue[]): { changes: number | bigint };
}

const BUSY_RETRY_MS = 60_000;
const BUSY_TIMEOUT_MS = 5000;

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

/**
 * How long one read transaction serves a burst of reads at most: a loop of hits that never yields to the
 * event loop still sees other processes' writes this much later at most, and does not hold back their
 * checkpoints longer.
 */
const READ_BURST_MS = 10;

// A write waiting for its turn's group commit (see Database.write).
interface QueuedWrite {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
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
  // Transactions: how deep inside one this connection's code is (immediate, group commit), whether a
  // burst's read transaction is open and since when, the writes queued for this turn's group commit.
  #depth = 0;
  #reading = false;
  #readSince = 0;
  #burstReads = 0;
  #bursts = 0;
  #endScheduled = false;
  #turnWritten = false;
  #queue: QueuedWrite[] = [];
  #commits = 0;

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

  /**
   * Write transactions committed by this connection so far: immediate ones, group commits (one for all the
   * writes they hold) and statements that wrote outside a transaction. What batching saves shows here.
   */
  get commits(): number {
    return this.#commits;
  }

  exec(sql: string): void {
    if (this.#depth === 0) this.beforeWrite();
    this.#db.exec(sql);
  }

  /**
   * Called before each read outside a transaction. A single lookup outside a transaction costs node:sqlite
   * two read locks (~2.5 µs here) besides the query: reads share one deferred read transaction instead,
   * opened by the first and ended once the event loop turns (setImmediate), at the first write, or after
   * {@link READ_BURST_MS}, so a loop of hits pays for one. Any await on real I/O ends it: the next burst
   * sees what other processes wrote meanwhile.
   */
  beforeRead(): void {
    if (this.#depth > 0) return;
    if (this.#reading) {
      // The clock is read every 32nd read of a burst only: it costs a good part of a lookup.
      if ((++this.#burstReads & 31) !== 0 || performance.now() - this.#readSince < READ_BURST_MS) return;
      this.endReads();
    }
    this.#db.exec("BEGIN");
    this.#reading = true;
    this.#bursts++;
    this.#readSince = performance.now();
    if (!this.#endScheduled) {
      this.#endScheduled = true;
      setImmediate(() => {
        this.#endScheduled = false;
        this.endReads();
      });
    }
  }

  /**
   * {@link beforeRead}, then the number of the burst whose read transaction the next read runs in, or 0 inside
   * a transaction of this connection's code. Every read of one burst sees the same snapshot of the file (nor
   * does this connection write during a burst: a write ends it), so what a read found stays true for the
   * reads of the same burst, and only for them: the next burst may see other processes' writes.
   */
  readBurst(): number {
    this.beforeRead();
    return this.#reading && this.#depth === 0 ? this.#bursts : 0;
  }

  /** Ends the burst's read transaction, if one is open: the next read sees the latest commits. */
  endReads(): void {
    if (!this.#reading) return;
    this.#reading = false;
    try {
      this.#db.exec("COMMIT");
    } catch { /* rolled back by SQLite already (an error inside it), or the connection is closed */ }
  }

  /** Called before a statement that writes outside a transaction: ends the read burst, counts its commit. */
  beforeWrite(): void {
    this.endReads();
    this.#commits++;
  }

  /** Whether statements run now are inside a transaction this connection's code opened (not a read burst). */
  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  /**
   * Runs `work` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a read-then-write
   * never fails half-way with SQLITE_BUSY_SNAPSHOT. Rolls back if `work` throws. The writes queued for a
   * group commit are committed first, so that writes reach the file in the order they were made.
   */
  immediate<T>(work: () => T): T {
    if (this.#depth === 0) {
      if (this.#queue.length > 0) this.#flush();
      this.endReads();
    }
    retryBusy(() => this.#db.exec("BEGIN IMMEDIATE"));
    this.#depth++;
    try {
      const result = work();
      retryBusy(() => this.#db.exec("COMMIT"));
      this.#commits++;
      return result;
    } catch (error) {
      // SQLite may already have rolled back by itself (SQLITE_FULL, I/O errors): the original error matters.
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* no transaction left to roll back */ }
      throw error;
    } finally {
      this.#depth--;
    }
  }

  /**
   * Runs `work` as its own transaction and resolves to its result once that is committed. A commit costs
   * ~140 µs whatever it holds, so writes made in the same turn of the event loop share one: the turn's
   * first write commits at once (a lone write waits for nothing), the later ones are queued and committed
   * together at setImmediate, each in a savepoint so that one that throws is undone alone and rejects its
   * own promise. A crash before that commit loses the queued writes whole, never part of one.
   */
  write<T>(work: () => T): Promise<T> {
    if (!this.#turnWritten) {
      this.#turnWritten = true;
      setImmediate(() => this.#flush());
      try {
        return Promise.resolve(this.immediate(work));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise<T>((resolve, reject) => this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject }));
  }

  // Commits the queued writes in one transaction, one savepoint each; the turn's next write commits at once again.
  #flush(): void {
    this.#turnWritten = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    const outcomes: ({ value: unknown } | { error: unknown })[] = [];
    try {
      this.immediate(() => {
        for (const { work } of batch) {
          this.#db.exec("SAVEPOINT nbmemo_write");
          try {
            outcomes.push({ value: work() });
          } catch (error) {
            try {
              this.#db.exec("ROLLBACK TO nbmemo_write");
            } catch {
              throw error; // SQLite rolled back the whole transaction: every write in it fails
            }
            outcomes.push({ error });
          }
          this.#db.exec("RELEASE nbmemo_write");
        }
      });
    } catch (error) {
      for (const { reject } of batch) reject(error);
      return;
    }
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!;
      if ("error" in outcome) reject(outcome.error);
      else resolve(outcome.value);
    });
  }

  prepare(sql: string): StatementSync {
    return this.#db.prepare(sql);
  }

  /** Gives up one use; the last one closes the connection. */
  close(): void {
    if (--this.#refs > 0) return;
    this.#flush();
    this.endReads();
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
    this.#reading = false; // its read transaction went with it
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
      this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
    creationSeams.missing?.(path);
    create(path);
  }
  // Created private if it went missing since (see create).
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
 * For tests: `missing` runs when a connection found no file at its path, before it creates one (another
 * process may meanwhile); `locked` runs once {@link create} holds the creation lock; `waitMs` replaces
 * {@link CREATION_WAIT_MS}.
 */
export const creationSeams: { missing?: (path: string) => void; locked?: (path: string) => void; waitMs?: number } = {};

/** The lock beside a database file that its creation holds (see {@link create}): a SQLite file of its own, kept. */
export const CREATION_LOCK = "-lock";

/** How long a creation waits at most for another process's to end, before it fails naming the lock. */
const CREATION_WAIT_MS = 60_000;

// Creates the empty database file at `path` (and its folder), first removing a -wal or -shm left by a
// database deleted there: SQLite would replay that WAL into the new file. Under a lock, re-checking that
// the file is still missing: a process that saw no file, then was descheduled, would otherwise remove the
// -wal and -shm of the file another process made and already writes meanwhile. That process's connection
// then went on alone with its unlinked log, which no other process sees: both took the same lease and
// computed the same call (the 6-process fresh-directory test, once on a loaded machine).
// The lock is an exclusive transaction on a file of its own, that is, a POSIX lock the kernel drops when its
// holder dies: nothing is ever taken over. A lock by name (a directory made atomically, taken over when
// stale) cannot be taken over safely: a waiter that judged the dead holder's lock stale removes by name
// whatever is there by then, the lock another waiter took over meanwhile included (docs/ARCHITECTURE.md).
function create(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const lockPath = path + CREATION_LOCK;
  // Made private before SQLite opens it (SQLite would make it 0644). Never removed: a waiter could hold
  // the lock of a removed file while another takes that of a new one.
  if (!existsSync(lockPath)) closeSync(openSync(lockPath, "a", 0o600));
  const lock = new (loadSqlite().DatabaseSync)(lockPath);
  try {
    const waitMs = creationSeams.waitMs ?? CREATION_WAIT_MS;
    lock.exec(`PRAGMA busy_timeout = ${waitMs}`);
    try {
      lock.exec("BEGIN EXCLUSIVE");
    } catch (error) {
      if (!isBusy(error)) throw error;
      throw new Error(`another process has been creating its catalog for ${waitMs / 1000} s and still holds the lock ${lockPath} ` +
        `(a process that dies lets go of it at once). End that process (\`fuser ${lockPath}\` names it) and open the cache again`, { cause: error });
    }
    creationSeams.locked?.(path);
    if (statSync(path, { throwIfNoEntry: false })) return; // made by the lock's previous holder
    for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
    // SQLite creates a new database 0644 and gives -wal and -shm the database file's mode: creating the
    // file first, private, keeps all three private (the umask still applies).
    closeSync(openSync(path, "a", 0o600));
  } finally {
    // Closing ends the transaction and lets go of the lock (on a lock file still empty, with a rollback:
    // it stays empty, and nothing else is written to it).
    lock.close();
  }
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
  const current = follow(db, sql, false);
  const read = () => {
    db.beforeRead();
    return current();
  };
  return {
    get: (...params) => retryBusy(() => read().get(...params)),
    all: (...params) => retryBusy(() => read().all(...params)),
    run: (...params) => {
      if (!db.inTransaction) db.beforeWrite();
      return retryBusy(() => current().run(...params));
    },
  };
}

/** A prepared query whose row comes as an array of its columns, in the order the SQL names them. */
export interface ArrayQuery {
  get(...params: SQLInputValue[]): unknown[] | undefined;
}

/**
 * Prepares `sql` as an {@link ArrayQuery}: node:sqlite makes a row object by setting each column by name,
 * which costs more than the query itself for a one-row lookup (~0.9 µs of ~2 µs for five columns, Node
 * 24 and Deno 2.9); an array is made in one go. A runtime without `setReturnArrays` (Node 22.13, Deno 2.4)
 * gives objects, whose values are in the same order.
 */
export function prepareArrays(db: Database, sql: string): ArrayQuery {
  const current = follow(db, sql, true);
  return {
    get: (...params) => {
      db.beforeRead();
      const row = retryBusy(() => current().get(...params)) as Row | unknown[] | undefined;
      return row === undefined || Array.isArray(row) ? row : Object.values(row);
    },
  };
}

// The statement for `sql` on the connection open now: prepared again once the connection was made again.
function follow(db: Database, sql: string, arrays: boolean): () => StatementSync {
  const make = () => {
    const statement = retryBusy(() => db.prepare(sql));
    if (arrays) (statement as { setReturnArrays?: (on: boolean) => void }).setReturnArrays?.(true);
    return statement;
  };
  let statement = make();
  let generation = db.generation;
  return () => {
    if (generation !== db.generation) [statement, generation] = [make(), db.generation];
    return statement;
  };
}

/** Runs `work` in a `BEGIN IMMEDIATE` transaction ({@link Database.immediate}). */
export function immediate<T>(db: Database, work: () => T): T {
  return db.immediate(work);
}

/**
 * Runs `work` with SQLite's automatic checkpoint off for this connection: a commit inside it that grows the
 * write-ahead log past 1,000 pages would otherwise copy the whole log back into the database there and then,
 * with the caller waiting (the long stalls of eviction batches). {@link checkpoint} does that work as a step
 * of its own.
 */
export function withoutAutoCheckpoint<T>(db: Database, work: () => T): T {
  const pages = Number(db.prepare("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint);
  db.exec("PRAGMA wal_autocheckpoint = 0");
  try {
    return work();
  } finally {
    db.exec(`PRAGMA wal_autocheckpoint = ${pages}`);
  }
}

/**
 * Copies what it can of the write-ahead log back into the database without waiting for any other
 * connection (a PASSIVE checkpoint: it never takes the write lock, so writers in other processes go on).
 */
export function checkpoint(db: Database): void {
  retryBusy(() => db.exec("PRAGMA wal_checkpoint(PASSIVE)"));
}

function isBusy(error: unknown): boolean {
  const e = error as { errcode?: number; message?: string };
  // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
  return ((e.errcode ?? 0) & 0xff) === 5 || ((e.errcode ?? 0) & 0xff) === 6 || /database is (locked|busy)/.test(e.message ?? "");
}

/**
 * Retries `work` while the database is busy, with growing sleeps, until it has waited a minute: the time
 * counted is that of its sleeps, as asked, and of each try, up to SQLite's busy timeout (what a try can
 * wait inside SQLite), not the wall clock's. By the clock, a process stalled for a minute (a loaded
 * machine, a laptop asleep) would give up at its next try without having waited at all.
 */
export function retryBusy<T>(work: () => T): T {
  let waited = 0;
  let tried: number | undefined; // when the try began; not read before the first: the clock costs a good part of a lookup
  for (let sleep = 5; ; sleep = Math.min(sleep * 2, 250)) {
    try {
      return work();
    } catch (error) {
      if (!isBusy(error)) throw error;
      if (tried !== undefined) waited += Math.min(Math.max(busyClock() - tried, 0), BUSY_TIMEOUT_MS);
      if (waited >= BUSY_RETRY_MS) throw error;
      const ms = sleep + Math.random() * sleep;
      sleepSync(ms);
      waited += ms;
      tried = busyClock();
    }
  }
}

/** For tests: `now` replaces the clock that {@link retryBusy} times its tries by. */
export const busySeams: { now?: () => number } = {};
function busyClock(): number {
  return busySeams.now ? busySeams.now() : performance.now();
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
