// Times the codec and a Memory store and hit of one data set, with the lib/ at a given root (so that an
// older tree can be measured beside this one in the same run). Usage:
//   encode.ts ROOT small|rows|numbers  -> one JSON line: encode, decode, store, hit (ms, medians)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { median, report, tableRows } from "../measure.ts";

const [rootArg, data] = process.argv.slice(2);
const root = resolve(rootArg!);
const lib = (path: string) => import(pathToFileURL(join(root, "lib", path)).href);
const { encode, decode } = await lib("codec/codec.ts");
const { concat } = await lib("bytes.ts");
const { Memory } = await lib("mod.ts");

const sets: Record<string, () => unknown> = {
  small: () => Array.from({ length: 200_000 }, (_, i) => ({ a: i, b: [i, "x"], c: `s${i % 1000}`, d: i % 3 === 0 })),
  rows: () => tableRows(),
  numbers: () => Array.from({ length: 1_000_000 }, (_, i) => (i * 16807) % 2147483647 / 7),
};
const value = sets[data!]!();
const reps = 5;
const time = async (work: () => unknown) => {
  const started = performance.now();
  await work();
  return performance.now() - started;
};
const times = { encode: [] as number[], decode: [] as number[], store: [] as number[], hit: [] as number[] };
const dir = mkdtempSync(join(tmpdir(), "nbmemo-bench-encode-"));
try {
  const memory = await Memory.open(dir, { log: "silent" });
  const f = memory.fn("f", () => value);
  for (let i = 0; i < reps; i++) {
    let bytes: Uint8Array | undefined;
    times.encode.push(await time(() => (bytes = concat(encode(value)))));
    times.decode.push(await time(() => decode(bytes!)));
    await f.clear();
    times.store.push(await time(() => f()));
    times.hit.push(await time(() => f()));
  }
  await memory.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
report(Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])));
