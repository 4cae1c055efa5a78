// Checksums of stored payloads: a payload changed on disk after it was written (garbled file, damaged
// catalog row) must read as a miss, never as another value; the codec's own checks catch only some of it.
// CRC-32 guards against accidental damage (SHA-256 took ~45 ms per 80 MB on every store and every hit, more
// than the file I/O itself); rows written with SHA-256 (hex, no prefix) still check. Under Node a large
// payload gets XXH64 instead (lib/xxh64.ts), the faster of the two there; each runtime reads both.

// node:crypto only for an older SHA-256 checksum: loading it costs ~5 ms of a cold start.
import { byteLength } from "../bytes.ts";
import { nodeCrypto, nodeZlib, runtime } from "../runtime.ts";
import { XXH64, Xxh64 } from "../xxh64.ts";

const CRC32 = "crc32:";

// From this size on, Node sums a payload with XXH64: 12-19 ms per 80 MB here against 32 ms for its zlib's
// CRC-32, which has no SIMD path. Deno's CRC-32 has one (~9 ms against ~19 for XXH64), so Deno keeps it.
const XXH64_BYTES = 1 << 20;
const xxh64Faster = runtime.name === "node";

/** The checksum stored for the concatenation of `chunks`. */
export function checksum(chunks: readonly Uint8Array[]): string {
  const sum = newChecksum(byteLength(chunks));
  for (const chunk of chunks) sum.add(chunk);
  return sum.value();
}

/** A running {@link checksum} for a payload of `bytes` bytes, of the kind this runtime sums fastest. */
export function newChecksum(bytes: number): RunningSum {
  return bytes >= XXH64_BYTES && xxh64Faster ? new Xxh64() : new Checksum();
}

/** A CRC-32 taken a chunk at a time (of pieces that are gone once added), as `crc32:` and 8 hex digits. */
export class Checksum implements RunningSum {
  #crc = 0;

  add(chunk: Uint8Array): void {
    this.#crc = chunk.byteLength < ZLIB_BYTES ? crc32InJs(chunk, this.#crc) : nodeZlib().crc32(chunk, this.#crc);
  }

  value(): string {
    return `${CRC32}${this.#crc.toString(16).padStart(8, "0")}`;
  }
}

// node:zlib's crc32 (~5 GB/s) from this size on; below it, a table in JavaScript (~0.5 GB/s, a few µs for
// a small output) gives the same CRC-32 without loading node:zlib (~2 ms) in a process whose first hit
// is a small output, the common cold start.
const ZLIB_BYTES = 4096;


let table: Uint32Array | undefined;

/** CRC-32 (IEEE, as zlib's) of `data`, continuing from `crc` (the CRC-32 of what came before). */
export function crc32InJs(data: Uint8Array, crc = 0): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * {@link checksum} of `head` followed by the UTF-8 of `text` when that text is ASCII (its UTF-8 is its
 * characters, one byte each: no copy is made); undefined when it is not.
 */
export function checksumOfAscii(head: Uint8Array, text: string): string | undefined {
  let c = ~crc32InJs(head);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 127) return undefined;
    c = table![(c ^ code) & 0xff]! ^ (c >>> 8);
  }
  return `${CRC32}${(~c >>> 0).toString(16).padStart(8, "0")}`;
}

/** A checksum taken as a payload's bytes come in, in order (pieces that may be gone once added). */
export interface RunningSum {
  add(chunk: Uint8Array): void;
  /** The checksum of what was added, in its stored form; asked once. */
  value(): string;
}

/** A {@link RunningSum} of the kind of the stored checksum `stored`: CRC-32, XXH64, or an older SHA-256 (hex, no prefix). */
export function sumLike(stored: string): RunningSum {
  if (stored.startsWith(CRC32)) return new Checksum();
  if (stored.startsWith(XXH64)) return new Xxh64();
  const hash = nodeCrypto().createHash("sha256");
  return { add: (chunk) => void hash.update(chunk), value: () => hash.digest("hex") };
}
