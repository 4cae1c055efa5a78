// Properties of the normalized source, on generated functions: how tslab's compiler prints a cell's function and
// how it was written give one version; renaming parameters and locals gives the same version; other code does not.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./harness.ts";
import fc from "fast-check";
import { loadParser, normalizeSource, PLAIN, type SourceContext } from "../lib/keys/source.ts";
import { cellImports } from "../lib/keys/tslab.ts";
import { lastJson, runFixture } from "./helpers.ts";

await loadParser();
const hash = (source: string, context: SourceContext = PLAIN) => normalizeSource(source, "in the test", context).hash;
const seed = Number(process.env.NBMEMO_TEST_SEED ?? Date.now() % 2 ** 31);
const RUNS = 2000;

// An expression over the given names (parameters and locals) and the outer names LIMIT, helper and k.
const expression = (names: readonly string[]) =>
  fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom(...names, "LIMIT", "k"),
      fc.integer({ min: 0, max: 99 }).map(String),
      fc.tuple(tie("e"), fc.constantFrom("+", "-", "*", "<", "&&"), tie("e")).map(([a, op, b]) => `(${a} ${op} ${b})`),
      tie("e").map((a) => `helper(${a})`),
      tie("e").map((a) => `[${a}].map((v) => v + ${a})[0]`),
    ),
  })).e;

// A function of two parameters and one local, written with the names given.
const withNames = (body: string, [a, b, c]: readonly string[]) =>
  `(${a}, ${b}) => { const ${c} = ${body.replaceAll("$a", a!).replaceAll("$b", b!)}; return ${c} + ${a}; }`;
const template = expression(["$a", "$b"]);
const spellings = fc.uniqueArray(fc.constantFrom("rows", "rows1", "x", "y", "data", "data1", "acc", "_t", "$v", "value"), { minLength: 3, maxLength: 3 });

test("renaming parameters and locals (as the Deno kernel does) keeps the version", () => {
  fc.assert(fc.property(template, spellings, spellings, (body, one, other) => {
    assert.equal(hash(withNames(body, one)), hash(withNames(body, other)));
  }), { numRuns: RUNS, seed });
});

test("a parameter read in place of another, or of an outer name, changes the version", () => {
  fc.assert(fc.property(template, spellings, fc.constantFrom("$b", "LIMIT"), (body, names, replacement) => {
    fc.pre(body.includes("$a"));
    const changed = body.replace("$a", replacement);
    assert.notEqual(hash(withNames(body, names)), hash(withNames(changed, names)));
  }), { numRuns: RUNS, seed });
});

test("exports.k is k in tslab and another name outside it", () => {
  fc.assert(fc.property(expression(["x"]), (body) => {
    fc.pre(/\bk\b/.test(body));
    const [plain, printed] = [`(x) => ${body}`, `(x) => ${body.replace(/\bk\b/g, "exports.k")}`];
    const tslab: SourceContext = { dialect: "tslab", imports: new Map() };
    assert.equal(hash(printed, tslab), hash(plain));
    assert.notEqual(hash(printed), hash(plain));
  }), { numRuns: RUNS, seed });
});

// Cells for tslab's real compiler: an earlier cell, then a cell with imports, variables it updates, and the
// generated functions. Each function is printed by the compiler (its text in the compiled cell, as
// Function.prototype.toString() gives it in the kernel) and as written.
const EARLIER = "const LIMIT = 3;\nfunction helper(v: number) { return v + 1; }\nconst k = 2;";
const IMPORTS = `import { createHash } from "node:crypto";
import fs from "node:fs";
import * as path from "node:path";
import { join, basename as base } from "node:path";
let n = 0;
let total = 0;`;
const atom = fc.constantFrom(
  "x", "LIMIT", "k", "n", "total", "helper(x)", "createHash(\"sha1\").update(String(x)).digest(\"hex\").length",
  "(fs.existsSync(\"nowhere\") ? 1 : 0)", "join(\"a\", String(x)).length", "base.name.length", "path.sep.length",
  "[x].map((LIMIT) => LIMIT + 1)[0]", "[x].map((n) => n * 2)[0]", "({ createHash }).createHash.length",
);
const value = fc.array(atom, { minLength: 1, maxLength: 3 }).map((xs) => xs.join(" + "));
const statement = fc.oneof(
  value.map((v) => `n += ${v};`),
  value.map((v) => `total = total + ${v};`),
  fc.constantFrom("n++;", "--n;", "total -= 1;", "x = x + LIMIT;"),
);
const generated = fc.record({
  isAsync: fc.boolean(),
  statements: fc.array(statement, { maxLength: 3 }),
  result: fc.oneof(value, fc.constantFrom("n++", "++total", "total--")),
}).map(({ isAsync, statements, result }) => {
  const load = isAsync ? " + (await import(\"node:os\")).EOL.length" : "";
  return `${isAsync ? "async " : ""}(x: number) => {\n  ${statements.join("\n  ")}\n  return ${result}${load};\n}`;
});

test("functions as tslab's compiler prints them get the version of the functions as written", async () => {
  const functions = fc.sample(generated, { seed, numRuns: 1000 });
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-tslab-"));
  try {
    const file = join(dir, "cells.json");
    writeFileSync(file, JSON.stringify([EARLIER, `${IMPORTS}\n${functions.map((f, i) => `const f${i} = ${f};`).join("\n")}`]));
    const [, cell] = lastJson<{ output?: string; diagnostics?: string[] }[]>(await runFixture("node", "tslab_compile.ts", [file]));
    assert.ok(cell?.output, `the generated cell does not compile (seed ${seed}): ${cell?.diagnostics}`);
    const context: SourceContext = { dialect: "tslab", imports: cellImports(cell.output) };
    const printed = [...cell.output.matchAll(/^const f(\d+) = ([\s\S]*?);\nexports\.f\1 = f\1;$/gm)];
    assert.equal(printed.length, functions.length);
    for (const [, i, text] of printed) {
      assert.equal(hash(text!, context), hash(functions[Number(i)]!), `seed ${seed}, f${i}:\n${functions[Number(i)]}\nprinted by tslab:\n${text}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
