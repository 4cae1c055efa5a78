// Renders a cache summary as a plain text table, for terminals and logs.
import type { Summary } from "./summary.ts";

export function textTable(summary: Summary): string {
  const lines = [summary.headers, ...summary.rows];
  const widths = summary.headers.map((_, i) => Math.max(...lines.map((line) => [...(line[i] ?? "")].length)));
  const pad = (cell: string, i: number) => {
    const fill = " ".repeat(widths[i]! - [...cell].length);
    return summary.numeric[i] ? fill + cell : cell + fill;
  };
  const render = (line: readonly string[]) => line.map(pad).join("  ").trimEnd();
  return [
    summary.title,
    render(summary.headers),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...(summary.rows.length > 0 ? summary.rows.map(render) : ["nothing cached yet"]),
    summary.totals,
  ].join("\n") + "\n";
}
