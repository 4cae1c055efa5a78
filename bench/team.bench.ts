// Benchmark of the team stores: a hit from S3 (s3rver) and Redis (redis-server) on a machine that has never
// seen the entry (a first hit: index, info and payload fetched) and again (its catalog knows it), each plain
// and behind a local tier (tieredStore: the first hit keeps a copy, the next one reads it), against the file
// store, for a small value and an 80 MB Float64Array. Both servers run on loopback (test/servers.ts), so it
// measures nbmemo's requests and copies, not a network. Standalone: `node bench/team.bench.ts` or
// `deno run -A bench/team.bench.ts`; prints a markdown table.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Memory, redisStore, s3Store, type Store, tieredStore } from "../lib/mod.ts";
import { runtime } from "../lib/runtime.ts";
import { S3_BUCKET, S3_CREDENTIALS, type Server, startRedis, startS3 } from "../test/servers.ts";
import { floats, median } from "./measure.ts";

const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-team-"));
const servers: Server[] = [];
let machines = 0;
const fresh = () => join(dir, `machine-${machines++}`);

/** One way of storing: the cache directory a machine opens, its store, and whether it writes the entry itself. */
interface Setup {
  readonly name: string;
  /** A machine's cache directory (the file store's is the same on every run: its entry is in it). */
  readonly cache: (value: number) => string;
  readonly store: (cache: string) => Promise<Store | undefined>;
  /** Writes the entry first (timed); a tiered setup reads what its plain one wrote. */
  readonly writes: boolean;
}

const cases = [
  { label: "small value", runs: 15, make: () => Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field${i}`, i * 1.5])) },
  { label: "80 MB Float64Array", runs: 3, make: () => floats(80_000_000) },
];

async function main(): Promise<string[][]> {
  const [s3, redis] = [await startS3(), await startRedis()];
  servers.push(s3, redis);
  const bucket = () => s3Store({ bucket: S3_BUCKET, endpoint: s3.url, region: "us-east-1", credentials: S3_CREDENTIALS });
  const setups: Setup[] = [
    { name: "file store", cache: (value) => join(dir, `files-${value}`), store: async () => undefined, writes: true },
    { name: "S3", cache: fresh, store: async () => bucket(), writes: true },
    { name: "S3, tiered", cache: fresh, store: async (cache) => tieredStore(bucket(), join(cache, "copies")), writes: false },
    { name: "Redis", cache: fresh, store: () => redisStore(redis.url), writes: true },
    { name: "Redis, tiered", cache: fresh, store: async (cache) => tieredStore(await redisStore(redis.url), join(cache, "copies")), writes: false },
  ];
  const open = async (setup: Setup, cache: string) => {
    const store = await setup.store(cache);
    const memory = await Memory.open(cache, { log: "silent", ...(store && { store }) });
    await memory.fn("warm_up", (x: number) => x)(machines++); // the first call of a source loads TypeScript: not measured
    return memory;
  };
  const cells = setups.map((setup) => [setup.name]);
  for (const [value, { label, runs, make }] of cases.entries()) {
    const made = make();
    const compute = (_n: number) => made;
    for (const [s, setup] of setups.entries()) {
      const fmt = (samples: number[]) => samples.length === 0 ? "—" : median(samples).toFixed(1);
      const write: number[] = [];
      if (setup.writes) {
        const writer = await open(setup, setup.cache(value));
        const started = performance.now();
        await writer.fn(`bench_${value}`, compute)(1);
        write.push(performance.now() - started);
        await writer.close();
      }
      // Each run, a machine that has not read the entry yet (the file store: its cache opened afresh) hits
      // it twice.
      const first: number[] = [];
      const next: number[] = [];
      for (let run = 0; run < runs; run++) {
        const reader = await open(setup, setup.cache(value));
        const f = reader.fn(`bench_${value}`, compute);
        for (const samples of [first, next]) {
          const started = performance.now();
          await f(1);
          samples.push(performance.now() - started);
        }
        const { hits } = reader.stats().session;
        if (hits !== 2) throw new Error(`${setup.name}: expected 2 hits, got ${hits}`);
        await reader.close();
      }
      cells[s]!.push(fmt(first), fmt(next), fmt(write));
    }
    console.error(`bench team: ${label} done`);
  }
  return cells;
}

let rows: string[][];
try {
  rows = await main();
} finally {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`## Team stores (bench/team.bench.ts, ${runtime.name} ${runtime.version}, s3rver and redis-server on loopback)\n`);
console.log("Median ms. First hit: a machine that has not read the entry yet (its catalog does not know it; the file");
console.log("store's cache opened afresh); next hit: the same machine again (plain: the payload fetched again; tiered:");
console.log("its local copy). Write: the miss that stores it, once.\n");
console.log(`| store | ${cases.map((c) => `${c.label}: first hit | next hit | write`).join(" | ")} |`);
console.log(`|---|${cases.map(() => "---:|---:|---:").join("|")}|`);
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
