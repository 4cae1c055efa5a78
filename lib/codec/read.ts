// Large reads: a payload decoded from a source that reads at offsets, its binary sections read straight into their own buffers.
import { Buffer } from "node:buffer";
import { copyBuffer, CorruptPayload, decode, decodeParts, FIRST_READ_BYTES, headerLength, type Layout, readLayout } from "./codec.ts";

/** A payload that can be read at offsets (a store's open object, or bytes in memory). */
export interface PayloadSource {
  /** The payload's length in bytes. */
  readonly size: number;
  /** Fills all of `into` with the payload's bytes from `offset`. */
  read(offset: number, into: Uint8Array): void | Promise<void>;
}

/**
 * Decodes a payload read at offsets from `source`: a large payload's binary sections are read straight
 * into the buffers the decoded values keep, so an 80 MB Float64Array is one read into its final buffer,
 * with no copy of the payload. If `pieces` is given, it receives the payload's bytes in order, as views
 * on what was read (for a checksum).
 *
 * @throws CorruptPayload when the payload does not check out.
 */
export async function decodeSource(reader: PayloadSource, pieces?: Uint8Array[]): Promise<unknown> {
  const readAt = async (offset: number, into: Uint8Array) => {
    if (offset + into.byteLength > reader.size) throw new CorruptPayload("truncated payload");
    await reader.read(offset, into);
    return into;
  };
  const whole = async () => {
    const bytes = await readAt(0, new Uint8Array(reader.size));
    pieces?.push(bytes);
    return decode(bytes);
  };
  if (reader.size <= FIRST_READ_BYTES) return await whole();
  let prefix = await readAt(0, new Uint8Array(FIRST_READ_BYTES));
  const headerBytes = headerLength(prefix);
  if (prefix.byteLength < headerBytes) prefix = await readAt(0, new Uint8Array(headerBytes));
  const layout = readLayout(prefix);
  if (layout.compression) return await whole();
  if (layout.end !== reader.size) throw new CorruptPayload("payload length does not match its header");
  const jsonEnd = layout.jsonStart + layout.jsonLength;
  if (prefix.byteLength < jsonEnd) prefix = await readAt(0, new Uint8Array(jsonEnd));
  const buffers: ArrayBuffer[] = [];
  for (const { offset, length } of layout.sections) {
    buffers.push(offset + length <= prefix.byteLength
      ? copyBuffer(prefix.subarray(offset, offset + length))
      : (await readAt(offset, uninitialized(length))).buffer as ArrayBuffer);
  }
  if (pieces) inOrder(prefix, layout, buffers, pieces);
  return decodeParts(layout, prefix.subarray(layout.jsonStart, jsonEnd), buffers);
}

// The payload's bytes in order, from the first read and the sections read on their own. What lies
// between them beyond the first read is alignment padding, which encode() writes as zeros.
function inOrder(prefix: Uint8Array, layout: Layout, buffers: readonly ArrayBuffer[], pieces: Uint8Array[]): void {
  let at = 0;
  layout.sections.forEach(({ offset, length }, i) => {
    if (offset + length <= prefix.byteLength) return; // copied out of the first read
    const fromPrefix = Math.min(offset, prefix.byteLength);
    if (at < fromPrefix) pieces.push(prefix.subarray(at, fromPrefix));
    at = Math.max(at, fromPrefix);
    if (offset > at) pieces.push(new Uint8Array(offset - at));
    pieces.push(new Uint8Array(buffers[i]!));
    at = offset + length;
  });
  if (at < prefix.byteLength) pieces.push(prefix.subarray(at));
}

// Not zero-filled, since a read fills it whole or fails (and then the buffer is dropped); allocUnsafeSlow
// gives a buffer of its own, never a slice of Node's shared pool.
function uninitialized(length: number): Uint8Array {
  return Buffer.allocUnsafeSlow(length);
}

