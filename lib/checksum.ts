// Checksums of stored payloads: a payload changed on disk after it was written (garbled file, damaged
// catalog row) must read as a miss, never as another value; the codec's own checks catch only some of it.
import { createHash } from "node:crypto";

/** SHA-256 (hex) of the concatenation of `chunks`. */
export function checksum(chunks: readonly Uint8Array[]): string {
  const hash = createHash("sha256");
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}
