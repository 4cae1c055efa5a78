// What memory.show() presents, as plain rows of text: one row per function version, the totals, and the
// bytes each function holds. The HTML table, the SVG chart and the text table all render this.
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
  /** Bytes per function, largest first. */
  readonly bars: readonly Bar[];
}

const HEADERS = ["function", "version", "entries", "bytes", "hits", "time saved", "last used"];
const NUMERIC = [false, false, true, true, true, true, false];

export function summarize({ dir, functions, stats, now }: CacheOverview): Summary {
  const rows = functions.map((f) => [
    f.name,
    shortVersion(f.version),
    String(f.entries),
    formatBytes(f.bytes),
    String(f.hits),
    formatDuration(f.savedMs),
    formatAgo(f.lastUsedAt, now),
  ]);
  const perName = new Map<string, number>();
  for (const f of functions) perName.set(f.name, (perName.get(f.name) ?? 0) + f.bytes);
  const bars = [...perName].map(([label, bytes]) => ({ label, bytes })).sort((a, b) => b.bytes - a.bytes);
  const totals = `${count(stats.functions, "function")}, ${count(stats.versions, "version")}, ` +
    `${count(stats.entries, "entry", "entries")}, ${formatBytes(stats.bytes)}; ` +
    `${count(stats.hits, "hit")} saved ${formatDuration(stats.savedMs)}; ` +
    `this session: ${count(stats.session.hits, "hit")}, ${count(stats.session.misses, "miss", "misses")}`;
  return { title: `nbmemo cache ${dir}`, headers: HEADERS, numeric: NUMERIC, rows, totals, bars };
}
