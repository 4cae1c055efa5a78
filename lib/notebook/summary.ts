// What memory.show() presents, as plain rows of text: one row per function version that holds results (the
// top SHOWN by bytes or time saved, and a line saying how many more), the totals, and the bytes of the
// largest functions. The HTML table, the SVG chart and the text table all render this: its size is bounded
// whatever the cache holds (2,000 versions made 1.6 MB of HTML before).
import type { CatalogTotals, FunctionVersion } from "../types.ts";
import { formatAgo, formatBytes, formatCount as count, formatDuration, shortVersion } from "../format.ts";

/** The facts a summary is made from, as Memory's inspection methods report them. */
export interface CacheOverview {
  readonly dir: string;
  readonly functions: readonly FunctionVersion[];
  readonly stats: CatalogTotals & { readonly session: { readonly hits: number; readonly misses: number } };
  /** The time "last used" is measured from, in ms since the epoch. */
  readonly now: number;
}

/** One bar of the chart: a function name and the bytes its entries hold (all versions). */
export interface Bar {
  readonly label: string;
  readonly bytes: number;
}

export interface Summary {
  readonly title: string;
  readonly headers: readonly string[];
  /** Which columns hold numbers (rendered right-aligned). */
  readonly numeric: readonly boolean[];
  readonly rows: readonly (readonly string[])[];
  readonly totals: string;
  /** How many versions and functions are left out, and where to see them all; absent when none are. */
  readonly more?: string;
  /** Bytes per function, largest first (the largest {@link SHOWN}). */
  readonly bars: readonly Bar[];
}

const HEADERS = ["function", "version", "entries", "bytes", "hits", "time saved", "last used"];
const NUMERIC = [false, false, true, true, true, true, false];

/** At most this many rows in the table and bars in the chart. */
export const SHOWN = 20;

// The top `n` of `items` by bytes or by time saved (whichever ranks one higher), in their original order.
function top(items: readonly FunctionVersion[], n: number): FunctionVersion[] {
  if (items.length <= n) return [...items];
  const rank = new Map<FunctionVersion, number>();
  const rankBy = (value: (f: FunctionVersion) => number) =>
    [...items].sort((a, b) => value(b) - value(a)).forEach((f, i) => rank.set(f, Math.min(i, rank.get(f) ?? i)));
  rankBy((f) => f.bytes);
  rankBy((f) => f.savedMs);
  const chosen = new Set([...items].sort((a, b) => rank.get(a)! - rank.get(b)!).slice(0, n));
  return items.filter((f) => chosen.has(f));
}

export function summarize({ dir, functions, stats, now }: CacheOverview): Summary {
  // Versions left with no results (after rm, prune or eviction) are kept for the change warnings' diffs only.
  const holding = functions.filter((f) => f.entries > 0);
  const shown = top(holding, SHOWN);
  const rows = shown.map((f) => [
    f.name,
    shortVersion(f.version),
    String(f.entries),
    formatBytes(f.bytes),
    String(f.hits),
    formatDuration(f.savedMs),
    formatAgo(f.lastUsedAt, now),
  ]);
  const perName = new Map<string, number>();
  for (const f of holding) perName.set(f.name, (perName.get(f.name) ?? 0) + f.bytes);
  const bars = [...perName].map(([label, bytes]) => ({ label, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, SHOWN);
  const totals = `${count(stats.functions, "function")}, ${count(stats.versions, "version")}, ` +
    `${count(stats.entries, "entry", "entries")}, ${formatBytes(stats.bytes)}; ` +
    `${count(stats.hits, "hit")} saved ${formatDuration(stats.savedMs)}; ` +
    `this session: ${count(stats.session.hits, "hit")}, ${count(stats.session.misses, "miss", "misses")}`;
  const left = holding.length - shown.length;
  const leftNames = new Set(holding.map((f) => f.name)).size - new Set(shown.map((f) => f.name)).size;
  const more = left === 0 ? undefined : `${count(left, "more version")} (${leftNames > 0 ? `${count(leftNames, "more function")}` : "of the functions shown"}) ` +
    `not shown: memory.functions() and \`nbmemo ls\` list them all.`;
  return { title: `nbmemo cache ${dir}`, headers: HEADERS, numeric: NUMERIC, rows, totals, ...(more ? { more } : {}), bars };
}
