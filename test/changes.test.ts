import assert from "node:assert/strict";
import { test } from "./harness.ts";
import type { NbmemoError } from "../lib/mod.ts";
import { captureConsole, lastJson, openTemp, runFixture, tempDir } from "./helpers.ts";

test("a new version of a known name warns once, with the previous version's use, results, bytes and a diff", async (t) => {
  const memory = await openTemp(t, "warn");
  const v1 = memory.fn("poly", (x: number) => x * x + 1);
  await v1(1);
  await v1(2);
  const { warnings } = await captureConsole(async () => {
    const v2 = memory.fn("poly", (x: number) => x * x + 2);
    await v2(1);
    await v2(3);
    await memory.fn("poly", (x: number) => x * x + 2)(4); // the same version again: no second warning
  });
  assert.equal(warnings.length, 1);
  const [warning] = warnings;
  assert.match(warning!, /poly has a new version [0-9a-f]{8}; the previous one, [0-9a-f]{8}, was last used .* ago \(\d{4}-\d\d-\d\dT.*\) and holds 2 results \(\d+ B\)/);
  assert.match(warning!, /Results of other versions are kept/);
  assert.match(warning!, /^--- poly [0-9a-f]{8}\n\+\+\+ poly [0-9a-f]{8}\n@@ -1 \+1 @@\n-x => x \* x \+ 1\n\+x => x \* x \+ 2$/m);
});

test("by default the old version's results stay, so reverting the code hits them again", async (t) => {
  const memory = await openTemp(t, "silent");
  let calls = 0;
  const count = () => calls++;
  await memory.fn("revert", (x: number) => (count(), x + 1))(1);
  await memory.fn("revert", (x: number) => (count(), x + 2))(1);
  assert.equal(await memory.fn("revert", (x: number) => (count(), x + 1))(1), 2);
  assert.equal(calls, 2);
});

test("going back to earlier code is told as a return to a known version, with what it holds", async (t) => {
  const memory = await openTemp(t, "warn");
  await memory.fn("back", (x: number) => x + 1)(1);
  await memory.fn("back", (x: number) => x + 2)(1);
  const { warnings } = await captureConsole(() => memory.fn("back", (x: number) => x + 1)(1));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /back is back at an earlier version [0-9a-f]{8}, which holds 1 result \(\d+ B\); the version used last, [0-9a-f]{8}, was last used/);
  assert.match(warnings[0]!, /^-x => x \+ 2\n\+x => x \+ 1$/m);
});

test("onChange \"clear\" deletes the results of the name's other versions", async (t) => {
  const memory = await openTemp(t, "warn");
  let calls = 0;
  const count = () => calls++;
  await memory.fn("cleared", (x: number) => (count(), x + 1))(1);
  await memory.fn("cleared", (x: number) => (count(), x + 1))(2);
  const { warnings } = await captureConsole(() => memory.fn("cleared", (x: number) => (count(), x + 2), { onChange: "clear" })(1));
  assert.match(warnings[0]!, /onChange: "clear" deleted the results of its other versions \(2\)/);
  assert.deepEqual(memory.functions().filter((f) => f.name === "cleared").map((f) => f.entries), [1, 0]);
  await memory.fn("cleared", (x: number) => (count(), x + 1), { onChange: "ignore" })(1);
  assert.equal(calls, 4); // the reverted version's result was deleted: computed again
});

test("onChange \"ignore\" keeps the old results and says nothing", async (t) => {
  const memory = await openTemp(t, "warn");
  await memory.fn("quiet", () => 1)();
  const { warnings } = await captureConsole(() => memory.fn("quiet", () => 2, { onChange: "ignore" })());
  assert.deepEqual(warnings, []);
  assert.equal(memory.functions().filter((f) => f.name === "quiet").reduce((n, f) => n + f.entries, 0), 2);
});

test("a pinned version that changes warns with both pins", async (t) => {
  const memory = await openTemp(t, "warn");
  await memory.fn("pinned", () => 1, { version: "1" })();
  const { warnings } = await captureConsole(() => memory.fn("pinned", () => 1, { version: "2" })());
  assert.match(warnings[0]!, /pinned has a new version "2"; the previous one, "1"/);
  assert.match(warnings[0]!, /^-\/\/ pinned version "1"$/m);
});

test("deps fold values and helper sources into the version", async (t) => {
  const memory = await openTemp(t, "silent");
  let calls = 0;
  const run = (deps: Record<string, unknown>) =>
    memory.fn("with_deps", (x: number) => (calls++, x), { deps })(1);
  const helper = (s: string) => s.trim();
  await run({ helper, LIMIT: 10 });
  await run({ LIMIT: 10, helper: (s: string) => /* same, reformatted */ s.trim() });
  assert.equal(calls, 1);
  await run({ helper, LIMIT: 20 });
  assert.equal(calls, 2);
  await run({ helper: (s: string) => s.trimEnd(), LIMIT: 20 });
  assert.equal(calls, 3);
  const source = memory.functions().find((f) => f.name === "with_deps")!.source!;
  assert.match(source, /^\/\/ dep LIMIT: 20 #[0-9a-f]{8}$/m);
  assert.match(source, /^\/\/ dep helper: function #[0-9a-f]{8}$/m);
});

test("a memoized function as a dep contributes its own version, its deps included", async (t) => {
  const memory = await openTemp(t, "silent");
  const versionOf = async (K: number) => {
    const inner = memory.fn("inner", (x: number) => x * 2, { deps: { K } });
    const outer = memory.fn("outer", (x: number) => inner(x), { deps: { inner } });
    await outer(1);
    // Read from the function itself: two versions used in the same millisecond tie in functions()' order.
    return await outer.version();
  };
  const first = await versionOf(1);
  assert.equal(await versionOf(1), first);
  assert.notEqual(await versionOf(2), first);
});

test("memoized functions passed as arguments or inside deps values are told apart by their versions", async (t) => {
  const memory = await openTemp(t, "silent");
  const double = memory.fn("double", (x: number) => x * 2);
  const triple = memory.fn("triple", (x: number) => x * 3);
  const apply = memory.fn("apply", (f: (x: number) => Promise<number>, x: number) => f(x));
  assert.equal(await apply(double, 5), 10);
  assert.equal(await apply(triple, 5), 15); // same wrapper source as double: must not hit double's result
  const viaDeps = (g: unknown) => memory.fn("via_deps", () => 1, { deps: { table: { g } } });
  await viaDeps(double)();
  await viaDeps(triple)();
  assert.equal(memory.functions().filter((f) => f.name === "via_deps").length, 2);
});

test("a bad deps or onChange option is refused at the edge", async (t) => {
  const memory = await openTemp(t, "silent");
  assert.throws(() => memory.fn("x", () => 1, { onChange: "drop" as never }), (e: NbmemoError) =>
    e.code === "INVALID_OPTION" && /onChange="drop".*"warn", "clear", "ignore"/.test(e.message));
  assert.throws(() => memory.fn("x", () => 1, { deps: [1, 2] as never }), /deps .* must be a function returning an object that names each dependency, such as \(\) => \(\{ helper, LIMIT \}\)/);
  await assert.rejects(memory.fn("x", () => 1, { deps: { s: Symbol("s") } })(), /Cannot hash the argument at deps\.s: Symbol\(s\)/);
});

test("free identifiers are warned about once per version, except those listed in deps or unkeyed", async (t) => {
  const LIMIT = 3;
  const clean = (s: string) => s.trim();
  const { warnings } = await captureConsole(async () => {
    const memory = await openTemp(t, "warn"); // a script's default level; opened here: its logger prints to the captured console
    const top = memory.fn("top", (xs: string[]) => xs.map(clean).slice(0, LIMIT));
    await top([" a "]);
    await top([" b "]);
    await memory.fn("top_deps", (xs: string[]) => xs.map(clean).slice(0, LIMIT), { deps: () => ({ LIMIT }) })([" a "]);
    await memory.fn("top_unkeyed", (xs: string[]) => xs.map(clean).slice(0, LIMIT), { deps: { LIMIT }, unkeyed: ["clean"] })([" a "]);
    await memory.fn("top_all", (xs: string[]) => xs.map(clean).slice(0, LIMIT), { unkeyed: "all" })([" a "]);
  });
  const told = warnings.filter((n) => /reads .* from outside/.test(n));
  assert.deepEqual(told.map((n) => n.match(/nbmemo: (\w+) reads ([\w, ]+) from outside/)!.slice(1)), [["top", "LIMIT, clean"], ["top_deps", "clean"]]);
  assert.match(told[0]!, /List them in deps: \(\) => \(\{ LIMIT, clean \}\), or, if they do not need to be in the key .* in unkeyed: \["LIMIT", "clean"\]/);
});

test("a cell with an empty deps array that reads outside names is warned about", async (t) => {
  const url = "https://example.org/a.csv";
  const { warnings } = await captureConsole(async () => {
    const memory = await openTemp(t, "warn");
    await memory.cell("prepare", [], () => url.length);
  });
  assert.ok(warnings.some((n) => /prepare reads url from outside: a change there is noticed only if it is in the cell's deps array/.test(n)), warnings.join("\n"));
});

test("a cell that passes deps is told about the names it reads at info level, where notebooks show it", async (t) => {
  const url = "https://example.org/a.csv";
  const atWarn = await captureConsole(async () => {
    const memory = await openTemp(t, "warn");
    await memory.cell("prepare", [url], () => url.length);
  });
  assert.ok(!atWarn.warnings.some((n) => /reads url from outside/.test(n)), atWarn.warnings.join("\n"));
  const atInfo = await captureConsole(async () => {
    const memory = await openTemp(t, "info");
    await memory.cell("prepare", [url], () => url.length);
  });
  assert.ok(atInfo.notices.some((n) => /prepare reads url from outside/.test(n)), atInfo.notices.join("\n"));
});

test("a process meeting only known sources tells their free identifiers without loading TypeScript", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const first = await runFixture("node", "free_worker.ts", [dir.path]);
  const second = await runFixture("node", "free_worker.ts", [dir.path]);
  assert.equal(lastJson<{ parserLoaded: boolean }>(first).parserLoaded, true);
  assert.equal(lastJson<{ parserLoaded: boolean }>(second).parserLoaded, false);
  for (const run of [first, second]) assert.match(run.stderr, /nbmemo: scaled reads FACTOR, offset from outside/);
});
