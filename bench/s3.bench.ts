// Benchmark of the S3 store: a hit read from the bucket by a machine that has never seen the entry (a cold
// hit: index, info and the payload fetched), and a hit this machine's catalog knows (the payload fetched),
// against a hit from the file store, for a small value and an 80 MB Float64Array. Against s3rver on loopback
// (test/servers.ts), so it measures nbmemo's requests and copies, not a network. Standalone:
// `node bench/s3.bench.ts` or `deno run -A bench/s3.bench.ts`; prints a markdown table.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Memory, s3Store } from "../lib/mod.ts";
import { runtime } from "../lib/runtime.ts";
import { S3_BUCKET, S3_CREDENTIALS, startS3 } from "../test/servers.ts";
import { floats, median, timeRuns } from "./measure.ts";

const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-s3-"));
const server = await startS3();
const rows: string[][] = [];
let machines = 0;
const store = () => s3Store({ bucket: S3_BUCKET, endpoint: server.url, region: "us-east-1", credentials: S3_CREDENTIALS });
const machine = () => Memory.open(join(dir, `machine-${machines++}`), { log: "silent", store: store() });

const cases = [
  { label: "small value (a 20-field object)", runs: 15, make: () => Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field${i}`, i * 1.5])) },
  { label: "80 MB Float64Array", runs: 4, make: () => floats(80_000_000) },
];

try {
  for (const [index, { label, runs, make }] of cases.entries()) {
    const value = make();
    const compute = (_n: number) => value;
    const fmt = (samples: number[]) => `${median(samples).toFixed(1)}`;
    // The file store: a hit in a cache opened afresh each run (the entry is in its catalog and files).
    const fileCache = join(dir, `files-${machines++}`);
    const files = await Memory.open(fileCache, { log: "silent" });
    await files.fn(`bench_${index}`, compute)(1);
    await files.close();
    const fileHits: number[] = [];
    for (let run = 0; run < runs; run++) {
      const m = await Memory.open(fileCache, { log: "silent" });
      await m.fn("warm_up", (x: number) => x)(machines + run);
      const started = performance.now();
      await m.fn(`bench_${index}`, compute)(1);
      fileHits.push(performance.now() - started);
      await m.close();
    }
    // The S3 store: one machine writes it...
    const writer = await machine();
    await writer.fn("warm_up", (x: number) => x)(machines);
    const writeMs = await timeRuns(1, () => writer.fn(`bench_s3_${index}`, compute)(1));
    await writer.close();
    // ...and each run, a machine that has never seen it reads it (a cold hit), then again (its catalog knows it).
    const cold: number[] = [];
    const known: number[] = [];
    for (let run = 0; run < runs; run++) {
      const reader = await machine();
      const f = reader.fn(`bench_s3_${index}`, compute);
      await reader.fn("warm_up", (x: number) => x)(machines); // the first call of a source loads TypeScript: not measured
      let started = performance.now();
      await f(1);
      cold.push(performance.now() - started);
      started = performance.now();
      await f(1);
      known.push(performance.now() - started);
      const { hits } = reader.stats().session;
      if (hits !== 2) throw new Error(`expected 2 hits from the bucket, got ${hits}`);
      await reader.close();
    }
    rows.push([label, fmt(fileHits), fmt(cold), fmt(known), fmt(writeMs)]);
    console.error(`bench s3: ${label} done`);
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`### S3 store (${runtime.name} ${runtime.version}, s3rver on loopback)\n`);
console.log("Median ms. A cold hit: a machine that has never seen the entry finds it in the bucket (index, info, payload);");
console.log("a known hit: its catalog knows it, the payload is fetched again (there is no local tier yet).\n");
console.log("| value | file store hit | S3 cold hit | S3 known hit | S3 write (miss, once) |");
console.log("|---|---:|---:|---:|---:|");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
