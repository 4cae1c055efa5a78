// A small unified line diff (longest common subsequence, with context), to show what changed between
// two normalized sources of one function.

/** Options of {@link unifiedDiff}. */
export interface DiffOptions {
  /** Unchanged lines kept around each change. Default: 2. */
  readonly context?: number;
  /** Labels of the `---` / `+++` header lines. Default: "before" / "after". */
  readonly labels?: readonly [string, string];
  /** Lines of output at most; the rest is summarized in one line. Default: 40. */
  readonly maxLines?: number;
}

// Above this many cells the LCS table costs too much; such a diff shows every line as replaced.
const MAX_CELLS = 4_000_000;

type Op = { readonly kind: " " | "-" | "+"; readonly line: string; readonly a: number; readonly b: number };

/**
 * The unified diff of two texts, line by line; an empty string when they are equal.
 *
 * @example
 * ```ts
 * import { unifiedDiff } from "./diff.ts";
 * console.log(unifiedDiff("a\nb\nc", "a\nB\nc"));
 * // --- before
 * // +++ after
 * // @@ -1,3 +1,3 @@
 * //  a
 * // -b
 * // +B
 * //  c
 * ```
 */
export function unifiedDiff(before: string, after: string, options: DiffOptions = {}): string {
  if (before === after) return "";
  const { context = 2, labels = ["before", "after"], maxLines = 40 } = options;
  const ops = diffLines(before.split("\n"), after.split("\n"));
  const out = [`--- ${labels[0]}`, `+++ ${labels[1]}`];
  for (const hunk of hunks(ops, context)) {
    const first = hunk[0]!;
    const aCount = hunk.filter((op) => op.kind !== "+").length;
    const bCount = hunk.filter((op) => op.kind !== "-").length;
    out.push(`@@ -${range(first.a, aCount)} +${range(first.b, bCount)} @@`);
    for (const op of hunk) out.push(`${op.kind}${op.line}`);
  }
  if (out.length > maxLines) {
    const hidden = out.length - maxLines;
    out.length = maxLines;
    out.push(`… ${hidden} more line${hidden === 1 ? "" : "s"}`);
  }
  return out.join("\n");
}

// Unified diff ranges are 1-based; an empty range names the line before it.
function range(index: number, count: number): string {
  return count === 1 ? `${index + 1}` : `${count === 0 ? index : index + 1},${count}`;
}

/** Every line of both texts as kept, removed or added, in order (an LCS alignment). */
function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  // Common head and tail cost nothing and keep the table small.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const n = a.length - head - tail;
  const m = b.length - head - tail;
  const ops: Op[] = [];
  for (let i = 0; i < head; i++) ops.push({ kind: " ", line: a[i]!, a: i, b: i });
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    for (let i = 0; i < n; i++) ops.push({ kind: "-", line: a[head + i]!, a: head + i, b: head });
    for (let j = 0; j < m; j++) ops.push({ kind: "+", line: b[head + j]!, a: head + n, b: head + j });
  } else {
    // lcs[i][j]: length of the LCS of a[head+i..] and b[head+j..].
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i]![j] = a[head + i] === b[head + j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[head + i] === b[head + j]) {
        ops.push({ kind: " ", line: a[head + i]!, a: head + i++, b: head + j++ });
      } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
        ops.push({ kind: "-", line: a[head + i]!, a: head + i++, b: head + j });
      } else {
        ops.push({ kind: "+", line: b[head + j]!, a: head + i, b: head + j++ });
      }
    }
  }
  for (let k = 0; k < tail; k++) ops.push({ kind: " ", line: a[a.length - tail + k]!, a: a.length - tail + k, b: b.length - tail + k });
  return ops;
}

/** Groups changes with `context` unchanged lines around them; nearby groups merge. */
function hunks(ops: readonly Op[], context: number): Op[][] {
  const changed = ops.flatMap((op, i) => (op.kind === " " ? [] : [i]));
  const groups: Op[][] = [];
  let start = -1;
  let end = -1;
  for (const i of changed) {
    if (start >= 0 && i - context <= end + context + 1) {
      end = i;
      continue;
    }
    if (start >= 0) groups.push(ops.slice(Math.max(0, start - context), Math.min(ops.length, end + context + 1)));
    start = end = i;
  }
  if (start >= 0) groups.push(ops.slice(Math.max(0, start - context), Math.min(ops.length, end + context + 1)));
  return groups;
}
