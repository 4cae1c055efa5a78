// Many OS processes, Node and Deno mixed, on one cache at once: every call computed once, nothing lost.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SCHEMA_VERSION } from "../lib/catalog/catalog.ts";
import { Memory } from "../lib/mod.ts";
import { valueFor } from "./fixtures/values.ts";
import { downgradeToSchema1, lastJson, runFixture, tempDir } from "./helpers.ts";

interface HammerResult {
  computed: number[];
  failures: string[];
  wrong: number;
}

const PROCESSES = 6;
const CALLS = 500;
const KEYS = 50;

test("6 processes (Node and Deno) making 500 calls over 50 shared keys compute each key once and read back every value", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  // All start at once on a directory that does not exist yet: they also race to create and migrate it.
  const cache = `${dir.path}/cache`;
  const runs = await Promise.all(Array.from({ length: PROCESSES }, (_, i) =>
    runFixture(i % 2 === 0 ? "node" : "deno", "hammer.ts", [cache, String(i + 1), String(CALLS), String(KEYS)])));
  const results = runs.map((run) => ({ run, result: lastJson<HammerResult>(run) }));
  for (const { run, result } of results) {
    assert.deepEqual(result.failures, []);
    assert.equal(result.wrong, 0);
    assert.equal(run.code, 0);
    assert.doesNotMatch(run.stderr, /nbmemo:/); // no warning either
  }
  const computed = results.flatMap(({ result }) => result.computed).sort((a, b) => a - b);
  assert.deepEqual(computed, Array.from({ length: KEYS }, (_, k) => k));
});

// Each child opens the cache and makes one call to key 0: together they must compute it once.
async function openAtOnce(cache: string) {
  const runs = await Promise.all(Array.from({ length: PROCESSES }, (_, i) =>
    runFixture(i % 2 === 0 ? "deno" : "node", "hammer.ts", [cache, String(i + 1), "1", "1"])));
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /nbmemo:/);
  }
  const results = runs.map((run) => lastJson<HammerResult>(run));
  for (const result of results) {
    assert.deepEqual(result.failures, []);
    assert.equal(result.wrong, 0);
  }
  return results.flatMap((result) => result.computed);
}

test("6 processes opening a fresh directory at once all succeed and compute the one call once (5 rounds)", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  for (let round = 0; round < 5; round++) {
    assert.deepEqual(await openAtOnce(join(dir.path, `fresh-${round}`)), [0], `round ${round}`);
  }
});

test("6 processes opening a schema 1 catalog at once all migrate it without error and keep its entries", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const cache = join(dir.path, "old");
  const memory = await Memory.open(cache, { log: "silent" });
  await memory.fn("shared", (k: number) => valueFor(k), { version: "1" })(0); // stored before the downgrade
  await memory.close();
  downgradeToSchema1(join(cache, "catalog.sqlite"));
  assert.deepEqual(await openAtOnce(cache), []); // every process read key 0 back
  const db = new DatabaseSync(join(cache, "catalog.sqlite"));
  t.after(() => db.close());
  assert.equal(db.prepare("PRAGMA user_version").get()!.user_version, SCHEMA_VERSION);
});
