import assert from "node:assert/strict";
import { test } from "node:test";
import { loadParser, normalizeSource } from "../lib/keys/source.ts";
import { isDeno, lastJson, runFixture } from "./helpers.ts";
import { shapes } from "./fixtures/shapes.ts";

await loadParser();
const hash = (source: string) => normalizeSource(source, "in the test").hash;

// Pairs of sources as Function.prototype.toString() returns them: [a, b, same?, why].
const pairs: [string, string, boolean, string][] = [
  ["async (x) => x.k.length", "async (x)=>x.k.length", true, "tslab vs Deno spacing"],
  [
    "async (rows) => {\n    const out = [];\n    for (const r of rows) {\n        out.push(r.id);\n    }\n    return out;\n}",
    "async (rows)=>{\n  const out = [];\n  for (const r of rows){\n    out.push(r.id);\n  }\n  return out;\n}",
    true,
    "tslab (4-space) vs Deno (2-space) multi-line bodies",
  ],
  ["(x) => x + 1 // add one", "(x) => /* add */ x + 1", true, "comments"],
  ["(x) => 'a' + x", '(x) => "a" + x', true, "quote style"],
  ["(a, b) => [a, b,]", "(a, b) => [a, b]", true, "trailing comma"],
  ["() => { let a = 1; return a }", "() => { let a = 1\n return a; }", true, "optional semicolons"],
  ["(x) => { if (x) return 1; return 2; }", "(x) => { if (x) { return 1; } return 2; }", true, "braces around one statement"],
  ["(x) => x * 2", "(x) => { return x * 2; }", true, "expression body vs return block"],
  ["(x) => (x * 2)", "(x) => x * 2", true, "redundant parentheses"],
  ["(x: number): number => x as number", "(x) => x", true, "types erased"],
  ["(a, b) => a + b", "(a, b) => a - b", false, "operator"],
  ["(a, b) => a + b", "(a, c) => a + c", false, "parameter name"],
  ["(a, b = 1) => a + b", "(a, b = 2) => a + b", false, "default value"],
  ["() => 'a'", "() => 'b'", false, "string literal"],
  ["() => -x", "() => !x", false, "prefix operator"],
  ["() => { let a = 1; return a; }", "() => { const a = 1; return a; }", false, "let vs const"],
  ["(a) => a + b * c", "(a) => (a + b) * c", false, "precedence"],
  ["() => 1", "async () => 1", false, "async"],
  ["function f(x) { return x; }", "function g(x) { return x; }", false, "function name"],
  ["method(x) { return x; }", "method(x) {\n  return x;\n}", true, "method shorthand parses"],
  ["() => 0x10", "() => 16", true, "numeric literal by value"],
  // What Node's type stripping leaves (spaces where types were) against Deno's printing.
  ["(x        )         => x * 2", "(x)=>x * 2", true, "Node type-stripping blanks vs Deno"],
  ["() => [1, 2, 3]", "()=>[\n      1,\n      2,\n      3\n    ]", true, "Deno's one element per line arrays"],
  ["(x) => (x          ).length", "(x)=>x.length", true, "Deno drops the parentheses of an erased `as`"],
  ["function* (n) { yield n; }", "function*(n) {\n    yield n\n  }", true, "generator spacing"],
  ["async function* (xs) { for await (const x of xs) yield x; }", "async function*(xs) {\n    for await (const x of xs)yield x;\n  }", true, "async generator, loop body without braces"],
  ["(o) => o?.p?.q?.() ?? 0", "(o)=>o?.p?.q?.()??0", true, "optional chaining spacing"],
  ["(n) => `a${ n }b`", "(n)=>`a${n}b`", true, "template literal spacing"],
  ["() => '\\u0041'", "() => 'A'", true, "string escapes by value"],
  ["(a) => ({ a })", "(a) => ({ a: a })", true, "shorthand property"],
  ["() => ({ 'k': 1, 2: 'x' })", "() => ({ k: 1, \"2\": \"x\" })", true, "quoted and numeric property names"],
  ["({ a }) => a", "({ a: a }) => a", true, "shorthand in destructuring"],
  ["() => ({ get v() { return 2; } })", "()=>({\n      get v () {\n        return 2;\n      }\n    })", true, "getter in an object, Deno spacing"],
  ["class A { x = 1; m() { return 1; }; }", "class A {\n  x = 1\n  m() { return 1 }\n}", true, "class body semicolons"],
  [
    "(x) => { if (x > 1) return 1; else if (x) return 2; else return 3; }",
    "(x) => {\n  if (x > 1) { return 1 } else if (x) { return 2 } else { return 3 }\n}",
    true,
    "else if with and without braces",
  ],
  ["() => { a: for (;;) { continue a; } }", "()=>{\n  a: for(;;){\n    continue a\n  }\n}", true, "labeled loop formatting"],
  [
    // Printed by tslab 1.0.22's converter and by Deno for the same cell (names from earlier cells).
    "async (xs, o) => {\n    // comment\n    const out = xs.slice(0, exports.LIMIT).map((x) => exports.helper(x) + exports.path.sep.length);\n    for (const x of xs)\n        if (x > 1)\n            out.push(x);\n    return o?.p?.q?.() ?? out;\n}",
    "async (xs, o)=>{\n  // comment\n  const out = xs.slice(0, LIMIT).map((x)=>helper(x) + path.sep.length);\n  for (const x of xs)if (x > 1) out.push(x);\n  return o?.p?.q?.() ?? out;\n}",
    true,
    "tslab's exports.name for names of earlier cells vs Deno",
  ],
  ["(a) => (a?.b).c", "(a) => a?.b.c", false, "parentheses that end an optional chain"],
  ["(a) => a?.b", "(a) => a.b", false, "optional chaining vs plain access"],
  ["(n) => `a${n}b`", "(n) => `a${n}c`", false, "template literal text"],
  ["async function* (xs) { yield xs; }", "function* (xs) { yield xs; }", false, "async generator vs generator"],
  ["() => ({ get v() { return 2; } })", "() => ({ v() { return 2; } })", false, "getter vs method"],
  ["({ a: b }) => b", "({ b }) => b", false, "destructuring rename"],
  ["(a, b) => ({ a })", "(a, b) => ({ a: b })", false, "shorthand vs another value"],
  ["class A { x = 1; }", "class A { x = 2; }", false, "class field value"],
  ["class A { static x = 1; }", "class A { x = 1; }", false, "static vs instance field"],
  ["() => { a: for (;;) { b: for (;;) { continue a; } } }", "() => { a: for (;;) { b: for (;;) { continue b; } } }", false, "continue target"],
  ["(a, b) => { if (a) f(); else if (b) g(); }", "(a, b) => { if (a) { f(); if (b) g(); } }", false, "else if vs nested if"],
  ["(xs) => Math.max(...xs)", "(xs) => Math.max(xs)", false, "spread"],
  ["() => /a/g", "() => /a/i", false, "regular expression flags"],
  ["() => String.raw`a\\n`", "() => String.raw`a\n`", false, "raw text of a tagged template"],
  ["() => exports.rows.map((r) => r.id)", "()=>rows.map((r)=>r.id)", true, "tslab's exports.NAME for another cell's name"],
  ["() => exports.rows.length", "() => exports.cols.length", false, "tslab's exports.NAME keeps the name"],
];

for (const [a, b, same, why] of pairs) {
  test(`normalization: ${why} -> ${same ? "same" : "different"} version`, () => {
    if (same) assert.equal(hash(a), hash(b));
    else assert.notEqual(hash(a), hash(b));
  });
}

test("a native or bound function is refused with a clear error", () => {
  assert.throws(() => normalizeSource(Math.max.toString(), "at args[0]"), /Cannot hash the function at args\[0\]: it is native or bound/);
  const bound = ((x: number) => x).bind(null);
  assert.throws(() => normalizeSource(bound.toString(), "at args[1]"), /native or bound/);
});

test("the readable text is one form for different printings of one function", () => {
  const tslab = "async (rows) => {\n    // keep ids\n    for (const r of rows) if (r.ok) out.push((r.id * 2) + 1);\n    return [\n      1,\n      2\n    ];\n}";
  const deno = "async (rows)=>{\n  for (const r of rows){\n    if (r.ok) { out.push(r.id * 2 + 1) }\n  }\n  return [1, 2];\n}";
  assert.equal(normalizeSource(tslab, "tslab").text, normalizeSource(deno, "deno").text);
  assert.equal(normalizeSource(deno, "deno").text, [
    "async (rows) => {",
    "    for (const r of rows) {",
    "        if (r.ok) {",
    "            out.push(r.id * 2 + 1);",
    "        }",
    "    }",
    "    return [1, 2];",
    "}",
  ].join("\n"));
});

test("tslab's exports.name reads print as the plain name", () => {
  assert.equal(normalizeSource("(x) => exports.helper(x) + exports.LIMIT", "tslab").text, "x => helper(x) + LIMIT");
});

test("the normalized text is readable and free of comments", () => {
  const { text } = normalizeSource("(x) => {\n  // why\n  return x + 1;\n}", "here");
  assert.match(text, /return x \+ 1;/);
  assert.doesNotMatch(text, /why/);
});

test("the pair table has at least 30 pairs, both same and different", () => {
  assert.ok(pairs.length >= 30);
  assert.ok(pairs.some((p) => p[2]) && pairs.some((p) => !p[2]));
});

test("functions of many shapes get the same versions, readable texts and free identifiers under Node and under Deno", async () => {
  const here = Object.fromEntries(Object.entries(shapes).map(([name, f]) => {
    const { hash, text, free } = normalizeSource(f.toString(), name);
    return [name, { hash, text, free }];
  }));
  const there = lastJson<typeof here>(await runFixture(isDeno ? "node" : "deno", "shape_versions.ts", []));
  assert.deepEqual(there, here);
  assert.deepEqual(here.readsOutside!.free, ["LIMIT", "helper"]);
  assert.deepEqual(here.optional!.free, []);
  assert.equal(new Set(Object.values(here).map((v) => v.hash)).size, Object.keys(here).length);
});
