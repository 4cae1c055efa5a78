// The canonical hash of a call's arguments: independent of object key order and of Set/Map insertion
// order, exact about types, and streaming binary data straight into the hash.
import { createHash, type Hash as NodeHash } from "node:crypto";
import { NbmemoError } from "../errors.ts";

/** Hashes a function met among the arguments (by its normalized source); `path` names where it was. */
export type FunctionHasher = (fn: Function, path: string) => string;

/**
 * Hashes `values` as one canonical encoding. `root` names them in errors (`args`, `deps`).
 *
 * @throws NbmemoError (`UNHASHABLE_ARGUMENT`) naming the path of a value with no stable identity.
 */
export function hashValues(values: readonly unknown[], root: string, hashFunction: FunctionHasher): string {
  const hash = new Hash();
  new Encoder(hashFunction).value(hash, values, root, []);
  return hash.digest();
}

// Most arguments are a few short tokens, and each update of a node:crypto hash crosses into native
// code: text is gathered into one string and hashed in one update, while binary data still goes
// straight from its own memory into the hash (no copy). The bytes hashed are the same either way.
class Hash {
  readonly #hash: NodeHash = createHash("sha256");
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

/** Hashes one value the way {@link hashValues} hashes each argument; `path` names it in errors. */
export function hashValue(value: unknown, path: string, hashFunction: FunctionHasher): string {
  const hash = new Hash();
  new Encoder(hashFunction).value(hash, value, path, []);
  return hash.digest();
}

const unhashable = (path: string, what: string, fix: string) =>
  new NbmemoError("UNHASHABLE_ARGUMENT", `Cannot hash the argument at ${path}: ${what}. ${fix}`);

const liveHandles = [Promise, WeakMap, WeakSet, WeakRef] as const;

class Encoder {
  readonly #hashFunction: FunctionHasher;

  constructor(hashFunction: FunctionHasher) {
    this.#hashFunction = hashFunction;
  }

  // `ancestors` holds the objects being encoded above this one: meeting one again is a cycle,
  // written as a back-reference to its depth so equal cyclic structures hash equal.
  value(hash: Hash, value: unknown, path: string, ancestors: object[]): void {
    switch (typeof value) {
      case "undefined":
        return void hash.update("u");
      case "boolean":
        return void hash.update(value ? "T" : "F");
      case "number":
        return void hash.update(`d${Object.is(value, -0) ? "-0" : String(value)};`);
      case "bigint":
        return void hash.update(`b${value};`);
      case "string":
        return void hash.update(`s${JSON.stringify(value)}`);
      case "symbol": {
        const key = Symbol.keyFor(value);
        if (key === undefined) {
          throw unhashable(path, `${String(value)} is a unique symbol, with no identity outside this process`,
            "Pass a string instead, or a registered symbol (Symbol.for).");
        }
        return void hash.update(`y${JSON.stringify(key)}`);
      }
      case "function":
        return void hash.update(`f${this.#hashFunction(value, path)};`);
    }
    if (value === null) return void hash.update("n");
    const object = value as object;
    const depth = ancestors.indexOf(object);
    if (depth >= 0) return void hash.update(`r${depth};`);
    ancestors.push(object);
    try {
      this.object(hash, object, path, ancestors);
    } finally {
      ancestors.pop();
    }
  }

  object(hash: Hash, value: object, path: string, ancestors: object[]): void {
    if (ArrayBuffer.isView(value)) {
      const type = value.constructor.name === "Buffer" ? "Uint8Array" : value.constructor.name;
      hash.update(`t${type}:${value.byteLength};`);
      return void hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    }
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer)) {
      hash.update(`B${value.byteLength};`);
      return void hash.update(new Uint8Array(value));
    }
    if (Array.isArray(value)) {
      hash.update(`a${value.length};`);
      for (let i = 0; i < value.length; i++) {
        if (i in value) this.value(hash, value[i], `${path}[${i}]`, ancestors);
        else hash.update("h");
      }
      return;
    }
    if (value instanceof Date) return void hash.update(`D${value.getTime()};`);
    if (value instanceof RegExp) return void hash.update(`R${JSON.stringify(value.source)}${value.flags};`);
    if (value instanceof URL) return void hash.update(`U${JSON.stringify(value.href)}`);
    if (value instanceof Error) return void hash.update(`E${JSON.stringify([value.name, value.message])}`);
    if (value instanceof Map) {
      return this.unordered(hash, "M", value.size, value, (sub, [k, v], i) => {
        this.value(sub, k, `${path}.<map key ${i}>`, ancestors);
        this.value(sub, v, `${path}.get(${preview(k)})`, ancestors);
      });
    }
    if (value instanceof Set) {
      return this.unordered(hash, "S", value.size, value, (sub, item, i) =>
        this.value(sub, item, `${path}.<set item ${i}>`, ancestors));
    }
    for (const Handle of liveHandles) {
      if (value instanceof Handle) {
        throw unhashable(path, `a ${Handle.name} is a live handle, not data`,
          Handle === Promise ? "Await it before the call." : "Pass the data it refers to instead.");
      }
    }
    this.record(hash, value, path, ancestors);
  }

  // A plain object, or a class instance hashed by its class name and own enumerable state.
  record(hash: Hash, value: object, path: string, ancestors: object[]): void {
    const proto = Object.getPrototypeOf(value);
    const plain = proto === null || proto === Object.prototype;
    const keys = Object.keys(value).sort();
    if (Object.getOwnPropertySymbols(value).some((s) => Object.prototype.propertyIsEnumerable.call(value, s))) {
      throw unhashable(path, "the object has symbol keys, which have no stable identity",
        "Use string keys, or leave the object out of the arguments.");
    }
    if (!plain) {
      const name = proto?.constructor?.name || "anonymous class";
      if (keys.length === 0) {
        throw unhashable(path, `an instance of ${name} has no own enumerable state to hash`,
          "Pass the plain data it holds, or a string that identifies it.");
      }
      hash.update(`c${JSON.stringify(name)}`);
    }
    hash.update(`o${keys.length};`);
    for (const key of keys) {
      hash.update(`k${JSON.stringify(key)}`);
      this.value(hash, (value as Record<string, unknown>)[key], `${path}${propertyPath(key)}`, ancestors);
    }
  }

  // Sets and maps: each member hashed alone, the digests sorted, so insertion order does not count.
  unordered<T>(hash: Hash, tag: string, size: number, items: Iterable<T>, encode: (h: Hash, item: T, i: number) => void) {
    const digests: string[] = [];
    let i = 0;
    for (const item of items) {
      const sub = new Hash();
      encode(sub, item, i++);
      digests.push(sub.digest());
    }
    hash.update(`${tag}${size};${digests.sort().join("")}`);
  }
}

/** How a property key is written in a path: `.name`, or `["odd key"]`. */
export function propertyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** A short human-readable rendering of a value, for messages. */
export function preview(value: unknown, budget = 80): string {
  return shorten(render(value, 3), budget);
}

/**
 * The arguments of a call as the catalog shows them, `"CA", {year: 2020}`, in about `budget` characters:
 * each argument is shortened rather than the list, so that every one stays visible. Short ones keep
 * their whole text; the long ones share what is left equally (never less than a few characters each).
 */
export function previewArgs(values: readonly unknown[], budget = 80): string {
  const texts = values.map((v) => render(v, 3));
  let left = budget - 2 * Math.max(0, texts.length - 1); // the ", " between them
  const widths: number[] = [];
  const shortestFirst = texts.map((_, i) => i).sort((a, b) => texts[a]!.length - texts[b]!.length);
  shortestFirst.forEach((index, done) => {
    widths[index] = Math.min(texts[index]!.length, Math.max(MIN_ARG_PREVIEW, Math.floor(left / (texts.length - done))));
    left -= widths[index]!;
  });
  return texts.map((text, i) => shorten(text, widths[i]!)).join(", ");
}

const MIN_ARG_PREVIEW = 8;

function shorten(text: string, width: number): string {
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
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
  if (value instanceof ArrayBuffer) return `ArrayBuffer(${value.byteLength})`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (value instanceof Map) return `Map(${value.size})`;
  if (value instanceof Set) return `Set(${value.size})`;
  if (Array.isArray(value)) return `[${value.slice(0, 8).map((v) => render(v, depth - 1)).join(", ")}${value.length > 8 ? ", …" : ""}]`;
  const entries = Object.entries(value as object).slice(0, 8).map(([k, v]) => `${k}: ${render(v, depth - 1)}`);
  return `{${entries.join(", ")}}`;
}
