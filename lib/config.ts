// Options, validated once at the edge (Memory.open) into a config with every default filled in.
import { NbmemoError } from "./errors.ts";
import { type LogLevel, resolveLogLevel } from "./log.ts";

/** Options of {@link Memory.open}. */
export interface MemoryOptions {
  /**
   * How much nbmemo prints. Default: `NBMEMO_LOG` if set, else `"info"` in a notebook (hit/miss
   * notices) and `"warn"` in scripts.
   */
  log?: LogLevel;
  /** Outputs up to this many bytes are kept inside the catalog instead of a file. Default: 16384. */
  inlineBytes?: number;
}

/** Options of {@link Memory.fn} and {@link Memory.cell}. */
export interface FnOptions {
  /**
   * Pins the function's version by hand: the source is then not hashed, and editing the function
   * keeps its results until you change this string. Default: the hash of the normalized source.
   */
  version?: string;
}

export interface Config {
  readonly dir: string;
  readonly log: LogLevel;
  readonly inlineBytes: number;
}

const memoryOptionNames = ["log", "inlineBytes"] as const satisfies readonly (keyof MemoryOptions)[];
const fnOptionNames = ["version"] as const satisfies readonly (keyof FnOptions)[];

function invalid(message: string): NbmemoError {
  return new NbmemoError("INVALID_OPTION", message);
}

function checkKnown(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw invalid(`Cannot use the option ${JSON.stringify(key)} of ${where}: there is no such option. Known options: ${known.join(", ")}.`);
    }
  }
}

export function parseMemoryOptions(dir: unknown, options: MemoryOptions): Config {
  if (typeof dir !== "string" || dir.trim() === "") {
    throw invalid(`Cannot open a cache at ${JSON.stringify(dir) ?? String(dir)}: the directory must be a non-empty path string, such as ".nbmemo".`);
  }
  if (typeof options !== "object" || options === null) {
    throw invalid("Cannot read the options of Memory.open: pass an object, such as { log: \"info\" }.");
  }
  checkKnown(options, memoryOptionNames, "Memory.open");
  const inlineBytes = options.inlineBytes ?? 16 * 1024;
  if (!Number.isSafeInteger(inlineBytes) || inlineBytes < 0) {
    throw invalid(`Cannot use inlineBytes=${String(options.inlineBytes)}: it must be a whole number of bytes, 0 or more.`);
  }
  return { dir, log: resolveLogLevel(options.log), inlineBytes };
}

export function parseFnOptions(options: FnOptions, where: string): FnOptions {
  if (typeof options !== "object" || options === null) {
    throw invalid(`Cannot read the options of ${where}: pass an object, such as { version: "2" }.`);
  }
  checkKnown(options, fnOptionNames, where);
  if (options.version !== undefined && (typeof options.version !== "string" || options.version === "")) {
    throw invalid(`Cannot use version=${JSON.stringify(options.version)} in ${where}: a pinned version is a non-empty string, such as "2".`);
  }
  return options;
}
