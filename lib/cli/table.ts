// Plain-text tables and relative times for the CLI's human-readable output.
import { formatDuration } from "../format.ts";

/** A column: its heading, and whether its cells line up on the right (numbers, sizes). */
export interface Column {
  readonly heading: string;
  readonly right?: boolean;
  /** Longer cells are cut to this many characters, with an ellipsis. */
  readonly max?: number;
}

/** Renders rows under headings, columns separated by two spaces, trailing spaces trimmed. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => row.map((cell, i) => clip(cell.replace(/\s+/g, " "), columns[i]?.max)));
  const widths = columns.map((c, i) => Math.max(c.heading.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (columns[i]?.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(columns.map((c) => c.heading)), ...cells.map(line)].join("\n") + "\n";
}

function clip(text: string, max: number | undefined): string {
  return max !== undefined && text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** "3 min 5 s ago", "just now", or "never" for a zero time. */
export function ago(at: number, now: number): string {
  if (at <= 0) return "never";
  const ms = now - at;
  return ms < 1000 ? "just now" : `${formatDuration(ms)} ago`;
}

/** A version as people read it: a pinned one by its pin, a source hash by its first 12 digits. */
export function shortVersion(version: string): string {
  return version.startsWith("pinned:") ? version : version.slice(0, 12);
}
