// The ways a key used to miss part of what a result depends on (issue 13), one test per family, each
// through a real Memory: a hit must always be the value the function would have returned.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { NbmemoError } from "../lib/mod.ts";
import { openTemp } from "./helpers.ts";

test("a closure passed as an argument is refused, naming what it reads, unless it says how to key it", async (t) => {
  const memory = await openTemp(t);
  const apply = memory.fn("apply", (f: (x: number) => number, x: number) => f(x));
  const add = (k: number) => (x: number) => x + k;
  await assert.rejects(apply(add(10), 1), (e: NbmemoError) =>
    e.code === "UNHASHABLE_ARGUMENT" && /args\[0\]: the function reads k from outside/.test(e.message) &&
    /memoize the function \(memory\.fn\), or give it a key/.test(e.message));
  const keyed = (k: number) => Object.assign(add(k), { [Symbol.for("nbmemo.key")]: () => ["add", k] });
  assert.equal(await apply(keyed(10), 1), 11);
  assert.equal(await apply(keyed(20), 1), 21);
});

test("memoized functions as arguments are keyed by name and version: two pinned to the same version differ", async (t) => {
  const memory = await openTemp(t);
  const double = memory.fn("double", (x: number) => x * 2, { version: "1" });
  const triple = memory.fn("triple", (x: number) => x * 3, { version: "1" });
  const apply = memory.fn("apply", (f: (x: number) => Promise<number>, x: number) => f(x));
  assert.equal(await apply(double, 5), 10);
  assert.equal(await apply(triple, 5), 15);
  const viaDeps = (g: unknown) => memory.fn("via_deps", () => 1, { deps: { g } });
  await viaDeps(double)();
  await viaDeps(triple)();
  assert.equal(memory.functions().filter((f) => f.name === "via_deps").length, 2);
});

test("deps given as a function are read at every call: a changed value is a new version, not a stale hit", async (t) => {
  const memory = await openTemp(t);
  let LIMIT = 2;
  const top = memory.fn("top", (xs: number[]) => xs.slice(0, LIMIT), { deps: () => ({ LIMIT }) });
  assert.deepEqual(await top([1, 2, 3]), [1, 2]);
  LIMIT = 3; // as when the cell that defines LIMIT is run again, and not the one that defines top
  assert.deepEqual(await top([1, 2, 3]), [1, 2, 3]);
  LIMIT = 2;
  assert.deepEqual(await top([1, 2, 3]), [1, 2]);
  assert.equal(memory.functions().filter((f) => f.name === "top").length, 2);
  const table = { CA: 1 };
  const lookup = memory.fn("lookup", (k: "CA") => table[k], { deps: () => ({ table }) });
  assert.equal(await lookup("CA"), 1);
  table.CA = 2; // changed in place
  assert.equal(await lookup("CA"), 2);
});

test("a deps function that does not return an object is refused when called", async (t) => {
  const memory = await openTemp(t);
  const f = memory.fn("f", () => 1, { deps: (() => [1]) as never });
  await assert.rejects(f(), (e: NbmemoError) => e.code === "INVALID_OPTION" && /the deps function returned an array/.test(e.message));
});
