// A memoized function's version at each call: the hash of its normalized source (or its pinned string)
// with its deps folded in. Deps given as a function are read again at every call, so that a value that
// another cell changed is seen; deps given as an object hold the values they had when memory.fn ran.
import type { Version } from "./changes.ts";
import type { FnConfig } from "./config.ts";
import { NbmemoError } from "../errors.ts";
import { type DepsDigest, digestDeps, VersionPending, withVersions } from "../keys/deps.ts";
import { isInput } from "../keys/inputs.ts";
import { ParserNotLoaded, sha256, type SourceHasher } from "../keys/source.ts";

/** The versions of one definition (a memory.fn or memory.cell run). */
export interface Versions {
  /** The version of a call made now: synchronous once the source is known and nothing needs loading. */
  now(): Version | Promise<Version>;
  /** The version's id now, if it can be had without waiting. */
  peek(): string | undefined;
}

/** The versions of `f` defined with `config`; `where` names the definition in errors. */
export function versions(f: Function, config: FnConfig, hasher: SourceHasher, where: string): Versions {
  let base: Version | undefined;
  let loading: Promise<Version> | undefined;
  const loadBase = (): Promise<Version> => {
    loading ??= (config.version !== undefined
      ? Promise.resolve({ id: `pinned:${config.version}`, source: null, free: [] })
      : hasher.normalize(f, `passed to ${where}`).then((s) => ({ id: s.hash, source: s.text, free: s.free }))).then((v) => (base = v));
    loading.catch(() => (loading = undefined)); // a failure is not remembered
    return loading;
  };
  let last: { readonly digest: string; readonly version: Version } | undefined;
  // The base with the deps folded in; the last result is reused while the deps digest the same.
  const fold = (base: Version, deps: Readonly<Record<string, unknown>>, digest: DepsDigest): Version => {
    if (last?.digest === digest.hash) return last.version;
    const free = [...new Set([...base.free, ...digest.free])].filter((name) => !Object.hasOwn(deps, name)).sort();
    const version = {
      id: sha256(`${base.id}\0${digest.hash}`),
      source: [base.source ?? `// pinned version ${JSON.stringify(config.version)}`, ...digest.lines].join("\n"),
      free,
    };
    last = { digest: digest.hash, version };
    return version;
  };
  const now = (): Version | Promise<Version> => {
    if (!base) return loadBase().then(now);
    // The object form is read once, unless it holds input files, whose contents may change between calls.
    if (typeof config.deps !== "function" && last && !Object.values(config.deps ?? {}).some(isInput)) return last.version;
    const deps = readDeps(config, where);
    if (!deps || Object.keys(deps).length === 0) return base;
    const known = base;
    const digest = () => fold(known, deps, digestDeps(deps, hasher, where));
    try {
      return digest();
    } catch (error) {
      if (!(error instanceof ParserNotLoaded || error instanceof VersionPending)) throw error;
      return withVersions(() => hasher.withParser(digest));
    }
  };
  const peek = (): string | undefined => {
    try {
      const version = now();
      if (!(version instanceof Promise)) return version.id;
      version.catch(() => {}); // whoever needs it calls now() and meets the error
    } catch (error) {
      if (!(error instanceof ParserNotLoaded || error instanceof VersionPending)) throw error;
    }
    return undefined;
  };
  return { now, peek };
}

// The deps as of now: the object given, or what the deps function returns.
function readDeps(config: FnConfig, where: string): Readonly<Record<string, unknown>> | undefined {
  if (typeof config.deps !== "function") return config.deps;
  const deps: unknown = config.deps();
  if (typeof deps !== "object" || deps === null || Array.isArray(deps)) {
    throw new NbmemoError("INVALID_OPTION",
      `Cannot use deps in ${where}: the deps function returned ${Array.isArray(deps) ? "an array" : String(deps)}; it must return an object naming each dependency, such as () => ({ helper, LIMIT }).`);
  }
  return deps as Record<string, unknown>;
}
