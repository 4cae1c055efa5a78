// Verification of a cache: every entry's payload is read back, every stored payload must belong to an
// entry, and the running totals must match the entries; with `repair`, what is wrong is removed.
import type { Catalog } from "../catalog/catalog.ts";
import type { Entry } from "../types.ts";
import { MissingPayload, readEntry } from "./entries.ts";
import { CorruptPayload } from "../codec/codec.ts";
import { describe } from "../errors.ts";
import { removeObjects, type Store } from "../store/store.ts";
import type { Signer } from "../codec/signature.ts";

/** A payload written this recently may still be waiting for its entry's commit in another process. */
export const ORPHAN_GRACE_MS = 60_000;

/**
 * One thing {@link Memory.verify} found wrong.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * for (const p of (await memory.verify()).problems) console.log(p.kind, p.name ?? p.object, p.detail);
 * await memory.close();
 * ```
 */
export interface VerifyProblem {
  /**
   * `missing`: an entry whose output file is gone; `unreadable`: an entry whose output does not decode;
   * `orphan`: a stored output no entry refers to (not judged in a shared store, where it may be another
   * machine's); `stray`: a file under objects/ that is no stored output
   * (a temp file a killed writer left); `totals`: the catalog's running totals were off; `lease`: leases
   * of processes that died while computing; `source`: remembered sources no known version uses. (Repair
   * also removes empty folders under objects/, which are not counted as problems.)
   */
  readonly kind: "missing" | "unreadable" | "orphan" | "stray" | "totals" | "lease" | "source";
  /** The entry's function name, for `missing` and `unreadable`. */
  readonly name?: string;
  readonly version?: string;
  readonly argsPreview?: string;
  /** The stored object id, when there is one. */
  readonly object?: string;
  /** For `stray`: the file, relative to the store's directory. */
  readonly path?: string;
  /** What is wrong, in words. */
  readonly detail: string;
}

/**
 * What {@link Memory.verify} checked, found and repaired.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const { entries, problems, repaired } = await memory.verify({ repair: true });
 * console.log(`${entries} entries checked, ${problems.length} problems, ${repaired} repaired`);
 * await memory.close();
 * ```
 */
export interface VerifyReport {
  /** Entries whose payload was read back and decoded. */
  readonly entries: number;
  /** Stored payloads compared with the catalog (0 when the store cannot list them). */
  readonly objects: number;
  readonly problems: VerifyProblem[];
  /** How many of the problems were repaired (0 without `repair`). */
  readonly repaired: number;
  /**
   * Runtimes (`"node 24.11.0"`) the catalog named entries by, that no entry names any more: what evicting or
   * deleting the last entries a runtime stored leaves, not a problem. `prune()` forgets them, and so does `repair`.
   */
  readonly orphanRuntimes: number;
}

const PAGE = 500;

export async function verify(catalog: Catalog, store: Store, repair: boolean, now: number, signer?: Signer): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const broken: Entry[] = [];
  const referenced = new Set<string>();
  let entries = 0;
  catalog.endReads(); // checks the catalog as it is now, not as this turn's hits saw it
  for (let after = 0; ;) {
    const page = catalog.entryPage(after, PAGE);
    if (page.length === 0) break;
    after = page.at(-1)!.rowid;
    for (const entry of page) {
      entries++;
      if (entry.object) referenced.add(entry.object);
      const problem = await check(entry, store, signer);
      if (problem) problems.push(problem), broken.push(entry);
    }
  }
  // Listed after the entries were read: a payload written since then is young and skipped. In a shared
  // store, a payload this catalog does not know is another machine's: not an orphan (the store's expiry
  // bounds them).
  const stored = (await store.list?.()) ?? [];
  const orphans = store.flags?.shared
    ? []
    : stored.filter((o) => !referenced.has(o.id) && o.modifiedAt < now - ORPHAN_GRACE_MS && !catalog.hasObject(o.id));
  for (const o of orphans) problems.push({ kind: "orphan", object: o.id, detail: "a stored output that no entry refers to" });
  const { recorded, actual } = catalog.recount(repair);
  if (recorded.entries !== actual.entries || recorded.bytes !== actual.bytes) {
    problems.push({
      kind: "totals",
      detail: `the running totals said ${recorded.entries} entries and ${recorded.bytes} bytes, not ${actual.entries} and ${actual.bytes}`,
    });
  }
  // Counted (and with repair removed) in one statement each: one problem says how many.
  const leases = catalog.staleLeases(now - ORPHAN_GRACE_MS, repair);
  if (leases > 0) problems.push({ kind: "lease", detail: `${leases} expired lease(s) of processes that died or hung while computing` });
  const sources = catalog.orphanSources(repair);
  if (sources > 0) problems.push({ kind: "source", detail: `${sources} remembered source(s) of code no known version uses` });
  if (!repair) {
    problems.push(...await strays(store, now, false));
    return { entries, objects: stored.length, problems, repaired: 0, orphanRuntimes: catalog.orphanRuntimes(false) };
  }

  const removed = catalog.removeExact(broken);
  await removeObjects(store, removed.objects);
  const orphanRuntimes = catalog.orphanRuntimes(true); // after the broken entries, whose runtimes may go with them
  // recount(true) already fixed the totals; removeExact keeps them right through the triggers.
  let repaired = removed.count + problems.filter((p) => p.kind === "totals" || p.kind === "lease" || p.kind === "source").length;
  for (const o of orphans) {
    if (catalog.hasObject(o.id)) continue; // claimed meanwhile
    await store.delete(o.id);
    repaired++;
  }
  // Last, so that a folder the removals above emptied goes too (empty folders are removed, not reported).
  const removedStrays = await strays(store, now, true);
  problems.push(...removedStrays);
  return { entries, objects: stored.length, problems, repaired: repaired + removedStrays.length, orphanRuntimes };
}

async function strays(store: Store, now: number, remove: boolean): Promise<VerifyProblem[]> {
  const paths = (await store.strays?.(now - ORPHAN_GRACE_MS, remove)) ?? [];
  return paths.map((path) => ({ kind: "stray", path, detail: "a file that is no stored output (a write that did not finish?)" }));
}

// Each entry is read through the one read path of hits (checksum included), so verify finds what a hit would reject.
async function check(entry: Entry, store: Store, signer: Signer | undefined): Promise<VerifyProblem | undefined> {
  const about = { name: entry.name, version: entry.version, argsPreview: entry.argsPreview, ...(entry.object ? { object: entry.object } : {}) };
  try {
    await readEntry(store, entry, { signer, key: entry });
  } catch (error) {
    if (error instanceof MissingPayload) {
      return entry.object
        ? { kind: "missing", ...about, detail: "its output file is missing" }
        : { kind: "unreadable", ...about, detail: "it has no output at all" };
    }
    return { kind: "unreadable", ...about, detail: error instanceof CorruptPayload ? error.message : `its output cannot be read: ${describe(error)}` };
  }
  return undefined;
}
