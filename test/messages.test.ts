// Error messages users meet first: each names what is wrong, where, and the way out, and shows values as written.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { Memory, type NbmemoError } from "../lib/mod.ts";
import { openTemp, tempDir } from "./helpers.ts";

const failsWith = (code: string, message: RegExp) => (error: NbmemoError) => {
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  return true;
};

test("a Proxy of a Map as an argument is refused, naming its path and what to pass instead", async (t) => {
  const memory = await openTemp(t);
  const f = memory.fn("sizes", (m: { counts: Map<string, number> }) => m.counts.size);
  await assert.rejects(f({ counts: new Proxy(new Map([["a", 1]]), {}) }),
    failsWith("UNHASHABLE_ARGUMENT", /^Cannot hash the argument at args\[0\]\.counts: it is a Proxy.*Pass the object it wraps \(its target/));
});

test("a detached ArrayBuffer, or a view of one, is refused as an argument with the reason, not a TypeError", async (t) => {
  const memory = await openTemp(t);
  const f = memory.fn("bytes", (b: ArrayBuffer | Uint8Array) => b.byteLength);
  const buffer = new ArrayBuffer(8);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  for (const [argument, path] of [[buffer, "args[0]"], [view, "args[0]"]] as const) {
    await assert.rejects(f(argument), failsWith("UNHASHABLE_ARGUMENT",
      new RegExp(`^Cannot hash the argument at ${path.replace(/[[\]]/g, "\\$&")}: it is a detached ArrayBuffer .*transferred.*copy them \\(buffer\\.slice\\(0\\)\\)`)));
  }
});

test("a Blob or a File as an argument is refused with the way to pass its bytes", async (t) => {
  const memory = await openTemp(t);
  const f = memory.fn("upload", (x: { body: Blob }) => x.body.size);
  await assert.rejects(f({ body: new Blob(["data"]) }),
    failsWith("UNHASHABLE_ARGUMENT", /^Cannot hash the argument at args\[0\]\.body: a Blob .*new Uint8Array\(await blob\.arrayBuffer\(\)\)/));
  await assert.rejects(f({ body: new File(["data"], "a.txt") }),
    failsWith("UNHASHABLE_ARGUMENT", /args\[0\]\.body: a File .*await file\.arrayBuffer\(\)/));
});

test("bad option values are shown as they were written: NaN as NaN, a string in quotes", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ maxBytes: NaN }, /Cannot use maxBytes=NaN: /],
    [{ lockTimeout: "10" }, /Cannot use lockTimeout="10": it must be a number of milliseconds/],
    [{ inlineBytes: "10" }, /Cannot use inlineBytes="10": /],
    [{ maxEntries: NaN }, /Cannot use maxEntries=NaN: /],
    [{ maxAge: Infinity }, /Cannot use maxAge=Infinity: /],
  ];
  for (const [options, message] of cases) await assert.rejects(Memory.open(dir.path, options), failsWith("INVALID_OPTION", message));
});

test("a cache path with a NUL character is an INVALID_OPTION, not a cache in memory", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "a\0b");
  await assert.rejects(Memory.open(path, { log: "silent" }),
    failsWith("INVALID_OPTION", /^Cannot open a cache at ".*a\\u0000b": the path holds a NUL character/));
  assert.equal(existsSync(join(dir.path, "a")), false);
});

test("names with leading or trailing whitespace, or not in Unicode NFC form, are refused with the spelling to use", async (t) => {
  const memory = await openTemp(t);
  assert.throws(() => memory.fn("load ", () => 1),
    failsWith("INVALID_NAME", /^Cannot use "load " as the name in memory\.fn: it has leading or trailing whitespace.*Use "load"\.$/));
  const decomposed = "cafe\u0301";
  await assert.rejects(memory.cell(decomposed, [], () => 1),
    failsWith("INVALID_NAME", /not in Unicode normal form NFC.*name\.normalize\("NFC"\): "caf\u00e9"\.$/));
  assert.equal(memory.fn("caf\u00e9", () => 1).memoName, "caf\u00e9");
  assert.equal(await memory.delete("load "), 0); // caches written by an older nbmemo can still be cleaned
});
