// The structural fingerprint of a call's arguments: a short hash and a preview per argument path, so that
// explain() can tell which part of a new call differs from the closest cached one.
import { type FunctionHasher, hashValue, preview, propertyPath } from "./args.ts";

/** Path (relative to the arguments, e.g. `[1].year`) -> [short hash, preview] of the value there. */
export type ArgsShape = Readonly<Record<string, readonly [hash: string, preview: string]>>;

/** One path where two argument lists differ; `undefined` where one of them has nothing at that path. */
export interface ArgumentDifference {
  readonly path: string;
  readonly cached: string | undefined;
  readonly given: string | undefined;
}

// Enough to name the field that differs in realistic arguments, small enough to keep in every entry.
const MAX_PATHS = 64;
const MAX_DEPTH = 4;
const MAX_CHILDREN = 16;

/**
 * The fingerprint of `values`: arrays and plain objects are opened (a few levels, a few children each),
 * everything else, and whatever does not fit, is one leaf hashed whole.
 *
 * @example
 * ```ts
 * import { argsShape } from "./shape.ts";
 * const hashFunction = (fn: Function) => fn.toString(); // Memory passes its normalized-source hash
 * console.log(argsShape(["CA", { year: 2024 }], hashFunction)); // { "[0]": [...], "[1].year": [...] }
 * ```
 */
export function argsShape(values: readonly unknown[], hashFunction: FunctionHasher): ArgsShape {
  const shape: Record<string, readonly [string, string]> = {};
  let budget = MAX_PATHS - values.length;
  const walk = (value: unknown, path: string, depth: number): void => {
    const children = childrenOf(value);
    if (children && children.length > 0 && children.length <= MAX_CHILDREN && depth < MAX_DEPTH &&
      budget >= children.length - 1) {
      budget -= children.length - 1;
      for (const [key, child] of children) walk(child, path + key, depth + 1);
      return;
    }
    shape[path] = [hashValue(value, `args${path}`, hashFunction).slice(0, 16), preview(value, 40)];
  };
  values.forEach((value, i) => walk(value, `[${i}]`, 1));
  return shape;
}

function childrenOf(value: unknown): [string, unknown][] | undefined {
  if (Array.isArray(value)) {
    return Object.keys(value).length === value.length ? value.map((v, i) => [`[${i}]`, v]) : undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const proto = Object.getPrototypeOf(value);
  if (proto !== null && proto !== Object.prototype) return undefined;
  return Object.keys(value).sort().map((key) => [propertyPath(key), (value as Record<string, unknown>)[key]]);
}

/** The paths where `cached` and `given` differ, in path order. */
export function compareShapes(cached: ArgsShape, given: ArgsShape): ArgumentDifference[] {
  const paths = [...new Set([...Object.keys(cached), ...Object.keys(given)])].sort();
  return paths.filter((path) => cached[path]?.[0] !== given[path]?.[0])
    .map((path) => ({ path, cached: cached[path]?.[1], given: given[path]?.[1] }));
}
