// Decides, by the value's structure, whether the codec brings an output back exactly as it is, and how.
import { Buffer } from "node:buffer";
import { distinctRows, planRows, type RowsPlan } from "./rows.ts";
import { isLargeText, TEXT_CHARS_PER_OBJECT, textListChars } from "./text.ts";

/** The output holds something the codec cannot bring back as it was. */
export class UnstorableValue extends Error {
  readonly path: string;
  constructor(path: string, reason: string) {
    super(`${path} ${reason}`);
    this.path = path;
  }
}

/** The built-in Error kinds stored with their kind, by name (the name is what a payload records). */
export const ERROR_KINDS: ReadonlyMap<string, new () => Error> = new Map<string, new () => Error>([
  ["Error", Error], ["TypeError", TypeError], ["RangeError", RangeError], ["SyntaxError", SyntaxError],
  ["ReferenceError", ReferenceError], ["EvalError", EvalError], ["URIError", URIError],
  ["AggregateError", AggregateError as unknown as new () => Error],
]);
const errorKindOf = new Map<object, string>([...ERROR_KINDS].map(([name, kind]) => [kind.prototype, name]));

// Binary values go as raw sections: only these exact prototypes (a subclass would read back as its base).
const binaryPrototypes = new Set<object>([
  ArrayBuffer.prototype, DataView.prototype, Buffer.prototype, Int8Array.prototype, Uint8Array.prototype,
  Uint8ClampedArray.prototype, Int16Array.prototype, Uint16Array.prototype, Int32Array.prototype,
  Uint32Array.prototype, Float32Array.prototype, Float64Array.prototype, BigInt64Array.prototype,
  BigUint64Array.prototype,
  ...("Float16Array" in globalThis ? [(globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array.prototype] : []),
]);
// Kept by superjson from their contents alone, so they must have no own properties but those a fresh one
// has (a RegExp's lastIndex, at 0; in Deno a URL's brand symbol).
const leafKeys = new Map<object, readonly (string | symbol)[]>(
  [new Date(0), /x/, new URL("http://x/"), new Map(), new Set()].map((fresh) => [Object.getPrototypeOf(fresh), Reflect.ownKeys(fresh)]),
);
const leafPrototypes = new Set(leafKeys.keys());
// Keys superjson refuses as a prototype-pollution risk: an object holding one goes as a list of entries.
const guardedKeys = new Set(["__proto__", "constructor", "prototype"]);

/** What {@link inspectValue} found: how to encode the value. */
export interface Inspection {
  /** Plain JSON represents the value exactly. */
  readonly plain: boolean;
  /** Arrays of rows to store as columns (lib/codec/rows.ts). */
  readonly tables: Map<object, RowsPlan>;
  /**
   * Objects superjson would reshape, to store as their kind and own entries: Errors, null-prototype
   * objects, objects with a guarded key, arrays with extra properties.
   */
  readonly wrapped: Set<object>;
  /** Arrays of strings to store as one UTF-8 text (lib/codec/text.ts). */
  readonly texts: Set<object>;
}

/**
 * Walks `value` and says how the codec stores it exactly: every object must have a prototype the codec
 * rebuilds (plain objects, null, arrays, Map, Set, Date, RegExp, URL, binary data, the built-in Errors)
 * and own properties that are plain data (no getters, symbol keys, non-enumerable or read-only ones
 * where they would not come back, no holes); anything else is refused, naming its path and the reason.
 *
 * @throws UnstorableValue for the first part of `value` that would not read back as it is.
 */
export function inspectValue(value: unknown, columns = true): Inspection {
  const tables = new Map<object, RowsPlan>();
  const wrapped = new Set<object>();
  const texts = new Set<object>();
  // Characters of large strings and lists of strings met, which go as UTF-8 sections if the output is
  // not plain JSON, and make it so if there are enough of them (lib/codec/text.ts).
  let textChars = 0;
  // Every object met so far, with the superjson document it is in: the output's, or the one of a wrapped
  // object's contents (ROW for the rows of a table, which are in no document: they go as columns).
  // superjson keeps a shared reference (and, oddly, a repeated NaN) by path within one document only, and
  // restores one met again as a Set item or Map key by deleting and re-adding it, which moves it last (and
  // one met first there does not always resolve).
  const seen = new Map<object, Scope>();
  const top: Scope = { nan: false };
  const inSets = new Set<object>(); // objects met as a Set item or Map key
  // Where the walk is, from the output down; made into a path only for an error.
  const trail: Segment[] = [];
  const refuse = (reason: string, ...last: Segment[]) => new UnstorableValue(pathOf(trail, last), reason);
  let plain = true;
  const number = (v: number, scope: Scope, inSet: boolean): void => {
    if (jsonNumber(v)) return;
    plain = false;
    if (v !== v) {
      if (scope.nan && (inSet || scope.nanInSet)) throw refuse(MOVED_IN_SET);
      scope.nan = true;
      scope.nanInSet = inSet;
    }
  };
  const walk = (v: unknown, scope: Scope, inSet = false): void => {
    switch (typeof v) {
      case "string":
        if (isLargeText(v)) textChars += v.length;
        return;
      case "boolean":
        return;
      case "number":
        return number(v, scope, inSet);
      case "undefined":
      case "bigint":
        plain = false;
        return;
      case "function":
        throw refuse("is a function, which cannot be stored");
      case "symbol":
        throw refuse("is a symbol, which cannot be stored");
    }
    if (v === null) return;
    const object = v as object;
    const metIn = seen.get(object);
    if (metIn !== undefined) {
      if (metIn === ROW) throw AGAIN; // (a table's rows are not walked: their document is the table's)
      if (metIn !== scope) {
        throw refuse("is referred to both inside and outside an Error, a null-prototype object, an array with extra properties " +
          "or an object with a key named __proto__, constructor or prototype, and would read back as two copies");
      }
      if (inSet || inSets.has(object)) throw refuse(MOVED_IN_SET);
      plain = false; // shared or cyclic: superjson keeps the identity
      return;
    }
    seen.set(object, scope);
    if (inSet) inSets.add(object);
    const proto: object | null = Object.getPrototypeOf(object);
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
      if (!binaryPrototypes.has(proto!)) throw notBuiltIn(refuse, proto);
      plain = false; // (own properties of binary values are not looked at: that would list every element)
      return;
    }
    if (Array.isArray(object)) return walkArray(object, proto, scope);
    if (proto === Object.prototype || proto === null) return walkObject(object as Record<string, unknown>, proto, scope);
    if (proto !== null && leafPrototypes.has(proto)) return walkLeaf(object, proto, scope);
    const errorKind = proto === null ? undefined : errorKindOf.get(proto);
    if (errorKind !== undefined && Object.prototype.toString.call(object) === "[object Error]") return walkError(object as Error);
    throw notBuiltIn(refuse, proto);
  };
  // A member's value, walked with its key on the trail.
  const walkAt = (v: unknown, at: Segment, scope: Scope, inSet = false): void => {
    trail.push(at);
    walk(v, scope, inSet);
    trail.pop();
  };
  const walkObject = (object: Record<string, unknown>, proto: object | null, scope: Scope): void => {
    if (!Object.isExtensible(object)) throw refuse("is frozen or sealed, which would read back as an ordinary object");
    const keys = Object.getOwnPropertyNames(object);
    checkEntries(object, keys, refuse, false);
    if (Object.getOwnPropertySymbols(object).length > 0) throw refuse("has symbol keys, which cannot be stored");
    let wrap = proto === null;
    for (let i = 0; i < keys.length && !wrap; i++) wrap = guardedKeys.has(keys[i]!);
    if (wrap) wrapped.add(object);
    if (proto === null) plain = false; // (a guarded key alone is exact in plain JSON: JSON.parse defines own keys)
    const inner: Scope = wrap ? { nan: false } : scope;
    for (let i = 0; i < keys.length; i++) walkAt(object[keys[i]!], keys[i]!, inner);
  };
  const walkArray = (array: unknown[], proto: object | null, scope: Scope): void => {
    if (proto !== Array.prototype) throw notBuiltIn(refuse, proto);
    if (!Object.isExtensible(array)) throw refuse("is frozen or sealed, which would read back as an ordinary array");
    // An array whose elements are all there and enumerable and that has no enumerable extra property has
    // as many keys as elements. Only otherwise are its own keys listed and checked one by one:
    // Object.keys takes ~70 ms per million elements, Reflect.ownKeys ~1.4 s and a descriptor per element
    // ~0.25 s, so accessors and read-only elements, and non-enumerable extra properties, of an array that
    // passes this count are not looked for.
    const n = array.length;
    const extra = Object.keys(array).length === n && Object.getOwnPropertySymbols(array).length === 0 ? [] : arrayExtras(array, refuse);
    if (columns && scope === top && extra.length === 0) {
      const table = planRows(array);
      if (table) {
        // The whole output, with rows that cannot repeat: no row can be met again (their values are primitives).
        if (array !== value || !distinctRows(table)) addRows(array);
        plain = false;
        tables.set(array, table);
        return;
      }
    }
    if (extra.length > 0) {
      checkEntries(array, extra, refuse, true);
      wrapped.add(array);
      plain = false;
    }
    // A wrapped array's contents: items, then extra properties (the order of its document).
    const inner: Scope = extra.length > 0 ? { nan: false } : scope;
    const chars = extra.length === 0 ? textListChars(array) : 0;
    if (chars > 0) {
      texts.add(array);
      textChars += chars;
    }
    for (let i = 0; i < n; i++) {
      // (Own, not `in` or reading undefined: a hole reads through to Array.prototype, which may have an index)
      if (!Object.hasOwn(array, i)) throw refuse("is a hole in a sparse array, which would read back as undefined", i);
      const item = array[i];
      if (typeof item === "boolean" || (typeof item === "number" && jsonNumber(item))) continue;
      if (typeof item === "string") {
        if (chars === 0 && isLargeText(item)) textChars += item.length;
        continue;
      }
      walkAt(item, i, inner);
    }
    for (const key of extra) walkAt((array as unknown as Record<string, unknown>)[key as string], key as string, inner);
  };
  // The rows of a table, which must each be met for the first time. (One insertion per row, the size
  // telling whether it was there: an insertion takes ~0.3 us, twice what checking a row's shape does.)
  const addRows = (rows: readonly unknown[]): void => {
    for (let i = 0; i < rows.length; i++) {
      const size = seen.size;
      seen.set(rows[i] as object, ROW);
      if (seen.size === size) throw AGAIN; // (the entry it replaced is lost: the walk starts over)
    }
  };
  const walkLeaf = (object: object, proto: object, scope: Scope): void => {
    plain = false;
    if (proto === RegExp.prototype && (object as RegExp).lastIndex !== 0) {
      throw refuse(`has lastIndex ${(object as RegExp).lastIndex}, which would read back as 0`);
    }
    const fresh = leafKeys.get(proto)!;
    const extra = Reflect.ownKeys(object).filter((k) => !fresh.includes(k));
    if (extra.length > 0) throw refuse(`is an own property of a ${proto.constructor.name}, which would be dropped`, String(extra[0]));
    if (object instanceof Map) {
      let i = 0;
      for (const [k, item] of object) {
        walkAt(k, { text: `.<map key ${i}>` }, scope, true);
        walkAt(item, { text: `.<map value ${i++}>` }, scope);
      }
    } else if (object instanceof Set) {
      let i = 0;
      for (const item of object) walkAt(item, { text: `.<set item ${i++}>` }, scope, true);
    }
  };
  const walkError = (error: Error): void => {
    const keys = Reflect.ownKeys(error);
    checkEntries(error, keys.filter((k) => k !== "stack"), refuse, true);
    if (keys.includes("stack") && typeof error.stack !== "string") throw refuse("is not a string", "stack");
    wrapped.add(error);
    plain = false;
    const inner: Scope = { nan: false };
    for (const key of keys) if (key !== "stack") walkAt((error as unknown as Record<string, unknown>)[key as string], key as string, inner);
  };
  try {
    walk(value, top);
  } catch (error) {
    if (error !== AGAIN) throw error;
    return inspectValue(value, false);
  }
  if (plain && textChars > 0 && textChars >= TEXT_CHARS_PER_OBJECT * seen.size) plain = false;
  return { plain, tables, wrapped, texts };
}

// Thrown when a row of a table is met again (twice in tables, or also elsewhere): columns would lose
// that identity, so the walk starts over with no tables.
const AGAIN = Symbol("again");

// Finite, and not -0: plain JSON writes it exactly.
function jsonNumber(v: number): boolean {
  return v - v === 0 && (v !== 0 || 1 / v > 0);
}

/** A step of a path: a member's key, an index, or a Map's or Set's part, as written. */
type Segment = string | number | { readonly text: string };
type Refuse = (reason: string, ...last: Segment[]) => UnstorableValue;

function pathOf(trail: readonly Segment[], last: readonly Segment[]): string {
  let path = "output";
  for (const step of [...trail, ...last]) {
    path += typeof step === "number" ? `[${step}]` : typeof step === "string" ? member(step) : step.text;
  }
  return path;
}

const MOVED_IN_SET = "is met twice in the output, once as a Set item or Map key, which superjson would not restore in place";

// The document of a table's rows.
const ROW: Scope = { nan: false };

interface Scope {
  /** A NaN was met in this document, */
  nan: boolean;
  /** the first of them as a Set item or Map key. */
  nanInSet?: boolean;
}

// Own properties must be data that reads back as it was: no accessors, writable and configurable, and
// enumerable unless `hidden` is allowed (Errors and arrays record which are enumerable).
function checkEntries(object: object, keys: readonly (string | symbol)[], refuse: Refuse, hidden: boolean): void {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (typeof key === "symbol") throw refuse("has symbol keys, which cannot be stored");
    const d = Object.getOwnPropertyDescriptor(object, key)!;
    if (d.writable === true && d.configurable === true && (hidden || d.enumerable === true)) continue;
    if (!("value" in d)) throw refuse("is a getter or setter, which cannot be stored (its current value would be stored as data)", key);
    if (!d.writable || !d.configurable) throw refuse("is read-only, which would read back as writable", key);
    throw refuse("is non-enumerable, which would be dropped", key);
  }
}

// The own properties of `array` other than its elements and length, after checking that every element
// is plain data.
function arrayExtras(array: readonly unknown[], refuse: Refuse): (string | symbol)[] {
  for (let i = 0; i < array.length; i++) {
    const d = Object.getOwnPropertyDescriptor(array, i);
    if (d === undefined) throw refuse("is a hole in a sparse array, which would read back as undefined", i);
    if (!("value" in d) || !d.enumerable || !d.writable || !d.configurable) {
      throw refuse("is a getter, or a non-enumerable or read-only element, which would read back as a plain element", i);
    }
  }
  return Reflect.ownKeys(array).filter((k) => !isIndex(k, array.length));
}

function notBuiltIn(refuse: Refuse, proto: object | null): UnstorableValue {
  const ctor = (proto as { constructor?: unknown } | null)?.constructor;
  const name = typeof ctor === "function" && ctor.name ? `class ${ctor.name}` : "an anonymous class";
  return refuse(`is an instance of ${name}, which would read back as a plain ${baseOf(proto)}`);
}

function baseOf(proto: object | null): string {
  for (let p = proto; p; p = Object.getPrototypeOf(p)) {
    if (p === Array.prototype) return "array";
    if (leafPrototypes.has(p) || binaryPrototypes.has(p) || errorKindOf.has(p)) return (p as { constructor: { name: string } }).constructor.name;
  }
  return "object";
}

/** Whether `key` is `length` or an element of an array that long (not "-1", "1.5" or "01": those are extra properties). */
export function isIndex(key: string | symbol, length: number): boolean {
  if (typeof key !== "string") return false;
  if (key === "length") return true;
  const n = Number(key);
  return Number.isInteger(n) && n >= 0 && n < length && String(n) === key;
}

function member(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
