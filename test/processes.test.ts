// Many OS processes, Node and Deno mixed, on one cache at once: every call computed once, nothing lost.
import assert from "node:assert/strict";
import { test } from "node:test";
import { lastJson, runFixture, tempDir } from "./helpers.ts";

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
