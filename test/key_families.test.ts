// The ways a key used to miss part of what a result depends on (issue 13), one test per family, each
// through a real Memory: a hit must always be the value the function would have returned.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import type { NbmemoError } from "../lib/mod.ts";
import { captureConsole, openTemp } from "./helpers.ts";
import { loadParser, normalizeSource } from "../lib/keys/source.ts";

test("a closure passed as an argument is refused, naming what it reads, unless it says how to key it", async (t) => {
  const memory = await openTemp(t);
  const apply = memory.fn("apply", (f: (x: number) => number, x: number) => f(x));
  const add = (k: number) => (x: number) => x + k;
  await assert.rejects(apply(add(10), 1), (e: NbmemoError) =>
    e.code === "UNHASHABLE_ARGUMENT" && /args\[0\]: the function reads k from outside/.test(e.message) &&
    /memoize the function \(memory\.fn\), or give it a key/.test(e.message));
  const keyed = (k: number) => Object.assign(add(k), { [Symbol.for("nbmemo.key")]: () => ["add", k] });
  assert.equal(await apply(keyed(10), 1), 11);
  assert.equal(await apply(keyed(20), 1), 21);
});

test("memoized functions as arguments are keyed by name and version: two pinned to the same version differ", async (t) => {
  const memory = await openTemp(t);
  const double = memory.fn("double", (x: number) => x * 2, { version: "1" });
  const triple = memory.fn("triple", (x: number) => x * 3, { version: "1" });
  const apply = memory.fn("apply", (f: (x: number) => Promise<number>, x: number) => f(x));
  assert.equal(await apply(double, 5), 10);
  assert.equal(await apply(triple, 5), 15);
  const viaDeps = (g: unknown) => memory.fn("via_deps", () => 1, { deps: { g } });
  await viaDeps(double)();
  await viaDeps(triple)();
  assert.equal(memory.functions().filter((f) => f.name === "via_deps").length, 2);
});

test("deps given as a function are read at every call: a changed value is a new version, not a stale hit", async (t) => {
  const memory = await openTemp(t);
  let LIMIT = 2;
  const top = memory.fn("top", (xs: number[]) => xs.slice(0, LIMIT), { deps: () => ({ LIMIT }) });
  assert.deepEqual(await top([1, 2, 3]), [1, 2]);
  LIMIT = 3; // as when the cell that defines LIMIT is run again, and not the one that defines top
  assert.deepEqual(await top([1, 2, 3]), [1, 2, 3]);
  LIMIT = 2;
  assert.deepEqual(await top([1, 2, 3]), [1, 2]);
  assert.equal(memory.functions().filter((f) => f.name === "top").length, 2);
  const table = { CA: 1 };
  const lookup = memory.fn("lookup", (k: "CA") => table[k], { deps: () => ({ table }) });
  assert.equal(await lookup("CA"), 1);
  table.CA = 2; // changed in place
  assert.equal(await lookup("CA"), 2);
});

test("a deps function that does not return an object is refused when called", async (t) => {
  const memory = await openTemp(t);
  const f = memory.fn("f", () => 1, { deps: (() => [1]) as never });
  await assert.rejects(f(), (e: NbmemoError) => e.code === "INVALID_OPTION" && /the deps function returned an array/.test(e.message));
});

// A promise with its resolver, to hold a computation at a known point.
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test("an argument changed between the call and the computation is keyed by what was computed with", async (t) => {
  const memory = await openTemp(t);
  const seen: string[][] = [];
  const count = memory.fn("count", async (q: { tags: string[] }) => (seen.push([...q.tags]), q.tags.length));
  assert.equal(await count({ tags: [] }), 0); // the version is known from here on: a call hashes its arguments at once
  const q = { tags: ["a"] };
  const first = count(q); // not awaited: it runs after the lookup, when q has changed
  const copy = count({ tags: ["a"] }); // an equal object, the same call: it must get the value for ["a"]
  q.tags.push("b");
  assert.equal(await first, 2);
  assert.equal(await copy, 1);
  assert.equal(await count({ tags: ["a"] }), 1, "no value of ['a', 'b'] stored under the key of ['a']");
  assert.equal(await count({ tags: ["a", "b"] }), 2);
  assert.deepEqual(seen.sort(), [[], ["a"], ["a", "b"]]);
});

test("an argument changed while the function runs gives a result that is returned but not stored", async (t) => {
  const memory = await openTemp(t);
  const started = gate();
  const proceed = gate();
  let runs = 0;
  const count = memory.fn("count_slow", async (q: { tags: string[] }) => {
    runs++;
    if (q.tags.length === 0) return 0;
    started.open();
    await proceed.promise;
    return q.tags.length;
  });
  await count({ tags: [] });
  const q = { tags: ["a"] };
  const call = count(q);
  const joined = count({ tags: ["a"] });
  await started.promise;
  q.tags.push("b");
  proceed.open();
  assert.equal(await call, 2); // what the function saw: returned to its own caller
  assert.equal(await joined, 1); // a call that joined it computes with its own arguments instead
  assert.equal(await count({ tags: ["a"] }), 1);
  assert.equal(runs, 3);
  assert.equal(memory.entries({ fn: "count_slow" }).length, 2);
});

test("a memoized function that calls itself with the same arguments settles with an error naming the cycle", { timeout: 60_000 }, async (t) => {
  const memory = await openTemp(t);
  const loop: (n: number) => Promise<number> = memory.fn("loop", async (n: number): Promise<number> => (n > 0 ? await loop(n) : 0));
  await assert.rejects(loop(1), (e: NbmemoError) => e.code === "CALL_CYCLE" && /Cannot call loop: .*\(loop → loop\)/.test(e.message));
  const ping: (n: number) => Promise<number> = memory.fn("ping", async (n: number): Promise<number> => await pong(n));
  const pong: (n: number) => Promise<number> = memory.fn("pong", async (n: number): Promise<number> => (n > 0 ? await ping(n) : 0));
  await assert.rejects(ping(1), /\(ping → pong → ping\)/);
  const fib: (n: number) => Promise<number> = memory.fn("fib", async (n: number): Promise<number> => (n < 2 ? n : await fib(n - 1) + await fib(n - 2)));
  assert.equal(await fib(20), 6765);
  const slow = gate();
  const twice = memory.fn("twice", async (n: number) => (await slow.promise, n * 2));
  const [a, b] = [twice(2), twice(2)]; // the same call made twice at once: shared, not a cycle
  slow.open();
  assert.deepEqual(await Promise.all([a, b]), [4, 4]);
});

test("host names (URL, performance, File, self, module...) are outer names like any other; only ECMAScript's are assumed", async () => {
  await loadParser();
  const free = (source: string) => normalizeSource(source, "in the test").free;
  assert.deepEqual(free("(p) => new URL(p, base).href + performance.now() + self.x + module.id + new File([], 'a').name"),
    ["File", "URL", "base", "module", "performance", "self"]);
  assert.deepEqual(free("(xs) => JSON.stringify(xs.map(Math.abs).filter(Number.isFinite)) + new Map().size + Symbol.iterator.toString()"), []);
  const inTslab = (source: string) => normalizeSource(source, "in the test", { dialect: "tslab", imports: new Map() }).free;
  assert.deepEqual(inTslab("(x) => exports.URL + x"), ["URL"], "a name from an earlier tslab cell is never taken for a global");
  assert.deepEqual(free("(x) => exports.URL + x"), ["exports"], "outside tslab, exports is a host name like any other");
});

test("in a script (log level warn) an outer name is warned about; deps with the runtime's own global or unkeyed acknowledge it", async (t) => {
  const URL = "https://example.org/"; // a user's own URL, not the web global
  const { warnings } = await captureConsole(async () => {
    const memory = await openTemp(t, "warn");
    assert.equal(await memory.fn("link", (p: string) => URL + p)("a"), "https://example.org/a");
    assert.equal(await memory.fn("stamp", (x: number) => x + (typeof performance === "object" ? 1 : 0))(1), 2);
    await memory.fn("stamp_deps", (x: number) => x + (typeof performance === "object" ? 1 : 0), { deps: () => ({ performance }) })(1);
    await memory.fn("link_deps", (p: string) => URL + p, { deps: () => ({ URL }) })("a");
    await memory.fn("log", (x: number) => (console.debug(x), x), { unkeyed: ["console"] })(1);
  });
  const told = warnings.filter((w) => /reads .* from outside/.test(w)).map((w) => w.match(/nbmemo: (\w+) reads ([\w, ]+) from outside/)!.slice(1));
  assert.deepEqual(told, [["link", "URL"], ["stamp", "performance"]]);
});

test("an argument or a dependency nested thousands of levels deep is keyed, and explain() describes it, without a RangeError", async (t) => {
  const memory = await openTemp(t);
  const list = (n: number) => {
    let node: { value: number; next: unknown } = { value: n, next: null };
    for (let i = 0; i < n; i++) node = { value: i, next: node };
    return node;
  };
  const length = memory.fn("length", (l: { next: unknown }) => {
    let n = 0;
    for (let node: { next: unknown } | null = l; node; node = node.next as { next: unknown } | null) n++;
    return n;
  });
  assert.equal(await length(list(20_000)), 20_001);
  assert.equal((await memory.explain("length", list(20_000))).kind, "hit");
  const why = await memory.explain("length", list(20_001));
  assert.equal(why.kind, "new-arguments");
  const deep = list(20_000);
  const withDeps = memory.fn("with_deep_deps", () => 1, { deps: () => ({ deep }) });
  assert.equal(await withDeps(), 1);
});
