// Encodes outputs as bytes and back: plain JSON when that is exact, superjson otherwise, with binary
// data (typed arrays, ArrayBuffer, DataView, Buffer) kept as raw, aligned sections beside the document.
import { Buffer } from "node:buffer";
import { SuperJSON } from "superjson";

/** Bump when the layout changes; old payloads stay readable by the branch that knows their version. */
export const CODEC_VERSION = 1;
const MAGIC = [0x4e, 0x42, 0x4d, 0x4f]; // "NBMO"
const HEADER_BYTES = 16; // magic, version, mode, 2 spare, JSON length (u32), section count (u32)
const MODE_JSON = 0;
const MODE_SUPERJSON = 1;

/** The output holds something superjson cannot bring back as it was. */
export class UnstorableValue extends Error {
  readonly path: string;
  constructor(path: string, reason: string) {
    super(`the value at ${path} ${reason}`);
    this.path = path;
  }
}

/** The bytes are not a payload this codec wrote (truncated, garbled, or from another format). */
export class CorruptPayload extends Error {}

const binaryTypes = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  ...("Float16Array" in globalThis ? [(globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array] : []),
];

type BinaryValue = ArrayBufferView | ArrayBuffer;
// The JSON that stands for a binary value: its constructor name and the index of its section.
type BinaryRef = { t: string; i: number };

// superjson calls transformers synchronously inside one serialize/deserialize call, so the sections of
// the payload being processed can live here for that call's duration.
let sections: Uint8Array[] = [];

const superjson = new SuperJSON();
superjson.registerCustom<BinaryValue, BinaryRef>(
  {
    isApplicable: (v): v is BinaryValue => ArrayBuffer.isView(v) || v instanceof ArrayBuffer,
    serialize: (v) => ({ t: binaryTypeName(v), i: sections.push(asBytes(v)) - 1 }),
    deserialize: ({ t, i }) => fromBytes(t, sections[i]!),
  },
  "nbmemo.binary",
);

// superjson writes an invalid Date as null; this keeps it a Date.
superjson.registerCustom<Date, string>(
  {
    isApplicable: (v): v is Date => v instanceof Date && Number.isNaN(v.getTime()),
    serialize: () => "invalid",
    deserialize: () => new Date(NaN),
  },
  "nbmemo.invalid-date",
);

function binaryTypeName(v: BinaryValue): string {
  if (v instanceof ArrayBuffer) return "ArrayBuffer";
  if (v instanceof DataView) return "DataView";
  if (Buffer.isBuffer(v)) return "Buffer";
  return binaryTypes.find((type) => v instanceof type)!.name;
}

function asBytes(v: BinaryValue): Uint8Array {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// Every value gets a buffer of its own: a view onto the payload would expose the other sections (or,
// for a pooled Buffer, unrelated memory) through `.buffer`.
function fromBytes(type: string, bytes: Uint8Array): BinaryValue {
  const own = new Uint8Array(bytes.byteLength);
  own.set(bytes);
  switch (type) {
    case "ArrayBuffer":
      return own.buffer;
    case "DataView":
      return new DataView(own.buffer);
    case "Buffer":
      return Buffer.from(own.buffer);
  }
  const Type = binaryTypes.find((t) => t.name === type);
  if (!Type) throw new CorruptPayload(`unknown binary type ${type}`);
  return new Type(own.buffer, 0, own.byteLength / Type.BYTES_PER_ELEMENT);
}

/**
 * Encodes `value` as chunks to be written in order (no giant concatenation for large binary data).
 *
 * @throws UnstorableValue naming the path of a value that would not read back as it is.
 */
export function encode(value: unknown): Uint8Array[] {
  const plain = inspectValue(value);
  let json: string;
  let found: Uint8Array[];
  sections = [];
  try {
    json = plain ? JSON.stringify(value) : JSON.stringify(superjson.serialize(value));
    found = sections;
  } finally {
    sections = [];
  }
  const jsonBytes = new TextEncoder().encode(json);
  const header = new Uint8Array(HEADER_BYTES + 8 * found.length);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  header[4] = CODEC_VERSION;
  header[5] = plain ? MODE_JSON : MODE_SUPERJSON;
  view.setUint32(8, jsonBytes.byteLength, true);
  view.setUint32(12, found.length, true);
  found.forEach((s, i) => view.setFloat64(HEADER_BYTES + 8 * i, s.byteLength, true));
  const chunks: Uint8Array[] = [header, jsonBytes];
  let length = header.byteLength + jsonBytes.byteLength;
  for (const section of found) {
    const pad = (8 - (length % 8)) % 8; // 8-aligned, so a reader can place a section straight into a typed array
    if (pad) chunks.push(new Uint8Array(pad));
    chunks.push(section);
    length += pad + section.byteLength;
  }
  return chunks;
}

/** Joins chunks into one buffer (for payloads small enough to keep inline). */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}

export function byteLength(chunks: readonly Uint8Array[]): number {
  return chunks.reduce((sum, c) => sum + c.byteLength, 0);
}

/** Decodes a payload written by {@link encode}. @throws CorruptPayload when the bytes do not check out. */
export function decode(bytes: Uint8Array): unknown {
  if (bytes.byteLength < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new CorruptPayload("not an nbmemo payload");
  }
  if (bytes[4] !== CODEC_VERSION) throw new CorruptPayload(`unknown codec version ${bytes[4]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jsonLength = view.getUint32(8, true);
  const count = view.getUint32(12, true);
  let offset = HEADER_BYTES + 8 * count + jsonLength;
  if (offset > bytes.byteLength) throw new CorruptPayload("truncated payload");
  const found: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const length = view.getFloat64(HEADER_BYTES + 8 * i, true);
    offset += (8 - (offset % 8)) % 8;
    if (!Number.isSafeInteger(length) || offset + length > bytes.byteLength) throw new CorruptPayload("truncated payload");
    found.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (offset !== bytes.byteLength) throw new CorruptPayload("payload length does not match its header");
  const jsonStart = HEADER_BYTES + 8 * count;
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder().decode(bytes.subarray(jsonStart, jsonStart + jsonLength)));
  } catch (error) {
    throw new CorruptPayload("garbled document", { cause: error });
  }
  if (bytes[5] === MODE_JSON) return document;
  sections = found;
  try {
    return superjson.deserialize(document as Parameters<typeof superjson.deserialize>[0]);
  } finally {
    sections = [];
  }
}

/**
 * Walks `value` and returns true when plain JSON represents it exactly; throws {@link UnstorableValue}
 * for anything superjson would drop or change (functions, symbols, class instances, sparse arrays).
 */
function inspectValue(value: unknown): boolean {
  const seen = new Set<object>();
  let plain = true;
  const walk = (v: unknown, path: string): void => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return;
      case "number":
        if (!Number.isFinite(v) || Object.is(v, -0)) plain = false;
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
      plain = false; // shared or cyclic: superjson keeps the identity
      return;
    }
    seen.add(object);
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
      plain = false;
      return;
    }
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        if (!(i in object)) throw new UnstorableValue(`${path}[${i}]`, "is a hole in a sparse array, which would read back as null");
        walk(object[i], `${path}[${i}]`);
      }
      return;
    }
    if (object instanceof Map) {
      plain = false;
      let i = 0;
      for (const [k, item] of object) {
        walk(k, `${path}.<map key ${i++}>`);
        walk(item, `${path}.get(…)`);
      }
      return;
    }
    if (object instanceof Set) {
      plain = false;
      let i = 0;
      for (const item of object) walk(item, `${path}.<set item ${i++}>`);
      return;
    }
    if (object instanceof Date || object instanceof RegExp || object instanceof URL || object instanceof Error) {
      plain = false;
      return;
    }
    const proto = Object.getPrototypeOf(object);
    if (proto !== null && proto !== Object.prototype) {
      const name = proto.constructor?.name || "an anonymous class";
      throw new UnstorableValue(path, `is an instance of ${name}, which would read back as a plain object`);
    }
    if (Object.getOwnPropertySymbols(object).length > 0) {
      throw new UnstorableValue(path, "has symbol keys, which cannot be stored");
    }
    for (const key of Object.keys(object)) {
      walk((object as Record<string, unknown>)[key], /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);
    }
  };
  walk(value, "result");
  return plain;
}
