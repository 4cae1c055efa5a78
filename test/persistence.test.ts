import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { lastJson, runFixture, tempDir } from "./helpers.ts";

interface WorkerResult {
  computed: number;
  parserLoaded: boolean;
  cryptoLoaded: boolean | null;
  n: number;
  label: string;
  squaresType: string;
  squares: number[];
  at: string | null;
}

const expectedSquares = (n: number) => Array.from({ length: n }, (_, i) => i * i + 0.5);

test("a result computed in one OS process is hit in a second one, without loading TypeScript or node:crypto", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const first = lastJson<WorkerResult>(await runFixture("node", "worker.ts", [dir.path, "5"]));
  assert.equal(first.computed, 1);
  assert.equal(first.parserLoaded, true); // a new source: normalized with TypeScript
  const second = lastJson<WorkerResult>(await runFixture("node", "worker.ts", [dir.path, "5"]));
  assert.equal(second.computed, 0);
  assert.equal(second.parserLoaded, false); // known raw source: its hash comes from the catalog
  assert.equal(second.cryptoLoaded, false); // ~5 ms of a cold start: a few short texts are hashed in JavaScript
  assert.deepEqual(second.squares, expectedSquares(5));
  assert.equal(second.squaresType, "Float64Array");
  assert.equal(second.at, "1970-01-01T00:00:00.000Z");
});

test("a result computed under Node is hit under Deno, and one computed under Deno is hit under Node", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const nodeFirst = lastJson<WorkerResult>(await runFixture("node", "worker.ts", [dir.path, "7"]));
  assert.equal(nodeFirst.computed, 1);
  const denoHit = lastJson<WorkerResult>(await runFixture("deno", "worker.ts", [dir.path, "7"]));
  assert.equal(denoHit.computed, 0);
  assert.deepEqual(denoHit.squares, expectedSquares(7));
  assert.equal(denoHit.label, "fixture");

  const denoFirst = lastJson<WorkerResult>(await runFixture("deno", "worker.ts", [dir.path, "9"]));
  assert.equal(denoFirst.computed, 1);
  const nodeHit = lastJson<WorkerResult>(await runFixture("node", "worker.ts", [dir.path, "9"]));
  assert.equal(nodeHit.computed, 0);
  assert.deepEqual(nodeHit.squares, expectedSquares(9));
  assert.equal(nodeHit.squaresType, "Float64Array");
});
