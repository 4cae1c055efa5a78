// Renders a cache summary as an HTML table, for Jupyter front ends.
import { escapeHtml } from "./escape.ts";
import type { Summary } from "./summary.ts";

// Inline styles only: notebook front ends sanitize <style> blocks and classes differ between them.
const CELL = "padding:2px 10px;border-bottom:1px solid #ddd";

export function htmlTable(summary: Summary): string {
  const align = (i: number) => (summary.numeric[i] ? "right" : "left");
  const header = summary.headers.map((h, i) => `<th style="${CELL};text-align:${align(i)}">${escapeHtml(h)}</th>`).join("");
  const body = summary.rows.length > 0
    ? summary.rows.map((row) =>
      `<tr>${row.map((cell, i) => `<td style="${CELL};text-align:${align(i)}">${escapeHtml(cell)}</td>`).join("")}</tr>`
    ).join("\n")
    : `<tr><td colspan="${summary.headers.length}" style="${CELL}">nothing cached yet</td></tr>`;
  return [
    `<div class="nbmemo-show">`,
    `<p style="margin:0 0 4px 0"><b>${escapeHtml(summary.title)}</b></p>`,
    `<table style="border-collapse:collapse;font-size:90%">`,
    `<thead><tr>${header}</tr></thead>`,
    `<tbody>\n${body}\n</tbody>`,
    `</table>`,
    ...(summary.more ? [`<p style="margin:4px 0">${escapeHtml(summary.more)}</p>`] : []),
    `<p style="margin:4px 0">${escapeHtml(summary.totals)}</p>`,
    `</div>`,
  ].join("\n");
}
