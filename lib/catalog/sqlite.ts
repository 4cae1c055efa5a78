// A thin wrapper over node:sqlite: open with the pragmas nbmemo relies on, statements and immediate
// transactions that retry while another process holds the lock.
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { runtimeTooOld } from "../runtime.ts";

/** The parts of node:sqlite's DatabaseSync that nbmemo uses. */
export type Database = Pick<DatabaseSync, "exec" | "prepare" | "close">;
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

export function openDatabase(path: string): Database {
  // SQLite creates a new database 0644 and gives -wal and -shm the database file's mode: creating the
  // file first, private, keeps all three private (the umask still applies).
  const { DatabaseSync } = loadSqlite();
  if (path !== ":memory:") closeSync(openSync(path, "a", 0o600));
  const db = new DatabaseSync(path);
  try {
    // busy_timeout covers most waits; everything below retries on top of it, since processes opening a
    // fresh directory at once race for the switch to WAL.
    db.exec("PRAGMA busy_timeout = 5000");
    // Only takes effect on a new, empty file (an existing catalog keeps its mode): space freed by eviction
    // can then be given back with `PRAGMA incremental_vacuum`.
    db.exec("PRAGMA auto_vacuum = INCREMENTAL");
    retryBusy(() => db.exec("PRAGMA journal_mode = WAL"));
    retryBusy(() => db.exec("PRAGMA synchronous = NORMAL"));
    // The catalog keeps running totals in triggers; without this, a row that INSERT OR REPLACE deletes
    // would not fire the delete trigger and the totals would drift.
    db.exec("PRAGMA recursive_triggers = ON");
    // Hits read pages through the mapping instead of a read() call each: with 100,000 entries the catalog
    // outgrows the default 2 MB page cache; measured (bench/scale.bench.ts), a hit there went from ~1.6x the
    // cost of one with 1,000 entries to ~1.4x.
    db.exec("PRAGMA mmap_size = 268435456");
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** Prepares `sql` as a {@link Statement}. */
export function prepare(db: Database, sql: string): Statement {
  const statement: StatementSync = retryBusy(() => db.prepare(sql));
  return {
    get: (...params) => retryBusy(() => statement.get(...params)),
    all: (...params) => retryBusy(() => statement.all(...params)),
    run: (...params) => retryBusy(() => statement.run(...params)),
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
