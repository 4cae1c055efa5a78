// The tiny leveled logger behind every notice and warning nbmemo prints.
import { NbmemoError } from "./errors.ts";
import { env, inNotebook, printInCell } from "./runtime.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "silent"] as const;
/** How much nbmemo prints: `debug` (everything), `info` (hit/miss notices), `warn`, `silent`. */
export type LogLevel = typeof LOG_LEVELS[number];

export interface Logger {
  readonly level: LogLevel;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  /** Warns once per logger for a given key (a re-run cell must not repeat the same warning). */
  warnOnce(key: string, message: string): void;
}

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

export function createLogger(level: LogLevel): Logger {
  const rank = LOG_LEVELS.indexOf(level);
  const enabled = (at: LogLevel) => LOG_LEVELS.indexOf(at) >= rank && level !== "silent";
  // In a notebook, notices belong in the cell's output; in a script they stay off stdout.
  const notice = inNotebook() ? printInCell : console.error;
  const warned = new Set<string>();
  const warn = (message: string) => {
    if (enabled("warn")) console.warn(`nbmemo: ${message}`);
  };
  return {
    level,
    debug: (message) => enabled("debug") && notice(`nbmemo: ${message}`),
    info: (message) => enabled("info") && notice(`nbmemo: ${message}`),
    warn,
    warnOnce(key, message) {
      if (warned.has(key)) return;
      warned.add(key);
      warn(message);
    },
  };
}
