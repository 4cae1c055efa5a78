// The `test` every suite uses: node:test's (run by `node --test` and by `deno test` alike), with a default
// per-test timeout, so that a hang (a lock never released, a child that never answers) fails in a minute
// instead of stalling the run; and `cannotRun`, for a test whose machine lacks what it needs.
import process from "node:process";
import { test as nodeTest, type TestContext, type TestOptions } from "node:test";

/** A test slower than this fails; a test that needs longer says so with its own `timeout`. */
export const TEST_TIMEOUT_MS = Number(process.env.NBMEMO_TEST_TIMEOUT_MS ?? 60_000);

type TestFn = (t: TestContext) => void | Promise<unknown>;

/**
 * node:test's `test(name, [options,] fn)`, with `timeout` defaulting to {@link TEST_TIMEOUT_MS}. The
 * timeout is also kept by a timer of our own: Deno 2.4's node:test ignores the option, and a hang there
 * would stall the run.
 */
export function test(name: string, optionsOrFn: TestOptions | TestFn, fn?: TestFn): Promise<void> {
  const [options, body] = typeof optionsOrFn === "function" ? [{}, optionsOrFn] : [optionsOrFn, fn];
  if (!body) throw new TypeError(`test "${name}" has no body`);
  const timeout = options.timeout ?? TEST_TIMEOUT_MS;
  if (!options.skip && !options.todo) unstarted.add(name);
  return nodeTest(name, { ...options, timeout }, (t) => {
    unstarted.delete(name);
    return withTimeout(body(t), timeout);
  });
}

// Under `node --test` each file runs in a process of its own, which once ended with the last 7 tests of a
// file never run and nothing reported (a green run): a file's process that ends with a test it registered
// never started fails, naming them. (Not where a name pattern or only-tests leave some out on purpose, nor
// under Deno, whose runner holds every file in one process.)
const unstarted = new Set<string>();
const filtered = process.execArgv.some((arg) => /^--test-(name-pattern|skip-pattern|only)/.test(arg));
if (!("Deno" in globalThis) && !filtered) {
  process.on("exit", () => {
    if (unstarted.size === 0) return;
    console.error(`${unstarted.size} test(s) of this file never started: ${[...unstarted].map((n) => JSON.stringify(n)).join(", ")}`);
    process.exitCode = 1;
  });
}

/** `result`, or a rejection once `ms` have passed without it settling. */
function withTimeout(result: void | Promise<unknown>, ms: number): void | Promise<void> {
  if (!(result instanceof Promise) || !Number.isFinite(ms)) return result as void | Promise<void>;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test timed out after ${ms}ms`)), ms);
  });
  return Promise.race([result, expired]).then(() => undefined).finally(() => clearTimeout(timer));
}

/**
 * Skips the test because this machine lacks what it needs (`reason` says what); in CI (`CI=true`) a test
 * that cannot run is a failure instead, so that a broken set-up never passes as a green run.
 */
export function cannotRun(t: TestContext, reason: string): void {
  if (process.env.CI === "true") throw new Error(`cannot run here, and CI=true makes that a failure: ${reason}`);
  t.skip(reason);
}
