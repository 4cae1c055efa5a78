import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { fileStore } from "../lib/store/file.ts";
import { kvStore } from "../lib/store/kv.ts";
import { isDeno, tempDir } from "./helpers.ts";
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
