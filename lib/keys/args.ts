// The canonical hash of a call's arguments: independent of object key order and of Set/Map insertion
// order, exact about types, streaming binary data straight into the hash. The rule behind every case:
// equal hashes only for values no function can tell apart; what nbmemo cannot see into is refused.
import { Buffer } from "node:buffer";
import type { Hash as NodeHash } from "node:crypto";
import { NbmemoError } from "../errors.ts";
import { nodeCrypto } from "../runtime.ts";
import { sha256Hex } from "./sha256.ts";
// Through getBuiltinModule, not an ESM import: see "Built-ins" in lib/runtime.ts.
const { types } = process.getBuiltinModule("node:util");

/** Hashes a function met among the arguments (its code, not its own properties); `path` names where it was. */
export type FunctionHasher = (fn: Function, path: string) => string;

/**
 * A method under this key says how to key a value nbmemo cannot see into (an instance of your own class,
 * a closure): it returns data that is hashed in the value's place, with the class name (a function: "function").
 *
 * @example
 * ```ts
 * class Point {
 *   #x: number;
 *   constructor(x: number) { this.#x = x; }
 *   [Symbol.for("nbmemo.key")]() { return { x: this.#x }; }
 * }
 * ```
 */
export const KEY: unique symbol = Symbol.for("nbmemo.key");

/** A method under this key gives the short text that messages and `explain` show for a value (an input file: its path and hash). */
export const PREVIEW: unique symbol = Symbol.for("nbmemo.preview");

/** A hash of arguments, and whether they hold anything that can change in place (an object). */
export interface ArgsHash {
  readonly hash: string;
  readonly mutable: boolean;
}

// Bumped when the encoding changes: every argument hash changes with it.
const ENCODING = "nbmemo-args-2;";

/**
 * Hashes `values` as one canonical encoding. `root` names them in errors (`args`, `deps`).
 *
 * @throws NbmemoError (`UNHASHABLE_ARGUMENT`) naming the path of a value nbmemo cannot key faithfully.
 */
export function hashValues(values: readonly unknown[], root: string, hashFunction: FunctionHasher): string {
  return hashArguments(values, root, hashFunction).hash;
}

/**
 * {@link hashValues}, also telling whether the values could change after they were hashed. Plain data
 * (see {@link plainEncoding}) takes a shorter way to the same digest unless `general`.
 */
export function hashArguments(values: readonly unknown[], root: string, hashFunction: FunctionHasher, general = false): ArgsHash {
  const plain = general ? undefined : plainEncoding(values);
  if (plain !== undefined) return { hash: plainDigest(plain.text), mutable: plain.mutable };
  const hash = new Hash();
  hash.update(ENCODING);
  const encoder = new Encoder(hashFunction, root);
  encoder.encode(hash, values, true);
  return { hash: hash.digest(), mutable: encoder.mutable };
}

/** Hashes one value the way {@link hashValues} hashes each argument; `path` names it in errors. */
export function hashValue(value: unknown, path: string, hashFunction: FunctionHasher): string {
  const hash = new Hash();
  hash.update(ENCODING);
  new Encoder(hashFunction, path).encode(hash, value, false);
  return hash.digest();
}

// The digests of the latest plain encodings, so that a loop of hits of f(1, "x") hashes its arguments
// once (a SHA-256 was ~13 % of a small hit under Deno). Exact: the text is the whole input of the hash
// (after ENCODING), so the same text always has the same digest. Bounded in entries and in their length;
// the oldest goes first.
const DIGESTS = { entries: 256, chars: 1024 };
const digests = new Map<string, string>();

/** SHA-256 of a {@link plainEncoding} text, as {@link hashArguments} keys it; remembered for short texts. */
export function plainDigest(text: string): string {
  let digest = digests.get(text);
  if (digest !== undefined) return digest;
  digest = sha256Hex(ENCODING + text);
  if (text.length <= DIGESTS.chars) {
    if (digests.size >= DIGESTS.entries) digests.delete(digests.keys().next().value!);
    digests.set(text, digest);
  }
  return digest;
}

// How much plain data the short way takes: past these, or anything else, the general encoder runs.
const PLAIN_LIMITS = { depth: 8, nodes: 256 };

/**
 * The encoding the general {@link Encoder} writes for a call's arguments, made directly when they are plain
 * data: primitives (not symbols), and arrays and objects of them that are ordinary in every way the encoder
 * looks at (their own prototype, dense, extensible, data properties with the usual attributes, string keys,
 * no key method, no Proxy, small and shallow). A hit of `f(1, "x")` then costs one string and one hash call
 * instead of an encoder, frames and a hash object. Undefined for anything else; test/args.test.ts checks
 * over generated plain values that both ways give the same digest.
 */
export function plainEncoding(values: readonly unknown[]): { text: string; mutable: boolean } | undefined {
  let nodes = 0;
  let mutable = false;
  const encode = (value: unknown, depth: number): string | undefined => {
    const token = primitiveToken(value);
    if (token !== undefined) return token;
    if (typeof value !== "object" || depth === PLAIN_LIMITS.depth || ++nodes > PLAIN_LIMITS.nodes) return undefined;
    const object = value as object;
    if (types.isProxy(object) || typeof (object as { [KEY]?: unknown })[KEY] === "function" || !Object.isExtensible(object)) return undefined;
    mutable = true;
    // The prototype first: listing the keys of a typed array (or of a long array) would list every index.
    const proto: unknown = Object.getPrototypeOf(object);
    if (proto === Array.prototype) {
      const array = object as unknown[];
      if (!Array.isArray(array) || array.length > PLAIN_LIMITS.nodes) return undefined;
      // Dense and nothing else: the indices, then "length", last.
      const keys = Reflect.ownKeys(array);
      if (keys.length !== array.length + 1 || keys[array.length] !== "length") return undefined;
      let text = `a${array.length};p0;`;
      for (const element of array) {
        const part = encode(element, depth + 1);
        if (part === undefined) return undefined;
        text += part;
      }
      return text;
    }
    if ((proto !== Object.prototype && proto !== null) || hasInternalSlots(object)) return undefined;
    const keys = Reflect.ownKeys(object);
    if (keys.length > PLAIN_LIMITS.nodes) return undefined;
    for (const key of keys) if (typeof key !== "string") return undefined;
    let text = `${proto === null ? "O" : "o"}p${keys.length};`;
    for (const key of (keys as string[]).sort()) {
      const descriptor = Reflect.getOwnPropertyDescriptor(object, key)!;
      if (!("value" in descriptor) || !descriptor.enumerable || !descriptor.writable || !descriptor.configurable) return undefined;
      const part = encode(descriptor.value, depth + 1);
      if (part === undefined) return undefined;
      text += `k${JSON.stringify(key)}${part}`;
    }
    return text;
  };
  let text = `a${values.length};p0;`;
  for (const value of values) {
    const part = encode(value, 0);
    if (part === undefined) return undefined;
    text += part;
  }
  return { text, mutable };
}

// Most arguments are a few short tokens, and each update of a node:crypto hash crosses into native
// code: text is gathered into one string and hashed in one update, while binary data still goes
// straight from its own memory into the hash (no copy). The bytes hashed are the same either way.
class Hash {
  readonly #hash: NodeHash = nodeCrypto().createHash("sha256");
  #text = "";

  update(data: string | Uint8Array): void {
    if (typeof data === "string") {
      this.#text += data;
      if (this.#text.length > 1 << 16) this.#flush();
      return;
    }
    this.#flush();
    this.#hash.update(data);
  }

  digest(): string {
    this.#flush();
    return this.#hash.digest("hex");
  }

  #flush(): void {
    if (this.#text) this.#hash.update(this.#text);
    this.#text = "";
  }
}

// One object (or one member of a Set or Map) being encoded: its children are taken one at a time, so
// that nesting depth costs heap, not stack (a linked list thousands of levels deep hashes like any other).
interface Frame {
  readonly hash: Hash;
  /** The object whose encoding this frame ends: it leaves the ancestors when the frame is done. */
  readonly object: object | undefined;
  readonly values: ArrayLike<unknown>;
  /** Written before each child (property names); none for array elements. */
  readonly tokens: readonly string[] | undefined;
  /** How child `i` is written in a path. */
  readonly label: (frame: Frame, i: number) => string;
  readonly parent: Frame | undefined;
  /** This frame's place among its parent's children, for paths. */
  readonly index: number;
  /** Children are Set items or Map entries: each hashed alone, the digests sorted. */
  readonly members: "set" | "map" | undefined;
  readonly digests: string[];
  i: number;
  /** The property keys of a frame of properties, after its `values.length - keys.length` first children. */
  readonly keys?: readonly (string | symbol)[];
  readonly firstLabel?: string;
}

const HOLE = Symbol("hole");

const unhashable = (path: string, what: string, fix: string) =>
  new NbmemoError("UNHASHABLE_ARGUMENT", `Cannot hash the argument at ${path}: ${what}. ${fix}`);

const PLAIN_FIX = "Pass the plain data it holds, or give its class a [Symbol.for(\"nbmemo.key\")]() method that returns it.";

// The built-in prototypes nbmemo knows how to key, each with the brand check an instance must pass.
type Kind = "array" | "date" | "regexp" | "map" | "set" | "error" | "arraybuffer" | "shared" | "dataview" | "typed" | "url" |
  "number" | "string" | "boolean" | "bigint" | "symbol" | "live";
const typedArrays = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array,
  Float64Array, BigInt64Array, BigUint64Array,
  ...(typeof (globalThis as { Float16Array?: unknown }).Float16Array === "function" ? [(globalThis as unknown as { Float16Array: Function }).Float16Array] : []),
];
const errors = [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError, AggregateError];
const liveHandles = [Promise, WeakMap, WeakSet, WeakRef, FinalizationRegistry];
const kinds = new Map<object, Kind>([
  [Array.prototype, "array"], [Date.prototype, "date"], [RegExp.prototype, "regexp"], [Map.prototype, "map"],
  [Set.prototype, "set"], [ArrayBuffer.prototype, "arraybuffer"], [DataView.prototype, "dataview"],
  [Buffer.prototype, "typed"], [Number.prototype, "number"], [String.prototype, "string"],
  [Boolean.prototype, "boolean"], [BigInt.prototype, "bigint"], [Symbol.prototype, "symbol"],
  ...typedArrays.map((T) => [T.prototype, "typed"] as const),
  ...errors.map((E) => [E.prototype, "error"] as const),
  ...liveHandles.map((H) => [H.prototype, "live"] as const),
]);
if (typeof SharedArrayBuffer === "function") kinds.set(SharedArrayBuffer.prototype, "shared");
if (typeof URL === "function") kinds.set(URL.prototype, "url");

// Whether `value` really is what its prototype says (Object.create(Date.prototype) is not a Date).
const brands: Record<Kind, (value: object) => boolean> = {
  array: Array.isArray,
  date: types.isDate,
  regexp: types.isRegExp,
  map: types.isMap,
  set: types.isSet,
  error: types.isNativeError,
  arraybuffer: types.isArrayBuffer,
  shared: types.isSharedArrayBuffer,
  dataview: types.isDataView,
  typed: types.isTypedArray,
  url: (value) => {
    try {
      return typeof Reflect.get(URL.prototype, "href", value) === "string";
    } catch {
      return false;
    }
  },
  number: types.isNumberObject,
  string: types.isStringObject,
  boolean: types.isBooleanObject,
  bigint: types.isBigIntObject,
  symbol: types.isSymbolObject,
  live: () => true,
};

// Objects with internal state that a plain prototype would hide (Object.setPrototypeOf(new Map(), null)).
function hasInternalSlots(value: object): boolean {
  return types.isArgumentsObject(value) || types.isModuleNamespaceObject(value) || Array.isArray(value) ||
    types.isAnyArrayBuffer(value) || ArrayBuffer.isView(value) || types.isDate(value) || types.isRegExp(value) ||
    types.isMap(value) || types.isSet(value) || types.isNativeError(value) || types.isBoxedPrimitive(value) ||
    types.isPromise(value) || types.isWeakMap(value) || types.isWeakSet(value) || types.isGeneratorObject(value) ||
    types.isMapIterator(value) || types.isSetIterator(value);
}

const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get!;
const errorNames = new Map<object, string>(errors.map((E) => [E.prototype, E.name]));
const primitiveOf: Record<"number" | "string" | "boolean" | "bigint" | "symbol", (value: object) => unknown> = {
  number: (v) => Number.prototype.valueOf.call(v),
  string: (v) => String.prototype.valueOf.call(v),
  boolean: (v) => Boolean.prototype.valueOf.call(v),
  bigint: (v) => BigInt.prototype.valueOf.call(v),
  symbol: (v) => Symbol.prototype.valueOf.call(v),
};

// The own properties a kind encodes itself, or that do not tell values apart.
const noSkip = (_key: string | symbol) => false;
const isIndex = (key: string | symbol) => typeof key === "string" && /^(?:0|[1-9]\d*)$/.test(key);
const arrayOwn = (key: string | symbol) => key === "length" || isIndex(key);
const errorOwn = (key: string | symbol) => key === "stack";
// Deno marks a URL with a unique symbol of its own (its WebIDL brand).
const urlOwn = (key: string | symbol) => typeof key === "symbol" && Symbol.keyFor(key) === undefined;
// A function's length and prototype follow from its code; arguments and caller are V8's for sloppy functions.
const functionOwn = (key: string | symbol) => key === "length" || key === "prototype" || key === "arguments" || key === "caller";

class Encoder {
  readonly #hashFunction: FunctionHasher;
  readonly #root: string;
  // The objects being encoded above the current one, with their depth: meeting one again is a cycle,
  // written as a back-reference to that depth so that equal cyclic structures hash equal.
  readonly #ancestors = new Map<object, number>();
  readonly #stack: Frame[] = [];
  #keyTokens: Map<string | symbol, string> | undefined;
  #lastKeys: readonly string[] | undefined;
  #lastSorted: readonly string[] | undefined;
  // Where the value being encoded sits: child `#index` of `#parent` (for paths in errors, and the
  // parent of the frames it pushes).
  #parent: Frame | undefined;
  #index = 0;
  mutable = false;

  constructor(hashFunction: FunctionHasher, root: string) {
    this.#hashFunction = hashFunction;
    this.#root = root;
  }

  // `values` is the call's own argument list when `list`: an array nbmemo made, encoded without the
  // checks a caller's array needs.
  encode(hash: Hash, value: unknown, list: boolean): void {
    if (!list) {
      this.#value(hash, value, undefined, 0);
      return this.#run();
    }
    // Each argument in turn; the list gets a frame (for paths and cycles) only when an argument needs
    // one: most calls pass a few primitives.
    const values = value as readonly unknown[];
    hash.update(`a${values.length};p0;`);
    let root: Frame | undefined;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === "object" ? v === null : typeof v !== "function" && typeof v !== "symbol") {
        this.#value(hash, v, undefined, i);
        continue;
      }
      if (!root) {
        root = frame(hash, values, values, undefined, elementLabel, undefined, 0, undefined);
        this.#ancestors.set(values, 0);
      }
      this.#value(hash, v, root, i);
      this.#run();
    }
  }

  #run(): void {
    const stack = this.#stack;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const i = top.i;
      if (i === top.values.length) {
        stack.pop();
        if (top.object) this.#ancestors.delete(top.object);
        if (top.members) top.hash.update(`${top.digests.sort().join("")};`);
        else if (top.parent?.members) top.parent.digests.push(top.hash.digest());
        continue;
      }
      top.i = i + 1;
      const child = top.values[i];
      if (top.members) {
        stack.push(frame(new Hash(), undefined, top.members === "map" ? child as [unknown, unknown] : [child], undefined, memberLabel, top, i, undefined));
        continue;
      }
      if (top.tokens) top.hash.update(top.tokens[i]!);
      this.#value(top.hash, child, top, i);
    }
  }

  // Pushes the frame of the children of the value being encoded.
  #push(hash: Hash, object: object | undefined, values: ArrayLike<unknown>, tokens?: readonly string[], label = elementLabel,
    members?: "set" | "map"): void {
    this.#stack.push(frame(hash, object, values, tokens, label, this.#parent, this.#index, members));
  }

  // The path of the value being encoded, for errors.
  #here(suffix = ""): string {
    const parts: string[] = [suffix];
    for (let f = this.#parent, i = this.#index; f; i = f.index, f = f.parent) parts.push(f.label(f, i));
    parts.push(this.#root);
    return shorten(parts.reverse());
  }

  #value(hash: Hash, value: unknown, parent: Frame | undefined, index: number): void {
    const token = primitiveToken(value);
    if (token !== undefined) return void hash.update(token);
    if (typeof value === "symbol") {
      this.#parent = parent;
      this.#index = index;
      return void hash.update(value === HOLE ? "h" : this.#symbol(value));
    }
    const object = value as object;
    const depth = this.#ancestors.get(object);
    if (depth !== undefined) return void hash.update(`r${depth};`);
    this.mutable = true;
    this.#parent = parent;
    this.#index = index;
    if (types.isProxy(object)) {
      // A Proxy of a Map or Set cannot even be read through (its methods need the real collection).
      throw unhashable(this.#here(), "it is a Proxy, whose behaviour is code nbmemo cannot see (a reactive or observable wrapper, for instance)",
        "Pass the object it wraps (its target, or the raw value your library gives), or a plain copy of its data.");
    }
    this.#ancestors.set(object, this.#ancestors.size);
    const key = (object as { [KEY]?: unknown })[KEY];
    if (typeof key === "function") return this.#keyed(hash, object, key);
    if (typeof object === "function") return this.#function(hash, object);
    const proto: object | null = Object.getPrototypeOf(object);
    if (proto === Object.prototype || proto === null) {
      if (hasInternalSlots(object)) throw this.#exotic(object);
      hash.update(proto === null ? "O" : "o");
      return void this.#props(hash, object, noSkip);
    }
    const kind = kinds.get(proto);
    if (kind === undefined) return this.#unknownClass(hash, object, proto);
    if (!brands[kind](object)) {
      throw unhashable(this.#here(), `it inherits from ${protoName(proto)}.prototype without being one (Object.create?)`,
        "Pass a real one, or plain data.");
    }
    this.#builtIn(hash, object, kind, proto);
  }

  #builtIn(hash: Hash, object: object, kind: Kind, proto: object): void {
    switch (kind) {
      case "array": {
        const array = object as unknown[];
        // Own keys list the indices present first, then "length", then any other property (a RegExp
        // match's index and groups) and symbols.
        const keys = Reflect.ownKeys(array);
        const present = keys[array.length] === "length" ? array.length : keys.indexOf("length");
        const elements = present === array.length ? array : Array.from({ length: array.length }, (_, i) => i in array ? array[i] : HOLE);
        hash.update(`a${array.length};`);
        if (keys.length > present + 1) return void this.#props(hash, object, arrayOwn, elements);
        // Elements are read as values: an element made read-only, or a getter, one by one is not seen.
        const sealed = Object.isExtensible(array) ? "" : Object.isFrozen(array) ? "xf" : Object.isSealed(array) ? "xs" : "x";
        hash.update(`p0;${sealed}`);
        return this.#push(hash, object, elements);
      }
      case "typed": {
        this.#refuseDetached((object as Uint8Array).buffer);
        // The bytes of the view only: not the rest of its buffer, nor properties added to it, which
        // cannot be listed without listing every index (38 µs per 1,000 elements).
        const view = object as Uint8Array;
        const type = proto === Buffer.prototype ? "Buffer" : typedArrayName.call(view) as string;
        hash.update(`t${type}:${view.byteLength};`);
        hash.update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
        return void this.#ancestors.delete(object);
      }
      case "dataview": {
        const view = object as DataView;
        this.#refuseDetached(view.buffer);
        hash.update(`V${view.byteLength};`);
        hash.update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
        return void this.#props(hash, object, noSkip);
      }
      case "arraybuffer":
      case "shared": {
        const buffer = object as ArrayBuffer & { resizable?: boolean; growable?: boolean; maxByteLength?: number };
        this.#refuseDetached(buffer);
        const resizable = buffer.resizable || buffer.growable ? `~${buffer.maxByteLength}` : "";
        hash.update(`${kind === "shared" ? "Z" : "B"}${buffer.byteLength}${resizable};`);
        hash.update(new Uint8Array(buffer));
        return void this.#props(hash, object, noSkip);
      }
      case "date":
        hash.update(`D${Date.prototype.getTime.call(object)};`);
        return void this.#props(hash, object, noSkip);
      case "regexp":
        // lastIndex is an own property, so it is hashed with the others.
        hash.update(`R${JSON.stringify(Reflect.get(RegExp.prototype, "source", object))}${Reflect.get(RegExp.prototype, "flags", object)};`);
        return void this.#props(hash, object, noSkip);
      case "url":
        hash.update(`U${JSON.stringify(Reflect.get(URL.prototype, "href", object))}`);
        return void this.#props(hash, object, urlOwn);
      case "error":
        // Name, message, cause, errors and any other own property; not the stack, which says where it was
        // made (a file and line), not what it is.
        hash.update(`E${errorNames.get(proto)};`);
        return void this.#props(hash, object, errorOwn);
      case "map":
      case "set": {
        const collection = object as Map<unknown, unknown> | Set<unknown>;
        hash.update(`${kind === "map" ? "M" : "S"}${collection.size};`);
        const items = kind === "map" ? [...Map.prototype.entries.call(collection)] : [...Set.prototype.values.call(collection)];
        // The properties' frame is pushed first, so that it runs after the members'; whichever frame ends
        // last takes the collection out of the ancestors.
        const props = this.#props(hash, object, noSkip, undefined, undefined, false);
        return this.#push(hash, props ? undefined : object, items, undefined, membersLabel, kind);
      }
      case "number":
      case "string":
      case "boolean":
      case "bigint":
      case "symbol": {
        const primitive = primitiveOf[kind](object);
        hash.update(`X${kind}:`);
        const length = kind === "string" ? (primitive as string).length : 0;
        const skip = kind === "string" ? (key: string | symbol) => key === "length" || (isIndex(key) && Number(key) < length) : noSkip;
        return void this.#props(hash, object, skip, [primitive], ".valueOf()");
      }
      case "live": {
        const name = protoName(proto);
        throw unhashable(this.#here(), `a ${name} is a live handle, not data`,
          name === "Promise" ? "Await it before the call." : "Pass the data it refers to instead.");
      }
    }
  }

  // A transferred buffer has no bytes left to read (reading it throws a TypeError), and a result computed
  // from one is no result worth keeping: it is most likely a mistake, told where it is.
  #refuseDetached(buffer: ArrayBufferLike): void {
    if (!(buffer as { detached?: boolean }).detached) return;
    throw unhashable(this.#here(), "it is a detached ArrayBuffer (or a view of one): its bytes were transferred " +
      "(structuredClone or postMessage with transfer, or buffer.transfer()) and are gone",
      "Pass the buffer they were transferred to, or copy them (buffer.slice(0)) before the transfer.");
  }

  // A value that says how to key it: its class name and what its key method returns.
  #keyed(hash: Hash, object: object, key: Function): void {
    const name = typeof object === "function" ? "function" : protoName(Object.getPrototypeOf(object));
    const data: unknown = key.call(object);
    hash.update(`K${JSON.stringify(name)}`);
    this.#push(hash, object, [data], undefined, keyLabel);
  }

  // A function: its code (as the function hasher sees it) and its own properties (name, statics...).
  #function(hash: Hash, fn: Function): void {
    hash.update(`f${this.#hashFunction(fn, this.#here())};`);
    this.#props(hash, fn, functionOwn);
  }

  // An object whose prototype is not one nbmemo knows: an instance of a class (its private fields and
  // getters are invisible), of a subclass of a built-in, or an Object.create(proto) object.
  #unknownClass(hash: Hash, object: object, proto: object): void {
    if (typeof Blob === "function" && object instanceof Blob) {
      const name = typeof File === "function" && object instanceof File ? "File" : "Blob";
      throw unhashable(this.#here(), `a ${name} holds its bytes where only an asynchronous read reaches them`,
        `Pass its bytes instead: new Uint8Array(await ${name.toLowerCase()}.arrayBuffer()) (and its type, if the function reads it).`);
    }
    // A toJSON of the class's own (not a built-in's, such as Date's for a subclass of Date) says what it is.
    const toJSON = ownMethod(proto, "toJSON");
    if (toJSON) return this.#keyed(hash, object, () => toJSON.call(object, ""));
    const constructor = Object.getOwnPropertyDescriptor(proto, "constructor")?.value;
    if (typeof constructor !== "function" || constructor.prototype !== proto) {
      throw unhashable(this.#here(), "its prototype is another object (Object.create), whose properties it inherits",
        "Pass a plain object ({ ...value }) or plain data.");
    }
    const base = builtInBase(proto);
    const name = constructor.name || "(anonymous)";
    const what = base ? `an instance of ${name}, a subclass of ${base}` : `an instance of the class ${name}`;
    throw unhashable(this.#here(), `${what}, whose private fields and getters nbmemo cannot see`, PLAIN_FIX);
  }

  #exotic(object: object): NbmemoError {
    if (types.isArgumentsObject(object)) return unhashable(this.#here(), "it is an arguments object", "Pass [...arguments] instead.");
    if (types.isModuleNamespaceObject(object)) {
      return unhashable(this.#here(), "it is a module namespace (import * as m)", "Pass the values you need from it.");
    }
    return unhashable(this.#here(), "it is a built-in object whose prototype was replaced", "Pass plain data.");
  }

  #symbol(value: symbol): string {
    const key = Symbol.keyFor(value);
    if (key === undefined) {
      throw unhashable(this.#here(), `${String(value)} is a unique symbol, with no identity outside this process`,
        "Pass a string instead, or a registered symbol (Symbol.for).");
    }
    return `y${JSON.stringify(key)}`;
  }

  // Own properties (every string key, enumerable or not, and registered symbol keys), sorted, each with
  // its attributes when they are not the usual ones, and whether the object can take new ones; after
  // `first` (array elements, a boxed primitive), all in one frame.
  // Returns whether it pushed a frame (none when there is nothing to encode: then `release` takes the
  // object out of the ancestors at once).
  #props(hash: Hash, object: object, skip: (key: string | symbol) => boolean, first?: ArrayLike<unknown>, firstLabel?: string, release = true): boolean {
    const own = Reflect.ownKeys(object);
    // Usually every key is a string that stays: only sorting is needed.
    let plain = true;
    for (const key of own) if (typeof key !== "string" || skip(key)) plain = false;
    const keys: readonly (string | symbol)[] = plain ? this.#sorted(own as string[]) : this.#ordered(own, skip);
    // Properties are written at once while their values are primitives; from the first that is not, the
    // rest go in a frame (a leaf object, such as a row of numbers and strings, needs none).
    let values: unknown[] | undefined = first ? Array.from(first) : undefined;
    let tokens: string[] | undefined = first ? values!.map(() => "") : undefined;
    let inline = 0;
    hash.update(`p${keys.length};${Object.isExtensible(object) ? "" : "x"}`);
    for (const key of keys) {
      const descriptor = Reflect.getOwnPropertyDescriptor(object, key)!;
      if (!("value" in descriptor)) {
        throw unhashable(this.#here(keyPath(key)), "it is a getter or setter: what it returns later is code nbmemo cannot see",
          "Pass plain data (a property with a value).");
      }
      const name = this.#keyToken(key);
      const attributed = descriptor.enumerable && descriptor.writable && descriptor.configurable ? name
        : `${name}:${descriptor.enumerable ? "e" : ""}${descriptor.writable ? "w" : ""}${descriptor.configurable ? "c" : ""};`;
      const token = values ? undefined : primitiveToken(descriptor.value);
      if (token !== undefined) {
        hash.update(attributed + token);
        inline++;
        continue;
      }
      (tokens ??= []).push(attributed);
      (values ??= []).push(descriptor.value);
    }
    if (!values) {
      if (release) this.#ancestors.delete(object);
      return false;
    }
    const rest = inline === 0 ? keys : keys.slice(inline);
    this.#stack.push(frame(hash, object, values, tokens, propertyLabel, this.#parent, this.#index, undefined, rest, firstLabel));
    return true;
  }

  // Rows of a table have their keys in the same order: the last sorting is reused while it fits.
  #sorted(keys: string[]): readonly string[] {
    const last = this.#lastKeys;
    if (last && last.length === keys.length) {
      let same = true;
      for (let i = 0; i < keys.length && same; i++) same = keys[i] === last[i];
      if (same) return this.#lastSorted!;
    }
    this.#lastKeys = keys;
    return (this.#lastSorted = [...keys].sort());
  }

  // Rows of a table repeat their keys: each key's token is made once per hash.
  #keyToken(key: string | symbol): string {
    const tokens = this.#keyTokens ??= new Map();
    let token = tokens.get(key);
    if (token === undefined) {
      token = typeof key === "string" ? `k${JSON.stringify(key)}` : `y${JSON.stringify(Symbol.keyFor(key))}`;
      tokens.set(key, token);
    }
    return token;
  }

  // The keys `skip` leaves, strings sorted, then registered symbols sorted by their key; a unique symbol is refused.
  #ordered(keys: (string | symbol)[], skip: (key: string | symbol) => boolean): (string | symbol)[] {
    const names: string[] = [];
    const symbols: [string, symbol][] = [];
    for (const key of keys) {
      if (skip(key)) continue;
      if (typeof key === "string") {
        names.push(key);
        continue;
      }
      const registered = Symbol.keyFor(key);
      if (registered === undefined) {
        throw unhashable(this.#here(`[${String(key)}]`), "the object has a key that is a unique symbol, with no identity outside this process",
          "Use string keys or registered symbols (Symbol.for), or leave the object out of the arguments.");
      }
      symbols.push([registered, key]);
    }
    return [...names.sort(), ...symbols.sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => s)];
  }
}

function frame(hash: Hash, object: object | undefined, values: ArrayLike<unknown>, tokens: readonly string[] | undefined,
  label: Frame["label"], parent: Frame | undefined, index: number, members: "set" | "map" | undefined,
  keys?: readonly (string | symbol)[], firstLabel?: string): Frame {
  return { hash, object, values, tokens, label, parent, index, members, digests: [], i: 0, keys, firstLabel };
}

// The token of a primitive other than a symbol; undefined for anything else.
function primitiveToken(value: unknown): string | undefined {
  switch (typeof value) {
    case "undefined":
      return "u";
    case "boolean":
      return value ? "T" : "F";
    case "number":
      return `d${Object.is(value, -0) ? "-0" : String(value)};`;
    case "bigint":
      return `b${value};`;
    case "string":
      return `s${JSON.stringify(value)}`;
    case "object":
      return value === null ? "n" : undefined;
  }
  return undefined;
}

const elementLabel = (_: Frame, i: number) => `[${i}]`;
const propertyLabel = (frame: Frame, i: number) => {
  const offset = frame.values.length - frame.keys!.length;
  return i < offset ? frame.firstLabel ?? `[${i}]` : keyPath(frame.keys![i - offset]!);
};
const keyPath = (key: string | symbol) => typeof key === "string" ? propertyPath(key) : `[Symbol.for(${JSON.stringify(Symbol.keyFor(key))})]`;
const keyLabel = () => `[Symbol.for("nbmemo.key")]()`;
const membersLabel = () => "";
// A member frame's children: a Set item, or a Map entry's key and value.
const memberLabel = (frame: Frame, i: number): string => {
  if (frame.parent?.members === "set") return `.<set item ${frame.index}>`;
  return i === 0 ? `.<map key ${frame.index}>` : `.get(${preview(frame.values[0])})`;
};

// A path thousands of levels deep is shown by its ends and its depth (the root, then one part per level).
function shorten(parts: string[]): string {
  const levels = parts.filter((part) => part !== "");
  if (levels.length <= 24) return levels.join("");
  return `${levels.slice(0, 12).join("")}…(${levels.length - 1} levels)…${levels.slice(-8).join("")}`;
}

function protoName(proto: object | null): string {
  const constructor = proto && Object.getOwnPropertyDescriptor(proto, "constructor")?.value;
  return typeof constructor === "function" && constructor.name ? constructor.name : "Object";
}

// The method `name` that `proto` has from a class of the user's (not from a built-in prototype).
function ownMethod(proto: object, name: string): Function | undefined {
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (kinds.has(p)) return undefined;
    const method = Object.getOwnPropertyDescriptor(p, name)?.value;
    if (method !== undefined) return typeof method === "function" ? method : undefined;
  }
  return undefined;
}

// The built-in class that `proto` descends from, if any (a subclass of Map, of Uint8Array...).
function builtInBase(proto: object): string | undefined {
  for (let p: object | null = Object.getPrototypeOf(proto); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (kinds.has(p)) return protoName(p);
  }
  return undefined;
}

/** How a property key is written in a path: `.name`, or `["odd key"]`. */
export function propertyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** A short human-readable rendering of a value, for messages. */
export function preview(value: unknown, budget = 80): string {
  return clip(rendered(value), budget);
}

/**
 * The arguments of a call as the catalog shows them, `"CA", {year: 2020}`, in about `budget` characters:
 * each argument is shortened rather than the list, so that every one stays visible. Short ones keep
 * their whole text; the long ones share what is left equally (never less than a few characters each).
 */
export function previewArgs(values: readonly unknown[], budget = 80): string {
  const texts = values.map(rendered);
  let left = budget - 2 * Math.max(0, texts.length - 1); // the ", " between them
  const widths: number[] = [];
  const shortestFirst = texts.map((_, i) => i).sort((a, b) => texts[a]!.length - texts[b]!.length);
  shortestFirst.forEach((index, done) => {
    widths[index] = Math.min(texts[index]!.length, Math.max(MIN_ARG_PREVIEW, Math.floor(left / (texts.length - done))));
    left -= widths[index]!;
  });
  return texts.map((text, i) => clip(text, widths[i]!)).join(", ");
}

const MIN_ARG_PREVIEW = 8;

// A value's rendering with NUL characters shown as `\u0000`, as strings show them: a key, a symbol's description
// or a function's name may hold one, which a terminal shows as nothing.
function rendered(value: unknown): string {
  return render(value, 3).replaceAll("\0", "\\u0000");
}

function clip(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

function render(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case "bigint":
      return `${value}n`;
    case "function":
      return `ƒ ${value.name || "anonymous"}`;
    case "symbol":
    case "number":
    case "boolean":
    case "undefined":
      return Object.is(value, -0) ? "-0" : String(value);
  }
  if (value === null) return "null";
  if (depth === 0) return "…";
  if (types.isProxy(value)) return "Proxy";
  const shown = (value as { [PREVIEW]?: unknown })[PREVIEW];
  if (typeof shown === "function") return String(shown.call(value));
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
  if (value instanceof ArrayBuffer) return `ArrayBuffer(${value.byteLength})`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (value instanceof Map) return `Map(${value.size})`;
  if (value instanceof Set) return `Set(${value.size})`;
  if (Array.isArray(value)) return `[${value.slice(0, 8).map((v) => render(v, depth - 1)).join(", ")}${value.length > 8 ? ", …" : ""}]`;
  const entries = Object.entries(value as object).slice(0, 8).map(([k, v]) => `${k}: ${render(v, depth - 1)}`);
  return `{${entries.join(", ")}}`;
}
