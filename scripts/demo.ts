// The demo: a slow analysis step memoized with nbmemo, run in three fresh processes (Node, Node
// again, then Deno) on one cache directory. The first computes; the others read the result back.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Memory } from "../lib/mod.ts";

// Step: parse a generated CSV of weather readings and aggregate them per station (a few seconds).
async function step(dir: string): Promise<void> {
  const memory = await Memory.open(dir, { log: "info" });
  const stationStats = memory.fn("station_stats", (rows: number, seed: number) => {
    let state = seed;
    const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    const lines = ["station,day,temp"];
    for (let i = 0; i < rows; i++) lines.push(`S${Math.floor(random() * 50)},${i % 365},${(random() * 40 - 5).toFixed(2)}`);
    const csv = lines.join("\n");
    const stats = new Map<string, { n: number; sum: number; max: number }>();
    for (const line of csv.split("\n").slice(1)) {
      const [station, , temp] = line.split(",");
      const t = Number(temp);
      const s = stats.get(station!) ?? { n: 0, sum: 0, max: -Infinity };
      stats.set(station!, { n: s.n + 1, sum: s.sum + t, max: Math.max(s.max, t) });
    }
    return new Map([...stats].map(([k, s]) => [k, { mean: s.sum / s.n, max: s.max, n: s.n }]));
  });
  const started = performance.now();
  const stats = await stationStats(3_000_000, 42);
  const ms = performance.now() - started;
  const s7 = stats.get("S7")!;
  console.log(`  -> ${stats.size} stations; S7 mean ${s7.mean.toFixed(3)} °C over ${s7.n} readings; call took ${ms.toFixed(1)} ms`);
  await memory.close();
}

if (process.argv[2] === "--step") {
  await step(process.argv[3]!);
} else {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-demo-"));
  const self = new URL(import.meta.url).pathname;
  const deno = process.env.NBMEMO_TEST_DENO;
  const runs: [string, string, string[]][] = [
    ["1. a fresh Node process: nothing cached yet, so it computes", process.execPath, [self]],
    ["2. a new Node process (think: kernel restart): the result is read back", process.execPath, [self]],
    ...(deno ? [["3. a Deno process on the same cache: the same function, read back", deno, ["run", "-A", self]] as [string, string, string[]]] : []),
  ];
  console.log(`nbmemo demo, cache in ${dir}`);
  for (const [title, command, args] of runs) {
    console.log(`\n${title}`);
    const result = spawnSync(command, [...args, "--step", dir], { stdio: "inherit" });
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
  rmSync(dir, { recursive: true, force: true });
}
