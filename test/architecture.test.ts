// The structure of lib/, checked from the tree: parts, layering, no cycles, and the documented module list.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import {
  cycles, documentedModuleList, FORBIDDEN, type Import, imports, jobOf, loads, moduleList, modules, partOf, violations,
} from "../scripts/architecture.ts";
import { root } from "./helpers.ts";

const graph = imports();

test("every module of lib/ is in a folder that names a part, and says its job in its first line", () => {
  for (const module of modules()) {
    partOf(module); // throws for a folder that names no part
    assert.ok(jobOf(module).length >= 10, `${module} starts with no comment saying its job`);
  }
});

test("the import graph of lib/ has no cycles", () => {
  assert.deepEqual(cycles(graph).map((c) => c.join(" -> ")), []);
});

test("no import runs against the layering", () => {
  assert.deepEqual(violations(graph), []);
});

test("the layering check sees a forbidden import, a cycle and an eager import of the notebook part", () => {
  const planted: Import[] = [
    { from: "lib/keys/args.ts", to: "lib/catalog/catalog.ts", lazy: false },
    { from: "lib/memory/memory.ts", to: "lib/notebook/html-table.ts", lazy: false },
    { from: "lib/memory/memory.ts", to: "lib/notebook/show.ts", lazy: true },
  ];
  assert.equal(violations(planted).length, 2);
  assert.deepEqual(cycles([{ from: "lib/bytes.ts", to: "lib/format.ts", lazy: false }, { from: "lib/format.ts", to: "lib/bytes.ts", lazy: false }]).length, 1);
  assert.ok(FORBIDDEN.codec.includes("store") && FORBIDDEN.keys.includes("catalog") && FORBIDDEN.memory.includes("cli"));
});

test("lib/mod.ts only re-exports", () => {
  const fromMod = graph.filter((i) => i.from === "lib/mod.ts");
  assert.ok(fromMod.length > 0);
  const text = readFileSync(join(root, "lib/mod.ts"), "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  for (const statement of text.split(";").map((s) => s.trim()).filter(Boolean)) {
    assert.match(statement, /^export (type )?\{[\s\S]*\} from "\.\/[^"]+"$/, `not a re-export: ${statement}`);
  }
});

test("importing kvStore loads neither node:sqlite nor the catalog, nor memory", () => {
  const loaded = loads("lib/store/kv.ts", graph);
  for (const unwanted of ["node:sqlite", "lib/catalog/sqlite.ts", "lib/memory/memory.ts"]) assert.ok(!loaded.has(unwanted), unwanted);
  assert.ok(loaded.has("lib/store/store.ts"));
});

test("node:sqlite is imported by the catalog's wrapper alone", () => {
  assert.deepEqual(graph.filter((i) => i.to === "node:sqlite").map((i) => i.from), ["lib/catalog/sqlite.ts"]);
});

test("docs/ARCHITECTURE.md lists the modules as the tree has them (node scripts/architecture.ts --write)", () => {
  assert.equal(documentedModuleList(), moduleList());
});


test("every test file takes `test` from test/harness.ts (a per-test timeout in both runners), never node:test's own", () => {
  const files = readdirSync(join(root, "test")).filter((f) => f.endsWith(".ts") && f !== "harness.ts");
  const offenders = files.filter((f) => /import\s*\{[^}]*\btest\b[^}]*\}\s*from\s*"node:test"/.test(readFileSync(join(root, "test", f), "utf8")));
  assert.deepEqual(offenders, []);
  assert.ok(files.length > 20);
});
