// Byte chunks: a payload travels as a list of chunks (a typed array's own bytes are one of them), joined only where needed.
import { Buffer } from "node:buffer";

/** Joins chunks into one buffer (for payloads small enough to keep inline, or a store that wants one value). */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}

/** The total length of `chunks`, in bytes. */
export function byteLength(chunks: readonly { readonly byteLength: number }[]): number {
  return chunks.reduce((sum, c) => sum + c.byteLength, 0);
}
