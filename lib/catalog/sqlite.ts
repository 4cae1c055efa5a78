// A thin wrapper over node:sqlite: open with the pragmas nbmemo relies on, and immediate transactions
// that retry while another process holds the write lock.
import { DatabaseSync } from "node:sqlite";

/** The parts of node:sqlite's DatabaseSync that nbmemo uses. */
export type Database = Pick<DatabaseSync, "exec" | "prepare" | "close">;
export type Row = Record<string, unknown>;

const BUSY_RETRY_MS = 60_000;

export function openDatabase(path: string): Database {
  const db = new DatabaseSync(path);
  // busy_timeout covers most waits; transactions below retry on top of it.
  db.exec("PRAGMA busy_timeout = 5000");
  retryBusy(() => db.exec("PRAGMA journal_mode = WAL"));
  db.exec("PRAGMA synchronous = NORMAL");
  return db;
}

/**
 * Runs `work` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a read-then-write
 * never fails half-way with SQLITE_BUSY_SNAPSHOT. Rolls back if `work` throws.
 */
export function immediate<T>(db: Database, work: () => T): T {
  retryBusy(() => db.exec("BEGIN IMMEDIATE"));
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    db.exec("ROLLBACK");
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
