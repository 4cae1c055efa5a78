// Why a call would miss: unknown name, new version (with the diff), or new arguments (with the closest
// cached argument set and the paths that differ); or that it would hit.
import type { FunctionVersion } from "../types.ts";
import { type Version, describeChange, holds, shortId } from "./changes.ts";
import { type ArgsShape, type ArgumentDifference, compareShapes } from "../keys/shape.ts";

export type { ArgumentDifference } from "../keys/shape.ts";

interface ExplanationBase {
  readonly name: string;
  /** The explanation in a few readable lines. */
  readonly text: string;
}

/** The call would read a stored result. */
export interface HitExplanation extends ExplanationBase {
  readonly kind: "hit";
  readonly version: string;
  readonly argsHash: string;
}

/** Nothing was ever stored under this name. */
export interface UnknownNameExplanation extends ExplanationBase {
  readonly kind: "unknown-name";
}

/** The function's code (or its deps, or its pinned version) differs from every version holding results. */
export interface NewVersionExplanation extends ExplanationBase {
  readonly kind: "new-version";
  readonly version: string;
  /** The version used last, with what it holds. */
  readonly previous: Pick<FunctionVersion, "version" | "lastUsedAt" | "entries" | "bytes">;
  /** Unified diff of the normalized sources, previous -> current. */
  readonly diff: string;
}

/** The version is known, but no result is stored for these arguments. */
export interface NewArgumentsExplanation extends ExplanationBase {
  readonly kind: "new-arguments";
  readonly version: string;
  readonly argsHash: string;
  /** The cached argument set that differs from these in the fewest paths, if the version holds any. */
  readonly closest: { readonly argsPreview: string; readonly differences: readonly ArgumentDifference[] } | undefined;
}

/**
 * What {@link Memory.explain} returns: a typed reason, and `.text` to print.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const load = memory.fn("load_state", (state: string, opts: { year: number }) => `${state} ${opts.year}`);
 * await load("CA", { year: 2020 });
 * const why = await memory.explain("load_state", "CA", { year: 2024 });
 * if (why.kind === "new-arguments") for (const d of why.closest?.differences ?? []) console.log(d.path); // args[1].year
 * console.log(why.text);
 * await memory.close();
 * ```
 */
export type Explanation = HitExplanation | UnknownNameExplanation | NewVersionExplanation | NewArgumentsExplanation;

export function explainUnknown(name: string): UnknownNameExplanation {
  return { kind: "unknown-name", name, text: `${name} would miss: nothing is stored under this name yet.` };
}

export function explainHit(name: string, version: string, argsHash: string): HitExplanation {
  return { kind: "hit", name, version, argsHash, text: `${name} would hit: a result for these arguments is stored under version ${shortId(version)}.` };
}

/** Explains a miss of `name` at `version` (not stored for `argsHash`), given what the catalog holds. */
export function explainMiss(input: {
  name: string;
  root: string;
  version: Version;
  argsHash: string;
  versions: readonly FunctionVersion[];
  cached: readonly { argsPreview: string; shape: string }[];
  given: ArgsShape;
  now: number;
}): NewVersionExplanation | NewArgumentsExplanation {
  const { name, version, versions } = input;
  const current = versions.find((v) => v.version === version.id);
  const previous = versions.find((v) => v.version !== version.id && v.entries > 0);
  if ((!current || current.entries === 0) && previous) {
    const { summary, diff } = describeChange(name, previous, version, input.now);
    return {
      kind: "new-version", name, version: version.id, diff,
      previous: { version: previous.version, lastUsedAt: previous.lastUsedAt, entries: previous.entries, bytes: previous.bytes },
      text: `${name} would miss: its version changed. ${summary}\n${diff}`,
    };
  }
  let closest: NewArgumentsExplanation["closest"];
  for (const entry of input.cached) {
    const differences = compareShapes(JSON.parse(entry.shape) as ArgsShape, input.given)
      .map((d) => ({ ...d, path: input.root + d.path }));
    if (!closest || differences.length < closest.differences.length) closest = { argsPreview: entry.argsPreview, differences };
  }
  const held = current ? holds(current) : "no results";
  const lines = [`${name} would miss: version ${shortId(version.id)} holds ${held}, none for these arguments.`];
  if (closest) {
    lines.push(closest.differences.length === 0
      ? `The closest cached call was (${closest.argsPreview}); it differs deeper than the fingerprint records.`
      : `The closest cached call was (${closest.argsPreview}); it differs at:`);
    for (const d of closest.differences) lines.push(`  ${d.path}: cached ${d.cached ?? "(nothing)"}, given ${d.given ?? "(nothing)"}`);
  }
  return { kind: "new-arguments", name, version: version.id, argsHash: input.argsHash, closest, text: lines.join("\n") };
}
