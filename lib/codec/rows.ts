// Tables as columns: an array of same-shaped plain objects (a parsed CSV, query rows) is stored one typed column per key, exactly.
//
// Measured (1M rows of 5 fields, Node 24 and Deno 2.9): JSON.stringify + UTF-8 ~0.5 s and JSON.parse ~0.6 s,
// against ~0.3 s to plan and encode these columns (mostly the per-row checks) and ~0.03-0.1 s to rebuild
// the rows with a generated builder (~0.3 s filling copies of a template key by key, without one).

/** Arrays shorter than this go through the general path: the columns' fixed cost would not pay. */
export const MIN_ROWS = 64;

/**
 * Tables shorter than this are rebuilt without a generated builder: making one costs ~0.1 ms (for keys
 * not seen before), which it wins back at ~0.2 µs a row.
 */
export const BUILD_ROWS = 512;

// Numbers that fit an Int32Array, numbers, booleans: each with an optional null mask. Strings (and nulls)
// as a dictionary of distinct values plus indexes, or as one JSON list when most values are distinct.
type Kind = "int" | "num" | "bool" | "str";

/** How an array of rows will be stored: its keys, in order, and each column's values as planning read them. */
export interface RowsPlan {
  readonly keys: readonly string[];
  readonly columns: readonly Gathered[];
}

/** One column as the document describes it; `s`, `m` and `d` are indexes of binary sections. */
// (Type aliases, not interfaces, so that they are JSON values to superjson's types.)
type Column =
  | { k: "int" | "num" | "bool"; s: number; m?: number }
  | { k: "dict"; d: number; s: number; w: 1 | 2 | 4 }
  | { k: "strs"; s: number };

/** The document that stands for the rows; the values themselves are in binary sections. */
export type RowsDoc = { n: number; keys: string[]; cols: Column[] };

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * The plan for `array` if it can be stored as columns exactly: at least {@link MIN_ROWS} rows, each a
 * plain object (Object.prototype, extensible, no symbol keys, every property plain data) with the same
 * keys in the same order, each value a number, string, boolean or null, every column one kind (nulls
 * allowed). Otherwise undefined, and the general path stores the array. One pass, which stops at the
 * first row that does not fit and gathers the columns' values as it goes (each value read once; planning
 * and encoding 1M rows of 5 fields take ~0.3 s of CPU, as with a second pass to encode, most of it the
 * per-row checks); values are read from their descriptors, so no getter runs. That no row is met twice (columns cannot keep an identity) is for the
 * caller to check.
 */
export function planRows(array: readonly unknown[]): RowsPlan | undefined {
  if (array.length < MIN_ROWS || !isRow(array[0])) return undefined;
  const keys = Object.getOwnPropertyNames(array[0]);
  const width = keys.length;
  if (width === 0 || keys.includes("__proto__")) return undefined;
  const n = array.length;
  const columns = keys.map(() => new Gathered(n));
  for (let i = 0; i < n; i++) {
    const row = array[i];
    if (!isRow(row) || !Object.hasOwn(array, i)) return undefined; // (a hole reads through to Array.prototype)
    const own = Object.getOwnPropertyNames(row);
    if (own.length !== width) return undefined;
    for (let c = 0; c < width; c++) {
      const key = keys[c]!;
      if (own[c] !== key) return undefined;
      // A property the columns rebuild as it was: plain data, enumerable, writable, configurable (an
      // accessor's descriptor has no `writable`).
      const d = Object.getOwnPropertyDescriptor(row, key)!;
      if (d.writable !== true || d.enumerable !== true || d.configurable !== true || !columns[c]!.add(i, d.value)) return undefined;
    }
  }
  return { keys, columns };
}

/**
 * One column's values while planning: numbers and booleans (as 1 and 0) in a Float64Array, made an
 * Int32Array or bytes once the column is known to hold only those, with a mask of nulls; strings (and
 * nulls) as indexes into a dictionary of distinct values, until there are too many of those to pay.
 */
class Gathered {
  kind: Kind | "null" = "null";
  numbers: Float64Array | undefined;
  nulls: Uint8Array | undefined;
  // Each distinct string (or null) with its index, and each row's index; dropped when most values are distinct.
  ids: Map<string | null, number> | undefined;
  indexes: Uint32Array | undefined;

  readonly n: number;

  constructor(n: number) {
    this.n = n;
  }

  /** Adds row `i`'s value; false when the column cannot hold it. */
  add(i: number, value: unknown): boolean {
    const kind = kindOf(value);
    if (kind === undefined) return false;
    if (kind !== this.kind && kind !== "null" && !this.become(kind, i)) return false;
    if (this.kind === "str") {
      const ids = this.ids;
      if (ids === undefined) return true;
      let id = ids.get(value as string | null);
      if (id === undefined) {
        ids.set(value as string | null, id = ids.size);
        if (ids.size > this.n / 4) return (this.ids = this.indexes = undefined, true);
      }
      this.indexes![i] = id;
    } else if (value === null) (this.nulls ??= new Uint8Array(this.n))[i] = 1;
    else this.numbers![i] = value as number; // (while the kind is still "null", values are all null)
    return true;
  }

  // From nulls only to the first kind; or from int to num, and num stays num with an int.
  private become(kind: Kind, i: number): boolean {
    if (this.kind === "null") {
      this.kind = kind;
      if (kind !== "str") this.numbers = new Float64Array(this.n);
      else {
        this.ids = new Map<string | null, number>(i > 0 ? [[null, 0]] : []); // (rows before i were null: index 0 already)
        this.indexes = new Uint32Array(this.n);
        this.nulls = undefined;
      }
      return true;
    }
    if (this.kind === "int" && kind === "num") this.kind = "num";
    return this.kind === kind || (this.kind === "num" && kind === "int");
  }
}

/**
 * Whether no two of the rows planned can be the same object, because some number column holds a
 * different number in each row: already ascending (an id column), or so once a copy is sorted (~30-80 ms
 * per million, against ~0.3 s to track each row's identity). False when that column does not show it,
 * not that two rows are the same.
 */
export function distinctRows(plan: RowsPlan): boolean {
  const column = plan.columns.find(({ kind }) => kind === "int" || kind === "num");
  if (column === undefined || column.nulls !== undefined) return false;
  const values = column.numbers!;
  let ascending = true;
  for (let i = 1; i < values.length && ascending; i++) ascending = values[i - 1]! < values[i]!; // (not for equal, or NaN)
  if (ascending) return true;
  const sorted = column.kind === "int" ? new Int32Array(values).sort() : values.slice().sort();
  for (let i = 1; i < sorted.length; i++) if (!(sorted[i - 1]! < sorted[i]!)) return false;
  return true;
}

function isRow(value: unknown): value is object {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype &&
    Object.isExtensible(value) && Object.getOwnPropertySymbols(value).length === 0;
}

function kindOf(value: unknown): Kind | "null" | undefined {
  switch (typeof value) {
    case "number":
      return (value | 0) === value && !Object.is(value, -0) ? "int" : "num";
    case "string":
      return "str";
    case "boolean":
      return "bool";
    case "object":
      return value === null ? "null" : undefined;
    default:
      return undefined; // undefined, bigint and the rest go through the general path
  }
}

/** Encodes `rows` as planned; `push` adds a binary section and returns its index. */
export function encodeRows(rows: readonly Record<string, unknown>[], plan: RowsPlan, push: (bytes: Uint8Array) => number): RowsDoc {
  const cols = plan.columns.map((column, c): Column => {
    const { kind, numbers, nulls, ids, indexes } = column;
    if (kind === "str" || kind === "null") {
      if (kind === "null") return { k: "dict", d: push(json([null])), s: push(new Uint8Array(rows.length)), w: 1 }; // (a column of nulls only)
      if (ids === undefined) return { k: "strs", s: push(json(rows.map((row) => row[plan.keys[c]!]))) };
      const w = ids.size <= 256 ? 1 : ids.size <= 65_536 ? 2 : 4;
      const narrow = w === 1 ? new Uint8Array(indexes!) : w === 2 ? new Uint16Array(indexes!) : indexes!;
      return { k: "dict", d: push(json([...ids.keys()])), s: push(new Uint8Array(narrow.buffer)), w };
    }
    const values = kind === "int" ? new Int32Array(numbers!) : kind === "num" ? numbers! : new Uint8Array(numbers!);
    const s = push(new Uint8Array(values.buffer));
    return nulls ? { k: kind, s, m: push(nulls) } : { k: kind, s };
  });
  return { n: rows.length, keys: [...plan.keys], cols };
}

// JSON keeps every string exactly, lone surrogates included (escaped since ES2019).
function json(values: readonly unknown[]): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(values));
}

/**
 * Rebuilds the rows of `doc` from its sections (`section(i)` is the i-th section's own buffer). Each row
 * is a fresh plain object with the keys in their stored order.
 *
 * @throws the error `corrupt` makes, when the document or a section does not fit.
 */
export function decodeRows(doc: unknown, section: (i: number) => ArrayBuffer, corrupt: (why: string) => Error): Record<string, unknown>[] {
  const { n, keys, cols } = checkDoc(doc, corrupt);
  const readers = cols.map((col) => column(col, n, section, corrupt));
  const build = codeGeneration && n >= BUILD_ROWS ? builder(keys, readers) : undefined;
  return build ? build(n, readers.flatMap((r) => r.arrays)) : fillRows(n, keys, readers);
}

// A column as the rows are built from it: the arrays it reads, its value at row `i` as an expression
// over them (`$0`, `$1`, ... stand for them), and the same as values by row (the array itself when it
// holds them as they are).
interface Reader {
  readonly arrays: readonly ArrayLike<unknown>[];
  readonly expression: string;
  readonly at: ArrayLike<unknown> | ((i: number) => unknown);
}

function column(col: Column, n: number, section: (i: number) => ArrayBuffer, corrupt: (why: string) => Error): Reader {
  const sized = <T extends { length: number }>(values: T): T => {
    if (values.length !== n) throw corrupt("a column of the table has the wrong length");
    return values;
  };
  const list = (i: number): unknown[] => {
    const parsed: unknown = JSON.parse(utf8Decoder.decode(section(i)));
    if (!Array.isArray(parsed)) throw corrupt("a string column of the table is not a list");
    return parsed;
  };
  switch (col.k) {
    case "strs": {
      const values = sized(list(col.s));
      return { arrays: [values], expression: "$0[i]", at: values };
    }
    case "dict": {
      const dictionary = list(col.d);
      const buffer = section(col.s);
      const indexes = sized(col.w === 1 ? new Uint8Array(buffer) : col.w === 2 ? new Uint16Array(buffer) : new Uint32Array(buffer));
      for (let i = 0; i < n; i++) if (indexes[i]! >= dictionary.length) throw corrupt("a string column of the table points past its dictionary");
      return { arrays: [dictionary, indexes], expression: "$0[$1[i]]", at: (i) => dictionary[indexes[i]!] };
    }
    default: {
      const buffer = section(col.s);
      const values = sized(col.k === "int" ? new Int32Array(buffer) : col.k === "num" ? new Float64Array(buffer) : new Uint8Array(buffer));
      const value = col.k === "bool" ? "$0[i] === 1" : "$0[i]";
      if (col.m === undefined) return { arrays: [values], expression: value, at: col.k === "bool" ? (i) => values[i] === 1 : values };
      const mask = sized(new Uint8Array(section(col.m)));
      const at = col.k === "bool" ? (i: number) => (mask[i] ? null : values[i] === 1) : (i: number) => (mask[i] ? null : values[i]);
      return { arrays: [values, mask], expression: `$1[i] !== 0 ? null : ${value}`, at };
    }
  }
}

// Whether this process lets code be made from strings (Node's --disallow-code-generation-from-strings does not).
let codeGeneration = true;

/**
 * A function that builds the rows with one object literal of the stored keys: `(n, arrays) => rows`, the
 * arrays of all the readers in order.
 * ~10x faster than filling copies of a template key by key (1M rows of 5 fields: ~30 ms against ~0.3 s
 * under Node and Deno), as each row is made whole in its final shape. The code holds only the keys, as
 * JSON string literals (which JavaScript reads as the same strings; `__proto__`, which a literal would
 * take for the prototype, is refused by checkDoc), and fixed expressions. Undefined where code cannot be
 * made from strings.
 */
function builder(keys: readonly string[], readers: readonly Reader[]): ((n: number, arrays: unknown[]) => Record<string, unknown>[]) | undefined {
  const names: string[] = [];
  const fields = readers.map((reader, c) => {
    const local = reader.arrays.map((_, a) => `c${c}_${a}`);
    for (const name of local) names.push(`${name} = arrays[${names.length}]`);
    return `${JSON.stringify(keys[c])}: ${reader.expression.replace(/\$(\d)/g, (_, a: string) => local[Number(a)]!)}`;
  });
  try {
    return new Function("n", "arrays", `const ${names.join(", ")};\nconst rows = new Array(n);\nfor (let i = 0; i < n; i++) rows[i] = { ${fields.join(", ")} };\nreturn rows;`) as never;
  } catch (error) {
    if (!(error instanceof EvalError)) throw error;
    codeGeneration = false;
    return undefined;
  }
}

// Without code from strings: copies of one template (one shape for all, no transitions while filling),
// filled one column at a time, so that each store site sees one property name.
function fillRows(n: number, keys: readonly string[], readers: readonly Reader[]): Record<string, unknown>[] {
  const template: Record<string, unknown> = {};
  for (const key of keys) template[key] = null;
  const rows: Record<string, unknown>[] = new Array(n);
  for (let i = 0; i < n; i++) rows[i] = { ...template };
  readers.forEach(({ at }, c) => fill(rows, keys[c]!, at));
  return rows;
}

function fill(rows: Record<string, unknown>[], key: string, values: Reader["at"]): void {
  if (typeof values === "function") for (let i = 0; i < rows.length; i++) rows[i]![key] = values(i);
  else for (let i = 0; i < rows.length; i++) rows[i]![key] = values[i];
}

function checkDoc(doc: unknown, corrupt: (why: string) => Error): RowsDoc {
  const d = doc as Partial<RowsDoc> | null;
  const ok = typeof d === "object" && d !== null && Number.isSafeInteger(d.n) && d.n! >= 0 && Array.isArray(d.keys) &&
    d.keys.every((k) => typeof k === "string" && k !== "__proto__") && new Set(d.keys).size === d.keys.length && Array.isArray(d.cols) && d.cols.length === d.keys.length &&
    d.cols.every((c) => typeof c === "object" && c !== null && ["int", "num", "bool", "dict", "strs"].includes(c.k));
  if (!ok) throw corrupt("garbled table");
  return d as RowsDoc;
}
