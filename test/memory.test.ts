import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { Memory, NbmemoError } from "../lib/mod.ts";
import { join } from "node:path";
import { Catalog } from "../lib/catalog/catalog.ts";
import { captureConsole, openTemp, openTempMemory, tempDir, testStore, withTestStore } from "./helpers.ts";

test("a memoized function computes once and reads the result back after", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const add = memory.fn("add", async (a: number, b: number) => {
    calls++;
    return a + b;
  });
  assert.equal(await add(1, 2), 3);
  assert.equal(await add(1, 2), 3);
  assert.equal(calls, 1);
  assert.equal(await add(2, 1), 3);
  assert.equal(calls, 2);
});

test("sync functions work and the memoized function returns a Promise", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const double = memory.fn("double", (x: number) => (calls++, x * 2));
  const pending = double(21);
  assert.ok(pending instanceof Promise);
  assert.equal(await pending, 42);
  assert.equal(await double(21), 42);
  assert.equal(calls, 1);
});

test("a throwing or rejecting call is not cached", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const flaky = memory.fn("flaky", (x: number) => {
    calls++;
    if (calls === 1) throw new Error("first call fails");
    return x;
  });
  await assert.rejects(flaky(1), /first call fails/);
  assert.equal(await flaky(1), 1);
  assert.equal(calls, 2);

  let asyncCalls = 0;
  const rejecting = memory.fn("rejecting", async () => {
    asyncCalls++;
    if (asyncCalls === 1) throw new Error("boom");
    return "ok";
  });
  await assert.rejects(rejecting(), /boom/);
  assert.equal(await rejecting(), "ok");
  assert.equal(asyncCalls, 2);
});

test("concurrent identical calls in one process compute once", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const slow = memory.fn("slow", async (x: number) => {
    calls++;
    await new Promise((r) => setTimeout(r, 50));
    return { x };
  });
  const results = await Promise.all([slow(1), slow(1), slow(1), slow(2)]);
  assert.deepEqual(results.map((r) => r.x), [1, 1, 1, 2]);
  assert.equal(calls, 2);
});

test("values read back equal in type and content", async (t) => {
  const memory = await openTemp(t);
  const value = {
    date: new Date("2024-02-29T12:00:00Z"),
    map: new Map<unknown, unknown>([["a", 1], [2, new Set([1, "1", 1n])]]),
    big: 12345678901234567890n,
    missing: undefined,
    nan: NaN,
    negativeZero: -0,
    infinity: -Infinity,
    nested: { deep: [{ deeper: [1, [2, [3]]] }] },
    regex: /a+b/gi,
    floats: new Float64Array([1.5, NaN, -0, Infinity, Number.MIN_VALUE]),
    float32: new Float32Array([0.1, -0]),
    ints: new Int16Array([-1, 2, -32768]),
    bigints: new BigUint64Array([2n ** 64n - 1n]),
    bytes: new Uint8Array([0, 255]),
    buffer: new Uint8Array([9, 8, 7]).buffer,
    url: new URL("https://example.org/a?b=c"),
  };
  const identity = memory.fn("identity_values", () => value);
  assert.equal(await identity(), value); // the first call returns the computed value itself
  const back = await identity();
  assert.notEqual(back, value);
  assert.deepEqual(back, value);
  assert.ok(Object.is(back.negativeZero, -0));
  assert.ok(Object.is(back.floats[2], -0));
  assert.ok(Number.isNaN(back.floats[1]!));
  assert.equal(back.floats.constructor, Float64Array);
  assert.ok(back.buffer instanceof ArrayBuffer);
  assert.ok("missing" in back);
});

test("large outputs go to a file and read back exactly", async (t) => {
  const memory = await openTemp(t);
  const big = memory.fn("big", (n: number) => ({ label: "ramp", data: Float64Array.from({ length: n }, (_, i) => i / 3) }));
  const first = await big(100_000);
  const second = await big(100_000);
  assert.deepEqual(second, first);
  assert.equal(second.data.length, 100_000);
});

test("memory.cell caches a block by name, source and deps", async (t) => {
  const memory = await openTemp(t);
  let runs = 0;
  const url = "https://example.org/data.csv";
  const block = () =>
    memory.cell("prepare", [url, 2024], async () => {
      runs++;
      return { rows: [url.length, 2024] };
    });
  assert.deepEqual(await block(), { rows: [url.length, 2024] });
  assert.deepEqual(await block(), { rows: [url.length, 2024] });
  assert.equal(runs, 1);
  await memory.cell("prepare", [url, 2025], () => runs++);
  assert.equal(runs, 2);
});

test("a reformatted function with a comment keeps its results; a changed body does not", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const count = () => calls++;
  // deno-fmt-ignore
  const v1 = memory.fn("poly", (x: number) => { count(); return x * x + 1; });
  const v1b = memory.fn("poly", (x: number) => {
    // the same computation, reformatted and commented
    count();
    return x * x + 1;
  });
  const v2 = memory.fn("poly", (x: number) => {
    count();
    return x * x + 2;
  });
  assert.equal(await v1(3), 10);
  assert.equal(await v1b(3), 10);
  assert.equal(calls, 1);
  assert.equal(await v2(3), 11);
  assert.equal(calls, 2);
});

test("a pinned version ignores source changes", async (t) => {
  const memory = await openTemp(t);
  const a = memory.fn("pinned", () => "first", { version: "1" });
  const b = memory.fn("pinned", () => "second", { version: "1" });
  const c = memory.fn("pinned", () => "third", { version: "2" });
  assert.equal(await a(), "first");
  assert.equal(await b(), "first");
  assert.equal(await c(), "third");
});

test("fn.version() tells the version its results are keyed by, without calling it", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const double = memory.fn("double", (x: number) => (calls++, x * 2));
  const version = await double.version();
  assert.match(version, /^[0-9a-f]{64}$/);
  assert.equal(calls, 0);
  await double(2);
  assert.deepEqual(memory.functions().map((f) => [f.name, f.version]), [["double", version]]);
  assert.equal(await memory.fn("pinned", () => 1, { version: "3" }).version(), "pinned:3");
});

test("a function passed as an argument is keyed by its normalized source", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const apply = memory.fn("apply", (f: (x: number) => number, x: number) => (calls++, f(x)));
  assert.equal(await apply((x) => x + 1, 1), 2);
  // deno-fmt-ignore
  assert.equal(await apply((x) => /* same */ x+1, 1), 2);
  assert.equal(calls, 1);
  assert.equal(await apply((x) => x + 2, 1), 3);
  assert.equal(calls, 2);
});

test("an unhashable argument is a clear error naming its path", async (t) => {
  const memory = await openTemp(t);
  const f = memory.fn("takes_anything", (x: unknown) => String(x));
  await assert.rejects(f({ a: [1, Symbol("s")] }), (e: NbmemoError) => {
    assert.equal(e.code, "UNHASHABLE_ARGUMENT");
    assert.match(e.message, /args\[0\]\.a\[1\]/);
    return true;
  });
  await assert.rejects(f({ p: Promise.resolve(1) }), /args\[0\]\.p: a Promise is a live handle.*Await it/);
  class Handle {}
  await assert.rejects(f(new Handle()), /args\[0\]: an instance of the class Handle, whose private fields and getters nbmemo cannot see/);
});

test("an output the codec cannot bring back as it was is returned, warned about once, and not stored", async (t) => {
  const memory = await Memory.open(tempDir().path, withTestStore({ log: "warn" }));
  t.after(() => memory.close());
  let calls = 0;
  class Model {
    weights = [1, 2];
    predict() {
      return 0;
    }
  }
  const fit = memory.fn("fit", () => (calls++, new Model()));
  const { result, warnings } = await captureConsole(async () => [await fit(), await fit()]);
  assert.ok(result[0] instanceof Model);
  assert.ok(result[1] instanceof Model);
  assert.equal(calls, 2);
  const stores = warnings.filter((w) => /Cannot store/.test(w));
  assert.equal(stores.length, 1);
  assert.match(stores[0]!, /Cannot store the result of fit: output is an instance of class Model, which would read back as a plain object/);
});

test("empty and path-like names are refused with a clear error", async (t) => {
  const memory = await openTemp(t);
  for (const name of ["", "   ", "../x", "a/b", "a\\b", ".hidden", "nul\0byte", "x".repeat(201)]) {
    assert.throws(() => memory.fn(name, () => 1), (e: NbmemoError) => e.code === "INVALID_NAME" && /Cannot use .* as the name/.test(e.message), name);
  }
  await assert.rejects(memory.cell("../up", [], () => 1), /INVALID_NAME|as the name/);
  assert.equal(await memory.fn("load_counties v2.1", () => 1)(), 1);
});

test("unknown and invalid options are refused at the edge", async () => {
  const dir = tempDir();
  try {
    await assert.rejects(Memory.open(dir.path, { maxByte: 1 } as never), /option "maxByte".*Known options/);
    await assert.rejects(Memory.open(dir.path, { log: "loud" } as never), /not a log level/);
    await assert.rejects(Memory.open(""), /non-empty path/);
    const memory = await Memory.open(dir.path, withTestStore({ log: "silent" }));
    assert.throws(() => memory.fn("x", () => 1, { version: "" }), /pinned version/);
    assert.throws(() => memory.fn("x", 42 as never), /must be a function/);
    await memory.close();
  } finally {
    dir.remove();
  }
});

test("a directory holding other files is not taken for a cache", async () => {
  const dir = tempDir();
  try {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${dir.path}/notes.txt`, "mine");
    await assert.rejects(Memory.open(dir.path), (e: NbmemoError) => e.code === "NOT_A_CACHE");
    await assert.rejects(Memory.open(`${dir.path}/notes.txt`), /is a file, not a directory/);
  } finally {
    dir.remove();
  }
});

test("clear() deletes every stored result of a name", async (t) => {
  const memory = await openTemp(t);
  let calls = 0;
  const f = memory.fn("clearable", (x: number) => (calls++, new Float64Array(x)), {});
  await f(10);
  await f(5000); // stored in a file
  assert.equal(await f.clear(), 2);
  await f(10);
  if (testStore === "kv") {
    // A shared store keeps the team's outputs (read back here) unless asked to delete them for everyone.
    assert.equal(calls, 2);
    assert.equal(await f.clear({ shared: true }), 1);
    await f(10);
  }
  assert.equal(calls, 3);
});

test("a closed Memory refuses calls with a clear error", async () => {
  const dir = tempDir();
  const memory = await Memory.open(dir.path, withTestStore({ log: "silent" }));
  const f = memory.fn("after_close", () => 1);
  await memory.close();
  await assert.rejects(f(), (e: NbmemoError) => e.code === "CLOSED");
  dir.remove();
});

test("a corrupt or missing output is a miss with a warning, then recomputed", { skip: testStore === "kv" && "damages files of the file store" }, async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const { readdirSync, writeFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const memory = await Memory.open(dir.path, { log: "warn", inlineBytes: 0 });
  let calls = 0;
  const f = memory.fn("fragile", (x: number) => (calls++, { x }));
  await f(1);
  await f(2);
  const objects = join(dir.path, "objects");
  const files = readdirSync(objects, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  assert.equal(files.length, 2);
  writeFileSync(join(files[0]!.parentPath, files[0]!.name), "garbage");
  rmSync(join(files[1]!.parentPath, files[1]!.name));
  const { result, warnings } = await captureConsole(async () => [await f(1), await f(2)]);
  assert.deepEqual(result, [{ x: 1 }, { x: 2 }]);
  assert.equal(calls, 4);
  assert.equal(warnings.length, 2);
  assert.ok(warnings.every((w) => /Cannot read the stored result of fragile.*Recomputing it/.test(w)));
  assert.deepEqual(await f(1), { x: 1 });
  assert.equal(calls, 4);
  await memory.close();
});

test("functions(), entries() and stats() describe what the cache holds", async (t) => {
  const memory = await openTemp(t);
  const square = memory.fn("square", (x: number) => x * x);
  const cube = memory.fn("cube", (x: number) => x * x * x);
  await square(2);
  await square(2);
  await square(3);
  await cube(2);
  const fns = memory.functions();
  assert.deepEqual(fns.map((f) => [f.name, f.entries, f.hits]).sort(), [["cube", 1, 0], ["square", 2, 1]]);
  assert.ok(fns.every((f) => f.bytes > 0 && /x \* x/.test(f.source!)));
  const entries = memory.entries({ fn: "square" });
  assert.deepEqual(entries.map((e) => e.argsPreview).sort(), ["2", "3"]);
  assert.ok(!("inline" in entries[0]!));
  const stats = memory.stats();
  assert.equal(stats.functions, 2);
  assert.equal(stats.entries, 3);
  assert.equal(stats.hits, 1);
  assert.deepEqual(stats.session, { hits: 1, misses: 3, evicted: 0 });
});

test("the argument preview shortens each argument, so that every one stays visible", async (t) => {
  const memory = await openTemp(t);
  const load = memory.fn("load", (files: string[], opts: { year: number }, limit: number) => files.length + opts.year + limit);
  await load(Array.from({ length: 8 }, (_, i) => `data/stations-${i}-with-a-long-name.csv`), { year: 2024 }, 5);
  await load(["a.csv"], { year: 1990 }, 7);
  const [short, long] = memory.entries({ fn: "load", sort: "created" }).map((e) => e.argsPreview);
  assert.equal(short, `["a.csv"], {year: 1990}, 7`); // what fits is kept whole
  assert.match(long!, /^\["data\/stations-0-with-a-long-name\.csv", .*…, \{year: 2024\}, 5$/);
  assert.ok(long!.length <= 80, long);
});

test("a batch of misses completing together shares commits: N entries, far fewer than N commits", async (t) => {
  const { memory, dir } = await openTempMemory(t);
  // The same file in this process shares the Memory's connection, and so its count of commits.
  const catalog = Catalog.open(join(dir, "catalog.sqlite"));
  t.after(() => catalog.close());
  const square = memory.fn("square", (x: number) => x * x, { version: "1" });
  await square(-1); // the version's first use, recorded once
  const before = catalog.commits;
  const n = 50;
  const values = await Promise.all(Array.from({ length: n }, (_, i) => square(i)));
  assert.deepEqual(values, Array.from({ length: n }, (_, i) => i * i));
  const commits = catalog.commits - before;
  assert.equal(memory.stats().entries, n + 1);
  assert.equal(memory.stats().session.misses, n + 1);
  // Each miss takes a lease, stores its entry with its argument shape and ends the lease: 4 commits each
  // before; now the leases of the batch share commits, and so do the entries (which end the leases).
  assert.ok(commits <= 6, `${commits} commits for ${n} misses`);
  assert.equal(catalog.staleLeases(Number.MAX_SAFE_INTEGER, false), 0); // every lease ended
  assert.equal(catalog.argsShapes("square", "pinned:1").length, n + 1);
  // One miss after another: a lease, then the entry with the lease's end.
  const sequential = catalog.commits;
  for (let i = n; i < n + 10; i++) await square(i);
  assert.equal(catalog.commits - sequential, 20);
});
