// Benchmarks what notebooks most often return, in this process (Node or Deno): 1M parsed rows, 100 MB
// of strings (1M lines) and one 100 MB string, stored and hit by nbmemo beside raw JSON files of the same data. Usage:
//   rows.ts time                 -> one JSON line: store, hit, JSON write and read times (ms); run with --expose-gc
//   rows.ts time string          -> the same for the one 100 MB string alone (4 rounds)
//   rows.ts peak store|hit|json DIR -> one JSON line: this process's peak RSS above the rows themselves (MB)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Memory } from "../../lib/mod.ts";
import { median, report, tableRows } from "../measure.ts";

const strings = () => Array.from({ length: 1_000_000 }, (_, i) => `line ${i}: ${"lorem ipsum dolor sit amet ".repeat(3)}${i % 97}`.slice(0, 100));

const rssMB = () => process.memoryUsage().rss / 1e6;

// Each timed step starts from a collected heap (rows.bench.ts runs this with --expose-gc), so that none pays
// for the garbage of the one before: with the rows and lines of the earlier workloads alive, a 100 MB
// allocation set off a Mark-Compact of ~200 ms in whichever step came next, hit or raw read alike.
const collectGarbage = (globalThis as { gc?: () => void }).gc ?? (() => {});
// Node reports the process's peak RSS; Deno has no resourceUsage: sample RSS on a timer instead.
function peakSampler(): () => number {
  let peak = rssMB();
  const timer = setInterval(() => (peak = Math.max(peak, rssMB())), 5);
  return () => (clearInterval(timer), Math.max(peak, rssMB()));
}

const [mode, step, dirArg] = process.argv.slice(2);
if (mode === "peak") {
  const dir = dirArg!; // holds rows.json, and the cache in cache/
  const memory = await Memory.open(join(dir, "cache"), { log: "silent" });
  const table = memory.fn("table", () => tableRows());
  const before = rssMB();
  const peak = peakSampler();
  if (step === "store") await table();
  else if (step === "hit") (await table()).length;
  else JSON.parse(readFileSync(join(dir, "rows.json"), "utf8")).length;
  report({ peakMB: peak() - before });
  await memory.close();
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-rows-"));
try {
  const memory = await Memory.open(dir, { log: "silent" });
  // The raw baseline of a value is its JSON in a file; of one string, the string itself as a UTF-8 file.
  const measure = async (name: string, data: unknown, reps: number) => {
    const rawText = typeof data === "string" ? () => data : () => JSON.stringify(data);
    const rawValue = typeof data === "string" ? (text: string) => text : (text: string) => JSON.parse(text);
    const f = memory.fn(name, () => data);
    const times = { store: [] as number[], hit: [] as number[], jsonWrite: [] as number[], jsonRead: [] as number[] };
    const timed = async (into: number[], work: () => unknown) => {
      collectGarbage();
      const started = performance.now();
      await work();
      into.push(performance.now() - started);
    };
    for (let i = 0; i < reps; i++) {
      await f.clear();
      await timed(times.store, () => f());
      await timed(times.hit, async () => void (await f()));
      await timed(times.jsonWrite, () => writeFileSync(join(dir, "raw.json"), rawText()));
      await timed(times.jsonRead, () => void rawValue(readFileSync(join(dir, "raw.json"), "utf8")));
    }
    return { store: median(times.store), hit: median(times.hit), jsonWrite: median(times.jsonWrite), jsonRead: median(times.jsonRead) };
  };
  if (step === "string") {
    const one = await measure("string", strings().join("\n"), 4);
    await memory.close();
    report({ storeString: one.store, hitString: one.hit, rawWriteString: one.jsonWrite, rawReadString: one.jsonRead });
  } else {
    const rows = await measure("rows", tableRows(), 5);
    const text = await measure("strings", strings(), 3);
    const one = await measure("string", strings().join("\n"), 3);
    await memory.close();
    report({
      storeRows: rows.store, hitRows: rows.hit, jsonWriteRows: rows.jsonWrite, jsonReadRows: rows.jsonRead,
      storeStrings: text.store, hitStrings: text.hit, jsonWriteStrings: text.jsonWrite, jsonReadStrings: text.jsonRead,
      storeString: one.store, hitString: one.hit, rawWriteString: one.jsonWrite, rawReadString: one.jsonRead,
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
