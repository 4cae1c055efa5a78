import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { loadParser, normalizeSource } from "../lib/keys/source.ts";

await loadParser();
const free = (source: string) => normalizeSource(source, "in the test").free;

test("helpers and constants read from outside are free; parameters, locals and globals are not", () => {
  assert.deepEqual(free("(xs) => { const n = LIMIT; return xs.map((x) => helper(x, n)).filter(Boolean).length + Math.PI; }"), ["LIMIT", "helper"]);
});

test("property names, member names and labels are not reads; computed keys and shorthands are", () => {
  assert.deepEqual(free("(o) => { outer: for (const k in o) { if (o[k].size) continue outer; } return { size: o.size, [KEY]: 1, config }; }"), ["KEY", "config"]);
});

test("hoisted declarations, catch bindings and a function's own name are local", () => {
  assert.deepEqual(free("function fact(n) { return n < 2 ? 1 : n * fact(n - 1); }"), []);
  assert.deepEqual(free("(x) => { try { return parse(x); } catch (e) { return e; } }"), ["parse"]);
  assert.deepEqual(free("() => { later(); function later() { return v; } var v = 1; return v; }"), []);
});

test("a block-scoped local does not hide a read outside its block", () => {
  assert.deepEqual(free("(x) => { { const helper = 1; } return helper(x); }"), ["helper"]);
});

test("defaults in parameters and destructuring are reads", () => {
  assert.deepEqual(free("({ a = DEFAULT } = {}, b = a) => a + b"), ["DEFAULT"]);
});

test("types are not reads; a class reads its base class but not its interfaces", () => {
  assert.deepEqual(free("(r: Row): Out => r.id as Id"), []);
  assert.deepEqual(free("class A extends Base implements I { m() { return this.x + y; } }"), ["Base", "y"]);
});

test("names tslab reads from earlier cells as exports.name are free under their own name", () => {
  const inTslab = (source: string) => normalizeSource(source, "in the test", { dialect: "tslab", imports: new Map() }).free;
  assert.deepEqual(inTslab("(xs) => xs.slice(0, exports.LIMIT).map((x) => exports.helper(x))"), ["LIMIT", "helper"]);
  assert.deepEqual(inTslab("(exports) => exports.helper"), []);
  assert.deepEqual(free("(xs) => xs.slice(0, exports.LIMIT)"), ["exports"]); // outside tslab, a host name like any other
});
