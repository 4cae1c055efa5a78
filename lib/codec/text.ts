// Large strings, and lists of strings, as binary sections of their UTF-8: no JSON escaping and parsing, and under Node no garbage of those copies.
//
// (A 100 MB string took ~5x a raw write to store through JSON.) Exact only for well-formed strings: a lone
// surrogate ("\uD800") has no UTF-8 and would read back as U+FFFD, so a string holding one goes through
// JSON, which keeps it (escaped).
import { Buffer, isAscii, isUtf8 } from "node:buffer";

/** Strings at least this long (UTF-16 code units), and lists of strings this long in all, go as UTF-8. */
export const LARGE_TEXT = 64 * 1024;

/**
 * Below this many characters of such text per object of a plain output, the output stays plain JSON:
 * the general path walks every object (~1 µs each) and saves ~3 ns per character.
 */
export const TEXT_CHARS_PER_OBJECT = 1024;

const utf8Encoder = new TextEncoder();
// ignoreBOM: by default a decoder drops a leading U+FEFF, which is part of the string. Not fatal (under
// Node 24 a fatal decoder took 2-5x as long): isUtf8 checks the bytes first (~10 ms per 100 MB).
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** No lone surrogates (Node >= 20 and every Deno 2 have String.prototype.isWellFormed; ES2024, past tsconfig's lib). */
export function wellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** Whether `v` is a string to store as a section of its own. */
export function isLargeText(v: unknown): v is string {
  return typeof v === "string" && v.length >= LARGE_TEXT && wellFormed(v);
}

/**
 * The characters of `array` if it is a list to store as one text: every element a well-formed string,
 * LARGE_TEXT characters or more in all; else 0. (Holes and extra properties are for the caller to rule out.)
 */
export function textListChars(array: readonly unknown[]): number {
  let chars = 0;
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if (typeof item !== "string") return 0;
    chars += item.length;
  }
  // (Well-formed items make a well-formed whole: none ends or starts with half of a pair.)
  return chars >= LARGE_TEXT && array.every((item) => wellFormed(item as string)) ? chars : 0;
}

export function encodeText(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/**
 * A text section whose UTF-8 is made as it is written ({@link payloadPieces}), a few hundred KB at a time
 * into one reused buffer: encoding all 100 MB of a string at once, then writing and checksumming that
 * buffer, took ~2x a raw `writeFileSync(path, string)`, mostly in touching fresh memory three times.
 */
export interface DeferredText {
  readonly text: string;
  /** The length of its UTF-8, counted by one pass of the same encoding (~10 ms per 100 MB of ASCII). */
  readonly byteLength: number;
}

/** A payload's chunk: bytes, or a text to encode as it is written. */
export type Chunk = Uint8Array | DeferredText;

/** `s` (well-formed) as a {@link DeferredText}. */
export function deferText(s: string): DeferredText {
  let byteLength = 0;
  for (const piece of utf8Pieces(s)) byteLength += piece.byteLength;
  return { text: s, byteLength };
}

/** The bytes of `chunks` in order, a deferred text's in pieces: each a view valid only until the next is taken. */
export function* payloadPieces(chunks: readonly Chunk[]): Generator<Uint8Array> {
  for (const chunk of chunks) {
    if (chunk instanceof Uint8Array) yield chunk;
    else yield* utf8Pieces(chunk.text);
  }
}

/** `chunks` with every deferred text encoded whole. */
export function materialize(chunks: readonly Chunk[]): Uint8Array[] {
  return chunks.map((chunk) => chunk instanceof Uint8Array ? chunk : encodeText(chunk.text));
}

const PIECE_CHARS = 256 * 1024;
let scratch: Uint8Array | undefined;

/**
 * The UTF-8 of the well-formed `s`, `chars` UTF-16 units at a time (one more where a pair would be split),
 * each piece a view of one buffer that the next piece overwrites (the module's own for the default size).
 */
export function* utf8Pieces(s: string, chars = PIECE_CHARS): Generator<Uint8Array> {
  // 3 bytes per unit at most (a pair, 2 units, is 4 bytes), and one unit more for a pair kept whole.
  const buffer = chars === PIECE_CHARS ? (scratch ??= new Uint8Array(3 * (PIECE_CHARS + 1))) : new Uint8Array(3 * (chars + 1));
  for (let at = 0; at < s.length;) {
    let end = Math.min(s.length, at + chars);
    const last = s.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end++; // a high surrogate: its low half follows (well-formed)
    const { written } = utf8Encoder.encodeInto(s.slice(at, end), buffer);
    yield buffer.subarray(0, written);
    at = end;
  }
}

// ASCII bytes are their characters one each, as latin1 reads them: of 100 MB of ASCII, isAscii (~7 ms) and a
// latin1 decode (~50 ms) took ~58-64 ms against ~66-76 ms for isUtf8 and the TextDecoder, under Node 24 and
// Deno 2.9 (a fatal TextDecoder alone: ~60 ms under Node, ~220 ms under Deno).
export function decodeText(bytes: ArrayBuffer, corrupt: (why: string) => Error): string {
  if (isAscii(bytes)) return Buffer.from(bytes).toString("latin1");
  if (!isUtf8(bytes)) throw corrupt("a text section is not UTF-8");
  return utf8Decoder.decode(bytes);
}

/** A list of strings as the UTF-8 of them joined and the length of each (UTF-16 code units, u32). */
export function encodeTextList(list: readonly string[], deferred: boolean): { text: Chunk; lengths: Uint8Array } {
  const lengths = new Uint32Array(list.length);
  for (let i = 0; i < list.length; i++) lengths[i] = list[i]!.length;
  const joined = list.join("");
  return { text: deferred ? deferText(joined) : encodeText(joined), lengths: new Uint8Array(lengths.buffer) };
}

/**
 * The list {@link encodeTextList} encoded, from its decoded text. Its items are slices of one decoded string (V8 keeps a slice
 * of 13 or more characters as a view onto it, so one item kept alive keeps the whole text).
 */
export function decodeTextList(whole: string, lengths: ArrayBuffer, corrupt: (why: string) => Error): string[] {
  if (lengths.byteLength % 4 !== 0) throw corrupt("garbled lengths of a list of strings");
  const sizes = new Uint32Array(lengths);
  const list: string[] = [];
  let at = 0;
  for (let i = 0; i < sizes.length; i++) {
    const end = at + sizes[i]!;
    if (end > whole.length) throw corrupt("a list of strings is longer than its text");
    list.push(whole.slice(at, end));
    at = end;
  }
  if (at !== whole.length) throw corrupt("a list of strings is shorter than its text");
  return list;
}
