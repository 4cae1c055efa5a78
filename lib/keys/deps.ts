// Folds a function's declared dependencies (`deps: () => ({ helper, LIMIT })`) into its version, and keys
// functions met among values (deps or arguments): a memoized one by its name and version, a plain one by
// its normalized source, which is only its whole meaning when it reads nothing from outside.
import { NbmemoError } from "../errors.ts";
import { type FunctionHasher, hashValue, KEY, preview } from "./args.ts";
import { HOST_GLOBALS } from "./free_identifiers.ts";
import { sha256, type SourceHasher } from "./source.ts";

/** The key under which a memoized function exposes its own version (deps included). */
export const VERSION_OF: unique symbol = Symbol("nbmemo.versionOf");

/** A memoized function's version: `resolved()` if it can be had without waiting, `resolve()` to compute it. */
export interface VersionHandle {
  resolved(): string | undefined;
  resolve(): Promise<string>;
}

/** A memoized function, seen as a value. */
export interface Versioned {
  readonly memoName: string;
  readonly [VERSION_OF]: VersionHandle;
}

/** The dependencies' part of a version: a hash, one readable line per dependency, the names its helpers read. */
export interface DepsDigest {
  readonly hash: string;
  readonly lines: readonly string[];
  /** Identifiers that helper functions among the deps read from outside. */
  readonly free: readonly string[];
}

function isVersioned(value: unknown): value is Versioned {
  return typeof value === "function" && VERSION_OF in value;
}

// Thrown by a synchronous hash that met a memoized function whose version is not computed yet.
export class VersionPending extends Error {
  readonly handle: VersionHandle;

  constructor(handle: VersionHandle) {
    super("a memoized function's version is not resolved yet");
    this.handle = handle;
  }
}

/**
 * The key method of a memoized function (under {@link KEY}): its name and version, so that two memoized
 * functions differ even when pinned to the same version string. Throws {@link VersionPending} while the
 * version is not known.
 */
export function memoizedKey(name: string, handle: VersionHandle): () => unknown {
  return () => {
    const version = handle.resolved();
    if (version === undefined) throw new VersionPending(handle);
    return { memoized: name, version };
  };
}

/**
 * Keys a plain function met among values by its normalized source. One that reads names from outside
 * (a closure over `k`, a helper) is refused: its source does not say what those hold.
 */
export function sourceKey(hasher: SourceHasher): FunctionHasher {
  return (fn, path) => {
    const source = hasher.normalizeSync(fn, `at ${path}`);
    if (source.free.length > 0) {
      const names = source.free.join(", ");
      throw new NbmemoError("UNHASHABLE_ARGUMENT",
        `Cannot hash the argument at ${path}: the function reads ${names} from outside, whose values its source does not show ` +
          `(add(10) and add(20) have the same source). Pass ${source.free.length === 1 ? "it" : "them"} as arguments instead, ` +
          `memoize the function (memory.fn), or give it a key: Object.assign(fn, { [Symbol.for("nbmemo.key")]: () => ["name", ${names}] }).`);
    }
    return source.hash;
  };
}

/** Runs a synchronous hash that may meet memoized functions, resolving the versions it needs and retrying. */
export async function withVersions<T>(work: () => T | Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof VersionPending)) throw error;
      await error.handle.resolve();
    }
  }
}

/**
 * Digests `deps` in key order, synchronously: throws `ParserNotLoaded` or {@link VersionPending} when
 * TypeScript or a memoized dependency's version is needed first. A memoized dependency contributes its
 * name and version, which holds its own deps, so a change anywhere down the chain changes every version above it.
 *
 * @throws NbmemoError `UNHASHABLE_ARGUMENT` naming `deps.<key>` for a value nbmemo cannot key.
 */
export function digestDeps(deps: Readonly<Record<string, unknown>>, hasher: SourceHasher, where: string): DepsDigest {
  const hashFunction = sourceKey(hasher);
  const parts: string[] = [];
  const lines: string[] = [];
  const free = new Set<string>();
  for (const key of Object.keys(deps).sort()) {
    const value = deps[key];
    let digest: string;
    let shown: string;
    if (HOST_GLOBALS.has(key) && value === (globalThis as Record<string, unknown>)[key]) {
      // The runtime's own console, fetch, URL...: what it is follows from the runtime, not from a cell.
      digest = `g${key}`;
      shown = "the runtime's own";
    } else if (isVersioned(value)) {
      const version = value[VERSION_OF].resolved();
      if (version === undefined) throw new VersionPending(value[VERSION_OF]);
      digest = `m${JSON.stringify(value.memoName)}:${version}`;
      shown = `memoized ${JSON.stringify(value.memoName)}`;
    } else if (typeof value === "function" && typeof (value as { [KEY]?: unknown })[KEY] !== "function") {
      // A helper: its source is in the version, and what it reads from outside is told with the function's own.
      const source = hasher.normalizeSync(value, `deps.${key} of ${where}`);
      for (const name of source.free) free.add(name);
      digest = `f${source.hash}`;
      shown = "function";
    } else {
      digest = `v${hashValue(value, `deps.${key}`, hashFunction)}`;
      shown = preview(value, 40);
    }
    parts.push(`${JSON.stringify(key)}=${digest}`);
    lines.push(`// dep ${key}: ${shown} #${sha256(digest).slice(0, 8)}`);
  }
  return { hash: sha256(parts.join("\n")), lines, free: [...free].sort() };
}
