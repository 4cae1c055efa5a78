// Plain-text tables, for the CLI and for memory.show() in a terminal.

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
