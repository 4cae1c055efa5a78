// The tiny leveled logger behind every notice and warning nbmemo prints. Hit and miss notices of a loop
// collapse into one summary line; a warning given once is not given again in this process for the same cache.
import { clearTimeout, setTimeout } from "node:timers";
import { NbmemoError } from "./errors.ts";
import { formatCount, formatDuration } from "./format.ts";
import { env, inNotebook, liveLine, type LiveLine, onExit, printInCell } from "./runtime.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "silent"] as const;
/** How much nbmemo prints: `debug` (everything), `info` (hit/miss notices), `warn`, `silent`. */
export type LogLevel = typeof LOG_LEVELS[number];

export interface Logger {
  readonly level: LogLevel;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  /**
   * Warns once per process and cache for a given key: a re-run cell, or a Memory opened again on the same
   * directory, does not repeat it.
   */
  warnOnce(key: string, message: string): void;
  /** {@link warnOnce} at info level. */
  infoOnce(key: string, message: string): void;
  /**
   * The notice of one hit or miss of `name` (info level): the first few of a burst of its calls are lines of
   * their own, the rest one summary line (count, time saved), rewritten in place where the output allows it.
   * `message` is made only for a notice that is printed: most hits of a loop, and all at a quieter level,
   * need no text.
   */
  call(name: string, message: () => string, outcome: { readonly hit: boolean; readonly savedMs: number }): void;
  /** Ends the burst of calls in progress: its summary is given now. */
  flush(): void;
}

/** The first calls of a burst that get a notice line each. */
export const CALL_LINES = 3;
/** A pause this long between calls of one function ends its burst. */
const BURST_GAP_MS = 500;
/** A live summary line is rewritten at most this often. */
const LIVE_EVERY_MS = 100;

// Keys of the warnings given, per cache directory, for the whole process (see warnOnce).
const given = new Set<string>();

/** Parses a level name, naming the option it came from when it is not one. */
export function parseLogLevel(value: string, source: string): LogLevel {
  const level = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new NbmemoError(
    "INVALID_OPTION",
    `Cannot use ${source}=${JSON.stringify(value)}: not a log level. Use one of ${LOG_LEVELS.join(", ")}.`,
  );
}

/**
 * The level in force: the option if given, else `NBMEMO_LOG`, else `info` in a notebook (hit/miss
 * notices are the point there) and `warn` in scripts (quiet by default).
 */
export function resolveLogLevel(option: LogLevel | undefined): LogLevel {
  if (option !== undefined) return parseLogLevel(option, "log");
  const fromEnv = env("NBMEMO_LOG");
  if (fromEnv) return parseLogLevel(fromEnv, "NBMEMO_LOG");
  return inNotebook() ? "info" : "warn";
}

export function createLogger(level: LogLevel, scope = ""): Logger {
  const rank = LOG_LEVELS.indexOf(level);
  const enabled = (at: LogLevel) => LOG_LEVELS.indexOf(at) >= rank && level !== "silent";
  const notices = enabled("info"); // looked up once: every hit asks
  // In a notebook, notices belong in the cell's output; in a script they stay off stdout.
  const notice = inNotebook() ? printInCell : console.error;
  const warn = (message: string) => {
    if (enabled("warn")) console.warn(`nbmemo: ${message}`);
  };
  const info = (message: string) => enabled("info") && notice(`nbmemo: ${message}`);
  const first = (key: string) => !given.has(`${scope}\0${key}`) && given.add(`${scope}\0${key}`);
  const calls = callNotices(info);
  return {
    level,
    debug: (message) => enabled("debug") && notice(`nbmemo: ${message}`),
    info,
    warn,
    warnOnce: (key, message) => first(key) && warn(message),
    infoOnce: (key, message) => first(key) && info(message),
    call: (name, message, outcome) => notices && calls.add(name, message, outcome),
    flush: () => calls.end(),
  };
}

// The bursts of calls in progress, one per function name (a loop calls one function; the calls of other
// cells and functions keep their own lines): how many, and what they saved; ended by a pause, flush() or exit.
function callNotices(info: (message: string) => void) {
  interface Burst { calls: number; hits: number; misses: number; savedMs: number; last: number; shown: number; live?: LiveLine }
  const bursts = new Map<string, Burst>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let removeExitHook: (() => void) | undefined;
  const summary = (name: string, b: Burst) =>
    `nbmemo: ${name}: ${formatCount(b.calls - CALL_LINES, "more call")}: ${formatCount(b.hits, "hit")} (saved ${formatDuration(b.savedMs)}), ` +
    `${formatCount(b.misses, "miss", "misses")}`;
  const close = (name: string, b: Burst) => {
    bursts.delete(name);
    if (b.calls <= CALL_LINES) return;
    const text = summary(name, b);
    if (b.live) b.live.set(text), b.live.end();
    else info(text.slice("nbmemo: ".length));
  };
  const end = () => {
    clearTimeout(timer);
    timer = undefined;
    removeExitHook?.();
    removeExitHook = undefined;
    for (const [name, b] of [...bursts]) close(name, b);
  };
  // One timer for all bursts, not one per call: when it fires it ends the idle ones and waits for the rest.
  const arm = (ms: number) => {
    timer = setTimeout(() => {
      const now = Date.now();
      for (const [name, b] of [...bursts]) if (now - b.last >= BURST_GAP_MS) close(name, b);
      if (bursts.size === 0) return end();
      arm(Math.max(1, BURST_GAP_MS - Math.min(...[...bursts.values()].map((b) => now - b.last))));
    }, ms);
    timer.unref();
  };
  return {
    add(name: string, message: () => string, outcome: { readonly hit: boolean; readonly savedMs: number }) {
      const now = Date.now();
      let burst = bursts.get(name);
      if (!burst) bursts.set(name, burst = { calls: 0, hits: 0, misses: 0, savedMs: 0, last: now, shown: 0 });
      burst.calls++;
      burst.last = now;
      if (timer === undefined) arm(BURST_GAP_MS);
      removeExitHook ??= onExit(end);
      if (burst.calls <= CALL_LINES) return info(message());
      if (outcome.hit) burst.hits++, burst.savedMs += Math.max(0, outcome.savedMs);
      else burst.misses++;
      if (burst.calls === CALL_LINES + 1) burst.live = liveLine();
      if (burst.live && now - burst.shown >= LIVE_EVERY_MS) burst.live.set(summary(name, burst)), burst.shown = now;
    },
    end,
  };
}
