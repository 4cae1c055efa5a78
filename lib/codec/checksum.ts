// Checksums of stored payloads: a payload changed on disk after it was written (garbled file, damaged
// catalog row) must read as a miss, never as another value; the codec's own checks catch only some of it.
// CRC-32 guards against accidental damage at ~5 GB/s (SHA-256 took ~45 ms per 80 MB on every store
// and every hit, more than the file I/O itself); rows written with SHA-256 (hex, no prefix) still check.
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";

const CRC32 = "crc32:";

/** The checksum stored for the concatenation of `chunks`. */
export function checksum(chunks: readonly Uint8Array[]): string {
  let crc = 0;
  for (const chunk of chunks) crc = crc32(chunk, crc);
  return `${CRC32}${crc.toString(16).padStart(8, "0")}`;
}

/** Whether the concatenation of `chunks` has the stored checksum `expected` (CRC-32, or an older SHA-256). */
export function matchesChecksum(chunks: readonly Uint8Array[], expected: string): boolean {
  if (expected.startsWith(CRC32)) return checksum(chunks) === expected;
  const hash = createHash("sha256");
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex") === expected;
}
