// What nbmemo tells about a function's version: that it changed (with a diff of the normalized sources,
// and what the previous version holds), and which free identifiers its version does not cover.
import type { FunctionVersion } from "../types.ts";
import { formatBytes, formatCount, formatDuration } from "../format.ts";
import { unifiedDiff } from "../keys/diff.ts";

/** A function's version as memory computes it: the id keys entries, `source` is for people. */
export interface Version {
  readonly id: string;
  /** Readable normalized source (with one line per dependency); null for a pinned version without deps. */
  readonly source: string | null;
  /** Identifiers the body reads from outside that neither the globals nor `deps` cover. */
  readonly free: readonly string[];
}

/** The version of `name` used last before `current`, if it is another one: the code has changed since. */
export function changedFrom(versions: readonly FunctionVersion[], current: string): FunctionVersion | undefined {
  const last = versions[0];
  return last && last.version !== current ? last : undefined;
}

/**
 * What a version change is: one sentence about the previous version (and about the current one, when the
 * catalog knows it already: `known`, a return to earlier code), and the diff of the sources.
 */
export function describeChange(
  name: string, previous: FunctionVersion, current: Version, now: number, known?: FunctionVersion,
): { summary: string; diff: string } {
  const ago = formatDuration(Math.max(0, now - previous.lastUsedAt));
  const last = `was last used ${ago} ago (${new Date(previous.lastUsedAt).toISOString()}) and holds ${holds(previous)}`;
  const summary = known
    ? `${name} is back at an earlier version ${shortId(current.id)}, which holds ${holds(known)}; the version used last, ${shortId(previous.version)}, ${last}.`
    : `${name} has a new version ${shortId(current.id)}; the previous one, ${shortId(previous.version)}, ${last}.`;
  const before = previous.source ?? pinnedText(previous.version);
  const after = current.source ?? pinnedText(current.id);
  const diff = before === after
    ? "(the normalized sources are the same: nbmemo's normalizer or a pinned version changed)"
    : unifiedDiff(before, after, { labels: [`${name} ${shortId(previous.version)}`, `${name} ${shortId(current.id)}`], maxLines: 30 });
  return { summary, diff };
}

/**
 * The notice about the free identifiers `free` (those neither deps nor unkeyed cover), or undefined when
 * there are none. A cell's values usually come in through its deps array, which nbmemo cannot match to
 * names: the notice says so instead of advising deps.
 */
export function freeNotice(name: string, free: readonly string[], kind: "fn" | "cell"): string | undefined {
  if (free.length === 0) return undefined;
  const names = free.join(", ");
  const quoted = free.map((n) => JSON.stringify(n)).join(", ");
  if (kind === "cell") {
    return `${name} reads ${names} from outside: a change there is noticed only if it is in the cell's deps array ` +
      `(values) or in the deps option (helpers: { deps: () => ({ helper }) }); names that need not be in the key go in unkeyed: [${quoted}].`;
  }
  return `${name} reads ${names} from outside, which its version does not cover: a change there would not be ` +
    `noticed. List ${free.length === 1 ? "it" : "them"} in deps: () => ({ ${names} }), or, if ${free.length === 1 ? "it does" : "they do"} not need to be in the key ` +
    `(an import, the runtime's own global), in unkeyed: [${quoted}].`;
}

/** What a version holds, for people: "2 results (35 B)". */
export function holds(version: Pick<FunctionVersion, "entries" | "bytes">): string {
  return `${formatCount(version.entries, "result")} (${formatBytes(version.bytes)})`;
}

/** A version id for people: a pinned one as given, a hash by its first 8 hex digits. */
export function shortId(id: string): string {
  return id.startsWith("pinned:") ? JSON.stringify(id.slice(7)) : id.slice(0, 8);
}

function pinnedText(id: string): string {
  return id.startsWith("pinned:") ? `// pinned version ${JSON.stringify(id.slice(7))}` : `// version ${id}`;
}
