// Renders a cache summary as a plain text table, for terminals and logs.
import { table } from "../text-table.ts";
import type { Summary } from "./summary.ts";

export function textTable(summary: Summary): string {
  const columns = summary.headers.map((heading, i) => ({ heading, right: summary.numeric[i] }));
  const body = summary.rows.length > 0 ? table(columns, summary.rows) : `${table(columns, [])}nothing cached yet\n`;
  return `${summary.title}\n${body}${summary.more ? `${summary.more}\n` : ""}${summary.totals}\n`;
}
