// Another process writing to a catalog while this one's owner evicts (bench/scale.bench.ts eviction): one
// small write transaction (a file stamp, as memory.file() records) every 2 ms, each timed from its start to
// its commit, i.e. including any wait for the lock. Usage:
//   writer.ts CATALOG   -> "ready" once writing, then, when its stdin ends, one JSON line:
//                          { writes, longestMs, p99Ms }
import { join } from "node:path";
import process from "node:process";
import { Catalog } from "../../lib/catalog/catalog.ts";
import { percentile, report } from "../measure.ts";

const catalog = Catalog.open(process.argv[2]!);
const waits: number[] = [];
let writing = true;
process.stdin.on("data", () => {}).on("end", () => (writing = false)).resume();
console.log("ready");
for (let i = 0; writing; i++) {
  const started = performance.now();
  catalog.putFileStamp(join("/bench/writer", String(i % 100)), { size: i, mtimeMs: i, ino: String(i), hash: "0".repeat(64), checkedAt: Date.now() });
  waits.push(performance.now() - started);
  await new Promise((resolve) => setTimeout(resolve, 2));
}
catalog.close();
report({ writes: waits.length, longestMs: Math.max(...waits), p99Ms: percentile(waits, 99) });
