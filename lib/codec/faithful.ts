// Decides, by the value's structure, whether the codec brings an output back exactly as it is, and how.
import { Buffer } from "node:buffer";
import { planRows, type RowsPlan } from "./rows.ts";

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
  const seen = new Map<object, boolean>(); // true for the rows of a table
  // The superjson document each object is in: the output's, or the one of a wrapped object's contents.
  // superjson keeps a shared reference (and, oddly, a repeated NaN) by path within one document only, and
  // restores one met again as a Set item or Map key by deleting and re-adding it, which moves it last (and
  // one met first there does not always resolve).
  const documentOf = new Map<object, Scope>();
  const top: Scope = { nan: false };
  const inSets = new Set<object>(); // objects met as a Set item or Map key
  let plain = true;
  let tableRowMetAgain = false;
  const walk = (v: unknown, path: string, scope: Scope, inSet = false): void => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return;
      case "number":
        if (!Number.isFinite(v) || Object.is(v, -0)) plain = false;
        if (Number.isNaN(v)) {
          if (scope.nan && (inSet || scope.nanInSet)) throw movedInSet(path);
          scope.nan = true;
          scope.nanInSet = inSet;
        }
        return;
      case "undefined":
      case "bigint":
        plain = false;
        return;
      case "function":
        throw new UnstorableValue(path, "is a function, which cannot be stored");
      case "symbol":
        throw new UnstorableValue(path, "is a symbol, which cannot be stored");
    }
    if (v === null) return;
    const object = v as object;
    if (seen.has(object)) {
      if (seen.get(object)) {
        tableRowMetAgain = true; // (a table's rows are not walked: their document is the table's)
        return;
      }
      if (documentOf.get(object) !== scope) {
        throw new UnstorableValue(path, "is referred to both inside and outside an Error, a null-prototype object, an array with extra properties " +
          "or an object with a key named __proto__, constructor or prototype, and would read back as two copies");
      }
      if (inSet || inSets.has(object)) throw movedInSet(path);
      plain = false; // shared or cyclic: superjson keeps the identity
      return;
    }
    seen.set(object, false);
    documentOf.set(object, scope);
    if (inSet) inSets.add(object);
    const proto: object | null = Object.getPrototypeOf(object);
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
      if (!binaryPrototypes.has(proto!)) throw notBuiltIn(path, proto);
      plain = false; // (own properties of binary values are not looked at: that would list every element)
      return;
    }
    if (Array.isArray(object)) {
      if (proto !== Array.prototype) throw notBuiltIn(path, proto);
      if (!Object.isExtensible(object)) throw new UnstorableValue(path, "is frozen or sealed, which would read back as an ordinary array");
      for (let i = 0; i < object.length; i++) {
        if (!(i in object)) throw new UnstorableValue(`${path}[${i}]`, "is a hole in a sparse array, which would read back as undefined");
      }
      // With no holes, an array whose elements are all enumerable and that has no enumerable extra property
      // has as many keys as elements. Only otherwise are its own keys listed and checked one by one:
      // Object.keys takes ~70 ms per million elements, Reflect.ownKeys ~1.4 s and a descriptor per element
      // ~0.25 s, so accessors and read-only elements, and non-enumerable extra properties, of an array that
      // passes this count are not looked for.
      const extra = Object.keys(object).length === object.length && Object.getOwnPropertySymbols(object).length === 0 ? [] : arrayExtras(object, path);
      const table = columns && scope === top && extra.length === 0 ? planRows(object, seen) : undefined;
      if (table) {
        plain = false;
        tables.set(object, table);
        return;
      }
      if (extra.length > 0) {
        checkEntries(object, extra, path, true);
        wrapped.add(object);
        plain = false;
      }
      // A wrapped array's contents: items, then extra properties (the order of its document).
      const inner: Scope = extra.length > 0 ? { nan: false } : scope;
      for (let i = 0; i < object.length; i++) walk(object[i], `${path}[${i}]`, inner);
      for (const key of extra) walk((object as unknown as Record<string, unknown>)[key as string], member(path, key as string), inner);
      return;
    }
    if (proto !== null && leafPrototypes.has(proto)) {
      plain = false;
      if (proto === RegExp.prototype && (object as RegExp).lastIndex !== 0) {
        throw new UnstorableValue(path, `has lastIndex ${(object as RegExp).lastIndex}, which would read back as 0`);
      }
      const fresh = leafKeys.get(proto)!;
      const extra = Reflect.ownKeys(object).filter((k) => !fresh.includes(k));
      if (extra.length > 0) throw new UnstorableValue(member(path, String(extra[0])), `is an own property of a ${proto.constructor.name}, which would be dropped`);
      if (object instanceof Map) {
        let i = 0;
        for (const [k, item] of object) {
          walk(k, `${path}.<map key ${i}>`, scope, true);
          walk(item, `${path}.<map value ${i++}>`, scope);
        }
      } else if (object instanceof Set) {
        let i = 0;
        for (const item of object) walk(item, `${path}.<set item ${i++}>`, scope, true);
      }
      return;
    }
    const errorKind = proto === null ? undefined : errorKindOf.get(proto);
    if (errorKind !== undefined && Object.prototype.toString.call(object) === "[object Error]") {
      const keys = Reflect.ownKeys(object);
      checkEntries(object, keys.filter((k) => k !== "stack"), path, true);
      if (keys.includes("stack") && typeof (object as Error).stack !== "string") throw new UnstorableValue(`${path}.stack`, "is not a string");
      wrapped.add(object);
      plain = false;
      const inner: Scope = { nan: false };
      for (const key of keys) if (key !== "stack") walk((object as unknown as Record<string, unknown>)[key as string], member(path, key as string), inner);
      return;
    }
    if (proto !== null && proto !== Object.prototype) throw notBuiltIn(path, proto);
    if (!Object.isExtensible(object)) throw new UnstorableValue(path, "is frozen or sealed, which would read back as an ordinary object");
    const keys = Object.getOwnPropertyNames(object);
    checkEntries(object, keys, path, false);
    if (Object.getOwnPropertySymbols(object).length > 0) throw new UnstorableValue(path, "has symbol keys, which cannot be stored");
    const wrap = proto === null || keys.some((k) => guardedKeys.has(k));
    if (wrap) wrapped.add(object);
    if (proto === null) plain = false; // (a guarded key alone is exact in plain JSON: JSON.parse defines own keys)
    const inner: Scope = wrap ? { nan: false } : scope;
    for (const key of keys) walk((object as Record<string, unknown>)[key], member(path, key), inner);
  };
  walk(value, "output", top);
  if (!tableRowMetAgain) return { plain, tables, wrapped };
  // A row of a table is also referred to from elsewhere: columns would lose that identity.
  return inspectValue(value, false);
}

interface Scope {
  /** A NaN was met in this document, */
  nan: boolean;
  /** the first of them as a Set item or Map key. */
  nanInSet?: boolean;
}

function movedInSet(path: string): UnstorableValue {
  return new UnstorableValue(path, "is met twice in the output, once as a Set item or Map key, which superjson would not restore in place");
}

// Own properties must be data that reads back as it was: no accessors, writable and configurable, and
// enumerable unless `hidden` is allowed (Errors and arrays record which are enumerable).
function checkEntries(object: object, keys: readonly (string | symbol)[], path: string, hidden: boolean): void {
  for (const key of keys) {
    if (typeof key === "symbol") throw new UnstorableValue(path, "has symbol keys, which cannot be stored");
    const d = Object.getOwnPropertyDescriptor(object, key)!;
    const at = member(path, key);
    if (!("value" in d)) throw new UnstorableValue(at, "is a getter or setter, which cannot be stored (its current value would be stored as data)");
    if (!d.writable || !d.configurable) throw new UnstorableValue(at, "is read-only, which would read back as writable");
    if (!hidden && !d.enumerable) throw new UnstorableValue(at, "is non-enumerable, which would be dropped");
  }
}

// The own properties of `array` other than its elements and length, after checking that every element
// is plain data.
function arrayExtras(array: readonly unknown[], path: string): (string | symbol)[] {
  for (let i = 0; i < array.length; i++) {
    const d = Object.getOwnPropertyDescriptor(array, i)!;
    if (!("value" in d) || !d.enumerable || !d.writable || !d.configurable) {
      throw new UnstorableValue(`${path}[${i}]`, "is a getter, or a non-enumerable or read-only element, which would read back as a plain element");
    }
  }
  return Reflect.ownKeys(array).filter((k) => !isIndex(k, array.length));
}

function notBuiltIn(path: string, proto: object | null): UnstorableValue {
  const ctor = (proto as { constructor?: unknown } | null)?.constructor;
  const name = typeof ctor === "function" && ctor.name ? `class ${ctor.name}` : "an anonymous class";
  return new UnstorableValue(path, `is an instance of ${name}, which would read back as a plain ${baseOf(proto)}`);
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

function member(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
