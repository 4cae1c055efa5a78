// Folds a function's declared dependencies (`deps: { helper, LIMIT }`) into its version: functions by
// their normalized source, memoized functions by their own version (deps included), values by their
// canonical hash.
import { hashValue, preview } from "./args.ts";
import { sha256, type SourceHasher } from "./source.ts";

/** The key under which a memoized function exposes its own version, so that it can be a dependency. */
export const VERSION_OF: unique symbol = Symbol("nbmemo.versionOf");

/** A memoized function, seen as a dependency. */
export interface Versioned {
  readonly memoName: string;
  readonly [VERSION_OF]: () => Promise<string>;
}

/** The dependencies' part of a version: a hash, and one readable line per dependency for diffs. */
export interface DepsDigest {
  readonly hash: string;
  readonly lines: readonly string[];
}

function isVersioned(value: unknown): value is Versioned {
  return typeof value === "function" && VERSION_OF in value;
}

/**
 * Digests `deps` in key order. A memoized dependency contributes its version, which holds its own deps,
 * so a change anywhere down the chain changes every version above it.
 *
 * @throws NbmemoError `UNHASHABLE_ARGUMENT` naming `deps.<key>` for a value with no stable identity.
 */
export async function digestDeps(deps: Readonly<Record<string, unknown>>, hasher: SourceHasher, where: string): Promise<DepsDigest> {
  const parts: string[] = [];
  const lines: string[] = [];
  for (const key of Object.keys(deps).sort()) {
    const value = deps[key];
    const path = `deps.${key}`;
    let digest: string;
    let shown: string;
    if (isVersioned(value)) {
      digest = `m${await value[VERSION_OF]()}`;
      shown = `memoized ${JSON.stringify(value.memoName)}`;
    } else if (typeof value === "function") {
      digest = `f${(await hasher.normalize(value, `${path} of ${where}`)).hash}`;
      shown = "function";
    } else {
      digest = `v${await hasher.withParser(() => hashValue(value, path, (fn, at) => hasher.normalizeSync(fn, `at ${at}`).hash))}`;
      shown = preview(value, 40);
    }
    parts.push(`${JSON.stringify(key)}=${digest}`);
    lines.push(`// dep ${key}: ${shown} #${sha256(digest).slice(0, 8)}`);
  }
  return { hash: sha256(parts.join("\n")), lines };
}
