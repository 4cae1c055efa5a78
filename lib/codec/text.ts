// Large strings, and lists of strings, as binary sections of their UTF-8: no JSON escaping and parsing, and under Node no garbage of those copies.
//
// (A 100 MB string took ~5x a raw write to store through JSON.) Exact only for well-formed strings: a lone
// surrogate ("\uD800") has no UTF-8 and would read back as U+FFFD, so a string holding one goes through
// JSON, which keeps it (escaped).
import { isUtf8 } from "node:buffer";

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

export function decodeText(bytes: ArrayBuffer, corrupt: (why: string) => Error): string {
  if (!isUtf8(bytes)) throw corrupt("a text section is not UTF-8");
  return utf8Decoder.decode(bytes);
}

/** A list of strings as the UTF-8 of them joined and the length of each (UTF-16 code units, u32). */
export function encodeTextList(list: readonly string[]): { text: Uint8Array; lengths: Uint8Array } {
  const lengths = new Uint32Array(list.length);
  for (let i = 0; i < list.length; i++) lengths[i] = list[i]!.length;
  return { text: encodeText(list.join("")), lengths: new Uint8Array(lengths.buffer) };
}

/**
 * The list {@link encodeTextList} encoded. Its items are slices of one decoded string (V8 keeps a slice
 * of 13 or more characters as a view onto it, so one item kept alive keeps the whole text).
 */
export function decodeTextList(text: ArrayBuffer, lengths: ArrayBuffer, corrupt: (why: string) => Error): string[] {
  if (lengths.byteLength % 4 !== 0) throw corrupt("garbled lengths of a list of strings");
  const whole = decodeText(text, corrupt);
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
