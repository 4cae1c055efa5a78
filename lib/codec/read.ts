// Large reads: a payload decoded from a source that reads at offsets, its binary sections read straight into their own buffers.
import { Buffer } from "node:buffer";
import type { RunningSum } from "./checksum.ts";
import { copyBuffer, CorruptPayload, decode, decodeParts, FIRST_READ_BYTES, headerLength, readLayout } from "./codec.ts";

/** A payload that can be read at offsets (a store's open object, or bytes in memory). */
export interface PayloadSource {
  /** The payload's length in bytes. */
  readonly size: number;
  /** Fills all of `into` with the payload's bytes from `offset`. */
  read(offset: number, into: Uint8Array): void | Promise<void>;
  /** Each read costs little (a local file, no request per read): a checksummed large section is then read in pieces. */
  readonly cheapReads?: boolean;
}

// Of a source with cheap reads, a section that is checksummed is read this much at a time, each piece
// summed while it is in the CPU's cache: under Node 24, zlib's CRC-32 took ~45 ms per 100 MB read whole
// first, ~18 ms in pieces that are in the cache, and a hit of a 100 MB string read + summed in 256 KB
// pieces ~68 ms against ~90 ms (64 KB: ~78 ms, 1 MB: ~74 ms).
const PIECE_BYTES = 256 * 1024;

/**
 * Decodes a payload read at offsets from `source`: a large payload's binary sections are read straight
 * into the buffers the decoded values keep, so an 80 MB Float64Array is one read into its final buffer,
 * with no copy of the payload. If `sum` is given, it takes the payload's bytes in order as they are read
 * (a large section of a source with cheap reads in pieces, each summed just after its read).
 *
 * @throws CorruptPayload when the payload does not check out.
 */
export async function decodeSource(reader: PayloadSource, sum?: RunningSum): Promise<unknown> {
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
  const buffers: ArrayBuffer[] = [];
  for (const { offset, length } of layout.sections) {
    if (offset + length <= prefix.byteLength) {
      buffers.push(copyBuffer(prefix.subarray(offset, offset + length)));
      continue;
    }
    sumTo(offset);
    buffers.push(await readSection(offset, length));
    summed = offset + length;
  }
  sumTo(prefix.byteLength);
  return decodeParts(layout, prefix.subarray(layout.jsonStart, jsonEnd), buffers);
}

// allocUnsafeSlow gives a buffer of its own, never a slice of Node's shared pool.
function uninitialized(length: number): Uint8Array {
  return Buffer.allocUnsafeSlow(length);
}
