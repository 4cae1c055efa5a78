// Property tests of the argument keys, on generated pairs of values: a key is equal exactly when no
// function could tell the values apart (test/distinguish.ts, written apart from the hasher), and every
// value is either keyed or refused with a code. fast-check prints the seed and the values of a failure;
// NBMEMO_PROPERTY_SEED replays one, NBMEMO_PROPERTY_RUNS changes the number of cases.
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "./harness.ts";
import fc from "fast-check";
import { NbmemoError } from "../lib/errors.ts";
import { hashValues } from "../lib/keys/args.ts";
import { build, indistinguishable, refused, type Spec, spec } from "./distinguish.ts";

const runs = Number(process.env.NBMEMO_PROPERTY_RUNS ?? 4000);
const seed = process.env.NBMEMO_PROPERTY_SEED === undefined ? undefined : Number(process.env.NBMEMO_PROPERTY_SEED);
const options = { numRuns: runs, seed, verbose: true };

const noFunctions = (_: Function, path: string): string => {
  throw new Error(`unexpected function at ${path}`);
};

// The key of a value, or "refused" when nbmemo refuses it with its code; anything else fails the test.
function keyOf(value: unknown): string {
  try {
    return hashValues([value], "args", noFunctions);
  } catch (error) {
    if (error instanceof NbmemoError && error.code === "UNHASHABLE_ARGUMENT") return "refused";
    throw error;
  }
}

// Pairs that collide or differ in one small place, more often than two independent values would.
const pairs: fc.Arbitrary<[Spec, Spec]> = fc.oneof(
  fc.tuple(spec, spec),
  spec.map((s) => [s, s] as [Spec, Spec]),
  fc.tuple(spec, fc.nat(), spec, fc.nat()).map(([s, at, other, how]) => [s, tweak(s, at, other, how)] as [Spec, Spec]),
);

// `s` with its node number `at` (in pre-order) changed in a way that keeps most of it: a sibling kind,
// a flipped attribute, or another value.
function tweak(s: Spec, at: number, other: Spec, how: number): Spec {
  let n = 0;
  const walk = (node: Spec): Spec => {
    if (n++ === at % count(s)) return changed(node, other, how);
    switch (node.t) {
      case "array":
        return { ...node, items: node.items.map((i) => (i === "hole" ? i : walk(i))) };
      case "object":
        return { ...node, props: node.props.map((p) => ({ ...p, value: walk(p.value) })) };
      case "map":
        return { ...node, entries: node.entries.map(([k, v]) => [walk(k), walk(v)] as const) };
      case "set":
        return { ...node, items: node.items.map(walk) };
      case "keyed":
        return { ...node, data: walk(node.data) };
      default:
        return node;
    }
  };
  return walk(s);
}

function count(s: Spec): number {
  switch (s.t) {
    case "array":
      return 1 + s.items.reduce((sum, i) => sum + (i === "hole" ? 0 : count(i)), 0);
    case "object":
      return 1 + s.props.reduce((sum, p) => sum + count(p.value), 0);
    case "map":
      return 1 + s.entries.reduce((sum, [k, v]) => sum + count(k) + count(v), 0);
    case "set":
      return 1 + s.items.reduce((sum, i) => sum + count(i), 0);
    case "keyed":
      return 1 + count(s.data);
    default:
      return 1;
  }
}

function changed(node: Spec, other: Spec, how: number): Spec {
  const pick = <T>(list: readonly T[]) => list[how % list.length]!;
  switch (node.t) {
    case "prim":
      return pick<Spec>([{ t: "boxed", v: node.v ?? 0 }, { t: "array", items: [node], extra: [], lock: "none" }, other]);
    case "typed":
      return pick<Spec>([{ ...node, type: node.type === "Buffer" ? "Uint8Array" : "Buffer" }, { ...node, offset: node.offset + 1 },
        { t: "dataview", bytes: node.bytes, offset: node.offset, extra: [] }, { t: "buffer", shared: false, bytes: node.bytes }]);
    case "buffer":
      return pick<Spec>([{ ...node, shared: !node.shared }, { t: "typed", type: "Uint8Array", bytes: node.bytes, offset: 0 }]);
    case "object":
      return pick<Spec>([{ ...node, proto: node.proto === "null" ? "object" : "null" }, { ...node, lock: node.lock === "none" ? "freeze" : "none" },
        { ...node, props: node.props.map((p, i) => (i === 0 ? { ...p, enumerable: !p.enumerable } : p)) },
        { t: "array", items: node.props.map((p) => p.value), extra: [], lock: node.lock }, other]);
    case "array":
      return pick<Spec>([{ ...node, items: [...node.items, "hole"] }, { ...node, extra: [{ key: "index", value: { t: "prim", v: 0 }, enumerable: true, writable: true, configurable: true }] },
        { ...node, lock: node.lock === "none" ? "seal" : "none" }, { t: "set", items: node.items.filter((i) => i !== "hole") as Spec[] }]);
    case "error":
      return pick<Spec>([{ ...node, type: node.type === "Error" ? "TypeError" : "Error" }, { ...node, cause: node.cause ? undefined : { t: "prim", v: undefined } },
        { ...node, message: node.message === undefined ? "" : undefined }]);
    case "regexp":
      return pick<Spec>([{ ...node, lastIndex: node.lastIndex + 1 }, { ...node, flags: node.flags === "g" ? "y" : "g" }]);
    case "date":
      return pick<Spec>([{ ...node, time: node.time + 1 }, { t: "prim", v: node.time }]);
    case "map":
      return pick<Spec>([{ t: "set", items: node.entries.map(([k]) => k) }, { t: "object", proto: "object", props: [], lock: "none" }]);
    default:
      return other;
  }
}

test("argument keys are equal exactly when no function can tell the values apart", () => {
  fc.assert(fc.property(pairs, ([s, t]) => {
    const [a, b] = [build(s), build(t)];
    const [ka, kb] = [keyOf(a), keyOf(b)];
    if (ka === "refused" || kb === "refused") return;
    assert.equal(ka === kb, indistinguishable(a, b), ka === kb ? "equal keys for values a function can tell apart" : "different keys for equal values");
  }), options);
});

test("every generated value is keyed, or refused with UNHASHABLE_ARGUMENT exactly when it holds what nbmemo cannot see", () => {
  fc.assert(fc.property(spec, (s) => {
    const key = keyOf(build(s));
    assert.equal(key === "refused", refused(s), key === "refused" ? "refused a value it can key" : "keyed a value it must refuse");
    if (key !== "refused") assert.match(key, /^[0-9a-f]{64}$/);
  }), options);
});
