// Large reads: a payload decoded from a source that reads at offsets, its binary sections read straight into their own buffers.
import { Buffer } from "node:buffer";
import type { RunningSum } from "./checksum.ts";
import { copyBuffer, CorruptPayload, decode, decodeParts, FIRST_READ_BYTES, headerLength, type LazySection, readLayout } from "./codec.ts";

/** A payload that can be read at offsets (a store's open object, or bytes in memory). */
export interface PayloadSource {
  /** The payload's length in bytes. */
  readonly size: number;
  /** Fills all of `into` with the payload's bytes from `offset`. */
  read(offset: number, into: Uint8Array): void | Promise<void>;
  /** Each read costs little (a local file, no request per read): a checksummed large section is then read in pieces. */
  readonly cheapReads?: boolean;
  /**
   * The payload's bytes from `offset` to its end as UTF-8 text, decoded by the runtime itself with no
   * buffer of their size in JavaScript (invalid bytes become U+FFFD: the codec checks the bytes first).
   * A source that has it reads synchronously.
   */
  textToEnd?(offset: number): string;
}

// Of a source with cheap reads, a section that is checksummed is read this much at a time, each piece
// summed while it is in the CPU's cache: under Node 24, zlib's CRC-32 took ~45 ms per 100 MB read whole
// first, ~18 ms in pieces that are in the cache, and a hit of a 100 MB string read + summed in 256 KB
// pieces ~68 ms against ~90 ms (64 KB: ~78 ms, 1 MB: ~74 ms).
const PIECE_BYTES = 256 * 1024;

// Of a payload whose checksum the caller checks, a last section at least this large that the document may
// read as text is summed in pieces first, then decoded from the source by `textToEnd` if the document does
// read it as text. Under Node 24 the 100 MB buffer of a 100 MB string read and its external latin1 string
// set off a full GC per hit (~60 ms with 1M parsed rows alive): such a hit took 197-243 ms against 104-124 ms
// for readFileSync(path, "utf8"), and 130-160 ms so; a list of 1M lines, 306-500 ms against 198-199 ms.
const LAZY_TEXT_BYTES = 1 << 20;
let scratch: Uint8Array | undefined;

/**
 * Decodes a payload read at offsets from `source`: a large payload's binary sections are read straight
 * into the buffers the decoded values keep, so an 80 MB Float64Array is one read into its final buffer,
 * with no copy of the payload. If `sum` is given, it takes the payload's bytes in order as they are read
 * (a large section of a source with cheap reads in pieces, each summed just after its read). `checked`:
 * the caller compares `sum` with the payload's stored checksum before it uses the value, so bytes that
 * differ from those written fail there (and a text section need not be checked to be UTF-8).
 *
 * @throws CorruptPayload when the payload does not check out.
 */
export async function decodeSource(reader: PayloadSource, sum?: RunningSum, checked = false): Promise<unknown> {
  const readAt = async (offset: number, into: Uint8Array) => {
    if (offset + into.byteLength > reader.size) throw new CorruptPayload("truncated payload");
    await reader.read(offset, into);
    return into;
  };
  // Not zero-filled, since the reads fill it whole or fail (and then the buffer is dropped).
  const readSection = async (offset: number, length: number) => {
    const into = uninitialized(length);
    const step = sum && reader.cheapReads ? PIECE_BYTES : length;
    for (let at = 0; at < length; at += step) {
      const piece = await readAt(offset + at, into.subarray(at, Math.min(length, at + step)));
      sum?.add(piece);
    }
    return into.buffer as ArrayBuffer;
  };
  if (reader.size <= FIRST_READ_BYTES) return decode(new Uint8Array(await readSection(0, reader.size)));
  let prefix = await readAt(0, new Uint8Array(FIRST_READ_BYTES));
  const headerBytes = headerLength(prefix);
  if (prefix.byteLength < headerBytes) prefix = await readAt(0, new Uint8Array(headerBytes));
  const layout = readLayout(prefix);
  if (layout.compression) return decode(new Uint8Array(await readSection(0, reader.size)));
  if (layout.end !== reader.size) throw new CorruptPayload("payload length does not match its header");
  const jsonEnd = layout.jsonStart + layout.jsonLength;
  if (prefix.byteLength < jsonEnd) prefix = await readAt(0, new Uint8Array(jsonEnd));
  // The bytes summed so far: the first read's, up to each section read on its own, then that section's.
  // What lies between them beyond the first read is alignment padding, which encode() writes as zeros.
  let summed = 0;
  const sumTo = (end: number) => {
    const fromPrefix = Math.min(end, prefix.byteLength);
    if (summed < fromPrefix) sum?.add(prefix.subarray(summed, fromPrefix));
    summed = Math.max(summed, fromPrefix);
    if (end > summed) sum?.add(new Uint8Array(end - summed));
    summed = Math.max(summed, end);
  };
  const last = layout.sections.at(-1);
  const lazy = checked && sum && reader.textToEnd && last && last.length >= LAZY_TEXT_BYTES && mayHoldText(prefix.subarray(layout.jsonStart, jsonEnd))
    ? last
    : undefined;
  const buffers: (ArrayBuffer | LazySection)[] = [];
  for (const section of layout.sections) {
    const { offset, length } = section;
    if (offset + length <= prefix.byteLength) {
      buffers.push(copyBuffer(prefix.subarray(offset, offset + length)));
      continue;
    }
    sumTo(offset);
    buffers.push(section === lazy ? lazySection(reader, offset, length, sum!) : await readSection(offset, length));
    summed = offset + length;
  }
  sumTo(prefix.byteLength);
  return decodeParts(layout, prefix.subarray(layout.jsonStart, jsonEnd), buffers);
}

// Whether the document names a text section (lib/codec/codec.ts "nbmemo.text", "nbmemo.texts", whose text
// is written after its lengths); a user's string that says so too only makes the last section lazy.
function mayHoldText(json: Uint8Array): boolean {
  return Buffer.from(json.buffer, json.byteOffset, json.byteLength).includes("nbmemo.text");
}

// The last section, summed now in pieces through one small buffer, and read again when decoded: as text by
// the source itself, or as bytes. (The source holds the payload open: a stored payload is never rewritten.)
function lazySection(reader: PayloadSource, offset: number, length: number, sum: RunningSum): LazySection {
  const piece = scratch ??= uninitialized(PIECE_BYTES);
  for (let at = 0; at < length; at += PIECE_BYTES) {
    const into = piece.subarray(0, Math.min(PIECE_BYTES, length - at));
    readNow(reader, offset + at, into);
    sum.add(into);
  }
  // Each made once: a document may name one section more than once.
  let text: string | undefined;
  let bytes: ArrayBuffer | undefined;
  return {
    text: () => text ??= reader.textToEnd!(offset),
    bytes: () => {
      if (bytes) return bytes;
      const into = uninitialized(length);
      readNow(reader, offset, into);
      return bytes = into.buffer as ArrayBuffer;
    },
  };
}

function readNow(reader: PayloadSource, offset: number, into: Uint8Array): void {
  if (reader.read(offset, into) !== undefined) throw new Error("A payload source with textToEnd must read synchronously");
}

// allocUnsafeSlow gives a buffer of its own, never a slice of Node's shared pool.
function uninitialized(length: number): Uint8Array {
  return Buffer.allocUnsafeSlow(length);
}
