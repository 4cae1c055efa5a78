import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { Memory, type NbmemoError } from "../lib/mod.ts";
import { openTemp, tempDir } from "./helpers.ts";

test("explain says a name never stored is unknown", async (t) => {
  const memory = await openTemp(t);
  const why = await memory.explain("never", 1);
  assert.equal(why.kind, "unknown-name");
  assert.match(why.text, /never would miss: nothing is stored under this name yet/);
});

test("explain says a stored call would hit", async (t) => {
  const memory = await openTemp(t);
  const f = memory.fn("f", (x: number) => x + 1);
  await f(1);
  const why = await memory.explain("f", 1);
  assert.equal(why.kind, "hit");
  assert.match(why.text, /f would hit/);
});

test("explain shows a new version with the diff against the previous one", async (t) => {
  const memory = await openTemp(t);
  await memory.fn("g", (x: number) => x + 1)(1);
  memory.fn("g", (x: number) => x + 2);
  const why = await memory.explain("g", 1);
  assert.equal(why.kind, "new-version");
  if (why.kind !== "new-version") return;
  assert.equal(why.previous.entries, 1);
  assert.match(why.diff, /^-x => x \+ 1\n\+x => x \+ 2$/m);
  assert.match(why.text, /g would miss: its version changed\. g has a new version/);
});

test("explain names the argument path that differs from the closest cached call", async (t) => {
  const memory = await openTemp(t);
  const load = memory.fn("load", (state: string, opts: { year: number; cols: string[] }) => `${state} ${opts.year} ${opts.cols}`);
  await load("CA", { year: 2020, cols: ["a", "b"] });
  await load("NY", { year: 2024, cols: ["z"] });
  const why = await memory.explain("load", "CA", { year: 2024, cols: ["a", "b"] });
  assert.equal(why.kind, "new-arguments");
  if (why.kind !== "new-arguments") return;
  assert.deepEqual(why.closest, {
    argsPreview: `"CA", {year: 2020, cols: ["a", "b"]}`,
    differences: [{ path: "args[1].year", cached: "2020", given: "2024" }],
  });
  assert.match(why.text, /args\[1\]\.year: cached 2020, given 2024/);
});

test("explain of a cell compares its deps", async (t) => {
  const memory = await openTemp(t);
  await memory.cell("prepare", ["https://example.org/a.csv", 2024], () => 1);
  const why = await memory.explain("prepare", "https://example.org/a.csv", 2025);
  assert.equal(why.kind, "new-arguments");
  assert.match(why.text, /deps\[1\]: cached 2024, given 2025/);
});

test("explain refuses a known name not defined in this process", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const first = await Memory.open(dir.path, { log: "silent" });
  await first.fn("h", () => 1)();
  await first.close();
  const second = await Memory.open(dir.path, { log: "silent" });
  t.after(() => second.close());
  await assert.rejects(second.explain("h"), (e: NbmemoError) =>
    e.code === "INVALID_NAME" && /Cannot explain "h": the cache knows it, but no function of that name was defined/.test(e.message));
});
