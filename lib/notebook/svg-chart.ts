// Renders bytes per function as a small inline SVG bar chart (no script, no external resources).
import { formatBytes } from "../format.ts";
import { escapeHtml } from "./escape.ts";
import type { Bar } from "./summary.ts";

const ROW = 18;
const BAR = 13;
const LABEL_WIDTH = 170;
const BAR_WIDTH = 260;
const VALUE_WIDTH = 70;
const MAX_LABEL = 26;

/** An SVG element with one bar per function, longest for the most bytes; empty text when there are no bars. */
export function svgBarChart(bars: readonly Bar[], title = "bytes stored per function"): string {
  if (bars.length === 0) return "";
  const max = Math.max(1, ...bars.map((b) => b.bytes));
  const width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH;
  const height = ROW * (bars.length + 1);
  const rows = bars.map((bar, i) => {
    const y = ROW * (i + 1);
    const length = Math.max(1, Math.round((bar.bytes / max) * BAR_WIDTH));
    const label = bar.label.length > MAX_LABEL ? `${bar.label.slice(0, MAX_LABEL - 1)}…` : bar.label;
    const size = formatBytes(bar.bytes);
    return [
      `<text x="${LABEL_WIDTH - 6}" y="${y + BAR - 2}" text-anchor="end">${escapeHtml(label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${length}" height="${BAR}" fill="#4c78a8">` +
      `<title>${escapeHtml(`${bar.label}: ${size}`)}</title></rect>`,
      `<text x="${LABEL_WIDTH + length + 4}" y="${y + BAR - 2}">${escapeHtml(size)}</text>`,
    ].join("");
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="sans-serif" font-size="11" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="0" y="${BAR - 2}" font-weight="bold">${escapeHtml(title)}</text>`,
    ...rows,
    `</svg>`,
  ].join("\n");
}
