// The catalog: schema, migrations and every query over functions, sources and entries.
import { NbmemoError } from "../errors.ts";
import type { CatalogTotals, Entry, EntryKey, EntrySort, FunctionVersion } from "../types.ts";
import type { FileStamp } from "../keys/inputs.ts";
import type { KnownSources, NormalizedSource } from "../keys/source.ts";
import { type Packed, packChecksum, packHex, packOptional, textBytes, unpackChecksum, unpackHex, unpackOptional, unpackText } from "./packing.ts";
import { type ArrayQuery, checkpoint, type Database, immediate, openDatabase, type OpenMode, prepare, prepareArrays, retryBusy, type Row, type SqlValue, type Statement, withoutAutoCheckpoint } from "./sqlite.ts";

// Every statement binds plain `?` parameters, repeated where a value is used twice: Node 22.13-22.19
// and Deno up to 2.4 fail a statement that uses one numbered parameter (`?1`) twice ("column index out
// of range"); test/catalog.test.ts keeps numbered parameters out of lib/.

/** Bump with a new entry in `migrations`; a catalog with a higher version is refused, not touched. */
export const SCHEMA_VERSION = 7;

// The totals recomputed from the entries: when migrating, and by verify({ repair: true }). `ofVersion` matches
// an entry to its version's row: by name and version up to schema 6, by the version's id since.
const recountVersions = (ofVersion: string) => `UPDATE functions SET (entries, bytes, hits, saved_ms) = (
      SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(access_count), 0), coalesce(sum(access_count * compute_ms), 0)
      FROM entries e WHERE ${ofVersion});`;
const RECOUNT_VERSIONS = recountVersions("e.fn = functions.id");
const RECOUNT_USAGE = `UPDATE usage SET (entries, bytes, hits, saved_ms) = (
      SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(access_count), 0), coalesce(sum(access_count * compute_ms), 0) FROM entries) WHERE id = 1;`;

/**
 * The schema's history: migration `n` takes a catalog from version n - 1 to n. Exported for the tests that
 * build catalogs of older versions.
 */
export const migrations: Readonly<Record<number, string | ((db: Database) => void)>> = {
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
  // Running totals kept by triggers, so that the check after every store is O(1); an index for maxAge.
  4: `
    CREATE TABLE usage (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      entries INTEGER NOT NULL,
      bytes INTEGER NOT NULL
    );
    INSERT INTO usage (id, entries, bytes) SELECT 1, count(*), coalesce(sum(bytes), 0) FROM entries;
    CREATE TRIGGER usage_on_insert AFTER INSERT ON entries BEGIN
      UPDATE usage SET entries = entries + 1, bytes = bytes + new.bytes WHERE id = 1;
    END;
    CREATE TRIGGER usage_on_delete AFTER DELETE ON entries BEGIN
      UPDATE usage SET entries = entries - 1, bytes = bytes - old.bytes WHERE id = 1;
    END;
    CREATE TRIGGER usage_on_resize AFTER UPDATE OF bytes ON entries BEGIN
      UPDATE usage SET bytes = bytes - old.bytes + new.bytes WHERE id = 1;
    END;
    CREATE INDEX entries_by_creation ON entries (created_at);
  `,
  // Per-version totals (issue 20): functions(), stats(), show() and the change check read them instead of
  // summing entries (1.3 s at 1M entries before). The triggers keep them and the global totals up to
  // date in the statement that changes an entry; an entry whose version has no row yet creates it. Indexes
  // serve entries({ sort: "bytes" }) and a name's most recently used entries (the CLI's show NAME: 810 ms
  // for a name holding 200,000 entries without it).
  5: `
    ALTER TABLE functions ADD COLUMN entries INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE functions ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE functions ADD COLUMN hits INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE functions ADD COLUMN saved_ms REAL NOT NULL DEFAULT 0;
    ALTER TABLE usage ADD COLUMN hits INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage ADD COLUMN saved_ms REAL NOT NULL DEFAULT 0;
    INSERT OR IGNORE INTO functions (name, version, source, created_at, last_used_at)
      SELECT name, version, NULL, min(created_at), max(accessed_at) FROM entries GROUP BY name, version;
    ${recountVersions("e.name = functions.name AND e.version = functions.version")}
    ${RECOUNT_USAGE}
    DROP TRIGGER usage_on_insert;
    DROP TRIGGER usage_on_delete;
    DROP TRIGGER usage_on_resize;
    CREATE TRIGGER totals_on_insert AFTER INSERT ON entries BEGIN
      UPDATE usage SET entries = entries + 1, bytes = bytes + new.bytes, hits = hits + new.access_count,
        saved_ms = saved_ms + new.access_count * new.compute_ms WHERE id = 1;
      INSERT INTO functions (name, version, source, created_at, last_used_at, entries, bytes, hits, saved_ms)
        VALUES (new.name, new.version, NULL, new.created_at, new.created_at, 1, new.bytes, new.access_count, new.access_count * new.compute_ms)
        ON CONFLICT (name, version) DO UPDATE SET entries = entries + 1, bytes = bytes + excluded.bytes,
          hits = hits + excluded.hits, saved_ms = saved_ms + excluded.saved_ms;
    END;
    CREATE TRIGGER totals_on_delete AFTER DELETE ON entries BEGIN
      UPDATE usage SET entries = entries - 1, bytes = bytes - old.bytes, hits = hits - old.access_count,
        saved_ms = saved_ms - old.access_count * old.compute_ms WHERE id = 1;
      UPDATE functions SET entries = entries - 1, bytes = bytes - old.bytes, hits = hits - old.access_count,
        saved_ms = saved_ms - old.access_count * old.compute_ms WHERE name = old.name AND version = old.version;
    END;
    CREATE TRIGGER totals_on_update AFTER UPDATE OF bytes, access_count, compute_ms ON entries BEGIN
      UPDATE usage SET bytes = bytes - old.bytes + new.bytes, hits = hits - old.access_count + new.access_count,
        saved_ms = saved_ms - old.access_count * old.compute_ms + new.access_count * new.compute_ms WHERE id = 1;
      UPDATE functions SET bytes = bytes - old.bytes + new.bytes, hits = hits - old.access_count + new.access_count,
        saved_ms = saved_ms - old.access_count * old.compute_ms + new.access_count * new.compute_ms
        WHERE name = new.name AND version = new.version;
    END;
    CREATE INDEX entries_by_bytes ON entries (bytes);
    CREATE INDEX entries_by_name_access ON entries (name, accessed_at);
  `,
  // Input files whose contents were hashed (memory.file): an unchanged size, mtime and inode means an
  // unchanged hash, so a large file is not read again at every call.
  6: `
    CREATE TABLE input_files (
      path TEXT PRIMARY KEY,          -- absolute path
      size INTEGER NOT NULL,
      mtime_ms REAL NOT NULL,
      ino TEXT NOT NULL,              -- text: a 64-bit inode does not fit a double
      hash TEXT NOT NULL,             -- sha256 of the contents
      checked_at INTEGER NOT NULL     -- when the hash was taken, ms since the epoch
    ) WITHOUT ROWID;
  `,
  // Compact entries (issue 20): at 100,000 small entries, 438 bytes of catalog per entry before (361 besides the
  // payload), 315 after (238); see COMPACT_TABLES.
  7: compactEntries,
};

// Catalog columns by entry order (always largest or most recent first).
const SORT_COLUMNS: Readonly<Record<EntrySort, string>> = {
  accessed: "accessed_at",
  created: "created_at",
  bytes: "bytes",
  hits: "access_count",
  computeMs: "compute_ms",
};

// An entry's version by its name and version (two parameters), and an entry by its key (three): see keyParams.
const VERSION_ID = "(SELECT id FROM functions WHERE name = ? AND version = ?)";
// A remembered source that no version uses: as its version, or as the start of its source (deps folded in).
const ORPHAN_SOURCE = `NOT EXISTS (SELECT 1 FROM functions f WHERE f.version = sources.hash
  OR substr(f.source, 1, length(sources.text)) = sources.text)`;
const BY_KEY = `fn = ${VERSION_ID} AND args_hash = ?`;
const keyParams = (key: EntryKey): SqlValue[] => [key.name, packVersion(key.version), packArgs(key.argsHash)];
// The version and the arguments' hash packed last, kept: a loop of hits asks for the same ones each time
// (SQLite copies what it binds, and nothing writes into a packed value).
function packedLast(): (text: string) => Packed {
  let last: { readonly text: string; readonly bytes: Packed } = { text: "", bytes: "" };
  return (text) => text === last.text ? last.bytes : (last = { text, bytes: packHex(text) }).bytes;
}
const packVersion = packedLast();
const packArgs = packedLast();
// What a hit needs, found by key (with the version's id, which the next lookups of the same burst reuse) or,
// that id known, by the entries' primary key alone; an inline payload that `text` describes comes as text
// (see InlineText).
function lookupSql(text: InlineText | undefined, byVersionId: boolean): string {
  const where = byVersionId ? "fn = ? AND args_hash = ?" : BY_KEY;
  if (!text) return `SELECT object, inline, checksum, compute_ms, created_at, NULL, fn FROM entries WHERE ${where}`;
  const { offset, bytes } = text.andAt;
  const asText = `substr(inline, 1, ${text.prefix.length}) = x'${unpackHex(text.prefix)}' AND ` +
    `substr(inline, ${offset + 1}, ${bytes.length}) = x'${unpackHex(bytes)}' AND typeof(checksum) = 'integer'`;
  return `SELECT object, CASE WHEN ${asText} THEN NULL ELSE inline END, checksum, compute_ms, created_at,
    CASE WHEN ${asText} THEN CAST(substr(inline, ${text.from + 1}) AS TEXT) END, fn FROM entries WHERE ${where}`;
}

/**
 * Inline payloads that begin with `prefix`, hold `andAt.bytes` at `andAt.offset`, and have a CRC-32 checksum
 * are read as the UTF-8 text that follows their first `from` bytes ({@link Catalog.lookup}'s `text`), not as
 * bytes: node:sqlite makes a string faster than a Uint8Array (~0.4 µs of a hit on Deno 2.9, ~0.2 µs on Node
 * 24). The text is not checked here; its reader checks it against the checksum of the bytes it stands for.
 */
export interface InlineText {
  readonly prefix: Uint8Array;
  readonly andAt: { readonly offset: number; readonly bytes: Uint8Array };
  readonly from: number;
}

/** What a hit needs of an entry: an inline payload given as text (see InlineText) has `text`, and `inline` null. */
export type Found = Pick<Entry, "object" | "inline" | "checksum" | "computeMs" | "createdAt"> & { readonly text?: string | undefined };

// An entry with its name, version and runtime, as toEntry reads it. CROSS JOIN keeps the entries in the outer
// loop, so that an order by an index of theirs walks that index. Every entry's version has a row (`put` makes
// it; a version's row goes only with its entries).
const ENTRY = `SELECT e.rowid, f.name, f.version, e.args_hash, e.object, e.inline, e.checksum, e.bytes, e.created_at,
    e.accessed_at, e.access_count, e.compute_ms, ${textBytes("e.args_preview")}, r.name AS runtime
  FROM entries e CROSS JOIN functions f ON f.id = e.fn CROSS JOIN runtimes r ON r.id = e.runtime`;

/**
 * The statement {@link Catalog.entries} runs for all entries, or for one version's (`fn`, its id): only the
 * conditions given go in the WHERE (`? IS NULL OR name = ?` would keep SQLite from using the key's index:
 * 373 ms for a rare name at 1M entries), so that a version is found through the primary key and each indexed
 * order walks its index.
 */
export function entriesQuery(query: { readonly fn?: number; readonly sort?: EntrySort; readonly limit?: number }): { sql: string; params: number[] } {
  const sql = `${ENTRY} ${query.fn === undefined ? "" : "WHERE e.fn = ? "}` +
    `ORDER BY e.${SORT_COLUMNS[query.sort ?? "accessed"]} DESC, e.rowid DESC LIMIT ?`;
  return { sql, params: [...(query.fn === undefined ? [] : [query.fn]), query.limit ?? -1] };
}

export type NewEntry = Omit<Entry, "createdAt" | "accessedAt" | "accessCount">;

/** Who holds the lease on a call, and until when. */
export interface LeaseHolder {
  readonly holder: string;
  readonly expiresAt: number;
}

/** Reads of one entry not yet written to the catalog: the latest time and how many. */
export interface Access {
  readonly key: EntryKey;
  readonly at: number;
  readonly count: number;
}

/** What the entries hold right now, read in O(1) from the totals the triggers keep. */
export interface Usage {
  readonly entries: number;
  readonly bytes: number;
}

/** How far an eviction pass goes: remove what was created before `createdBefore`, then the least
 * recently used entries until at most `entries` entries and `bytes` bytes are left. */
export interface EvictionTarget {
  readonly createdBefore: number | null;
  readonly entries: number | null;
  readonly bytes: number | null;
}

/** What a removal took out of the catalog; `objects` are to be removed from the store after the commit. */
export interface Removed {
  readonly count: number;
  readonly bytes: number;
  readonly objects: string[];
}

/** Which entries {@link Catalog.entries} lists. */
export interface EntryQuery {
  readonly name?: string;
  readonly version?: string;
  readonly sort?: EntrySort;
  readonly limit?: number;
}

/** An entry as {@link Catalog.entryPage} returns it for a full scan, with its rowid for paging. */
export interface ScannedEntry extends Entry {
  readonly rowid: number;
}

function toEntry(row: Row): Entry {
  return {
    name: row.name as string,
    version: unpackHex(row.version),
    argsHash: unpackHex(row.args_hash),
    object: unpackOptional(row.object),
    inline: row.inline as Uint8Array | null,
    checksum: unpackChecksum(row.checksum),
    bytes: Number(row.bytes),
    createdAt: Number(row.created_at),
    accessedAt: Number(row.accessed_at),
    accessCount: Number(row.access_count),
    computeMs: Number(row.compute_ms),
    argsPreview: unpackText(row.args_preview)!,
    runtime: row.runtime as string,
  };
}

// At most this many entries are kept for a read burst (see Catalog.lookup).
const FOUND_PER_BURST = 256;

// What Catalog.lookup keeps of the lookups of read burst number `burst` (0: none kept, see Database.readBurst).
interface BurstFinds {
  readonly burst: number;
  readonly found: Map<string, { readonly name: string; readonly version: string; readonly text: InlineText | undefined; readonly entry: Found }>;
  version: { readonly name: string; readonly version: string; readonly id: number } | undefined;
}

export class Catalog implements KnownSources {
  readonly #db: Database;
  readonly #statements = new Map<string, Statement>();
  // The lookups' statements (by key, by version id), for each InlineText asked with: a hit then neither
  // builds their text nor finds them by that text.
  readonly #lookups = new Map<InlineText | undefined, { byKey: ArrayQuery; byVersionId: ArrayQuery }>();
  // What the lookups of one read burst found, true in that burst only (see Database.readBurst): the same lookup
  // in the same burst would read the same row from the same snapshot. `found`: the entries (not those with
  // inline bytes), by the arguments' hash, with what they were asked with, so a loop of hits reads each row
  // once per burst; `version`: the version the last lookup found an entry of, and its id.
  #burst: BurstFinds = { burst: 0, found: new Map(), version: undefined };

  private constructor(db: Database) {
    this.#db = db;
  }

  /** Opens (creating or migrating) the catalog at `path`; `readOnly`, opens the one there as it is, writing nothing. */
  static open(path: string, mode: OpenMode = { readOnly: false }): Catalog {
    return new Catalog(openDatabase(path, (db) => migrate(db, path), mode));
  }

  /** Whether this catalog was opened read-only: any write fails. */
  get readOnly(): boolean {
    return this.#db.readOnly;
  }

  /**
   * Whether the catalog file was deleted or replaced since it was opened (looked at no more than twice a
   * second unless `force`): the connection then writes to a file nobody will read.
   */
  replaced(force: boolean): boolean {
    return this.#db.replaced(force);
  }

  /** Opens the catalog now at the path (a new, empty one if it is gone), with its schema. */
  reopen(): void {
    this.#db.reopen();
  }

  /** Counts the reopenings of this catalog's file, by any Catalog of this process that shares it. */
  get generation(): number {
    return this.#db.reopenings;
  }

  close(): void {
    this.#db.close();
  }

  /** Ends the current burst's read transaction ({@link Database.beforeRead}): before running user code. */
  endReads(): void {
    this.#db.endReads();
  }

  #sql(sql: string) {
    let statement = this.#statements.get(sql);
    if (!statement) this.#statements.set(sql, statement = prepare(this.#db, sql));
    return statement;
  }

  getSource(rawHash: string): NormalizedSource | undefined {
    const row = this.#sql(`SELECT hash, ${textBytes("text")}, free FROM sources WHERE raw_hash = ?`).get(packHex(rawHash));
    return row ? { hash: unpackHex(row.hash), text: unpackText(row.text)!, free: JSON.parse(row.free as string) } : undefined;
  }

  putSource(rawHash: string, source: NormalizedSource): void {
    this.#sql("INSERT OR IGNORE INTO sources (raw_hash, hash, text, free) VALUES (?, ?, ?, ?)")
      .run(packHex(rawHash), packHex(source.hash), source.text, JSON.stringify(source.free));
  }

  /** Records that `name` is used at `version` now, creating the row on first use. */
  useFunction(name: string, version: string, source: string | null, now: number): void {
    this.#sql(`
      INSERT INTO functions (name, version, source, created_at, last_used_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (name, version) DO UPDATE SET last_used_at = excluded.last_used_at`)
      .run(name, packHex(version), source, now, now);
  }

  get(key: EntryKey): Entry | undefined {
    const row = this.#sql(`${ENTRY} WHERE e.${BY_KEY}`).get(...keyParams(key));
    return row ? toEntry(row) : undefined;
  }

  /**
   * Records a batch of reads in one transaction (what LRU eviction orders by). An access never moves
   * `accessed_at` back, and an entry deleted meanwhile is skipped.
   */
  recordAccesses(accesses: Iterable<Access>): void {
    immediate(this.#db, () => {
      const update = this.#sql(`UPDATE entries SET accessed_at = max(accessed_at, ?), access_count = access_count + ? WHERE ${BY_KEY}`);
      for (const { key, at, count } of accesses) update.run(at, count, ...keyParams(key));
    });
  }

  /** What a hit needs of an entry, in one narrow query: every hit runs it. With `text`, an inline payload it describes comes as `text`. */
  lookup(key: EntryKey, text?: InlineText): Found | undefined {
    let lookups = this.#lookups.get(text);
    if (!lookups) {
      lookups = { byKey: prepareArrays(this.#db, lookupSql(text, false)), byVersionId: prepareArrays(this.#db, lookupSql(text, true)) };
      this.#lookups.set(text, lookups);
    }
    const burst = this.#db.readBurst();
    const finds = this.#burst.burst === burst ? this.#burst : (this.#burst = { burst, found: new Map(), version: undefined });
    const found = finds.found.get(key.argsHash);
    if (burst !== 0 && found && found.text === text && found.name === key.name && found.version === key.version) return found.entry;
    const last = finds.version;
    let row;
    if (burst !== 0 && last && last.name === key.name && last.version === key.version) {
      row = lookups.byVersionId.get(last.id, packArgs(key.argsHash));
    } else {
      row = lookups.byKey.get(...keyParams(key));
      if (row && burst !== 0) finds.version = { name: key.name, version: key.version, id: Number(row[6]) };
    }
    if (!row) return undefined;
    const entry: Found = Object.freeze({
      object: unpackOptional(row[0]),
      inline: row[1] as Uint8Array | null,
      checksum: unpackChecksum(row[2]),
      computeMs: Number(row[3]),
      createdAt: Number(row[4]),
      text: row[5] === null ? undefined : row[5] as string,
    });
    // Not an inline payload's bytes: what is decoded from them may be views on them, which two hits must not share.
    if (burst !== 0 && entry.inline === null && finds.found.size < FOUND_PER_BURST) finds.found.set(key.argsHash, { name: key.name, version: key.version, text, entry });
    return entry;
  }

  /**
   * Inserts or replaces an entry, used at `now` and computed at `createdAt` (an entry adopted from a
   * shared store was computed earlier), with what else belongs to it in the same transaction: its
   * arguments' fingerprint (`argsShape`, JSON, which explain() compares) and the end of the lease its
   * computation held (`releaseLease`: the holder). Committed with the other writes of its turn
   * ({@link Database.write}). Resolves to the object id the replaced entry used, if the new one no longer
   * refers to it, so that the caller removes that payload after the commit.
   */
  put(entry: NewEntry, now: number, createdAt = now, extra: { argsShape?: string; releaseLease?: string } = {}): Promise<string | undefined> {
    return this.#db.write(() => {
      const previous = this.lookup(entry);
      // The version's row, if this entry is its first (stored before its version was recorded as used).
      this.#sql(`INSERT INTO functions (name, version, source, created_at, last_used_at) VALUES (?, ?, NULL, ?, ?)
                 ON CONFLICT (name, version) DO NOTHING`).run(entry.name, packHex(entry.version), createdAt, createdAt);
      this.#sql("INSERT INTO runtimes (name) VALUES (?) ON CONFLICT (name) DO NOTHING").run(entry.runtime);
      this.#sql(`
        INSERT OR REPLACE INTO entries (fn, args_hash, object, inline, bytes, created_at,
          accessed_at, access_count, compute_ms, args_preview, runtime, checksum, args_shape)
        VALUES (${VERSION_ID}, ?, ?, ?, ?, ?, ?, 0, ?, ?, (SELECT id FROM runtimes WHERE name = ?), ?, ?)`)
        .run(...keyParams(entry), packOptional(entry.object), entry.inline, entry.bytes, createdAt, now,
          entry.computeMs, entry.argsPreview, entry.runtime, packChecksum(entry.checksum), extra.argsShape ?? null);
      if (extra.releaseLease !== undefined) this.#deleteLease(entry, extra.releaseLease);
      return previous?.object && previous.object !== entry.object ? previous.object : undefined;
    });
  }

  /** Write transactions this catalog's connection committed so far ({@link Database.commits}). */
  get commits(): number {
    return this.#db.commits;
  }

  /**
   * Deletes the entries of `name` (of one version, if given) or one entry by key. Returns how many,
   * and the object ids of their payloads, to be removed from the store after the commit.
   */
  delete(filter: { name: string; version?: string; argsHash?: string }): { count: number; objects: string[] } {
    const versions = ["name = ?"];
    const params: SqlValue[] = [filter.name];
    if (filter.version !== undefined) versions.push("version = ?"), params.push(packHex(filter.version));
    const where = [`fn IN (SELECT id FROM functions WHERE ${versions.join(" AND ")})`];
    if (filter.argsHash !== undefined) where.push("args_hash = ?"), params.push(packHex(filter.argsHash));
    const condition = where.join(" AND ");
    return immediate(this.#db, () => {
      const objects = this.#sql(`SELECT object FROM entries WHERE ${condition} AND object IS NOT NULL`)
        .all(...params).map((row) => unpackHex(row.object));
      const { changes } = this.#sql(`DELETE FROM entries WHERE ${condition}`).run(...params);
      return { count: Number(changes), objects };
    });
  }

  /**
   * Takes the lease on `key` for `holder` until `now + ttlMs`, unless another holder still holds it (by
   * `held`; by default, its lease has not expired); then resolves to that holder. One immediate transaction
   * (shared with the other writes of its turn, each in its own savepoint), so two processes never both take it.
   */
  takeLease(key: EntryKey, holder: string, now: number, ttlMs: number,
    held: (lease: LeaseHolder) => boolean = (lease) => lease.expiresAt > now): Promise<LeaseHolder | undefined> {
    return this.#db.write(() => {
      const current = this.lease(key);
      if (current && current.holder !== holder && held(current)) return current;
      this.#sql(`INSERT OR REPLACE INTO leases (name, version, args_hash, holder, expires_at, heartbeat_at)
                 VALUES (?, ?, ?, ?, ?, ?)`)
        .run(key.name, key.version, key.argsHash, holder, now + ttlMs, now);
      return undefined;
    });
  }

  /** What was remembered of the input file at `path` when its contents were last hashed. */
  fileStamp(path: string): FileStamp | undefined {
    const row = this.#sql("SELECT size, mtime_ms, ino, hash, checked_at FROM input_files WHERE path = ?").get(path);
    return row ? { size: Number(row.size), mtimeMs: Number(row.mtime_ms), ino: row.ino as string, hash: row.hash as string, checkedAt: Number(row.checked_at) } : undefined;
  }

  putFileStamp(path: string, stamp: FileStamp): void {
    this.#sql("INSERT OR REPLACE INTO input_files (path, size, mtime_ms, ino, hash, checked_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(path, stamp.size, stamp.mtimeMs, stamp.ino, stamp.hash, stamp.checkedAt);
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

  /**
   * Gives up `holder`'s lease on `key` (a lease since taken by another holder is left alone). A lease the
   * entry's {@link put} already ended costs a read, not a commit.
   */
  releaseLease(key: EntryKey, holder: string): void {
    if (this.lease(key)?.holder === holder) this.#deleteLease(key, holder);
  }

  #deleteLease(key: EntryKey, holder: string): void {
    this.#sql("DELETE FROM leases WHERE name = ? AND version = ? AND args_hash = ? AND holder = ?")
      .run(key.name, key.version, key.argsHash, holder);
  }

  /**
   * Every function version (of one name, if given), with its entries' totals as the triggers keep them;
   * most recently used first. Reads the versions only, never the entries.
   */
  functions(name?: string): FunctionVersion[] {
    const where = name === undefined ? "" : "WHERE name = ?";
    return this.#sql(`SELECT name, version, ${textBytes("source")}, created_at, last_used_at, entries, bytes, hits, saved_ms
                      FROM functions ${where} ORDER BY last_used_at DESC, name`)
      .all(...(name === undefined ? [] : [name])).map((row) => ({
        name: row.name as string,
        version: unpackHex(row.version),
        source: unpackText(row.source),
        createdAt: Number(row.created_at),
        lastUsedAt: Number(row.last_used_at),
        entries: Number(row.entries),
        bytes: Number(row.bytes),
        hits: Number(row.hits),
        savedMs: Number(row.saved_ms),
      }));
  }

  /** The totals over the cache: the running totals, and the versions counted (never the entries). */
  totals(): CatalogTotals {
    const row = this.#sql(`
      SELECT (SELECT count(DISTINCT name) FROM functions) AS functions, (SELECT count(*) FROM functions) AS versions,
             entries, bytes, hits, saved_ms FROM usage WHERE id = 1`).get()!;
    return {
      functions: Number(row.functions),
      versions: Number(row.versions),
      entries: Number(row.entries),
      bytes: Number(row.bytes),
      hits: Number(row.hits),
      savedMs: Number(row.saved_ms),
    };
  }

  /** The argument fingerprints of one version's entries that have one. */
  argsShapes(name: string, version: string): { argsHash: string; argsPreview: string; shape: string }[] {
    return this.#sql(`SELECT args_hash, ${textBytes("args_preview")}, args_shape FROM entries WHERE fn = ${VERSION_ID} AND args_shape IS NOT NULL`)
      .all(name, packHex(version)).map((row) => ({
        argsHash: unpackHex(row.args_hash),
        argsPreview: unpackText(row.args_preview)!,
        shape: row.args_shape as string,
      }));
  }

  /** Entries, most recently used first (or largest first by `sort`), at most `limit` of them. */
  entries(query: EntryQuery = {}): Entry[] {
    const { name, version, sort = "accessed", limit = -1 } = query;
    const page = (fn?: number) => {
      const { sql, params } = entriesQuery({ fn, sort, limit });
      return this.#sql(sql).all(...params);
    };
    if (name === undefined) return page().map(toEntry);
    // A name's entries one version at a time, each in the order of an index, merged here: `fn IN (...)` would
    // sort every entry of the name first (810 ms for the 20 most recent of a name holding 200,000 entries).
    const versions = this.#sql(`SELECT id FROM functions WHERE name = ?${version === undefined ? "" : " AND version = ?"}`)
      .all(name, ...(version === undefined ? [] : [packHex(version)]));
    const rows = versions.flatMap(({ id }) => page(Number(id)));
    const column = SORT_COLUMNS[sort];
    if (versions.length > 1) rows.sort((a, b) => Number(b[column]) - Number(a[column]) || Number(b.rowid) - Number(a.rowid));
    return (limit < 0 ? rows : rows.slice(0, limit)).map(toEntry);
  }

  /** The entries' count and bytes, from the running totals. */
  usage(): Usage {
    const row = this.#sql("SELECT entries, bytes FROM usage WHERE id = 1").get()!;
    return { entries: Number(row.entries), bytes: Number(row.bytes) };
  }

  /** When the oldest entry was created, or null for an empty catalog (an index lookup). */
  oldestCreatedAt(): number | null {
    const row = this.#sql("SELECT min(created_at) AS at FROM entries").get()!;
    return row.at === null ? null : Number(row.at);
  }

  /**
   * One batch of an eviction pass, in one transaction: expired entries first, then the least recently
   * used until at most `target.entries` entries and `target.bytes` bytes are left, stopping early when
   * `stop(objects, rows)` says the batch has taken long enough, holds enough stored objects to remove or
   * has removed enough rows (checked every 16 rows: a row with its triggers and five indexes costs ~0.1-0.3 ms),
   * so that no other process waits long for the lock. The commit leaves the checkpoint to {@link checkpoint}. `decide` sees the usage inside the transaction (so two processes that both saw the
   * cache over a limit do not both evict) and returns how far to go, or undefined to do nothing; a pass's
   * later batches pass the first one's target back. `done` is false when the batch stopped early.
   */
  evict(decide: (usage: Usage) => EvictionTarget | undefined, stop: (objects: number, rows: number) => boolean = () => false): Removed & { target?: EvictionTarget; done: boolean } {
    return withoutAutoCheckpoint(this.#db, () => immediate(this.#db, () => {
      const usage = this.usage();
      const target = decide(usage);
      if (!target) return { count: 0, bytes: 0, objects: [], done: true };
      let entries = usage.entries;
      let bytes = usage.bytes;
      const objects: string[] = [];
      let count = 0;
      let freed = 0;
      const remove = this.#sql("DELETE FROM entries WHERE rowid = ?");
      // Takes out the rows `batch` gives, 16 at a time, while `more()`; false when told to stop first.
      const drain = (batch: () => Row[], more: () => boolean): boolean => {
        while (more()) {
          const rows = batch();
          if (rows.length === 0) return true;
          for (const row of rows) {
            if (!more()) return true;
            remove.run(row.rowid as number);
            if (row.object !== null) objects.push(unpackHex(row.object));
            entries--, bytes -= Number(row.bytes), freed += Number(row.bytes), count++;
          }
          if (stop(objects.length, count)) return !more();
        }
        return true;
      };
      const expired = this.#sql("SELECT rowid, object, bytes FROM entries WHERE created_at < ? ORDER BY created_at LIMIT 16");
      const expiredDone = target.createdBefore === null || drain(() => expired.all(target.createdBefore), () => true);
      // The most recently used entry always stays (it is usually the one just stored, and no single entry
      // is over a limit), so a small limit whose 90% rounds down to nothing does not empty the cache.
      const over = () => entries > 1 && ((target.entries !== null && entries > target.entries) || (target.bytes !== null && bytes > target.bytes));
      const oldest = this.#sql("SELECT rowid, object, bytes FROM entries ORDER BY accessed_at, rowid LIMIT 16");
      const done = expiredDone && drain(() => oldest.all(), over);
      return { count, bytes: freed, objects, target, done };
    }));
  }

  /**
   * Gives back to the file system up to `pages` free pages (after large evictions), if the catalog was
   * created with incremental auto-vacuum (see {@link pages}); returns how many free pages are left. Leaves
   * the checkpoint to {@link checkpoint}.
   */
  vacuum(pages: number): number {
    const free = () => Number(this.#sql("PRAGMA freelist_count").get()!.freelist_count);
    if (free() === 0) return 0;
    // Stepped to the end (a row per page freed): Deno's exec() steps a statement once, which frees one page.
    withoutAutoCheckpoint(this.#db, () => this.#sql(`PRAGMA incremental_vacuum(${Math.max(1, Math.floor(pages))})`).all());
    return free();
  }

  /**
   * Free pages and all pages of the catalog file, and whether {@link vacuum} can give free pages back
   * (incremental auto-vacuum: catalogs created since schema 5; an older one needs {@link rebuild}).
   */
  pages(): { free: number; total: number; incremental: boolean } {
    return {
      free: Number(this.#sql("PRAGMA freelist_count").get()!.freelist_count),
      total: Number(this.#sql("PRAGMA page_count").get()!.page_count),
      incremental: Number(this.#sql("PRAGMA auto_vacuum").get()!.auto_vacuum) === 2,
    };
  }

  /**
   * Rewrites the whole file without its free pages, in incremental auto-vacuum mode from then on (one
   * `VACUUM`, holding the write lock for as long as it copies every page: for a small catalog only). A
   * SQLite built without attached databases (Deno 2.4's) cannot VACUUM: the file then keeps its size.
   */
  rebuild(): void {
    try {
      retryBusy(() => this.#db.exec("PRAGMA auto_vacuum = INCREMENTAL; VACUUM"));
    } catch (error) {
      if (!/too many attached databases/.test((error as Error).message)) throw error;
    }
  }

  /** Copies the write-ahead log back into the catalog file, without waiting for other processes (see {@link evict}). */
  checkpoint(): void {
    checkpoint(this.#db);
  }

  /**
   * Removes the entries of every version of a name that is not its most recently used one and was last
   * used before `unusedBefore`, and those versions' rows.
   */
  removeOldVersions(unusedBefore: number): Removed & { versions: number } {
    const old = `SELECT f.id FROM functions f WHERE f.last_used_at < ? AND EXISTS (
                   SELECT 1 FROM functions g WHERE g.name = f.name AND g.last_used_at > f.last_used_at)`;
    return immediate(this.#db, () => {
      const removed = this.#removeWhere(`fn IN (${old})`, [unusedBefore]);
      const { changes } = this.#sql(`DELETE FROM functions WHERE id IN (${old})`).run(unusedBefore);
      return { ...removed, versions: Number(changes) };
    });
  }

  /** Leases that expired before `before` (a holder that died or hung); with `remove`, deletes them. Returns how many. */
  staleLeases(before: number, remove: boolean): number {
    const sql = remove ? "DELETE FROM leases WHERE expires_at < ?" : "SELECT count(*) AS n FROM leases WHERE expires_at < ?";
    return remove ? Number(this.#sql(sql).run(before).changes) : Number(this.#sql(sql).get(before)!.n);
  }

  /**
   * Remembered normalized sources that no function version the catalog knows uses (as its version, or
   * as the start of its source when deps are folded in): code since edited away. With `remove`, deletes
   * them. Returns how many.
   */
  orphanSources(remove: boolean): number {
    return remove
      ? Number(this.#sql(`DELETE FROM sources WHERE ${ORPHAN_SOURCE}`).run().changes)
      : Number(this.#sql(`SELECT count(*) AS n FROM sources WHERE ${ORPHAN_SOURCE}`).get()!.n);
  }

  /**
   * Rows of `runtimes` that no entry names any more (their entries evicted or deleted); with `remove`, deletes
   * them. Returns how many. One pass over the entries' `runtime` column (an index on it would cost every entry
   * bytes for the sake of prune), which reads no payload: `inline` is the last column. A store that names a
   * runtime inserts its row in the same transaction, so none is deleted under an entry being written.
   */
  orphanRuntimes(remove: boolean): number {
    const orphan = "id NOT IN (SELECT runtime FROM entries)";
    return remove
      ? Number(this.#sql(`DELETE FROM runtimes WHERE ${orphan}`).run().changes)
      : Number(this.#sql(`SELECT count(*) AS n FROM runtimes WHERE ${orphan}`).get()!.n);
  }

  /**
   * Removes the results and rows of every version of `name` but `current` and the `keep - 1` most recently
   * used others.
   * Returns what went, for the caller to remove their objects after the commit.
   */
  keepNewestVersions(name: string, current: string, keep: number): Removed & { versions: number } {
    const old = `SELECT id FROM functions WHERE name = ? AND version != ?
                 ORDER BY last_used_at DESC, version LIMIT -1 OFFSET ?`;
    const params = [name, packHex(current), keep - 1];
    return immediate(this.#db, () => {
      const removed = this.#removeWhere(`fn IN (${old})`, params);
      const gone = this.#sql(`SELECT version, source FROM functions WHERE id IN (${old})`).all(...params);
      const { changes } = this.#sql(`DELETE FROM functions WHERE id IN (${old})`).run(...params);
      // The sources of the versions gone go too (left, verify() would call them a problem after an edit):
      // those that stand for one of them and for no version left. Only theirs: orphanSources compares every
      // source with every version (~0.9 s at 2,000 of each), too long for a call that edited code.
      const forget = this.#sql(`DELETE FROM sources WHERE (hash = ? OR substr(?, 1, length(text)) = text) AND ${ORPHAN_SOURCE}`);
      for (const { version, source } of gone) forget.run(version as SqlValue, (source ?? null) as SqlValue);
      return { ...removed, versions: Number(changes) };
    });
  }

  /** Removes every entry, every function version and the sources they were known by. */
  clear(): Removed {
    return immediate(this.#db, () => {
      const removed = this.#removeWhere("1", []);
      this.#sql("DELETE FROM functions").run();
      this.#sql("DELETE FROM sources").run();
      return removed;
    });
  }

  /** Up to `limit` entries after `afterRowid`, in rowid order: a full scan in pages, without a long transaction. */
  entryPage(afterRowid: number, limit: number): ScannedEntry[] {
    return this.#sql(`${ENTRY} WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?`).all(afterRowid, limit)
      .map((row) => ({ ...toEntry(row), rowid: Number(row.rowid) }));
  }

  /** True if some entry refers to the stored object `id`. */
  hasObject(id: string): boolean {
    return this.#sql("SELECT 1 FROM entries WHERE object = ? LIMIT 1").get(packHex(id)) !== undefined;
  }

  /**
   * Removes the given entries, each only if it is still the row that was examined (same creation time),
   * so that an entry another process rewrote meanwhile is kept.
   */
  removeExact(entries: readonly Entry[]): Removed {
    return immediate(this.#db, () => {
      const remove = this.#sql(`DELETE FROM entries WHERE ${BY_KEY} AND created_at = ?`);
      let count = 0;
      let bytes = 0;
      const objects: string[] = [];
      for (const e of entries) {
        if (Number(remove.run(...keyParams(e), e.createdAt).changes) === 0) continue;
        count++, bytes += e.bytes;
        if (e.object) objects.push(e.object);
      }
      return { count, bytes, objects };
    });
  }

  /** The running totals and a fresh count of the entries; with `fix`, every total (global and per version) is recomputed. */
  recount(fix: boolean): { recorded: Usage; actual: Usage } {
    const read = () => {
      const row = this.#sql(`SELECT entries, bytes, (SELECT count(*) FROM entries) AS actual_entries,
                               (SELECT coalesce(sum(bytes), 0) FROM entries) AS actual_bytes FROM usage WHERE id = 1`).get()!;
      return {
        recorded: { entries: Number(row.entries), bytes: Number(row.bytes) },
        actual: { entries: Number(row.actual_entries), bytes: Number(row.actual_bytes) },
      };
    };
    if (!fix) return read();
    return immediate(this.#db, () => {
      const counts = read();
      this.#db.exec(RECOUNT_USAGE + RECOUNT_VERSIONS);
      return counts;
    });
  }

  // Call inside a transaction.
  #removeWhere(condition: string, params: SqlValue[]): Removed {
    const row = this.#sql(`SELECT count(*) AS count, coalesce(sum(bytes), 0) AS bytes FROM entries WHERE ${condition}`).get(...params)!;
    const objects = this.#sql(`SELECT object FROM entries WHERE (${condition}) AND object IS NOT NULL`)
      .all(...params).map((r) => unpackHex(r.object));
    this.#sql(`DELETE FROM entries WHERE ${condition}`).run(...params);
    return { count: Number(row.count), bytes: Number(row.bytes), objects };
  }
}

// Schema 7's tables. An entry names its version by the version's integer id and its runtime by a row of
// `runtimes`, instead of repeating their text; hex digests are BLOBs of half the length and a CRC-32 an
// INTEGER (lib/catalog/packing.ts). The entries keep their rowid: their four indexes then hold a short rowid
// each, where a WITHOUT ROWID table would repeat the 34-byte key in each of them (measured: more, not less).
const COMPACT_TABLES = `
  CREATE TABLE functions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version BLOB NOT NULL,          -- packed: the hash as bytes, a pinned version ("pinned:1") as TEXT
    source TEXT,                    -- normalized source text; NULL for a pinned version
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    hits INTEGER NOT NULL DEFAULT 0,
    saved_ms REAL NOT NULL DEFAULT 0,
    UNIQUE (name, version)
  );
  CREATE TABLE runtimes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE       -- e.g. "node 24.21.0", "deno 2.9.6"
  );
  CREATE TABLE sources (
    raw_hash BLOB PRIMARY KEY,      -- sha256 of Function.prototype.toString()
    hash BLOB NOT NULL,             -- sha256 of the normalized source
    text TEXT NOT NULL,             -- readable normalized source, for diffs
    free TEXT NOT NULL DEFAULT '[]' -- JSON array of free identifiers
  ) WITHOUT ROWID;
  CREATE TABLE entries (
    fn INTEGER NOT NULL,            -- functions.id
    args_hash BLOB NOT NULL,
    object BLOB,                    -- id of the payload in the store, or NULL when inline
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    accessed_at INTEGER NOT NULL,
    access_count INTEGER NOT NULL DEFAULT 0,
    compute_ms REAL NOT NULL,       -- what a hit saves
    runtime INTEGER NOT NULL,       -- runtimes.id
    checksum BLOB,                  -- CRC-32 as an INTEGER, an older SHA-256 as bytes; NULL before schema 3
    args_preview TEXT NOT NULL,
    args_shape TEXT,                -- JSON { path: [hash, preview] }
    inline BLOB,                    -- the payload itself when small; last, so that reading the other columns of a
                                    -- row whose payload spills onto overflow pages does not read those pages
    PRIMARY KEY (fn, args_hash)
  );
`;

// Schema 7's indexes and the triggers that keep the totals (as in schema 5, by the version's id).
const COMPACT_INDEXES = `
  CREATE INDEX entries_by_access ON entries (accessed_at);
  CREATE INDEX entries_by_creation ON entries (created_at);
  CREATE INDEX entries_by_bytes ON entries (bytes);
  CREATE INDEX entries_by_fn_access ON entries (fn, accessed_at);
  CREATE TRIGGER totals_on_insert AFTER INSERT ON entries BEGIN
    UPDATE usage SET entries = entries + 1, bytes = bytes + new.bytes, hits = hits + new.access_count,
      saved_ms = saved_ms + new.access_count * new.compute_ms WHERE id = 1;
    UPDATE functions SET entries = entries + 1, bytes = bytes + new.bytes, hits = hits + new.access_count,
      saved_ms = saved_ms + new.access_count * new.compute_ms WHERE id = new.fn;
  END;
  CREATE TRIGGER totals_on_delete AFTER DELETE ON entries BEGIN
    UPDATE usage SET entries = entries - 1, bytes = bytes - old.bytes, hits = hits - old.access_count,
      saved_ms = saved_ms - old.access_count * old.compute_ms WHERE id = 1;
    UPDATE functions SET entries = entries - 1, bytes = bytes - old.bytes, hits = hits - old.access_count,
      saved_ms = saved_ms - old.access_count * old.compute_ms WHERE id = old.fn;
  END;
  CREATE TRIGGER totals_on_update AFTER UPDATE OF bytes, access_count, compute_ms ON entries BEGIN
    UPDATE usage SET bytes = bytes - old.bytes + new.bytes, hits = hits - old.access_count + new.access_count,
      saved_ms = saved_ms - old.access_count * old.compute_ms + new.access_count * new.compute_ms WHERE id = 1;
    UPDATE functions SET bytes = bytes - old.bytes + new.bytes, hits = hits - old.access_count + new.access_count,
      saved_ms = saved_ms - old.access_count * old.compute_ms + new.access_count * new.compute_ms WHERE id = new.fn;
  END;
`;

/**
 * Migration 7: the schema 6 tables are renamed, schema 7's made, and the rows copied over, packed in
 * JavaScript (SQLite's `unhex()` would need 3.41, and no SQL function reads a CRC's hex digits as a number);
 * rowids are kept, so the order of entries created in the same millisecond stays. Indexes and triggers come
 * after the copy, and the per-version totals are counted again.
 */
function compactEntries(db: Database): void {
  db.exec(`
    DROP TRIGGER totals_on_insert; DROP TRIGGER totals_on_delete; DROP TRIGGER totals_on_update;
    DROP INDEX entries_by_access; DROP INDEX entries_by_creation; DROP INDEX entries_by_bytes; DROP INDEX entries_by_name_access;
    ALTER TABLE functions RENAME TO old_functions; ALTER TABLE entries RENAME TO old_entries; ALTER TABLE sources RENAME TO old_sources;
    ${COMPACT_TABLES}
    INSERT INTO runtimes (name) SELECT DISTINCT runtime FROM old_entries;`);
  const insertSource = db.prepare("INSERT INTO sources (raw_hash, hash, text, free) VALUES (?, ?, ?, ?)");
  for (const row of db.prepare(`SELECT raw_hash, hash, ${textBytes("text")}, free FROM old_sources`).all()) {
    insertSource.run(packHex(row.raw_hash as string), packHex(row.hash as string), unpackText(row.text), row.free as string);
  }
  const insertVersion = db.prepare("INSERT INTO functions (name, version, source, created_at, last_used_at) VALUES (?, ?, ?, ?, ?) RETURNING id");
  const versions = new Map<string, number>();
  const versionId = (name: string, version: string, source: string | null, createdAt: number, lastUsedAt: number) => {
    const key = `${name}\0${version}`;
    let id = versions.get(key);
    if (id === undefined) versions.set(key, id = Number(insertVersion.get(name, packHex(version), source, createdAt, lastUsedAt)!.id));
    return id;
  };
  for (const row of db.prepare(`SELECT name, version, ${textBytes("source")}, created_at, last_used_at FROM old_functions`).all()) {
    versionId(row.name as string, row.version as string, unpackText(row.source), Number(row.created_at), Number(row.last_used_at));
  }
  const runtimes = new Map(db.prepare("SELECT id, name FROM runtimes").all().map((row) => [row.name as string, Number(row.id)]));
  const page = db.prepare(`SELECT rowid, *, ${textBytes("args_preview", "preview")} FROM old_entries WHERE rowid > ? ORDER BY rowid LIMIT 1000`);
  const insertEntry = db.prepare(`INSERT INTO entries (rowid, fn, args_hash, object, bytes, created_at, accessed_at, access_count,
      compute_ms, runtime, checksum, args_preview, args_shape, inline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  for (let rows = page.all(0); rows.length > 0; rows = page.all(rows.at(-1)!.rowid as number)) {
    for (const row of rows) {
      const createdAt = Number(row.created_at);
      insertEntry.run(row.rowid as number, versionId(row.name as string, row.version as string, null, createdAt, createdAt),
        packHex(row.args_hash as string), packOptional(row.object as string | null), row.bytes as number, createdAt,
        row.accessed_at as number, row.access_count as number, row.compute_ms as number, runtimes.get(row.runtime as string)!,
        packChecksum(row.checksum as string | null), unpackText(row.preview), row.args_shape as string | null, row.inline as Uint8Array | null);
    }
  }
  db.exec(`DROP TABLE old_entries; DROP TABLE old_functions; DROP TABLE old_sources;
    ${COMPACT_INDEXES}
    ${RECOUNT_VERSIONS}`);
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
  if (db.readOnly) {
    throw new NbmemoError("READ_ONLY", `Cannot read the catalog ${path}: it has schema version ${current()}, older than this nbmemo's ` +
      `(${SCHEMA_VERSION}), and it is open read-only, so it cannot be upgraded. Open it once with write access (without readOnly), ` +
      "or read it with the nbmemo that wrote it.");
  }
  immediate(db, () => {
    if (upToDate()) return;
    for (let version = current() + 1; version <= SCHEMA_VERSION; version++) {
      const migration = migrations[version]!;
      if (typeof migration === "string") db.exec(migration);
      else migration(db);
    }
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });
}
