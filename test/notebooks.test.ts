// Reads the notebooks that `npm test` executed in their kernels (scripts/execute-notebooks.py, in the
// order of fixtures/notebook-runs.json) and checks what they showed.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { root } from "./helpers.ts";

interface Run {
  run: string;
  notebook?: string;
  cells?: string;
  cache: string;
  seconds: number;
  error: string | null;
}

interface Output {
  output_type: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
}

interface Cell {
  id: string;
  cell_type: string;
  execution_count?: number | null;
  outputs?: Output[];
  metadata: { execution?: Record<string, string> };
}

const runsDir = process.env.NBMEMO_TEST_NOTEBOOKS;
const unavailable = process.env.NBMEMO_TEST_NOTEBOOKS_SKIP ?? (runsDir ? undefined : "the notebooks are executed by `npm test` (scripts/toolchain.mjs)");
// In CI (CI=true) notebooks that could not run are a failure, not a skip.
const skip = unavailable !== undefined && process.env.CI !== "true" ? unavailable : false;
const MEMOIZED = ["climate_normals", "parse_stations", "seasonal_ranking"];

const join1 = (text: string | string[] | undefined) => (Array.isArray(text) ? text.join("") : text ?? "");

function cells(run: string): Cell[] {
  return (JSON.parse(readFileSync(join(runsDir!, `${run}.ipynb`), "utf8")) as { cells: Cell[] }).cells;
}

function cell(run: string, id: string): Cell {
  const found = cells(run).find((c) => c.id === id);
  assert.ok(found, `no cell ${id} in ${run}`);
  return found;
}

/** What a cell printed and returned: tslab writes both to stdout, the Deno kernel returns an execute_result. */
const printed = (c: Cell) => (c.outputs ?? []).map((o) => join1(o.text ?? o.data?.["text/plain"])).join("\n");

/** The hit/miss notices a run printed, by function name, in order. */
function notices(run: string): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  for (const c of cells(run)) {
    for (const [, name, kind] of printed(c).matchAll(/^nbmemo: (\S+) (hit|miss) \(/gm)) (found[name!] ??= []).push(kind!);
  }
  return found;
}

const every = (kind: string) => Object.fromEntries(MEMOIZED.map((name) => [name, [kind]]));

/** Seconds a cell kept its kernel busy, from the timestamps nbclient records (tslab sends no execute_input). */
function seconds(c: Cell): number {
  const execution = c.metadata.execution ?? {};
  return (Date.parse(execution["iopub.status.idle"]!) - Date.parse(execution["iopub.status.busy"]!)) / 1000;
}

function displayed(c: Cell, mime: string): string {
  return (c.outputs ?? []).filter((o) => o.output_type === "display_data" && o.data?.[mime]).map((o) => join1(o.data![mime])).join("");
}

test("the committed notebooks have their outputs cleared", () => {
  for (const file of readdirSync(join(root, "notebooks")).filter((f) => f.endsWith(".ipynb"))) {
    const nb = JSON.parse(readFileSync(join(root, "notebooks", file), "utf8")) as { cells: Cell[] };
    for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
      assert.deepEqual([c.outputs, c.execution_count], [[], null], `${file}, cell ${c.id}`);
    }
  }
});

test("the notebooks were executed in their kernels", { skip }, () => {
  assert.equal(unavailable, undefined, `the notebooks did not run: ${unavailable}`);
});

test("every notebook executed in its kernel without an error", { skip }, () => {
  const runs = JSON.parse(readFileSync(join(runsDir!, "runs.json"), "utf8")) as Run[];
  assert.deepEqual(runs.filter((r) => r.error !== null), []);
  const notebooks = readdirSync(join(root, "notebooks")).filter((f) => f.endsWith(".ipynb")).sort();
  assert.deepEqual([...new Set(runs.flatMap((r) => r.notebook ?? []))].sort(), notebooks);
});

test("a first run on a fresh cache computes every memoized call, with a miss notice in both kernels", { skip }, () => {
  assert.deepEqual(notices("tslab-first"), every("miss"));
  assert.deepEqual(notices("deno-first"), every("miss"));
  assert.match(printed(cell("tslab-first", "slow-step")), /^nbmemo: climate_normals miss \(computed in [\d.]+ m?s, stored [\d.]+ kB\)$/m);
});

test("a second run in a fresh kernel process hits every memoized call and its slow step is faster", { skip }, () => {
  for (const kernel of ["tslab", "deno"]) {
    assert.deepEqual(notices(`${kernel}-restart`), every("hit"));
    const [first, again] = [cell(`${kernel}-first`, "slow-step"), cell(`${kernel}-restart`, "slow-step")];
    const duration = (text: string | undefined) => Number(text?.replace(/ m?s$/, "")) / (text?.endsWith(" ms") ? 1000 : 1);
    const computed = duration(printed(first).match(/climate_normals miss \(computed in ([^,]+),/)?.[1]);
    const saved = duration(printed(again).match(/^nbmemo: climate_normals hit \(saved ([^)]+)\)$/m)?.[1]);
    // What the hit saved is the compute time less the hit's own: a little less than the first run took.
    assert.ok(saved > 0 && saved <= computed && saved > computed - 0.5, `saved ${saved} s of ${computed} s`);
    // Same values, read back instead of computed.
    assert.match(printed(again), /Tromsø: Jan -?\d+\.\d °C, Jul -?\d+\.\d °C/);
    assert.equal(printed(again).replace(/^nbmemo: .*\n/gm, ""), printed(first).replace(/^nbmemo: .*\n/gm, ""));
    // The first run spent over a second computing; the hit reads a few kB.
    assert.ok(seconds(again) < seconds(first), `${kernel}: ${seconds(again)} s after ${seconds(first)} s`);
  }
});

test("the Deno notebook hits what the tslab notebook stored, and the tslab notebook what Deno stored", { skip }, () => {
  assert.deepEqual(notices("deno-reads-tslab"), every("hit"));
  assert.deepEqual(notices("tslab-reads-deno"), every("hit"));
  // What Deno read from tslab's cache equals what Deno computes itself.
  for (const id of ["slow-step", "ranking"]) {
    const values = (run: string) => printed(cell(run, id)).replace(/^nbmemo: .*\n/gm, "");
    assert.equal(values("deno-reads-tslab"), values("deno-first"), id);
  }
});

test("memory.show() displays an HTML table and an SVG bar chart in both kernels", { skip }, () => {
  for (const run of ["tslab-restart", "deno-restart"]) {
    const html = displayed(cell(run, "show"), "text/html");
    assert.match(html, /<table[\s\S]*<\/table>/, run);
    assert.match(html, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>/, run);
    for (const name of MEMOIZED) assert.equal(html.match(new RegExp(`>${name}<`, "g"))?.length, 2, `${run}: ${name} in the table and the chart`);
    assert.match(html, /3 functions, 3 versions, 3 entries, [\d.]+ kB; 3 hits saved [\d.]+ m?s; this session: 3 hits, 0 misses/, run);
  }
  // Both kernels send the text table as the text/plain form of the same display, for front ends without HTML.
  for (const run of ["tslab-restart", "deno-restart"]) {
    const bundle = cell(run, "show").outputs?.find((o) => o.output_type === "display_data" && o.data?.["text/html"] && o.data["text/plain"]);
    assert.match(join1(bundle?.data?.["text/plain"]), /^function +version +entries +bytes +hits +time saved +last used$/m, run);
  }
});

test("the inspection notebook shows the cache that both kernels used", { skip }, () => {
  assert.match(displayed(cell("inspection", "open-cache"), "text/html"), /<table/);
  const functions = printed(cell("inspection", "functions"));
  for (const name of MEMOIZED) assert.match(functions, new RegExp(`^  "${name} [0-9a-f]{10}: 1 entries, \\d+ bytes, 2 hits",?$`, "m"));
  assert.match(join1(cell("inspection", "source").outputs?.[0]?.data?.["text/markdown"]), /^csv => \{$/m); // readable normalized source
  // climate_normals was computed by tslab (Node) and read by tslab and Deno.
  assert.match(printed(cell("inspection", "entries")), /^  ["']node 2\d\.\d+\.\d+: \d+ bytes, computed in \d+ ms, read 2 times; args \[\{id: /m);
  assert.match(printed(cell("inspection", "stats")), /\{ functions: 3, versions: 3, entries: 3, bytes: \d+, hits: 6 \}/);
});

interface CorpusEntry {
  name: string;
  version: string;
  source: string;
}

/** What the corpus notebook (test/fixtures/corpus/, one cell per file) wrote in a kernel: each function's version and printing. */
function corpus(kernel: "tslab" | "deno"): Map<string, CorpusEntry> {
  const entries = JSON.parse(readFileSync(join(runsDir!, "caches", `corpus-${kernel}`, "corpus.json"), "utf8")) as CorpusEntry[];
  return new Map(entries.map((e) => [e.name, e]));
}

test("every function of the corpus gets the same version in tslab and in the Deno kernel, each with a cache of its own", { skip }, () => {
  const [tslab, deno] = [corpus("tslab"), corpus("deno")];
  assert.ok(tslab.size >= 150, `${tslab.size} functions`);
  assert.deepEqual([...tslab.keys()].sort(), [...deno.keys()].sort());
  const differ = [...tslab.values()].filter((t) => t.version !== deno.get(t.name)!.version)
    .map((t) => `${t.name}\n  tslab: ${t.source}\n  deno:  ${deno.get(t.name)!.source}`);
  assert.deepEqual(differ, []);
  // Different functions keep different versions.
  assert.equal(new Set([...tslab.values()].map((t) => t.version)).size, tslab.size);
});

test("the corpus is printed differently by the two kernels, in each way the normalizer undoes", { skip }, () => {
  const [tslab, deno] = [[...corpus("tslab").values()], [...corpus("deno").values()]];
  const count = (entries: CorpusEntry[], pattern: RegExp) => entries.filter((e) => pattern.test(e.source)).length;
  const printedAlike = tslab.filter((t, i) => t.source.replace(/\s/g, "") === deno[i]!.source.replace(/\s/g, "")).length;
  assert.ok(printedAlike < tslab.length / 2, `${printedAlike} of ${tslab.length} printed alike`);
  for (const [what, pattern] of Object.entries({
    "earlier cells' names": /\bexports\.\w+/,
    "imports of the cell": /\(0, \w+_\d+\.\w+\)/,
    "default imports of the cell": /\b\w+_\d+\.default\b/,
    "updates of the cell's names": /exports\.(\w+) = \(\1(\+\+|--), \1\)/,
    "a temporary": /var _a;/,
    "dynamic imports": /Promise\.resolve\(.*__importStar\(require/,
    "a destructured member of an earlier cell's type": /[{,] exports, \w+: /,
  })) assert.ok(count(tslab, pattern) > 0, `tslab: ${what}`);
  assert.ok(count(deno, /\b(rows|stations|seen|LIMIT|counter)1\b/) >= 5, "Deno: renamed shadowing names");
  assert.ok(count(deno, /super\(.*\), this\./) > 0, "Deno: parameter properties after super()");
});

test("memory.map shows one progress display, updated in place to its end, in both kernels, and no notice per item", { skip }, () => {
  for (const [run, counts] of [["map-tslab-first", "0 hits, 20 computed"], ["map-deno-first", "0 hits, 20 computed"], ["map-deno-restart", "20 hits, 0 computed"]]) {
    const c = cell(run!, "fit-trends");
    const displays = (c.outputs ?? []).filter((o) => o.output_type === "display_data");
    assert.equal(displays.length, 1, `${run}: ${JSON.stringify(c.outputs)}`);
    // The display was first sent at 0/20: holding the end state, it was updated in place.
    assert.match(displayed(c, "text/plain"), new RegExp(`^station_trend: 20/20 \\(${counts}\\), [\\d.]+ m?s$`));
    assert.match(displayed(c, "text/html"), /<progress value="20" max="20"/);
    assert.doesNotMatch(printed(c), /station_trend (hit|miss)/);
    assert.match(printed(cell(run!, "fastest")), /MAD: \+0\.7 °C per decade/);
  }
});
