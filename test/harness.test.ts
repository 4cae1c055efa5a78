// The test harness itself: a hanging test fails after the default per-test timeout, under both runners; under
// node --test, a file whose process ends before all its tests started fails.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { nodeTypeScript, root, runtimePath } from "./helpers.ts";

const runners = {
  node: (file: string) => [runtimePath("node"), [...nodeTypeScript(), "--test", "--test-force-exit", "--test-reporter=spec", file]] as const,
  deno: (file: string) => [runtimePath("deno"), ["test", "-A", `--config=${join(root, "deno.json")}`, file]] as const,
};

// Runs a fixture suite under `runner`, not inside this runner's own test context (node --test would then
// skip running the file): its exit code and everything it printed.
async function runSuite(runner: (file: string) => readonly [string, readonly string[]], fixture: string) {
  const [executable, argv] = runner(join(root, "test", "fixtures", fixture));
  const env: Record<string, string | undefined> = { ...process.env, NBMEMO_TEST_TIMEOUT_MS: "1000", CI: "", NO_COLOR: "1" };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(executable, argv, { cwd: root, env });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { code, output };
}

for (const [name, runner] of Object.entries(runners)) {
  test(`under ${name}, a test that never settles fails after the default timeout, and the others still run`, async () => {
    const started = performance.now();
    const { code, output } = await runSuite(runner, "hangs.ts");
    const seconds = (performance.now() - started) / 1000;
    assert.notEqual(code, 0, output);
    assert.match(output, /timed out after 1000ms/, output);
    assert.match(output, /passes/);
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });
}

test("under node --test, a file whose process ends before one of its tests started fails, naming it", async () => {
  // (node:test alone reports such a file as passed, with the tests that ran.)
  const { code, output } = await runSuite(runners.node, "cut-short.ts");
  assert.notEqual(code, 0, output);
  assert.match(output, /1 test\(s\) of this file never started: "never reached"/, output);
});
