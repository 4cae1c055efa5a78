// Folds a function's declared dependencies (`deps: { helper, LIMIT }`) into its version, and hashes
// memoized functions met among values (deps or arguments) by their own version rather than by the
// source of their wrapper, which is the same for all of them.
import { type FunctionHasher, hashValue, preview } from "./args.ts";
import { sha256, type SourceHasher } from "./source.ts";

/** The key under which a memoized function exposes its own version (deps included). */
export const VERSION_OF: unique symbol = Symbol("nbmemo.versionOf");

/** A memoized function's version: `resolved()` once known, `resolve()` to compute it. */
export interface VersionHandle {
  resolved(): string | undefined;
  resolve(): Promise<string>;
}

/** A memoized function, seen as a value. */
export interface Versioned {
  readonly memoName: string;
  readonly [VERSION_OF]: VersionHandle;
}

/** The dependencies' part of a version: a hash, and one readable line per dependency for diffs. */
export interface DepsDigest {
  readonly hash: string;
  readonly lines: readonly string[];
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

/** Wraps a function hasher so that a memoized function hashes as its version (see {@link withVersions}). */
export function versionAware(hashFunction: FunctionHasher): FunctionHasher {
  return (fn, path) => {
    if (!isVersioned(fn)) return hashFunction(fn, path);
    const id = fn[VERSION_OF].resolved();
    if (id === undefined) throw new VersionPending(fn[VERSION_OF]);
    return `memoized:${id}`;
  };
}

/** Runs a hash made with {@link versionAware}, resolving the versions it needs and retrying. */
export async function withVersions<T>(work: () => Promise<T>): Promise<T> {
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
 * Digests `deps` in key order. A memoized dependency contributes its version, which holds its own deps,
 * so a change anywhere down the chain changes every version above it.
 *
 * @throws NbmemoError `UNHASHABLE_ARGUMENT` naming `deps.<key>` for a value with no stable identity.
 */
export async function digestDeps(deps: Readonly<Record<string, unknown>>, hasher: SourceHasher, where: string): Promise<DepsDigest> {
  const hashFunction = versionAware((fn, at) => hasher.normalizeSync(fn, `at ${at}`).hash);
  const parts: string[] = [];
  const lines: string[] = [];
  for (const key of Object.keys(deps).sort()) {
    const value = deps[key];
    const path = `deps.${key}`;
    let digest: string;
    let shown: string;
    if (isVersioned(value)) {
      digest = `m${await value[VERSION_OF].resolve()}`;
      shown = `memoized ${JSON.stringify(value.memoName)}`;
    } else if (typeof value === "function") {
      digest = `f${(await hasher.normalize(value, `${path} of ${where}`)).hash}`;
      shown = "function";
    } else {
      digest = `v${await withVersions(() => hasher.withParser(() => hashValue(value, path, hashFunction)))}`;
      shown = preview(value, 40);
    }
    parts.push(`${JSON.stringify(key)}=${digest}`);
    lines.push(`// dep ${key}: ${shown} #${sha256(digest).slice(0, 8)}`);
  }
  return { hash: sha256(parts.join("\n")), lines };
}
