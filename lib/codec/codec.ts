// Encodes outputs as bytes and back: plain JSON when that is exact, superjson otherwise, with binary
// data (typed arrays, ArrayBuffer, DataView, Buffer) kept as raw, aligned sections beside the document.
import { Buffer } from "node:buffer";
import { SuperJSON } from "superjson";
import { type Compression, compressChunks, decompress } from "./compression.ts";
import { ERROR_KINDS, inspectValue, isIndex, UnstorableValue } from "./faithful.ts";
import { decodeRows, encodeRows, type RowsPlan } from "./rows.ts";
import { type Chunk, decodeText, decodeTextList, deferText, encodeText, encodeTextList, isLargeText } from "./text.ts";

export { UnstorableValue };

/**
 * Bump when the layout changes, and keep reading the older ones. 1: the layout below; 2: the same, plus
 * byte 6 naming the compression of everything after the header; 3: the same, plus large strings and lists
 * of strings as sections of their UTF-8 (lib/codec/text.ts), which a reader of 2 would not know (a payload
 * without them is still written as 2).
 */
export const CODEC_VERSION = 3;
const MAGIC = [0x4e, 0x42, 0x4d, 0x4f]; // "NBMO"
const HEADER_BYTES = 16; // magic, version, mode, compression, 1 spare, JSON length (u32), section count (u32)
const MODE_JSON = 0;
const MODE_SUPERJSON = 1;
const COMPRESSION_IDS: readonly (Compression | undefined)[] = [undefined, "gzip", "zstd"];
// A stored payload up to this size is read whole; of a larger one, this much is read first, and every
// section that does not lie within it is read straight into its own buffer.
export const FIRST_READ_BYTES = 64 * 1024;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** The bytes are not a payload this codec wrote (truncated, garbled, or from another format). */
export class CorruptPayload extends Error {}


// Typed as one constructor shape: older TypeScript (5.7, in Deno 2.2-2.4) cannot call a union of them.
interface BinaryConstructor {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): ArrayBufferView;
  readonly name: string;
  readonly BYTES_PER_ELEMENT: number;
}

const binaryTypes: readonly BinaryConstructor[] = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  ...("Float16Array" in globalThis ? [(globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array] : []),
];

type BinaryValue = ArrayBufferView | ArrayBuffer;
// The JSON that stands for a binary value: its constructor name and the index of its section.
type BinaryRef = { t: string; i: number };

/**
 * A section of a payload being decoded that is read only when the document asks for it, as text or as
 * bytes (lib/codec/read.ts: a large last section of a local file).
 */
export interface LazySection {
  text(): string;
  bytes(): ArrayBuffer;
}

// superjson calls transformers synchronously inside one serialize/deserialize call, so the sections of
// the payload being processed can live here for that call's duration: the values' bytes while encoding
// (large texts deferred when `deferring`), buffers of their own (copied, or read straight from the store)
// or lazy sections while decoding.
let sections: Chunk[] = [];
let deferring = false;
let decoded: (ArrayBuffer | LazySection)[] = [];

function sectionBytes(i: number): ArrayBuffer {
  const section = decoded[i] ?? missingSection();
  return section instanceof ArrayBuffer ? section : section.bytes();
}

function sectionText(i: number): string {
  const section = decoded[i] ?? missingSection();
  return section instanceof ArrayBuffer ? decodeText(section, corrupt) : section.text();
}
// The arrays of the value being encoded that go as columns (lib/codec/rows.ts), as inspectValue planned them.
let tables = new Map<object, RowsPlan>();
// The objects of the value being encoded that superjson would reshape, to go as their kind and own entries.
let wrapped = new Set<object>();
// The arrays of the value being encoded that go as one UTF-8 text and lengths (lib/codec/text.ts), and
// whether any text went so (only such a payload needs version 3: older readers keep reading the rest).
let texts = new Set<object>();
let textUsed = false;

const superjson = new SuperJSON();
superjson.registerCustom<BinaryValue, BinaryRef>(
  {
    isApplicable: (v): v is BinaryValue => ArrayBuffer.isView(v) || v instanceof ArrayBuffer,
    serialize: (v) => ({ t: binaryTypeName(v), i: sections.push(asBytes(v)) - 1 }),
    deserialize: ({ t, i }) => fromBuffer(t, sectionBytes(i)),
  },
  "nbmemo.binary",
);

superjson.registerCustom<Record<string, unknown>[], ReturnType<typeof encodeRows>>(
  {
    isApplicable: (v): v is Record<string, unknown>[] => tables.has(v as object),
    serialize: (v) => encodeRows(v, tables.get(v)!, (bytes) => sections.push(bytes) - 1),
    deserialize: (doc) => decodeRows(doc, sectionBytes, corrupt),
  },
  "nbmemo.rows",
);

superjson.registerCustom<string, number>(
  {
    isApplicable: isLargeText,
    serialize: (v) => {
      textUsed = true;
      return sections.push(deferring ? deferText(v) : encodeText(v)) - 1;
    },
    deserialize: sectionText,
  },
  "nbmemo.text",
);

superjson.registerCustom<string[], { t: number; l: number }>(
  {
    isApplicable: (v): v is string[] => texts.has(v as object),
    serialize: (v) => {
      textUsed = true;
      const { text, lengths } = encodeTextList(v, deferring);
      // The text after its lengths: a large last section can be read as text straight from a file (read.ts).
      const l = sections.push(lengths) - 1;
      return { t: sections.push(text) - 1, l };
    },
    deserialize: ({ t, l }) => decodeTextList(sectionText(t), sectionBytes(l), corrupt),
  },
  "nbmemo.texts",
);

// An object as its kind and its own entries, [key, value] (or [key, value, 0] when not enumerable), and an
// array's items. The entries and items go as a superjson document of their own, as a string: superjson
// records shared references (and repeated NaNs) by path, and a path through an object it did not walk
// would not resolve (nor would it, had the outer walk seen the inner document's own shared arrays).
type Entry = [string, unknown] | [string, unknown, 0];
type Contents = { e: Entry[]; a?: unknown[] };
type Wrapped = { p: string; d: string; s?: string };

superjson.registerCustom<object, Wrapped>(
  {
    isApplicable: (v): v is object => wrapped.has(v as object),
    serialize: (v) => {
      const { p, s, contents } = wrap(v);
      const d = JSON.stringify(superjson.serialize(contents));
      return s === undefined ? { p, d } : { p, d, s };
    },
    deserialize: ({ p, d, s }) => unwrap(p, superjson.deserialize<Contents>(parseDocument(d)), s),
  },
  "nbmemo.object",
);

function wrap(v: object): { p: string; s?: string; contents: Contents } {
  const entries = (keys: readonly string[]): Entry[] => keys.map((k) => {
    const item = (v as Record<string, unknown>)[k];
    return Object.prototype.propertyIsEnumerable.call(v, k) ? [k, item] : [k, item, 0];
  });
  if (Array.isArray(v)) {
    const extra = Object.getOwnPropertyNames(v).filter((k) => !isIndex(k, v.length));
    return { p: "array", contents: { a: [...v], e: entries(extra) } };
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === null || proto === Object.prototype) return { p: proto === null ? "null" : "object", contents: { e: entries(Object.keys(v)) } };
  const contents = { e: entries(Object.getOwnPropertyNames(v).filter((k) => k !== "stack")) };
  const p = (proto as { constructor: { name: string } }).constructor.name;
  return Object.hasOwn(v, "stack") ? { p, s: (v as Error).stack!, contents } : { p, contents };
}

// Every key is defined, never assigned: a key named __proto__ becomes an own property, not a prototype.
function unwrap(p: string, { e, a }: Contents, s: string | undefined): object {
  if (!Array.isArray(e)) throw new CorruptPayload("garbled object entries");
  let target: object;
  if (p === "array") {
    if (!Array.isArray(a)) throw new CorruptPayload("garbled array");
    target = a;
  } else if (p === "null" || p === "object") {
    target = p === "null" ? Object.create(null) : {};
  } else {
    const Kind = ERROR_KINDS.get(p) ?? corrupt(`unknown error kind ${p}`);
    // A real Error of its kind (not an object with its prototype), then its own properties as stored.
    const error = Kind === (AggregateError as unknown) ? new AggregateError([]) : new Kind();
    for (const key of Object.getOwnPropertyNames(error)) if (key !== "stack" || s === undefined) delete (error as unknown as Record<string, unknown>)[key];
    if (s !== undefined) error.stack = s;
    target = error;
  }
  for (const [key, value, hidden] of e) {
    Object.defineProperty(target, key, { value, enumerable: hidden !== 0, writable: true, configurable: true });
  }
  return target;
}

function parseDocument(d: unknown): Parameters<typeof superjson.deserialize>[0] {
  try {
    return JSON.parse(d as string);
  } catch (error) {
    throw new CorruptPayload("garbled object entries", { cause: error });
  }
}

function corrupt(why: string): never {
  throw new CorruptPayload(why);
}

function missingSection(): never {
  throw new CorruptPayload("a table or text points to a binary section that is not there");
}

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

// `buffer` is the value's own (a view onto the payload would expose the other sections, or for a pooled
// Buffer unrelated memory, through `.buffer`).
function fromBuffer(type: string, buffer: ArrayBuffer): BinaryValue {
  switch (type) {
    case "ArrayBuffer":
      return buffer;
    case "DataView":
      return new DataView(buffer);
    case "Buffer":
      return Buffer.from(buffer);
  }
  const Type = binaryTypes.find((t) => t.name === type);
  if (!Type || buffer.byteLength % Type.BYTES_PER_ELEMENT !== 0) throw new CorruptPayload(`bad binary section of type ${type}`);
  return new Type(buffer, 0, buffer.byteLength / Type.BYTES_PER_ELEMENT);
}

/**
 * Encodes `value` as chunks to be written in order (no giant concatenation for large binary data: a
 * typed array's own bytes are one of the chunks). With `deferred`, a large text's chunk is the text, to
 * be encoded as it is written (lib/codec/text.ts `payloadPieces`).
 *
 * @throws UnstorableValue naming the path of a value that would not read back as it is.
 */
export function encode(value: unknown, deferred?: false): Uint8Array[];
export function encode(value: unknown, deferred: boolean): Chunk[];
export function encode(value: unknown, deferred = false): Chunk[] {
  let json: string;
  let found: Chunk[];
  let plain: boolean;
  let version = 2;
  sections = [];
  textUsed = false;
  deferring = deferred;
  try {
    ({ plain, tables, wrapped, texts } = inspectValue(value));
    json = plain ? JSON.stringify(value) : JSON.stringify(superjson.serialize(value));
    found = sections;
    if (textUsed) version = CODEC_VERSION;
  } finally {
    sections = [];
    deferring = false;
    tables = new Map();
    wrapped = new Set();
    texts = new Set();
  }
  const jsonBytes = utf8Encoder.encode(json);
  const header = new Uint8Array(HEADER_BYTES + 8 * found.length);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  header[4] = version;
  header[5] = plain ? MODE_JSON : MODE_SUPERJSON;
  view.setUint32(8, jsonBytes.byteLength, true);
  view.setUint32(12, found.length, true);
  found.forEach((s, i) => view.setFloat64(HEADER_BYTES + 8 * i, s.byteLength, true));
  const chunks: Chunk[] = [header, jsonBytes];
  let length = header.byteLength + jsonBytes.byteLength;
  for (const section of found) {
    const pad = (8 - (length % 8)) % 8; // 8-aligned, so a reader can place a section straight into a typed array
    if (pad) chunks.push(new Uint8Array(pad));
    chunks.push(section);
    length += pad + section.byteLength;
  }
  return chunks;
}

/**
 * Compresses an encoded payload: the header stays as it is (with the method stamped in it), everything
 * after it is compressed as one stream.
 */
export async function compress(chunks: readonly Uint8Array[], method: Compression): Promise<Uint8Array[]> {
  const header = chunks[0]!.slice();
  header[6] = COMPRESSION_IDS.indexOf(method);
  return [header, ...await compressChunks(chunks.slice(1), method)];
}

// Where everything sits in a payload, as its header says (offsets from the start of the payload).
export interface Layout {
  readonly superjson: boolean;
  readonly compression: Compression | undefined;
  readonly jsonStart: number;
  readonly jsonLength: number;
  readonly sections: readonly { readonly offset: number; readonly length: number }[];
  /** The payload's length, uncompressed. */
  readonly end: number;
}

// The fixed part of the header is HEADER_BYTES; the whole header needs `headerLength(bytes)`.
// (Plain byte reads, not a DataView: every small hit decodes a header.)
export function headerLength(bytes: Uint8Array): number {
  if (bytes.byteLength < HEADER_BYTES || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2] || bytes[3] !== MAGIC[3]) {
    throw new CorruptPayload("not an nbmemo payload");
  }
  if (bytes[4] !== 1 && bytes[4] !== 2 && bytes[4] !== CODEC_VERSION) throw new CorruptPayload(`unknown codec version ${bytes[4]}`);
  return HEADER_BYTES + 8 * u32(bytes, 12);
}

/**
 * How a payload of plain JSON (version 2, uncompressed, no binary sections: what {@link encode} makes of
 * plain data) begins, and its count of sections ({@link PLAIN_SECTIONS}): a reader may take the rest, from
 * byte {@link HEADER_BYTES}, as the JSON text itself ({@link plainHeader}, {@link parseJson}).
 */
export const PLAIN_PREFIX: Uint8Array = Uint8Array.of(...MAGIC, 2, MODE_JSON, 0, 0);
/**
 * Where a header gives its count of binary sections, and a plain payload's: none. One that counts some is not
 * a payload {@link encode} makes (decode refuses it), and a reader that took the rest as JSON text would read
 * the sections' lengths and bytes as part of it.
 */
export const PLAIN_SECTIONS: { readonly offset: number; readonly bytes: Uint8Array } = { offset: 12, bytes: new Uint8Array(4) };
export const PLAIN_TEXT_FROM = HEADER_BYTES;

/** The header of a plain JSON payload whose text is `jsonBytes` bytes of UTF-8; not to be changed (the last one is kept: a loop of hits asks for the same). */
export function plainHeader(jsonBytes: number): Uint8Array {
  if (lastPlainHeader.jsonBytes === jsonBytes) return lastPlainHeader.header;
  const header = new Uint8Array(HEADER_BYTES);
  header.set(PLAIN_PREFIX);
  new DataView(header.buffer).setUint32(8, jsonBytes, true);
  lastPlainHeader = { jsonBytes, header };
  return header;
}
let lastPlainHeader = { jsonBytes: -1, header: new Uint8Array() };

/** The value of a payload's JSON text (its document, for a superjson payload), or CorruptPayload. */
export function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch (error) {
    throw new CorruptPayload("garbled document", { cause: error });
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 2 ** 24;
}

export function readLayout(bytes: Uint8Array): Layout {
  const headerBytes = headerLength(bytes);
  // encode makes a payload with binary sections superjson, always (they are its values' references).
  if (bytes[5] === MODE_JSON && headerBytes > HEADER_BYTES) throw new CorruptPayload("garbled header: plain JSON with binary sections");
  if (bytes.byteLength < headerBytes) throw new CorruptPayload("truncated payload");
  const compressionId = bytes[4] === 1 ? 0 : bytes[6]!;
  if (compressionId >= COMPRESSION_IDS.length) throw new CorruptPayload(`unknown compression ${compressionId}`);
  const jsonLength = u32(bytes, 8);
  let offset = headerBytes + jsonLength;
  const sections: { offset: number; length: number }[] = [];
  for (let i = HEADER_BYTES; i < headerBytes; i += 8) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + i, 8).getFloat64(0, true);
    if (!Number.isSafeInteger(length) || length < 0) throw new CorruptPayload("garbled header");
    offset += (8 - (offset % 8)) % 8;
    sections.push({ offset, length });
    offset += length;
  }
  return {
    superjson: bytes[5] === MODE_SUPERJSON,
    compression: COMPRESSION_IDS[compressionId],
    jsonStart: headerBytes,
    jsonLength,
    sections,
    end: offset,
  };
}

export function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  const own = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(own).set(bytes);
  return own;
}

/** Decodes a payload written by {@link encode} (or {@link compress}). @throws CorruptPayload when the bytes do not check out. */
export function decode(bytes: Uint8Array): unknown {
  const layout = readLayout(bytes);
  let whole = bytes;
  if (layout.compression) {
    const body = inflate(bytes.subarray(layout.jsonStart), layout);
    whole = new Uint8Array(layout.end);
    whole.set(bytes.subarray(0, layout.jsonStart));
    whole.set(body, layout.jsonStart);
  } else if (layout.end !== bytes.byteLength) {
    throw new CorruptPayload(layout.end > bytes.byteLength ? "truncated payload" : "payload length does not match its header");
  }
  return decodeParts(layout, whole.subarray(layout.jsonStart, layout.jsonStart + layout.jsonLength),
    layout.sections.map(({ offset, length }) => copyBuffer(whole.subarray(offset, offset + length))));
}

function inflate(body: Uint8Array, layout: Layout): Uint8Array {
  const expected = layout.end - layout.jsonStart;
  let out: Uint8Array;
  try {
    out = decompress(body, layout.compression!, expected);
  } catch (error) {
    throw new CorruptPayload(`its ${layout.compression} stream is truncated or garbled`, { cause: error });
  }
  if (out.byteLength !== expected) throw new CorruptPayload("payload length does not match its header");
  return out;
}

export function decodeParts(layout: Layout, json: Uint8Array, buffers: (ArrayBuffer | LazySection)[]): unknown {
  const document = parseJson(utf8Decoder.decode(json));
  if (!layout.superjson) return document;
  decoded = buffers;
  try {
    return superjson.deserialize(document as Parameters<typeof superjson.deserialize>[0]);
  } finally {
    decoded = [];
  }
}
