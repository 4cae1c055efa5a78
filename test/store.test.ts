import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { fileStore } from "../lib/store/file.ts";
import { kvStore } from "../lib/store/kv.ts";
import { Xxh64 } from "../lib/xxh64.ts";
import { Memory } from "../lib/mod.ts";
import { isDeno, summedSet, tempDir } from "./helpers.ts";
import { storeContract } from "./store-contract.ts";

storeContract("file store", (dir) => fileStore(join(dir, "objects")));
storeContract("Deno KV store", (dir) => kvStore(join(dir, "kv.sqlite")));

test("file store: open reads a payload at offsets, and is undefined for a missing id", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const store = fileStore(join(dir.path, "objects"));
  const id = "cd".repeat(32);
  assert.equal(await store.open!(id), undefined);
  await store.set(id, [new Uint8Array([0, 1, 2]), new Uint8Array([3, 4, 5, 6])]);
  const reader = (await store.open!(id))!;
  t.after(() => reader.close());
  assert.equal(reader.size, 7);
  const into = new Uint8Array(3);
  await reader.read(2, into);
  assert.deepEqual(into, new Uint8Array([2, 3, 4]));
  await assert.rejects(async () => await reader.read(5, new Uint8Array(3)), /ended at 7 bytes/);
});

test("file store writes leave no temp files and use private modes", { skip: isDeno && "modes checked under Node" }, async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const objects = join(dir.path, "objects");
  const store = fileStore(objects);
  await store.set("aa".repeat(32), [new Uint8Array(10)]);
  const files = readdirSync(objects, { recursive: true }) as string[];
  assert.deepEqual(files.sort(), ["aa", join("aa", "aa".repeat(31))]);
  assert.equal(statSync(join(objects, "aa", "aa".repeat(31))).mode & 0o777, 0o600);
  assert.equal(statSync(join(objects, "aa")).mode & 0o077, 0);
});

test("file store: a payload of 1 MB or more is written on another thread (Node's pool, Deno's own file write), every piece in order, and published only once complete", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const objects = join(dir.path, "objects");
  const store = fileStore(objects);
  const id = "ab".repeat(32);
  const big = new Uint8Array(3 << 20).map((_, i) => (i * 31) % 251);
  const pieces = [new Uint8Array([1, 2, 3]), new Uint8Array(0), big.subarray(7, (2 << 20) + 5), big.subarray((2 << 20) + 5)];
  const writing = store.set(id, pieces);
  assert.ok(writing instanceof Promise, "written in the background");
  assert.equal(await store.get(id), undefined, "not there before the write is complete");
  await writing;
  const expected = new Uint8Array(3 + big.byteLength - 7);
  expected.set([1, 2, 3]);
  expected.set(big.subarray(7), 3);
  assert.ok(Buffer.from(expected).equals((await store.get(id))!), "the payload reads back byte for byte");
  assert.deepEqual(readdirSync(join(objects, "ab")), ["ab".repeat(31)], "no temp file is left");
});

test("file store: a payload of 8 MiB or more, once the process has its summing thread, is written on this thread and returns its checksum, XXH64's of the bytes", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const objects = join(dir.path, "objects");
  const store = fileStore(objects);
  const big = Uint8Array.from({ length: (8 << 20) + 4099 }, (_, i) => (i * 2654435761) >>> 24);
  const chunks = [new Uint8Array([9, 8, 7]), big.subarray(0, 5_000_001), big.subarray(5_000_001)];
  const sum = await summedSet(store, chunks);
  const expected = new Xxh64();
  for (const chunk of chunks) expected.add(chunk);
  assert.equal(sum, expected.value());
  const ids = readdirSync(objects, { recursive: true }).filter((name) => String(name).includes("/"));
  const read = await store.get(String(ids.at(-1)).replace("/", ""));
  assert.ok(Buffer.concat(chunks).equals(read!), "the payload reads back byte for byte");
  assert.ok(ids.every((name) => !String(name).endsWith(".tmp")), "no temp file is left");
});

test("a large output stored with the summing thread's checksum is a hit in a new Memory, equal to the computed one", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const value = Float64Array.from({ length: 1_500_000 }, (_, i) => i / 7 - 3);
  let computed = 0;
  const memory = await Memory.open(dir.path, { log: "silent" });
  const big = memory.fn("big", (n: number) => (computed++, value.map((x) => x * n)));
  // Stored again until the thread is up (the first large store starts it).
  for (let n = 0, started = Date.now(); n < 3 || Date.now() - started < 300; n++) await big(n);
  const stored = memory.entries({ fn: "big" }).filter((entry) => entry.checksum?.startsWith("xxh64:"));
  await memory.close();
  assert.ok(stored.length > 0, "some of them were summed with XXH64");
  const reopened = await Memory.open(dir.path, { log: "silent" });
  t.after(() => reopened.close());
  const again = reopened.fn("big", (n: number) => (computed++, value.map((x) => x * n)));
  const before = computed;
  for (const n of [0, 1, 2]) assert.deepEqual(await again(n), value.map((x) => x * n));
  assert.equal(computed, before, "every one was a hit");
});
