// Side by side, in one run: what notebooks most often return (1M parsed rows; 100 MB of strings), stored
// and hit by nbmemo under Node and Deno, by diskcache and joblib, and written and read as raw JSON files;
// and the peak memory of a store and a hit against JSON.parse of the same rows. Prints Markdown.
// NBMEMO_BENCH_ROUNDS=3 takes the times in 3 rounds, the tools in turn in each (medians of the rounds).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { median, tableRows } from "./measure.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const worker = join(root, "bench", "workers", "rows.ts");
const node = process.env.NBMEMO_TEST_NODE ?? process.execPath;
const deno = process.env.NBMEMO_TEST_DENO ?? join(root, "node_modules", ".bin", "deno");
const python = "/usr/bin/python3";
const denoRun = ["run", "-A", "--quiet", `--config=${join(root, "deno.json")}`];
type Result = Record<string, number>;

function run(command: string, args: string[]): Result {
  const child = spawnSync(command, args, { cwd: root, encoding: "utf8", maxBuffer: 1 << 24 });
  if (child.status !== 0) throw new Error(`${[command, ...args].join(" ")} failed:\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Result;
}

function attempt(label: string, work: () => Result): Result | { skipped: string } {
  process.stderr.write(`bench: ${label}...\n`);
  try {
    return work();
  } catch (error) {
    return { skipped: (error as Error).message.split("\n")[0]! };
  }
}

// Peak RSS of one step in a fresh process of its own, each from the same cache (the rows stored once).
function peaks(command: string, prefix: string[]): Result {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-peak-"));
  try {
    writeFileSync(join(dir, "rows.json"), JSON.stringify(tableRows()));
    const step = (name: string) => median([0, 1, 2].map(() => run(command, [...prefix, worker, "peak", name, dir]).peakMB!));
    const store = step("store"); // the first also leaves the rows stored for the hits
    return { peakStoreMB: store, peakHitMB: step("hit"), peakJsonParseMB: step("json") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A Python peer's times; where it is not installed, the reason its column is skipped.
function peer(tool: "diskcache" | "joblib"): Result {
  if (spawnSync(python, ["-c", `import ${tool}`]).status !== 0) {
    throw new Error(process.env.NBMEMO_BENCH_PYTHON_MISSING ?? `python3-${tool} is not installed (\`npm run bench\` installs it)`);
  }
  return run(python, [join(root, "bench", "workers", "peers.py"), "rows", tool]);
}

// Each tool's times, then (nbmemo's) peaks. The times are taken in rounds, one tool after another in
// each (NBMEMO_BENCH_ROUNDS, default 1), and each figure is the median of its rounds: a ratio between
// tools then compares runs made minutes apart under the same load, not a quiet minute with a busy one.
const tools: [string, () => Result, (() => Result)?][] = [
  ["nbmemo (Node)", () => run(node, ["--expose-gc", worker, "time"]), () => peaks(node, [])],
  ["nbmemo (Deno)", () => run(deno, [...denoRun, "--v8-flags=--expose-gc", worker, "time"]), () => peaks(deno, denoRun)],
  ["diskcache", () => peer("diskcache")],
  ["joblib", () => peer("joblib")],
];
const rounds = Number(process.env.NBMEMO_BENCH_ROUNDS ?? 1);
const times = tools.map((): (Result | { skipped: string })[] => []);
for (let round = 0; round < rounds; round++) {
  tools.forEach(([name, time], t) => {
    if (!times[t]!.some((o) => "skipped" in o)) times[t]!.push(attempt(`${name}, round ${round + 1} of ${rounds}`, time));
  });
}
const medians = (results: Result[]): Result =>
  Object.fromEntries(Object.keys(results[0]!).map((key) => [key, median(results.map((r) => r[key]!))]));
const columns = tools.map(([name, , peak], t) => {
  const skipped = times[t]!.find((o) => "skipped" in o);
  return [name, skipped ?? { ...medians(times[t] as Result[]), ...(peak ? attempt(`${name}, peaks`, peak) as Result : {}) }] as const;
});
const nodeResult = columns[0]![1];
const raw = "skipped" in nodeResult ? nodeResult : {
  storeRows: nodeResult.jsonWriteRows!, hitRows: nodeResult.jsonReadRows!, storeStrings: nodeResult.jsonWriteStrings!, hitStrings: nodeResult.jsonReadStrings!,
  storeString: nodeResult.rawWriteString!, hitString: nodeResult.rawReadString!,
};
const all = [...columns, ["raw JSON file (Node)", raw] as const];

const ms = (v: number) => `${v.toFixed(0)} ms`;
const mb = (v: number) => `${v.toFixed(0)} MB`;
const table: [string, string, (v: number) => string][] = [
  ["1M rows: store", "storeRows", ms],
  ["1M rows: hit", "hitRows", ms],
  ["100 MB of strings: store", "storeStrings", ms],
  ["100 MB of strings: hit", "hitStrings", ms],
  ["one 100 MB string: store", "storeString", ms],
  ["one 100 MB string: hit", "hitString", ms],
  ["1M rows: peak RSS of a miss (computing the rows, then storing them)", "peakStoreMB", mb],
  ["1M rows: peak RSS of a hit", "peakHitMB", mb],
  ["1M rows: peak RSS of JSON.parse of them", "peakJsonParseMB", mb],
];
const cell = (o: Result | { skipped: string }, key: string, format: (v: number) => string) =>
  "skipped" in o ? "skipped" : typeof (o as Result)[key] === "number" ? format((o as Result)[key]!) : "n/a";
console.log(`## Rows and strings (bench/rows.bench.ts, ${rounds === 1 ? "one round" : `medians of ${rounds} interleaved rounds`})\n`);
console.log([`| | ${all.map(([n]) => n).join(" | ")} |`, `|---|${all.map(() => "---:").join("|")}|`,
  ...table.map(([label, key, f]) => `| ${label} | ${all.map(([, o]) => cell(o, key, f)).join(" | ")} |`)].join("\n"));
for (const [name, o] of all) if ("skipped" in o) console.log(`\n${name}: skipped: ${o.skipped}`);

const targets: string[] = [];
const get = (i: number, key: string) => {
  const o = all[i]![1];
  return "skipped" in o ? undefined : (o as Result)[key];
};
const target = (label: string, a: number | undefined, b: number | undefined, limit: number) => {
  const v = a !== undefined && b !== undefined ? a / b : undefined;
  targets.push(`| ${label} | ${v === undefined ? "not measured" : `${v.toFixed(2)}x`} | ${v === undefined ? "" : v <= limit ? "met" : "MISSED"} |`);
};
for (const [i, runtime] of [[0, "Node"], [1, "Deno"]] as const) {
  target(`${runtime}: 1M rows store / diskcache's (<= 0.5)`, get(i, "storeRows"), get(2, "storeRows"), 0.5);
  target(`${runtime}: 1M rows hit / diskcache's (<= 0.5)`, get(i, "hitRows"), get(2, "hitRows"), 0.5);
  target(`${runtime}: 1M rows hit / JSON.parse of the file (< 1)`, get(i, "hitRows"), get(i, "jsonReadRows"), 0.999);
  target(`${runtime}: strings store / raw JSON write (<= 1.5)`, get(i, "storeStrings"), get(i, "jsonWriteStrings"), 1.5);
  target(`${runtime}: strings hit / raw JSON read (<= 1.5)`, get(i, "hitStrings"), get(i, "jsonReadStrings"), 1.5);
  target(`${runtime}: one 100 MB string store / raw write of it (<= 1.5)`, get(i, "storeString"), get(i, "rawWriteString"), 1.5);
  target(`${runtime}: one 100 MB string hit / raw read of it (<= 1.5)`, get(i, "hitString"), get(i, "rawReadString"), 1.5);
  target(`${runtime}: peak RSS of a store / JSON.parse's (<= 1.5)`, get(i, "peakStoreMB"), get(i, "peakJsonParseMB"), 1.5);
  target(`${runtime}: peak RSS of a hit / JSON.parse's (<= 1.5)`, get(i, "peakHitMB"), get(i, "peakJsonParseMB"), 1.5);
}
console.log("\n### Targets (ratios within this run)\n");
console.log(["| target | measured | |", "|---|---:|---|", ...targets].join("\n"));
// The rows' store ratios of each round, to show how far one round's ratio strays from the medians'.
const byRound = (i: number) => {
  const mine = times[i]!, theirs = times[2]!;
  if (rounds === 1 || [...mine, ...theirs].some((o) => "skipped" in o)) return undefined;
  return mine.map((o, r) => ((o as Result).storeRows! / (theirs[r] as Result).storeRows!).toFixed(2)).join(", ");
};
for (const [i, runtime] of [[0, "Node"], [1, "Deno"]] as const) {
  const ratios = byRound(i);
  if (ratios !== undefined) console.log(`\n${runtime}: 1M rows store / diskcache's, round by round: ${ratios}`);
}
