// Side by side, in one run: nbmemo (under Node and Deno) against memoize-fs, joblib.Memory, diskcache and
// raw file writes and reads of the same bytes. Each tool runs in fresh processes of its own; prints a
// Markdown table and the targets as ratios measured in this run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { median } from "./measure.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const workers = join(root, "bench", "workers");
const node = process.env.NBMEMO_TEST_NODE ?? process.execPath;
const deno = process.env.NBMEMO_TEST_DENO ?? join(root, "node_modules", ".bin", "deno");
const python = "/usr/bin/python3";
const denoRun = ["run", "-A", "--quiet", `--config=${join(root, "deno.json")}`];

type Result = Record<string, number | boolean>;
type Outcome = Result | { skipped: string };

function run(command: string, args: string[]): { ms: number; stdout: string } {
  const started = performance.now();
  const child = spawnSync(command, args, { cwd: root, encoding: "utf8", maxBuffer: 1 << 24, env: { ...process.env, NO_COLOR: "1" } });
  const ms = performance.now() - started;
  if (child.error || child.status !== 0) {
    throw new Error(`${[command, ...args].join(" ")} failed (${child.error?.message ?? `exit ${child.status}`}):\n${child.stderr}`);
  }
  return { ms, stdout: child.stdout };
}

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!) as Result;

function attempt(label: string, work: () => Result): Outcome {
  process.stderr.write(`bench: ${label}...\n`);
  try {
    return work();
  } catch (error) {
    return { skipped: (error as Error).message.split("\n")[0]! };
  }
}

// Cold start: prime a cache once, then time fresh processes that import, open and hit it.
// `argv(mode)` gives the worker's arguments for mode "prime" or "hit" (the cache directory comes last).
function cold(command: string, argv: (mode: "prime" | "hit") => string[]): Result {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-cold-"));
  try {
    run(command, [...argv("prime"), dir]);
    const runs = Array.from({ length: 7 }, () => run(command, [...argv("hit"), dir]));
    const inside = runs.map((r) => lastJson(r.stdout));
    return {
      coldWallMs: median(runs.map((r) => r.ms)),
      coldInsideMs: median(inside.map((r) => Number(r.insideMs ?? r.firstHitMs))),
      typescriptLoaded: inside.some((r) => r.typescriptLoaded === true),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const coldScript = join(workers, "cold.mjs");
const nodeLib = pathToFileURL(join(root, "dist", "mod.js")).href;
const denoLib = pathToFileURL(join(root, "lib", "mod.ts")).href;
const pythonPeers = spawnSync(python, ["-c", "import joblib, diskcache, numpy"]).status === 0;
const noPython = process.env.NBMEMO_BENCH_PYTHON_MISSING ??
  "python3-joblib, python3-diskcache and python3-numpy are not installed (`npm run bench` installs them)";

// Each tool's measurement, one round's worth; a tool that cannot run here says why.
const tools: [string, () => Result][] = [
  ["nbmemo (Node)", () => ({
    ...lastJson(run(node, ["--expose-gc", join(workers, "nbmemo.ts")]).stdout),
    ...cold(node, (mode) => [coldScript, mode, "nbmemo", nodeLib]),
  })],
  ["nbmemo (Deno)", () => ({
    ...lastJson(run(deno, [...denoRun, "--v8-flags=--expose-gc", join(workers, "nbmemo.ts")]).stdout),
    ...cold(deno, (mode) => [...denoRun, coldScript, mode, "nbmemo", denoLib]),
  })],
  ["memoize-fs", () => ({
    ...lastJson(run(node, [join(workers, "memoize-fs.ts")]).stdout),
    ...cold(node, (mode) => [coldScript, mode, "memoize-fs", "memoize-fs"]),
  })],
  ...(["joblib", "diskcache"] as const).map((tool): [string, () => Result] => [tool, () => {
    if (!pythonPeers) throw new Error(noPython);
    return {
      ...lastJson(run(python, [join(workers, "peers.py"), "bench", tool]).stdout),
      ...cold(python, (mode) => [join(workers, "peers.py"), `cold-${mode}`, tool]),
    };
  }]),
];

// The machine is shared: every tool is measured in each of several rounds, taken in turn, and each figure
// is the median over the rounds (so a burst of load elsewhere hits one round of every tool, not one tool).
const rounds = Number(process.env.NBMEMO_BENCH_ROUNDS ?? 3);
const samples = new Map<string, Outcome[]>(tools.map(([name]) => [name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const [name, measure] of tools) samples.get(name)!.push(attempt(`${name}, round ${round} of ${rounds}`, measure));
}

function combine(outcomes: Outcome[]): Outcome {
  const results = outcomes.filter((o): o is Result => !("skipped" in o));
  if (results.length === 0) return outcomes[0]!;
  const combined: Result = {};
  for (const key of Object.keys(results[0]!)) {
    const values = results.map((r) => r[key]);
    combined[key] = typeof values[0] === "boolean" ? values.some(Boolean) : median(values.map(Number));
  }
  return combined;
}

const columns: [string, Outcome][] = tools.map(([name]) => [name, combine(samples.get(name)!)]);
const nodeResult = columns[0]![1];
const raw: Outcome = "skipped" in nodeResult ? nodeResult : {
  store1MB: nodeResult.rawWrite1MB!, hit1MB: nodeResult.rawRead1MB!, store80MB: nodeResult.rawWrite80MB!, hit80MB: nodeResult.rawRead80MB!,
};
columns.push(["raw file (Node)", raw]);

const rows: [string, string, (ms: number) => string][] = [
  ["small hit p50", "smallHitP50", us],
  ["small hit p99", "smallHitP99", us],
  ["small miss + store", "smallMiss", us],
  ["1 MB float64: store", "store1MB", ms],
  ["1 MB float64: hit", "hit1MB", ms],
  ["80 MB float64: store", "store80MB", ms],
  ["80 MB float64: hit", "hit80MB", ms],
  ["argument hashing, 80 MB float64", "hashMBps", (v) => `${Math.round(v)} MB/s`],
  ["cold start (process wall time)", "coldWallMs", ms],
  ["cold start (inside the process)", "coldInsideMs", ms],
];

function us(v: number): string {
  return `${(v * 1000).toFixed(v < 0.1 ? 1 : 0)} µs`;
}
function ms(v: number): string {
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ms`;
}

const cell = (outcome: Outcome, key: string, format: (v: number) => string) =>
  "skipped" in outcome ? "skipped" : typeof outcome[key] === "number" ? format(outcome[key]) : "n/a";

const lines = [
  `| | ${columns.map(([name]) => name).join(" | ")} |`,
  `|---|${columns.map(() => "---:").join("|")}|`,
  ...rows.map(([label, key, format]) => `| ${label} | ${columns.map(([, o]) => cell(o, key, format)).join(" | ")} |`),
];
console.log(`## Side by side (bench/peers.bench.ts), medians of ${rounds} rounds\n`);
console.log(lines.join("\n"));
for (const [name, outcome] of columns) if ("skipped" in outcome) console.log(`\n${name}: skipped: ${outcome.skipped}`);

// Targets, as ratios within this run.
const targets: string[] = [];
const target = (label: string, value: number | undefined, limit: number, text: (v: number) => string, below = true) => {
  if (value === undefined || !Number.isFinite(value)) return void targets.push(`| ${label} | not measured | |`);
  const met = below ? value < limit : value >= limit;
  targets.push(`| ${label} | ${text(value)} | ${met ? "met" : "MISSED"} |`);
};
const get = (index: number, key: string) => {
  const outcome = columns[index]![1];
  return "skipped" in outcome ? undefined : outcome[key] as number | undefined;
};
const ratio = (v: number) => `${v.toFixed(2)}x`;
for (const [index, runtime] of [[0, "Node"], [1, "Deno"]] as const) {
  target(`${runtime}: small hit p50 / diskcache's (<= 0.33)`, get(index, "smallHitP50")! / get(4, "smallHitP50")!, 0.334, ratio);
  target(`${runtime}: 80 MB hit / raw readFileSync (<= 1.5)`, get(index, "hit80MB")! / get(index, "rawRead80MB")!, 1.5, ratio);
  target(`${runtime}: 80 MB store / raw writeFileSync (<= 1.3)`, get(index, "store80MB")! / get(index, "rawWrite80MB")!, 1.3, ratio);
  target(`${runtime}: argument hashing (>= 1000 MB/s)`, get(index, "hashMBps"), 1000, (v) => `${Math.round(v)} MB/s`, false);
}
target("Node: cold start, wall (< 150 ms)", get(0, "coldWallMs"), 150, ms);
target("Node: cold start inside the process: import, open, first hit (<= 30 ms)", get(0, "coldInsideMs"), 30, ms);
for (const [index, runtime] of [[0, "Node"], [1, "Deno"]] as const) {
  const loaded = get(index, "typescriptLoaded") as unknown as boolean | undefined;
  targets.push(`| ${runtime}: TypeScript loaded during cold start | ${loaded === undefined ? "not measured" : loaded ? "yes" : "no"} | ${loaded === false ? "met" : "MISSED"} |`);
}
console.log("\n### Targets (ratios within this run)\n");
console.log(["| target | measured | |", "|---|---:|---|", ...targets].join("\n"));
