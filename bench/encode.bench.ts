// The cost of the codec's checks, side by side in one run: each tree given (default: this one) encodes,
// decodes, stores and hits 200k small objects, 1M rows of 5 fields and 1M numbers, in fresh processes,
// rounds interleaved so that a loaded machine weighs on all alike, under the runtime that runs it. Usage:
//   node bench/encode.bench.ts [LABEL=ROOT ...]    (ROOT: a checkout whose lib/ to measure)
//   deno run -A bench/encode.bench.ts [LABEL=ROOT ...]
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { median } from "./measure.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const trees = process.argv.length > 2 ? process.argv.slice(2).map((arg) => arg.split("=") as [string, string]) : [["this tree", root] as [string, string]];
const sets = [["200k small objects", "small"], ["1M rows of 5 fields", "rows"], ["1M numbers", "numbers"]] as const;
const steps = ["encode", "decode", "store", "hit"] as const;
const runtime = "Deno" in globalThis ? ["run", "-A", "--quiet", `--config=${join(root, "deno.json")}`] : [];
const rounds = Number(process.env.NBMEMO_BENCH_ROUNDS ?? 3);
const results = new Map<string, number[]>(); // tree, set, step -> one median per round
for (let round = 0; round < rounds; round++) {
  for (const [, set] of sets) {
    for (const [label, tree] of trees) {
      process.stderr.write(`bench: round ${round + 1}, ${set}, ${label}...\n`);
      const child = spawnSync(process.execPath, [...runtime, join(root, "bench", "workers", "encode.ts"), tree, set], { encoding: "utf8" });
      if (child.status !== 0) throw new Error(`${label} ${set} failed:\n${child.stderr}`);
      const result = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Record<string, number>;
      for (const step of steps) {
        const key = `${label}|${set}|${step}`;
        results.set(key, [...(results.get(key) ?? []), result[step]!]);
      }
    }
  }
}
const version = "Deno" in globalThis ? `Deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}` : `Node ${process.version}`;
console.log(`## Codec checks (bench/encode.bench.ts, ${version}, medians of ${rounds} rounds x 5 runs)\n`);
console.log([`| | ${trees.map(([label]) => label).join(" | ")} |`, `|---|${trees.map(() => "---:").join("|")}|`,
  ...sets.flatMap(([name, set]) => steps.map((step) =>
    `| ${name}: ${step} | ${trees.map(([label]) => `${median(results.get(`${label}|${set}|${step}`)!).toFixed(0)} ms`).join(" | ")} |`))].join("\n"));
