import assert from "node:assert/strict";
import process from "node:process";
import { test } from "./harness.ts";
import type { FunctionVersion } from "../lib/types.ts";
import { Memory } from "../lib/mod.ts";
import { htmlTable } from "../lib/notebook/html-table.ts";
import { type CacheOverview, summarize } from "../lib/notebook/summary.ts";
import { svgBarChart } from "../lib/notebook/svg-chart.ts";
import { textTable } from "../lib/notebook/text-table.ts";
import { tempDir } from "./helpers.ts";

const now = Date.UTC(2026, 10, 24, 12, 0, 0);

function version(name: string, version: string, bytes: number, extra: Partial<FunctionVersion> = {}): FunctionVersion {
  return { name, version, source: null, createdAt: now - 60_000, lastUsedAt: now - 90_000, entries: 2, bytes, hits: 3, savedMs: 1500, ...extra };
}

function overview(functions: FunctionVersion[], dir = "/tmp/cache"): CacheOverview {
  return {
    dir,
    functions,
    stats: { functions: new Set(functions.map((f) => f.name)).size, versions: functions.length, entries: 4, bytes: 3500, hits: 6, savedMs: 3000, session: { hits: 1, misses: 2 } },
    now,
  };
}

const sample = () => overview([
  version("climate_normals", "0123456789abcdef0123", 3000),
  version("parse_stations", "pinned:2", 400, { hits: 0, savedMs: 0, lastUsedAt: now }),
  version("climate_normals", "fedcba9876543210fedc", 100),
]);

// Captures what `work` writes to process.stdout.
async function captureStdout(work: () => Promise<void>): Promise<string> {
  const write = process.stdout.write;
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await work();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test("the summary has one row per function version, short versions and totals in words", () => {
  const summary = summarize(sample());
  assert.deepEqual(summary.rows.map((r) => r.slice(0, 2)), [
    ["climate_normals", "0123456789ab"],
    ["parse_stations", "pinned:2"],
    ["climate_normals", "fedcba987654"],
  ]);
  assert.deepEqual(summary.rows[0]!.slice(2), ["2", "3.0 kB", "3", "1.50 s", "1 min 30 s ago"]);
  assert.equal(summary.rows[1]![6], "just now");
  assert.equal(summary.totals, "2 functions, 3 versions, 4 entries, 3.5 kB; 6 hits saved 3.00 s; this session: 1 hit, 2 misses");
});

test("the chart has one bar per function name, all its versions summed, largest first", () => {
  assert.deepEqual(summarize(sample()).bars, [{ label: "climate_normals", bytes: 3100 }, { label: "parse_stations", bytes: 400 }]);
});

test("the HTML table escapes every name and path it shows", () => {
  const html = htmlTable(summarize(overview([version(`<img src=x onerror="alert(1)">&`, "abc", 10)], `/tmp/"a'&<b>`)));
  assert.ok(!html.includes("<img"), html);
  assert.ok(!html.includes("<b>/tmp"), html);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;&amp;/);
  assert.match(html, /\/tmp\/&quot;a&#39;&amp;&lt;b&gt;/);
  assert.equal(html.match(/<tr>/g)?.length, 2); // header row + one version
});

test("the SVG chart scales bars to the largest and escapes labels", () => {
  const svg = svgBarChart([{ label: "big", bytes: 2000 }, { label: "<script>", bytes: 500 }]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  const widths = [...svg.matchAll(/<rect [^>]*width="(\d+)"/g)].map((m) => Number(m[1]));
  assert.deepEqual(widths, [260, 65]);
  assert.ok(!svg.includes("<script>"));
  assert.match(svg, /&lt;script&gt;/);
  assert.equal(svgBarChart([]), "");
});

test("the text table aligns columns and right-aligns numbers", () => {
  const lines = textTable(summarize(sample())).split("\n");
  assert.equal(lines[0], "nbmemo cache /tmp/cache");
  assert.equal(lines[1], "function         version       entries   bytes  hits  time saved  last used");
  assert.equal(lines[2], "climate_normals  0123456789ab        2  3.0 kB     3      1.50 s  1 min 30 s ago");
  assert.equal(lines[3], "parse_stations   pinned:2            2   400 B     0      0.0 ms  just now");
  assert.match(lines[5]!, /^2 functions, 3 versions/);
});

test("memory.show() prints the text table on stdout outside a notebook", async (t) => {
  const dir = tempDir();
  const memory = await Memory.open(dir.path, { log: "silent" });
  t.after(async () => {
    await memory.close();
    dir.remove();
  });
  const empty = await captureStdout(() => memory.show());
  assert.match(empty, /nothing cached yet/);
  const square = memory.fn("square", (x: number) => x * x);
  await square(3);
  await square(3);
  const out = await captureStdout(() => memory.show());
  assert.match(out, new RegExp(`^nbmemo cache ${dir.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n`));
  assert.match(out, /\nsquare +[0-9a-f]{12} +1 +\d+ B +1 /);
  assert.match(out, /this session: 1 hit, 1 miss\n$/);
});

test("with 2,000 versions the table and chart stay small: the top 20 by bytes or time saved, a line for the rest, empty versions left out", () => {
  const many = Array.from({ length: 2000 }, (_, i) =>
    version(`fn${i % 400}`, `v${i}`, i === 1999 ? 1 : 1000 + i, { savedMs: i === 1999 ? 1e9 : i, entries: i % 10 === 0 ? 0 : 2 }));
  const summary = summarize(overview(many));
  assert.equal(summary.rows.length, 20);
  assert.ok(summary.rows.some((r) => r[1] === "v1999"), "the one that saved the most time is shown though it is small");
  assert.ok(summary.rows.every((r) => r[2] !== "0"), "no version without entries");
  assert.equal(summary.bars.length, 20);
  assert.match(summary.more!, /^1780 more versions \(3\d\d more functions\) not shown: memory\.functions\(\) and `nbmemo ls` list them all\.$/);
  const html = htmlTable(summary) + svgBarChart(summary.bars);
  assert.ok(html.length < 20_000, `${html.length} characters of HTML`);
  assert.match(textTable(summary), /1780 more versions/);
});
