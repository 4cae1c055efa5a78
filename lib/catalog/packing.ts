// Hex digests as the catalog stores them: a BLOB of half the length (a 64-hex key in 32 bytes), a CRC-32 checksum
// as an INTEGER; and text that may hold a NUL, read as its bytes; converted here, at the catalog's boundary, so that
// everything outside it sees the same strings, under Node and Deno alike.

// How lib/codec/checksum.ts writes a CRC-32 (the catalog does not import the codec): test/packing.test.ts checks
// that its checksums pack to integers.
const CRC32 = "crc32:";

/** A value as stored by {@link packHex}: the bytes of a hex digest, or any other text as it was. */
export type Packed = Uint8Array | string;

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

// The value of one lowercase hex digit's char code, or -1.
function nibble(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  return -1;
}

/**
 * `text` as the catalog stores it: a non-empty lowercase hex string of even length as the bytes it spells,
 * any other string (a pinned version, a key a test made up) unchanged, as TEXT. Lossless: {@link unpackHex}
 * gives `text` back, and equal strings give equal stored values, so lookups compare packed values.
 */
export function packHex(text: string): Packed {
  if (text.length === 0 || text.length % 2 !== 0) return text;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    const high = nibble(text.charCodeAt(2 * i));
    const low = nibble(text.charCodeAt(2 * i + 1));
    if (high < 0 || low < 0) return text;
    bytes[i] = (high << 4) | low;
  }
  return bytes;
}

/** The string a value stored by {@link packHex} stands for (a BLOB read back as lowercase hex). */
export function unpackHex(value: unknown): string {
  if (typeof value === "string") return value;
  if (!(value instanceof Uint8Array)) throw new TypeError(`Cannot read a catalog key: ${typeof value}, not a BLOB or TEXT`);
  let text = "";
  for (const byte of value) text += HEX[byte];
  return text;
}

/** {@link packHex} for a column that may be NULL. */
export function packOptional(text: string | null): Packed | null {
  return text === null ? null : packHex(text);
}

/** {@link unpackHex} for a column that may be NULL. */
export function unpackOptional(value: unknown): string | null {
  return value === null || value === undefined ? null : unpackHex(value);
}

/**
 * A payload checksum as stored: a CRC-32 (`crc32:` and eight hex digits) as a signed 32-bit INTEGER (at most 4
 * bytes in the row), an older SHA-256 as {@link packHex} stores it, none as NULL. A bigint, since node:sqlite
 * binds every number as a REAL (8 bytes), which a column without an integer type would keep.
 */
export function packChecksum(checksum: string | null): bigint | Packed | null {
  if (checksum?.startsWith(CRC32) && checksum.length === CRC32.length + 8) {
    const crc = packHex(checksum.slice(CRC32.length));
    if (crc instanceof Uint8Array) return BigInt(new DataView(crc.buffer).getInt32(0));
  }
  return packOptional(checksum);
}

/** The checksum a value stored by {@link packChecksum} stands for. */
export function unpackChecksum(value: unknown): string | null {
  if (typeof value === "number" || typeof value === "bigint") return CRC32 + (Number(value) >>> 0).toString(16).padStart(8, "0");
  return unpackOptional(value);
}

/**
 * `column` selected as the bytes of its text (`AS` its own name, or `as`), for text that user code can put a NUL
 * character in (normalized sources, argument previews): Deno's node:sqlite (2.4 to 2.9 at least) returns a TEXT
 * value cut at its first NUL where Node's returns it whole; as bytes, decoded by {@link unpackText}, both read it
 * whole. Bound values are not affected: both runtimes store and compare the whole text.
 */
export function textBytes(column: string, as = column.slice(column.indexOf(".") + 1)): string {
  return `CAST(${column} AS BLOB) AS ${as}`;
}

// ignoreBOM: a text that starts with U+FEFF keeps it.
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** The text of a column selected by {@link textBytes}; NULL stays null. */
export function unpackText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return UTF8.decode(value);
  throw new TypeError(`Cannot read a catalog text: ${typeof value}, not a BLOB`);
}
