import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { loadParser, normalizeSource, PLAIN, type SourceContext } from "../lib/keys/source.ts";
import { cellImports } from "../lib/keys/tslab.ts";
import { isDeno, lastJson, runFixture } from "./helpers.ts";
import { shapes } from "./fixtures/shapes.ts";

await loadParser();

// How tslab 1.0.22 compiled the imports of a cell (its converter's output for `import { createHash } from
// "node:crypto"; import * as path from "node:path"; import fs from "node:fs"; import { readFileSync as rfs }
// from "node:fs"; const data_1 = ...`): the functions of the pairs below were printed by that cell.
const cell = `Object.defineProperty(exports, "__esModule", { value: true });
const node_crypto_1 = require("node:crypto");
Object.defineProperty(exports, "createHash", { enumerable: true, get: function () { return node_crypto_1.createHash; } });
const path = __importStar(require("node:path"));
exports.path = path;
const node_fs_1 = __importDefault(require("node:fs"));
exports.fs = node_fs_1.default;
const node_fs_2 = require("node:fs");
Object.defineProperty(exports, "rfs", { enumerable: true, get: function () { return node_fs_2.readFileSync; } });
const data_1 = require("./data");
exports.data_1 = data_1;
`;
const TSLAB: SourceContext = { dialect: "tslab", imports: cellImports(cell) };
// tslab, where the cell's compiled script could not be read.
const TSLAB_UNKNOWN_IMPORTS: SourceContext = { dialect: "tslab", imports: new Map() };
const hash = (source: string, context = PLAIN) => normalizeSource(source, "in the test", context).hash;

// Pairs of sources as Function.prototype.toString() returns them: [a, b, same?, why, who printed a (b is
// always a script or the Deno kernel)]. The tslab and Deno printings were taken from the real kernels.
const pairs: [string, string, boolean, string, SourceContext?][] = [
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
  ["function () { 'use strict'; return this; }", 'function () { "use strict"; return this; }', true, "a directive's quotes"],
  ["function () { \"use strict\"; return this; }", "function () { (\"use strict\"); return this; }", false, "a directive vs a parenthesized string"],
  ["function () { \"use strict\"; return this; }", "function () { \"use\\x20strict\"; return this; }", false, "a directive is read by its raw text"],
  ["(__proto__) => ({ __proto__ })", "(__proto__) => ({ __proto__: __proto__ })", false, "a __proto__ shorthand makes a property; a __proto__ key sets the prototype"],
  ["() => ({ __proto__: null })", "() => ({ '__proto__': null })", true, "a quoted __proto__ key also sets the prototype"],
  ["(a, b) => a + b", "(a, b) => a - b", false, "operator"],
  ["(a, b) => a + b", "(a, c) => a + c", true, "parameter names: bindings by position, not spelling"],
  ["(a, b) => a - b", "(b, a) => a - b", false, "parameters swapped"],
  ["(a) => a + b", "(b) => b + b", false, "a free name is not a parameter"],
  ["(a) => (b) => a + b", "(b) => (a) => a + b", false, "which parameter each name refers to"],
  ["(x) => { const y = x * 2; return y; }", "(x)=>{\n  const y1 = x * 2;\n  return y1;\n}", true, "a local renamed by the Deno kernel"],
  ["(rows) => rows.map((r) => r * 2)", "(rows1)=>rows1.map((r)=>r * 2)", true, "a parameter renamed by the Deno kernel (it shadows a name the cell reads)"],
  ["({ rows }) => rows", "({ rows: rows1 })=>rows1", true, "a destructured parameter renamed by the Deno kernel"],
  ["(xs) => { for (const x of xs) { try { f(x); } catch (e) { return e; } } }", "(xs)=>{ for (const y of xs){ try { f(y); } catch (err) { return err; } } }", true, "loop and catch bindings"],
  ["() => { const f = () => 1; return f.name; }", "() => { const g = () => 1; return g.name; }", false, "a local that names the function assigned to it"],
  ["() => { let f; f = () => 1; return f.name; }", "() => { let g; g = () => 1; return g.name; }", false, "an assignment that names a function"],
  ["() => { function walk() { return 1; } return walk(); }", "() => { function step() { return 1; } return step(); }", false, "a function declaration's name"],
  ["(a) => eval('a')", "(b) => eval('a')", false, "a direct eval sees the spelling"],
  // Classes with parameter properties, as tslab (TypeScript) and the Deno kernel (swc) print them.
  [
    "() => class LRU {\n    capacity;\n    #map = new Map();\n    constructor(capacity) {\n        this.capacity = capacity;\n    }\n}",
    "()=>class LRU {\n    capacity;\n    #map;\n    constructor(capacity){\n      this.capacity = capacity;\n      this.#map = new Map();\n    }\n  }",
    true,
    "a field initializer the Deno kernel moves into the constructor",
  ],
  [
    "() => class Circle extends Shape {\n    r;\n    constructor(r) {\n        super();\n        this.r = r;\n    }\n}",
    "()=>class Circle extends Shape {\n    r;\n    constructor(r){\n      super(), this.r = r;\n    }\n  }",
    true,
    "the Deno kernel's super(), this.p = p",
  ],
  ["(a, b) => { a(); b(); }", "(a, b) => { a(), b(); }", true, "a comma expression statement is two statements"],
  ["(a, b) => { return a(), b(); }", "(a, b) => { a(); return b(); }", false, "a comma expression that is returned"],
  [
    "() => class A { title; lines = [this.title]; constructor(title) { this.title = title; } }",
    "() => class A { title; lines; constructor(title) { this.title = title; this.lines = [this.title]; } }",
    false,
    "an initializer that reads this runs before the constructor, not after",
  ],
  [
    "() => class A { x; constructor() { log(); this.x = 1; } }",
    "() => class A { x = 1; constructor() { log(); } }",
    false,
    "an assignment after other work is not an initializer",
  ],
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
    TSLAB,
  ],
  ["(x) => x * exports.k", "(x) => x * k", false, "outside tslab, exports.k is not k"],
  ["(x) => x * exports.k", "(x) => x * k", true, "in tslab, exports.k is an earlier cell's k", TSLAB],
  ["(exports) => exports.k", "(exports) => k", false, "a parameter named exports is the function's own", TSLAB],
  // A name of the same cell, updated in the function (module.ts: visitPreOrPostfixUnaryExpression, substituteBinaryExpression).
  ["() => { exports.n = (n++, n); return n; }", "()=>{\n  n++;\n  return n;\n}", true, "tslab's update of a name of the same cell", TSLAB],
  ["() => { var _a; return exports.n = (_a = n++, n), _a; }", "()=>n++", true, "tslab's update whose value is used, through a temporary", TSLAB],
  ["() => [(exports.c = (_a = c++, c), _a), (exports.c = (_b = c--, c), _b)]", "() => [c++, c--]", false, "temporaries not declared by the function are not tslab's", TSLAB],
  ["() => exports.n = ++n", "()=>++n", true, "tslab's prefix update", TSLAB],
  ["(k) => { exports.n = n += k; return n; }", "(k)=>{\n  n += k;\n  return n;\n}", true, "tslab's compound assignment", TSLAB],
  ["(s) => { exports.seen = seen = [...seen, s]; return seen.length; }", "(s)=>{\n  seen = [\n    ...seen,\n    s\n  ];\n  return seen.length;\n}", true, "tslab's assignment", TSLAB],
  ["(n) => { exports.n = (n++, n); return n; }", "(n) => { n++; return n; }", false, "an update of a parameter is not tslab's", TSLAB],
  ["(arr) => { exports.n = n = arr[0]; return n; }", "(arr)=>{\n  [n] = arr;\n  return n;\n}", false, "tslab flattens a destructuring assignment: not undone", TSLAB],
  // Imports of the same cell (module.ts: substituteCallExpression, substituteExpressionIdentifier).
  ["(s) => (0, node_crypto_1.createHash)(\"sha256\").update(s).digest(\"hex\")", "(s)=>createHash(\"sha256\").update(s).digest(\"hex\")", true, "tslab's call of a named import", TSLAB],
  ["(p) => node_fs_1.default.readFileSync(p, \"utf8\")", "(p)=>fs.readFileSync(p, \"utf8\")", true, "tslab's default import", TSLAB],
  ["(p) => (0, node_fs_2.readFileSync)(p, \"utf8\")", "(p)=>rfs(p, \"utf8\")", true, "tslab's import renamed with as", TSLAB],
  ["() => ({ createHash: node_crypto_1.createHash })", "()=>({\n    createHash\n  })", true, "tslab's shorthand of an import", TSLAB],
  ["(a) => path.join(a, \"x\")", "(a)=>path.join(a, \"x\")", true, "a namespace import keeps its name", TSLAB],
  ["(s) => (0, node_crypto_1.createHash)(s)", "(s)=>createHash(s)", false, "an import the cell's script does not tell", TSLAB_UNKNOWN_IMPORTS],
  ["(x) => (0, data_1.f)(x)", "(x) => f(x)", false, "a name of the cell that looks like an alias is not one", TSLAB],
  // Dynamic import (module.ts: createImportCallExpressionCommonJS).
  ["async () => (await Promise.resolve().then(() => __importStar(require(\"node:os\")))).platform()", "async ()=>(await import(\"node:os\")).platform()", true, "tslab's dynamic import", TSLAB],
  ["(spec) => Promise.resolve(`${spec}`).then(s => __importStar(require(s)))", "(spec) => import(spec)", true, "tslab's dynamic import of a computed specifier", TSLAB],
  ["(spec) => Promise.resolve(`${spec}`).then(s => __importStar(require(s)))", "(spec) => import(spec)", false, "outside tslab, a require is not an import"],
  // tslab's converter takes a destructured member of an earlier cell's type for that cell's name.
  ["(p) => { const { exports, x: px } = p; return px; }", "(p)=>{\n  const { x: px } = p;\n  return px;\n}", true, "tslab's destructured member of an earlier cell's type", TSLAB],
  ["(rows) => rows.map(({ exports, value: v }) => v)", "(rows) => rows.map(({ value: v }) => v)", true, "the same, in a callback's parameter", TSLAB],
  ["(p) => { const { exports, x: px, y } = p; return px * exports.SCALE + y; }", "(p) => { const { x: px, y } = p; return px * SCALE + y; }", false, "tslab's destructuring that hides an earlier cell's name: not undone", TSLAB],
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
  ["() => exports.rows.map((r) => r.id)", "()=>rows.map((r)=>r.id)", true, "tslab's exports.NAME for another cell's name", TSLAB],
  ["() => exports.rows.length", "() => exports.cols.length", false, "tslab's exports.NAME keeps the name", TSLAB],
];

for (const [a, b, same, why, context] of pairs) {
  test(`normalization: ${why} -> ${same ? "same" : "different"} version`, () => {
    if (same) assert.equal(hash(a, context), hash(b));
    else assert.notEqual(hash(a, context), hash(b));
  });
}

test("a cell's imports are read from its compiled script; its own names and shared aliases are not imports", () => {
  assert.deepEqual(Object.fromEntries(cellImports(`${cell}Object.defineProperty(exports, "read", { enumerable: true, get: function () { return node_fs_2.readFileSync; } });\n`)), {
    "node_crypto_1.createHash": "createHash",
    "node_fs_1.default": "fs",
    "node_fs_2.readFileSync": null, // rfs and read: tslab prints both as (0, node_fs_2.readFileSync)
  });
});

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

test("in tslab, what the compiler wrote prints as the code as written", () => {
  const text = (source: string) => normalizeSource(source, "tslab", TSLAB).text;
  assert.equal(text("(x) => exports.helper(x) + exports.LIMIT"), "x => helper(x) + LIMIT");
  assert.equal(text("(p) => (0, node_fs_2.readFileSync)(p) + node_fs_1.default.sep"), "p => rfs(p) + fs.sep");
  assert.equal(text("() => ({ createHash: node_crypto_1.createHash, n: exports.n = (n++, n) })"), "() => ({ createHash, n: n++ })");
  assert.equal(normalizeSource("(x) => exports.helper(x)", "a script").text, "x => exports.helper(x)");
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
