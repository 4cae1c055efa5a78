// The catalog: schema, migrations and every query over functions, sources and entries.
import { NbmemoError } from "../errors.ts";
import type { KnownSources, NormalizedSource } from "../keys/source.ts";
import { type Database, immediate, openDatabase, prepare, type Row, type Statement } from "./sqlite.ts";

/** Bump with a new entry in `migrations`; a catalog with a higher version is refused, not touched. */
export const SCHEMA_VERSION = 3;

const migrations: Record<number, string> = {
  1: `
    CREATE TABLE sources (
      raw_hash TEXT PRIMARY KEY,      -- sha256 of Function.prototype.toString()
      hash TEXT NOT NULL,             -- sha256 of the normalized source
      text TEXT NOT NULL              -- readable normalized source, for diffs
    ) WITHOUT ROWID;
    CREATE TABLE functions (
      name TEXT NOT NULL,
      version TEXT NOT NULL,
      source TEXT,                    -- normalized source text; NULL for a pinned version
      created_at INTEGER NOT NULL,
      last_used_at INTEGER NOT NULL,
      PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE TABLE entries (
      name TEXT NOT NULL,
      version TEXT NOT NULL,
      args_hash TEXT NOT NULL,
      object TEXT,                    -- id of the payload in the store, or NULL when inline
      inline BLOB,                    -- the payload itself when small
      bytes INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      accessed_at INTEGER NOT NULL,
      access_count INTEGER NOT NULL DEFAULT 0,
      compute_ms REAL NOT NULL,       -- what a hit saves
      args_preview TEXT NOT NULL,
      runtime TEXT NOT NULL,          -- e.g. "node 24.21.0", "deno 2.9.6"
      PRIMARY KEY (name, version, args_hash)
    );
    CREATE INDEX entries_by_access ON entries (accessed_at);
  `,
  // Sources are now keyed by normalizer version too and carry their free identifiers: the old rows are
  // a cache and are dropped. Entries get the structural fingerprint of their arguments for explain().
  2: `
    DELETE FROM sources;
    ALTER TABLE sources ADD COLUMN free TEXT NOT NULL DEFAULT '[]'; -- JSON array of free identifiers
    ALTER TABLE entries ADD COLUMN args_shape TEXT;                -- JSON { path: [hash, preview] }
  `,
  // Leases and payload checksums (issue 6): which process is computing which call right now, so that
  // the others wait for it; what each payload must hash to, so that a damaged one is a miss.
  3: `
    CREATE TABLE leases (
      name TEXT NOT NULL,
      version TEXT NOT NULL,
      args_hash TEXT NOT NULL,
      holder TEXT NOT NULL,           -- "<pid>:<uuid>" of the Memory computing the call
      expires_at INTEGER NOT NULL,    -- ms since the epoch; free for the taking after this
      heartbeat_at INTEGER NOT NULL,  -- last renewal by the holder
      PRIMARY KEY (name, version, args_hash)
    ) WITHOUT ROWID;
    ALTER TABLE entries ADD COLUMN checksum TEXT;  -- sha256 of the payload; NULL in older rows
  `,
};

/** A call's key: which function, which version of it, which arguments. */
export interface EntryKey {
  readonly name: string;
  readonly version: string;
  readonly argsHash: string;
}

/** One stored result, as the catalog describes it. */
export interface Entry extends EntryKey {
  readonly object: string | null;
  readonly inline: Uint8Array | null;
  /** SHA-256 of the payload, checked when it is read; null for entries written before schema 3. */
  readonly checksum: string | null;
  readonly bytes: number;
  readonly createdAt: number;
  readonly accessedAt: number;
  readonly accessCount: number;
  readonly computeMs: number;
  readonly argsPreview: string;
  readonly runtime: string;
}

export type NewEntry = Omit<Entry, "createdAt" | "accessedAt" | "accessCount">;

/** One version of one function, with what its entries hold. */
export interface FunctionVersion {
  readonly name: string;
  readonly version: string;
  /** Readable normalized source; null for a pinned version. */
  readonly source: string | null;
  readonly createdAt: number;
  readonly lastUsedAt: number;
  readonly entries: number;
  readonly bytes: number;
  /** Hits recorded on its entries. */
  readonly hits: number;
  /** Compute time that those hits did not spend, in ms. */
  readonly savedMs: number;
}

/** Who holds the lease on a call, and until when. */
export interface LeaseHolder {
  readonly holder: string;
  readonly expiresAt: number;
}

/** Totals over the whole cache. */
export interface CatalogTotals {
  readonly functions: number;
  readonly versions: number;
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly savedMs: number;
}

function toEntry(row: Row): Entry {
  return {
    name: row.name as string,
    version: row.version as string,
    argsHash: row.args_hash as string,
    object: row.object as string | null,
    inline: row.inline as Uint8Array | null,
    checksum: row.checksum as string | null,
    bytes: Number(row.bytes),
    createdAt: Number(row.created_at),
    accessedAt: Number(row.accessed_at),
    accessCount: Number(row.access_count),
    computeMs: Number(row.compute_ms),
    argsPreview: row.args_preview as string,
    runtime: row.runtime as string,
  };
}

export class Catalog implements KnownSources {
  readonly #db: Database;
  readonly #statements = new Map<string, Statement>();

  private constructor(db: Database) {
    this.#db = db;
  }

  /** Opens (creating or migrating) the catalog at `path`. */
  static open(path: string): Catalog {
    const db = openDatabase(path);
    try {
      migrate(db, path);
    } catch (error) {
      db.close();
      throw error;
    }
    return new Catalog(db);
  }

  close(): void {
    this.#db.close();
  }

  #sql(sql: string) {
    let statement = this.#statements.get(sql);
    if (!statement) this.#statements.set(sql, statement = prepare(this.#db, sql));
    return statement;
  }

  getSource(rawHash: string): NormalizedSource | undefined {
    const row = this.#sql("SELECT hash, text, free FROM sources WHERE raw_hash = ?").get(rawHash);
    return row ? { hash: row.hash as string, text: row.text as string, free: JSON.parse(row.free as string) } : undefined;
  }

  putSource(rawHash: string, source: NormalizedSource): void {
    this.#sql("INSERT OR IGNORE INTO sources (raw_hash, hash, text, free) VALUES (?, ?, ?, ?)")
      .run(rawHash, source.hash, source.text, JSON.stringify(source.free));
  }

  /** Records that `name` is used at `version` now, creating the row on first use. */
  useFunction(name: string, version: string, source: string | null, now: number): void {
    this.#sql(`
      INSERT INTO functions (name, version, source, created_at, last_used_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (name, version) DO UPDATE SET last_used_at = excluded.last_used_at`)
      .run(name, version, source, now, now);
  }

  get(key: EntryKey): Entry | undefined {
    const row = this.#sql("SELECT * FROM entries WHERE name = ? AND version = ? AND args_hash = ?")
      .get(key.name, key.version, key.argsHash);
    return row ? toEntry(row) : undefined;
  }

  /** What a hit needs of an entry, in one narrow query: every hit runs it. */
  lookup(key: EntryKey): Pick<Entry, "object" | "inline" | "checksum" | "computeMs"> | undefined {
    const row = this.#sql("SELECT object, inline, checksum, compute_ms FROM entries WHERE name = ? AND version = ? AND args_hash = ?")
      .get(key.name, key.version, key.argsHash);
    return row
      ? { object: row.object as string | null, inline: row.inline as Uint8Array | null, checksum: row.checksum as string | null, computeMs: Number(row.compute_ms) }
      : undefined;
  }

  /** Marks an entry as just read (what LRU eviction orders by). */
  touch(key: EntryKey, now: number): void {
    this.#sql(`UPDATE entries SET accessed_at = ?, access_count = access_count + 1
               WHERE name = ? AND version = ? AND args_hash = ?`)
      .run(now, key.name, key.version, key.argsHash);
  }

  /**
   * Inserts or replaces an entry. Returns the object id the replaced entry used, if the new one no
   * longer refers to it, so that the caller removes that payload after the commit.
   */
  put(entry: NewEntry, now: number): string | undefined {
    return immediate(this.#db, () => {
      const previous = this.get(entry);
      this.#sql(`
        INSERT OR REPLACE INTO entries (name, version, args_hash, object, inline, bytes, created_at,
          accessed_at, access_count, compute_ms, args_preview, runtime, checksum)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`)
        .run(entry.name, entry.version, entry.argsHash, entry.object, entry.inline, entry.bytes, now, now,
          entry.computeMs, entry.argsPreview, entry.runtime, entry.checksum);
      return previous?.object && previous.object !== entry.object ? previous.object : undefined;
    });
  }

  /**
   * Deletes the entries of `name` (of one version, if given) or one entry by key. Returns how many,
   * and the object ids of their payloads, to be removed from the store after the commit.
   */
  delete(filter: { name: string; version?: string; argsHash?: string }): { count: number; objects: string[] } {
    const where = ["name = ?"];
    const params: string[] = [filter.name];
    if (filter.version !== undefined) where.push("version = ?"), params.push(filter.version);
    if (filter.argsHash !== undefined) where.push("args_hash = ?"), params.push(filter.argsHash);
    const condition = where.join(" AND ");
    return immediate(this.#db, () => {
      const objects = this.#sql(`SELECT object FROM entries WHERE ${condition} AND object IS NOT NULL`)
        .all(...params).map((row) => row.object as string);
      const { changes } = this.#sql(`DELETE FROM entries WHERE ${condition}`).run(...params);
      return { count: Number(changes), objects };
    });
  }

  /**
   * Takes the lease on `key` for `holder` until `now + ttlMs`, unless another holder's lease is still
   * running; then returns that holder. One immediate transaction, so two processes never both take it.
   */
  takeLease(key: EntryKey, holder: string, now: number, ttlMs: number): LeaseHolder | undefined {
    return immediate(this.#db, () => {
      const current = this.lease(key);
      if (current && current.holder !== holder && current.expiresAt > now) return current;
      this.#sql(`INSERT OR REPLACE INTO leases (name, version, args_hash, holder, expires_at, heartbeat_at)
                 VALUES (?, ?, ?, ?, ?, ?)`)
        .run(key.name, key.version, key.argsHash, holder, now + ttlMs, now);
      return undefined;
    });
  }

  /** The lease on `key`, if any (possibly expired). */
  lease(key: EntryKey): LeaseHolder | undefined {
    const row = this.#sql("SELECT holder, expires_at FROM leases WHERE name = ? AND version = ? AND args_hash = ?")
      .get(key.name, key.version, key.argsHash);
    return row ? { holder: row.holder as string, expiresAt: Number(row.expires_at) } : undefined;
  }

  /** Extends `holder`'s lease on `key`; false if it no longer holds it (it expired and was taken). */
  renewLease(key: EntryKey, holder: string, now: number, ttlMs: number): boolean {
    const { changes } = this.#sql(`UPDATE leases SET expires_at = ?, heartbeat_at = ?
                                   WHERE name = ? AND version = ? AND args_hash = ? AND holder = ?`)
      .run(now + ttlMs, now, key.name, key.version, key.argsHash, holder);
    return Number(changes) > 0;
  }

  /** Gives up `holder`'s lease on `key` (a lease since taken by another holder is left alone). */
  releaseLease(key: EntryKey, holder: string): void {
    this.#sql("DELETE FROM leases WHERE name = ? AND version = ? AND args_hash = ? AND holder = ?")
      .run(key.name, key.version, key.argsHash, holder);
  }

  /** Every function version (of one name, if given), with its entries' totals; most recently used first. */
  functions(name?: string): FunctionVersion[] {
    return this.#sql(`
      SELECT f.name, f.version, f.source, f.created_at, f.last_used_at,
             count(e.args_hash) AS entries, coalesce(sum(e.bytes), 0) AS bytes,
             coalesce(sum(e.access_count), 0) AS hits, coalesce(sum(e.access_count * e.compute_ms), 0) AS saved_ms
      FROM functions f LEFT JOIN entries e ON e.name = f.name AND e.version = f.version
      WHERE ?1 IS NULL OR f.name = ?1
      GROUP BY f.name, f.version
      ORDER BY f.last_used_at DESC, f.name`).all(name ?? null).map((row) => ({
      name: row.name as string,
      version: row.version as string,
      source: row.source as string | null,
      createdAt: Number(row.created_at),
      lastUsedAt: Number(row.last_used_at),
      entries: Number(row.entries),
      bytes: Number(row.bytes),
      hits: Number(row.hits),
      savedMs: Number(row.saved_ms),
    }));
  }

  totals(): CatalogTotals {
    const row = this.#sql(`
      SELECT (SELECT count(DISTINCT name) FROM functions) AS functions, (SELECT count(*) FROM functions) AS versions,
             count(*) AS entries, coalesce(sum(bytes), 0) AS bytes, coalesce(sum(access_count), 0) AS hits,
             coalesce(sum(access_count * compute_ms), 0) AS saved_ms
      FROM entries`).get()!;
    return {
      functions: Number(row.functions),
      versions: Number(row.versions),
      entries: Number(row.entries),
      bytes: Number(row.bytes),
      hits: Number(row.hits),
      savedMs: Number(row.saved_ms),
    };
  }

  /** Records the structural fingerprint of an entry's arguments (JSON), which explain() compares. */
  setArgsShape(key: EntryKey, shape: string): void {
    this.#sql("UPDATE entries SET args_shape = ? WHERE name = ? AND version = ? AND args_hash = ?")
      .run(shape, key.name, key.version, key.argsHash);
  }

  /** The argument fingerprints of one version's entries that have one. */
  argsShapes(name: string, version: string): { argsHash: string; argsPreview: string; shape: string }[] {
    return this.#sql("SELECT args_hash, args_preview, args_shape FROM entries WHERE name = ? AND version = ? AND args_shape IS NOT NULL")
      .all(name, version).map((row) => ({
        argsHash: row.args_hash as string,
        argsPreview: row.args_preview as string,
        shape: row.args_shape as string,
      }));
  }

  /** Entries, most recently used first. */
  entries(filter: { name?: string; version?: string } = {}): Entry[] {
    const rows = this.#sql(`SELECT * FROM entries WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR version = ?2)
                            ORDER BY accessed_at DESC`).all(filter.name ?? null, filter.version ?? null);
    return rows.map(toEntry);
  }
}

function migrate(db: Database, path: string): void {
  const current = () => Number(prepare(db, "PRAGMA user_version").get()!.user_version);
  // Checked again under the lock: another process may have migrated (even to a newer schema) meanwhile.
  const upToDate = () => {
    const found = current();
    if (found > SCHEMA_VERSION) {
      throw new NbmemoError(
        "CATALOG_TOO_NEW",
        `Cannot open the catalog ${path}: it has schema version ${found}, newer than this nbmemo ` +
          `understands (${SCHEMA_VERSION}). Upgrade nbmemo, or use another cache directory.`,
      );
    }
    return found === SCHEMA_VERSION;
  };
  if (upToDate()) return;
  immediate(db, () => {
    if (upToDate()) return;
    for (let version = current() + 1; version <= SCHEMA_VERSION; version++) db.exec(migrations[version]!);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });
}
