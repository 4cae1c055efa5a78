// Options checks shared by every options parser (Memory.open, memory.fn, the stores): known keys, byte counts, sizes, durations.
import { NbmemoError } from "./errors.ts";

/**
 * The option names of `T`, listed once as the keys of an object, so that the compiler rejects a list
 * that misses an option or names one that does not exist.
 */
export function optionNames<T extends object>(names: { readonly [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(names);
}

/**
 * An option's value as it was written, for messages: strings quoted (`"10"`, not `10`), numbers as
 * numbers (`NaN`, `Infinity`, not JSON's `null`), `undefined`, `5n`; objects as JSON.
 */
export function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol" || value === undefined) return String(value);
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 80 ? `${json.slice(0, 79)}…` : json;
  } catch { /* a cycle or a BigInt inside */ }
  return Object.prototype.toString.call(value);
}

/** A URL as messages show it: its password replaced by `***` (a string that is no URL, as "a URL"). */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "a URL";
  }
}

export function invalid(message: string): NbmemoError {
  return new NbmemoError("INVALID_OPTION", message);
}

// An options argument must be an object with known keys only; `example` shows a good one.
export function checkOptions(options: unknown, known: readonly string[], where: string, example: string): void {
  if (typeof options !== "object" || options === null) {
    throw invalid(`Cannot read the options of ${where}: pass an object, such as ${example}.`);
  }
  checkKnown(options, known, where);
}

export function checkKnown(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw invalid(`Cannot use the option ${JSON.stringify(key)} of ${where}: there is no such option. Known options: ${known.join(", ")}.`);
    }
  }
}

// A whole number of bytes, 0 or more; `fallback` when not given.
export function byteCount(value: number | undefined, fallback: number, name: string): number {
  const bytes = value ?? fallback;
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw invalid(`Cannot use ${name}=${shown(value)}: it must be a whole number of bytes, 0 or more.`);
  }
  return bytes;
}

const BYTE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** Parses a size: a number of bytes, or "500 MB", "2 GiB", "1.5GB" (units are case-insensitive). */
export function parseBytes(value: unknown, option: string): number {
  const fail = () =>
    invalid(`Cannot use ${option}=${shown(value)}: it must be a number of bytes, 1 or more, or a size such as "500 MB" or "2 GiB".`);
  const bytes = parseWithUnit(value, BYTE_UNITS, fail);
  if (!Number.isSafeInteger(Math.floor(bytes)) || bytes < 1) throw fail();
  return Math.floor(bytes);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hr: 3_600_000, d: 86_400_000, w: 604_800_000,
};

/** Parses a duration: milliseconds, or "500ms", "45s", "30 min" (or "30m"), "12h", "7d", "2w". */
export function parseDuration(value: unknown, option: string): number {
  const fail = () =>
    invalid(`Cannot use ${option}=${shown(value)}: it must be milliseconds, 0 or more, or a duration such as "30 min", "12h" or "7d".`);
  const ms = parseWithUnit(value, DURATION_UNITS, fail);
  if (!Number.isFinite(ms) || ms < 0) throw fail();
  return ms;
}

function parseWithUnit(value: unknown, units: Record<string, number>, fail: () => NbmemoError): number {
  if (typeof value === "number") {
    if (Number.isNaN(value)) throw fail();
    return value;
  }
  if (typeof value !== "string") throw fail();
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(value);
  // A bare number in a string is in the base unit (bytes, milliseconds).
  const unit = match ? (match[2] === "" ? 1 : units[match[2]!.toLowerCase()]) : undefined;
  if (!match || unit === undefined) throw fail();
  return Number(match[1]) * unit;
}

