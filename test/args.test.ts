import assert from "node:assert/strict";
import { test } from "node:test";
import { hashValues } from "../lib/keys/args.ts";

const noFunctions = (_: Function, path: string): string => {
  throw new Error(`unexpected function at ${path}`);
};
const h = (...values: unknown[]) => hashValues(values, "args", noFunctions);

test("argument hashes ignore object key order", () => {
  assert.equal(h({ a: 1, b: { c: 2, d: 3 } }), h({ b: { d: 3, c: 2 }, a: 1 }));
});

test("argument hashes ignore Set and Map insertion order", () => {
  assert.equal(h(new Set([1, 2, 3])), h(new Set([3, 1, 2])));
  assert.equal(h(new Map<unknown, unknown>([["a", 1], [2, "b"]])), h(new Map<unknown, unknown>([[2, "b"], ["a", 1]])));
  assert.notEqual(h(new Map([["a", 1]])), h(new Map([["a", 2]])));
});

test("argument hashes tell types apart", () => {
  const distinct = [
    1, "1", 1n, true, null, undefined, 0, -0, NaN, Infinity, "", [], {}, [undefined], [null],
    new Date(0), 0n, new Set(), new Map(), /a/, /a/g, "a", new Uint8Array([1]), new Int8Array([1]),
    new Float64Array([0]), new Float64Array([-0]), new Uint8Array([1]).buffer, new URL("https://a.example/"),
  ];
  const hashes = distinct.map((v) => h(v));
  assert.equal(new Set(hashes).size, distinct.length);
});

test("undefined and a missing key differ, and so do a hole and undefined", () => {
  assert.notEqual(h({ a: 1, b: undefined }), h({ a: 1 }));
  assert.notEqual(h([1, , 3]), h([1, undefined, 3]));
  assert.notEqual(h(1), h(1, undefined));
});

test("typed arrays hash by type and bytes", () => {
  assert.equal(h(new Float64Array([1, 2])), h(new Float64Array([1, 2])));
  assert.notEqual(h(new Float64Array([1, 2])), h(new Float64Array([1, 3])));
  const bytes = new Uint8Array(16);
  assert.notEqual(h(new Float64Array(bytes.buffer)), h(new BigInt64Array(bytes.buffer)));
  const big = new Uint8Array(1 << 20).fill(7);
  assert.equal(h(big.subarray(10, 100)), h(new Uint8Array(90).fill(7)));
});

test("dates hash by time and regexps by source and flags", () => {
  assert.equal(h(new Date("2024-01-01T00:00:00Z")), h(new Date(Date.UTC(2024, 0, 1))));
  assert.notEqual(h(new Date(1)), h(new Date(2)));
  assert.notEqual(h(/a/i), h(/a/m));
});

test("cycles are hashed by shape, and equal cyclic structures hash equal", () => {
  const a: Record<string, unknown> = { x: 1 };
  a.self = a;
  const b: Record<string, unknown> = { x: 1 };
  b.self = b;
  const c: Record<string, unknown> = { x: 2 };
  c.self = c;
  assert.equal(h(a), h(b));
  assert.notEqual(h(a), h(c));
});

test("class instances hash by class name and own state", () => {
  class Point {
    x: number;
    y: number;
    constructor(x: number, y: number) {
      this.x = x;
      this.y = y;
    }
  }
  assert.equal(h(new Point(1, 2)), h(new Point(1, 2)));
  assert.notEqual(h(new Point(1, 2)), h({ x: 1, y: 2 }));
});

test("values with no stable identity are errors naming their path", () => {
  assert.throws(() => h({ deep: [0, { s: Symbol("x") }] }), /args\[0\]\.deep\[1\]\.s: Symbol\(x\) is a unique symbol/);
  assert.throws(() => h(new WeakMap()), /args\[0\]: a WeakMap is a live handle/);
  assert.throws(() => h({ "odd key": Promise.resolve() }), /args\[0\]\["odd key"\]: a Promise/);
  assert.throws(() => h({ [Symbol("k")]: 1 }), /symbol keys/);
  assert.equal(h(Symbol.for("shared")), h(Symbol.for("shared")));
});

test("functions among arguments are hashed by the given function hasher", () => {
  const seen: string[] = [];
  const hashFn = (fn: Function, path: string) => (seen.push(path), fn.length === 1 ? "one" : "other");
  const a = hashValues([{ f: (x: number) => x }], "args", hashFn);
  const b = hashValues([{ f: (y: number) => y * 2 }], "args", hashFn);
  const c = hashValues([{ f: () => 0 }], "args", hashFn);
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.deepEqual(seen, ["args[0].f", "args[0].f", "args[0].f"]);
});

test("a known set of arguments hashes to the same digest in every release", () => {
  const values = [1, "x", -0, NaN, 2n, undefined, null, { b: [1, , 3], a: new Date(0) }, new Set([1, "1"]),
    new Map([["k", new Float64Array([1.5, NaN])]]), "é\u{1F600}", new Uint8Array(100_000).fill(3), "after"];
  assert.equal(hashValues(values, "args", () => "f"), "0d9d3900848e9a4910fb68779099c20b8e5bc63466eca41167c23394b11c838c");
});
