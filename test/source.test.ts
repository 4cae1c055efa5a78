import assert from "node:assert/strict";
import { test } from "node:test";
import { loadParser, normalizeSource } from "../lib/keys/source.ts";

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

test("the normalized text is readable and free of comments", () => {
  const { text } = normalizeSource("(x) => {\n  // why\n  return x + 1;\n}", "here");
  assert.match(text, /return x \+ 1;/);
  assert.doesNotMatch(text, /why/);
});
