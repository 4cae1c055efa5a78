// What each of the row scan's exactness checks costs (lib/codec/rows.ts planRows), in this process (Node
// or Deno): the scan of 1M rows of 5 fields rebuilt one check at a time, each step adding one to the
// last, then planRows itself (the checks and gathering the columns' values) and the count of the array's
// own keys that faithful.ts makes before it. CPU time (user + system), the least of 7 rounds taken in
// turn, so that other work on the machine weighs less than on wall-clock medians. Usage:
//   rowchecks.ts   -> one JSON line: ms per step
import process from "node:process";
import { planRows } from "../../lib/codec/rows.ts";
import { report, tableRows } from "../measure.ts";

const rows = tableRows();
const keys = Object.getOwnPropertyNames(rows[0]);
const width = keys.length;
let sink = 0; // (read after the rounds, so that no step's work can be left out)

// Every row: its prototype, and not a hole; then `level` more checks, in the order planRows makes them.
function scan(level: number): void {
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (Object.getPrototypeOf(row) !== Object.prototype || !Object.hasOwn(rows, i)) return;
    if (level >= 1 && !Object.isExtensible(row)) return;
    if (level >= 2 && Object.getOwnPropertySymbols(row).length !== 0) return;
    if (level < 3) continue;
    const own = Object.getOwnPropertyNames(row);
    if (own.length !== width) return;
    for (let c = 0; c < width; c++) {
      if (own[c] !== keys[c]) return;
      if (level < 4) continue;
      const d = Object.getOwnPropertyDescriptor(row, keys[c]!)!;
      if (d.writable !== true || d.enumerable !== true || d.configurable !== true) return;
      sink += d.value === null ? 1 : 0;
    }
  }
}

const steps: [string, () => unknown][] = [
  ["prototypeAndHole", () => scan(0)],
  ["+extensible", () => scan(1)],
  ["+symbolKeys", () => scan(2)],
  ["+ownNames", () => scan(3)],
  ["+descriptors", () => scan(4)],
  ["planRows", () => planRows(rows)],
  ["arrayKeysCount", () => (sink += Object.keys(rows).length)],
];
const least = steps.map(() => Infinity);
for (let round = 0; round < 7; round++) {
  steps.forEach(([, work], s) => {
    const started = process.cpuUsage();
    work();
    const used = process.cpuUsage(started);
    least[s] = Math.min(least[s]!, (used.user + used.system) / 1000);
  });
}
if (sink < 0) throw new Error("unreachable");
report(Object.fromEntries(steps.map(([name], s) => [name, Math.round(least[s]!)])));
