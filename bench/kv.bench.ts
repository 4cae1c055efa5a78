// Benchmark of the Deno KV store: 1,000 small entries written one by one and together, through the raw
// client, kvStore and the memoizer, and one 10 MB value. Standalone: `node bench/kv.bench.ts` or
// `deno run -A bench/kv.bench.ts`; prints a markdown table.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kvStore, Memory } from "../lib/mod.ts";
import { runtime } from "../lib/runtime.ts";
import { openKv } from "../lib/store/kv.ts";

const N = 1000;
const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-kv-"));
const rows: string[][] = [];
let database = 0;
const freshPath = () => join(dir, `kv-${database++}.sqlite`);
const ids = Array.from({ length: N }, (_, i) => i.toString(16).padStart(64, "0"));
const small = (i: number) => [new TextEncoder().encode(`{"value":${i},"label":"entry ${i}"}`)];

async function measure(label: string, count: number, work: () => unknown): Promise<void> {
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  rows.push([label, String(count), ms.toFixed(1), ((ms * 1000) / count).toFixed(0)]);
}

try {
  const raw = await openKv(freshPath());
  await measure("raw client: awaited `set` one at a time", N, async () => {
    for (let i = 0; i < N; i++) await raw.atomic().set(["raw", i], small(i)[0]).commit();
  });
  raw.close();

  const sequential = await kvStore(freshPath());
  await measure("kvStore: `set` awaited one at a time", N, async () => {
    for (let i = 0; i < N; i++) await sequential.set(ids[i]!, small(i));
  });
  await sequential.close?.();

  const together = await kvStore(freshPath());
  await measure("kvStore: `set` issued together (batched)", N, () => Promise.all(ids.map((id, i) => together.set(id, small(i)))));
  await measure("kvStore: `get` issued together", N, () => Promise.all(ids.map((id) => together.get(id))));
  const big = new Uint8Array(10 * 1024 * 1024).map((_, i) => i & 0xff);
  await measure("kvStore: one 10 MiB value, `set` (160 chunks)", 1, () => together.set(ids[0]!, [big]));
  await measure("kvStore: one 10 MiB value, `get`", 1, () => together.get(ids[0]!));
  await together.close?.();

  const parallelCache = await Memory.open(join(dir, "cache-parallel"), { log: "silent", store: freshPath() });
  const square = parallelCache.fn("square", (x: number) => ({ x, square: x * x }));
  await square(-1); // the first call of a new source loads TypeScript to normalize it: not what is measured
  await measure("memoizer on KV: 1,000 misses issued together", N, () => Promise.all(ids.map((_, i) => square(i))));
  await measure("memoizer on KV: 1,000 hits issued together", N, () => Promise.all(ids.map((_, i) => square(i))));
  await parallelCache.close();

  const loopCache = await Memory.open(join(dir, "cache-loop"), { log: "silent", store: freshPath() });
  const cube = loopCache.fn("cube", (x: number) => ({ x, cube: x * x * x }));
  await cube(-1);
  await measure("memoizer on KV: 1,000 misses awaited one at a time", N, async () => {
    for (let i = 0; i < N; i++) await cube(i);
  });
  await loopCache.close();

  const fileCache = await Memory.open(join(dir, "cache-files"), { log: "silent" });
  const cubeOnFiles = fileCache.fn("cube", (x: number) => ({ x, cube: x * x * x }));
  await cubeOnFiles(-1);
  await measure("memoizer on files (for comparison): 1,000 misses awaited one at a time", N, async () => {
    for (let i = 0; i < N; i++) await cubeOnFiles(i);
  });
  await fileCache.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`### Deno KV store (${runtime.name} ${runtime.version}, ${runtime.name === "deno" ? "Deno.openKv" : "@deno/kv"} on a local file)\n`);
console.log("| case | entries | total ms | µs per entry |");
console.log("|---|---:|---:|---:|");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
