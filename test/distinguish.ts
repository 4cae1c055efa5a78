// A test oracle written apart from lib/keys/args.ts: whether some function could tell two values apart by
// looking at them (prototype, internal state, own properties with their attributes, extensibility), and
// the generated values the property tests feed to both.
//
// What it deliberately does not look at is what nbmemo documents it does not key (README, "What the key
// covers"): identity and sharing (`a === b`), the order of object keys and of Set/Map insertion, an
// error's stack, the bytes of a view's buffer outside the view, and properties added to a typed array.
import { Buffer } from "node:buffer";
import fc from "fast-check";

/** Whether no function that inspects `a` and `b` (not their identity) can tell them apart. */
export function indistinguishable(a: unknown, b: unknown): boolean {
  return same(a, b, [], []);
}

function same(a: unknown, b: unknown, above: object[], aboveB: object[]): boolean {
  if (typeof a !== typeof b) return false;
  if (a === null || b === null || (typeof a !== "object" && typeof a !== "function")) return Object.is(a, b);
  const x = a as object;
  const y = b as object;
  const i = above.indexOf(x);
  const j = aboveB.indexOf(y);
  if (i >= 0 || j >= 0) return i === j;
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return false;
  const inner = [...above, x];
  const innerB = [...aboveB, y];
  const deeper = (u: unknown, v: unknown) => same(u, v, inner, innerB);
  const keyed = (x as { [k: symbol]: unknown })[Symbol.for("nbmemo.key")];
  if (typeof keyed === "function") return deeper(keyed.call(x), (y as { [k: symbol]: () => unknown })[Symbol.for("nbmemo.key")]!());
  const tag = Object.prototype.toString.call(x);
  if (tag !== Object.prototype.toString.call(y)) return false;
  const slots = internalSlots(x, y, deeper);
  if (slots === false) return false;
  if (Object.isExtensible(x) !== Object.isExtensible(y)) return false;
  if (slots === "view") return true; // a typed array's own properties are not keyed
  const skip = (key: string | symbol) => (isError(x) && key === "stack") ||
    (x instanceof String && (key === "length" || (typeof key === "string" && /^\d+$/.test(key) && Number(key) < (x as String).length)));
  const keys = Reflect.ownKeys(x).filter((k) => !skip(k));
  const keysB = Reflect.ownKeys(y).filter((k) => !skip(k));
  if (keys.length !== keysB.length || !keys.every((k) => keysB.includes(k))) return false;
  return keys.every((key) => {
    const d = Reflect.getOwnPropertyDescriptor(x, key)!;
    const e = Reflect.getOwnPropertyDescriptor(y, key)!;
    return d.enumerable === e.enumerable && d.writable === e.writable && d.configurable === e.configurable && deeper(d.value, e.value);
  });
}

function isError(value: object): boolean {
  return Object.prototype.toString.call(value) === "[object Error]";
}

// Compares what lives in internal slots: false if it differs, "view" for a typed array (whose
// properties are not compared), true otherwise.
function internalSlots(x: object, y: object, deeper: (u: unknown, v: unknown) => boolean): boolean | "view" {
  const call = <T>(f: (this: object) => T, on: object): T | typeof NONE => {
    try {
      return f.call(on);
    } catch {
      return NONE;
    }
  };
  const both = <T>(f: (this: object) => T, eq: (u: T, v: T) => boolean = Object.is): boolean | undefined => {
    const u = call(f, x);
    const v = call(f, y);
    if ((u === NONE) !== (v === NONE)) return false;
    return u === NONE ? undefined : eq(u as T, v as T);
  };
  const bytes = (u: Uint8Array, v: Uint8Array) => u.length === v.length && u.every((byte, k) => byte === v[k]);
  const typedName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype), Symbol.toStringTag)!.get!;
  if (typedName.call(x) !== typedName.call(y)) return false;
  if (typedName.call(x) !== undefined) {
    const u = x as Uint8Array;
    const v = y as Uint8Array;
    return (Buffer.isBuffer(u) === Buffer.isBuffer(v)) &&
      bytes(new Uint8Array(u.buffer, u.byteOffset, u.byteLength), new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) && "view";
  }
  const checks: (boolean | undefined)[] = [
    both(function (this: object) {
      return Reflect.get(DataView.prototype, "byteLength", this) as number;
    }),
    both(function (this: object) {
      const view = this as DataView;
      return new Uint8Array(Reflect.get(DataView.prototype, "buffer", view) as ArrayBuffer, view.byteOffset, view.byteLength);
    }, bytes),
    both(function (this: object) {
      return new Uint8Array(this as ArrayBuffer).slice();
    }, bytes),
    both(function (this: object) {
      return Date.prototype.getTime.call(this);
    }),
    both(function (this: object) {
      return `${Reflect.get(RegExp.prototype, "source", this)}/${Reflect.get(RegExp.prototype, "flags", this)}`;
    }),
    both(function (this: object) {
      return Number.prototype.valueOf.call(this);
    }),
    both(function (this: object) {
      return String.prototype.valueOf.call(this);
    }),
    both(function (this: object) {
      return Boolean.prototype.valueOf.call(this);
    }),
    both(function (this: object) {
      return BigInt.prototype.valueOf.call(this);
    }),
    both(function (this: object) {
      return Symbol.prototype.valueOf.call(this);
    }),
    both(function (this: object) {
      return [...Map.prototype.entries.call(this)];
    }, (u, v) => matches(u, v, ([k, w], [l, z]) => deeper(k, l) && deeper(w, z))),
    both(function (this: object) {
      return [...Set.prototype.values.call(this)];
    }, (u, v) => matches(u, v, deeper)),
  ];
  return !checks.includes(false);
}

const NONE = Symbol("none");

// Whether the members of `u` and `v` pair up one to one (order aside).
function matches<T>(u: T[], v: T[], eq: (p: T, q: T) => boolean): boolean {
  if (u.length !== v.length) return false;
  const left = [...v];
  return u.every((p) => {
    const k = left.findIndex((q) => eq(p, q));
    return k >= 0 && left.splice(k, 1).length === 1;
  });
}

// ---- Generated values -------------------------------------------------------------------------------

/** A description of a value, built into fresh objects by {@link build} (so that two builds are equal, not identical). */
export type Spec =
  | { readonly t: "prim"; readonly v: Prim }
  | { readonly t: "array"; readonly items: readonly (Spec | "hole")[]; readonly extra: readonly Prop[]; readonly lock: Lock }
  | { readonly t: "object"; readonly proto: "object" | "null"; readonly props: readonly Prop[]; readonly lock: Lock }
  | { readonly t: "map"; readonly entries: readonly (readonly [Spec, Spec])[] }
  | { readonly t: "set"; readonly items: readonly Spec[] }
  | { readonly t: "typed"; readonly type: string; readonly bytes: readonly number[]; readonly offset: number }
  | { readonly t: "dataview"; readonly bytes: readonly number[]; readonly offset: number; readonly extra: readonly Prop[] }
  | { readonly t: "buffer"; readonly shared: boolean; readonly bytes: readonly number[] }
  | { readonly t: "date"; readonly time: number; readonly extra: readonly Prop[] }
  | { readonly t: "regexp"; readonly source: string; readonly flags: string; readonly lastIndex: number }
  | { readonly t: "error"; readonly type: string; readonly message: string | undefined; readonly cause: Spec | undefined; readonly extra: readonly Prop[] }
  | { readonly t: "boxed"; readonly v: Prim }
  | { readonly t: "keyed"; readonly data: Spec }
  | { readonly t: "ref"; readonly up: number }
  | { readonly t: "refused"; readonly what: Refused };

type Prim = number | string | bigint | boolean | null | undefined | { readonly symbol: string };
type Lock = "none" | "prevent" | "seal" | "freeze";
type Refused = "class" | "proxy" | "getter" | "arguments" | "create" | "unique symbol" | "promise" | "weakmap" | "subclass";
export interface Prop {
  readonly key: string | { readonly symbol: string };
  readonly value: Spec;
  readonly enumerable: boolean;
  readonly writable: boolean;
  readonly configurable: boolean;
}

// Few distinct leaves, so that generated pairs often collide or differ in one small place.
const prim: fc.Arbitrary<Prim> = fc.oneof(
  fc.constantFrom(0, -0, 1, NaN, Infinity, 1.5, "", "a", "1", 1n, 0n, true, false, null, undefined),
  fc.constantFrom({ symbol: "s" }, { symbol: "t" }),
  fc.integer({ min: -3, max: 3 }),
);
const bytes = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 6 });
const typedTypes = ["Uint8Array", "Int8Array", "Uint8ClampedArray", "Uint16Array", "Float32Array", "Float64Array", "BigInt64Array", "Buffer"];
const errorTypes = ["Error", "TypeError", "RangeError", "AggregateError"];

/** Arbitrary value descriptions, a few levels deep. */
export const spec: fc.Arbitrary<Spec> = fc.letrec<{ spec: Spec; prop: Prop }>((tie) => ({
  spec: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 4, arbitrary: prim.map((v) => ({ t: "prim", v }) as const) },
    fc.record({ t: fc.constant("array"), items: fc.array(fc.oneof(tie("spec"), fc.constant("hole" as const)), { maxLength: 3 }),
      extra: fc.array(tie("prop"), { maxLength: 1 }), lock: lock() }),
    fc.record({ t: fc.constant("object"), proto: fc.constantFrom("object", "null"), props: uniqueProps(tie("prop")), lock: lock() }),
    fc.record({ t: fc.constant("map"), entries: fc.array(fc.tuple(tie("spec"), tie("spec")), { maxLength: 2 }) }),
    fc.record({ t: fc.constant("set"), items: fc.array(tie("spec"), { maxLength: 3 }) }),
    fc.record({ t: fc.constant("typed"), type: fc.constantFrom(...typedTypes), bytes, offset: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ t: fc.constant("dataview"), bytes, offset: fc.integer({ min: 0, max: 2 }), extra: fc.array(tie("prop"), { maxLength: 1 }) }),
    fc.record({ t: fc.constant("buffer"), shared: fc.boolean(), bytes }),
    fc.record({ t: fc.constant("date"), time: fc.constantFrom(0, 1, NaN, 86_400_000), extra: fc.array(tie("prop"), { maxLength: 1 }) }),
    fc.record({ t: fc.constant("regexp"), source: fc.constantFrom("a", "a+", "b"), flags: fc.constantFrom("", "g", "gi", "y"),
      lastIndex: fc.constantFrom(0, 1) }),
    fc.record({ t: fc.constant("error"), type: fc.constantFrom(...errorTypes), message: fc.option(fc.constantFrom("", "x", "y"), { nil: undefined }),
      cause: fc.option(tie("spec"), { nil: undefined }), extra: fc.array(tie("prop"), { maxLength: 1 }) }),
    prim.filter((v) => v !== null && v !== undefined).map((v) => ({ t: "boxed", v }) as const),
    tie("spec").map((data) => ({ t: "keyed", data }) as const),
    fc.integer({ min: 0, max: 2 }).map((up) => ({ t: "ref", up }) as const),
    fc.constantFrom<Refused>("class", "proxy", "getter", "arguments", "create", "unique symbol", "promise", "weakmap", "subclass")
      .map((what) => ({ t: "refused", what }) as const),
  ),
  prop: fc.record({
    key: fc.oneof(fc.constantFrom("a", "b", "0", "x y"), fc.constantFrom({ symbol: "k" })),
    value: tie("spec"),
    enumerable: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, fc.constant(false)),
    writable: fc.oneof(fc.constant(true), fc.boolean()),
    configurable: fc.oneof(fc.constant(true), fc.boolean()),
  }),
})).spec;

function lock(): fc.Arbitrary<Lock> {
  return fc.oneof({ weight: 5, arbitrary: fc.constant("none" as const) }, fc.constantFrom("prevent", "seal", "freeze"));
}

function uniqueProps(prop: fc.Arbitrary<Prop>): fc.Arbitrary<Prop[]> {
  return fc.uniqueArray(prop, { maxLength: 3, selector: (p) => (typeof p.key === "string" ? p.key : `@${p.key.symbol}`) });
}

/** Whether building `s` gives a value nbmemo must refuse; `depth` is how many containers `build` puts it in. */
export function refused(s: Spec, depth = 0): boolean {
  const inside = (child: Spec) => refused(child, depth + 1);
  switch (s.t) {
    case "prim":
    case "ref":
    case "typed":
    case "buffer":
    case "regexp":
      return false;
    case "boxed":
      return false;
    case "refused":
      return true;
    case "array":
      return s.items.some((i) => i !== "hole" && inside(i)) || extraOf(s).some((p) => inside(p.value));
    case "object":
      return s.props.some((p) => inside(p.value));
    case "map": {
      // A later entry with an equal key replaces an earlier one: a primitive, or a ref to the same ancestor
      // (refs past the outermost one all build the same string).
      const ancestors = Array.from({ length: depth + 1 }, () => ({}));
      const keyOf = (k: Spec): unknown =>
        k.t === "prim" ? build(k) : k.t === "ref" ? (k.up <= depth ? ancestors[k.up] : build(k)) : {};
      const kept = new Map<unknown, readonly [Spec, Spec]>();
      for (const entry of s.entries) kept.set(keyOf(entry[0]), entry);
      return [...kept.values()].some(([k, v]) => inside(k) || inside(v));
    }
    case "set":
      return s.items.some(inside);
    case "dataview":
    case "date":
      return s.extra.some((p) => inside(p.value));
    case "error":
      return (s.cause !== undefined && inside(s.cause)) || s.extra.some((p) => inside(p.value));
    case "keyed":
      return refused(s.data, depth);
  }
}

// An array's extra properties, without those whose key is an index (which would be elements).
function extraOf(s: Extract<Spec, { t: "array" }>): readonly Prop[] {
  return s.extra.filter((p) => typeof p.key !== "string" || !/^\d+$/.test(p.key));
}

class Keyed {
  readonly #data: unknown;
  constructor(data: unknown) {
    this.#data = data;
  }
  [Symbol.for("nbmemo.key")](): unknown {
    return this.#data;
  }
}
class Opaque {
  readonly #secret: number;
  constructor(secret: number) {
    this.#secret = secret;
  }
  get secret(): number {
    return this.#secret;
  }
}
class Registry extends Map {}
const errorClasses: Record<string, ErrorConstructor> = { Error, TypeError, RangeError, AggregateError: AggregateError as unknown as ErrorConstructor };
const typedClasses: Record<string, new (buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView> = {
  Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Float32Array, Float64Array, BigInt64Array,
};

/** A fresh value as `s` describes it; `above` are the containers built around it (for `ref`). */
export function build(s: Spec, above: object[] = []): unknown {
  const props = (target: object, list: readonly Prop[]) => {
    for (const p of list) {
      const key = typeof p.key === "string" ? p.key : Symbol.for(p.key.symbol);
      const { enumerable, writable, configurable } = p;
      Object.defineProperty(target, key, { value: build(p.value, [...above, target]), enumerable, writable, configurable });
    }
  };
  const locked = (target: object, lock: Lock) => {
    if (lock === "prevent") Object.preventExtensions(target);
    if (lock === "seal") Object.seal(target);
    if (lock === "freeze") Object.freeze(target);
    return target;
  };
  const inside = (target: object, spec: Spec) => build(spec, [...above, target]);
  switch (s.t) {
    case "prim":
      return typeof s.v === "object" && s.v !== null ? Symbol.for(s.v.symbol) : s.v;
    case "ref":
      return above.length > s.up ? above[above.length - 1 - s.up] : "no ancestor";
    case "array": {
      const array: unknown[] = [];
      array.length = s.items.length;
      s.items.forEach((item, i) => {
        if (item !== "hole") array[i] = inside(array, item);
      });
      props(array, extraOf(s));
      return locked(array, s.lock);
    }
    case "object": {
      const object = s.proto === "null" ? Object.create(null) : {};
      props(object, s.props);
      return locked(object, s.lock);
    }
    case "map": {
      const map = new Map();
      for (const [k, v] of s.entries) map.set(inside(map, k), inside(map, v));
      return map;
    }
    case "set": {
      const set = new Set();
      for (const item of s.items) set.add(inside(set, item));
      return set;
    }
    case "typed":
    case "dataview": {
      // The view starts `offset` bytes into a buffer whose other bytes are 9s: they must not count.
      const buffer = new ArrayBuffer(s.offset + s.bytes.length + 8);
      new Uint8Array(buffer).fill(9);
      if (s.t === "dataview") {
        new Uint8Array(buffer, s.offset, s.bytes.length).set(s.bytes);
        const view = new DataView(buffer, s.offset, s.bytes.length);
        props(view, s.extra);
        return view;
      }
      if (s.type === "Buffer") {
        const view = Buffer.from(buffer, s.offset, s.bytes.length);
        view.set(s.bytes);
        return view;
      }
      const T = typedClasses[s.type]!;
      const size = (T as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      const start = Math.ceil(s.offset / size) * size;
      const length = Math.floor(s.bytes.length / size);
      new Uint8Array(buffer, start, length * size).set(s.bytes.slice(0, length * size));
      return new T(buffer, start, length);
    }
    case "buffer": {
      const buffer = s.shared ? new SharedArrayBuffer(s.bytes.length) : new ArrayBuffer(s.bytes.length);
      new Uint8Array(buffer).set(s.bytes);
      return buffer;
    }
    case "date": {
      const date = new Date(s.time);
      props(date, s.extra);
      return date;
    }
    case "regexp": {
      const regexp = new RegExp(s.source, s.flags);
      regexp.lastIndex = s.lastIndex;
      return regexp;
    }
    case "error": {
      const E = errorClasses[s.type]!;
      const options = s.cause === undefined ? undefined : { cause: "placeholder" };
      const error = s.type === "AggregateError"
        ? new (AggregateError as unknown as new (e: unknown[], m?: string, o?: object) => Error)([], s.message, options)
        : new E(s.message, options);
      if (s.cause !== undefined) Object.defineProperty(error, "cause", { value: inside(error, s.cause) });
      props(error, s.extra.filter((p) => p.key !== "stack"));
      return error;
    }
    case "boxed":
      return Object(typeof s.v === "object" && s.v !== null ? Symbol.for(s.v.symbol) : s.v);
    case "keyed":
      return new Keyed(build(s.data, above));
    case "refused":
      switch (s.what) {
        case "class":
          return new Opaque(1);
        case "proxy":
          return new Proxy({}, {});
        case "getter":
          return Object.defineProperty({}, "g", { get: () => 1, enumerable: true });
        case "arguments":
          return (function (..._: unknown[]) {
            return arguments;
          })(1, 2);
        case "create":
          return Object.create({ inherited: 1 });
        case "unique symbol":
          return Symbol("unique");
        case "promise":
          return Promise.resolve(1);
        case "weakmap":
          return new WeakMap();
        case "subclass":
          return new Registry();
      }
  }
}
