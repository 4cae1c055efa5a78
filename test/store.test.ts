import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileStore } from "../lib/store/file.ts";
import { kvStore } from "../lib/store/kv.ts";
import type { Store } from "../lib/store/store.ts";
import { isDeno, tempDir } from "./helpers.ts";

// The contract every store implements; run here against the file store and the Deno KV store.
function storeContract(name: string, make: (dir: string) => Store | Promise<Store>) {
  const open = async (t: { after: (fn: () => unknown) => void }) => {
    const dir = tempDir();
    const store = await make(dir.path);
    t.after(async () => {
      await store.close?.();
      dir.remove();
    });
    return store;
  };

  test(`${name}: set then get returns the concatenated chunks`, async (t) => {
    const store = await open(t);
    const id = "0123456789abcdef0123456789abcdef";
    assert.equal(await store.get(id), undefined);
    await store.set(id, [new Uint8Array([1, 2]), new Uint8Array([3])]);
    assert.deepEqual(new Uint8Array(await store.get(id) as Uint8Array), new Uint8Array([1, 2, 3]));
    await store.set(id, [new Uint8Array([9])]);
    assert.deepEqual(new Uint8Array(await store.get(id) as Uint8Array), new Uint8Array([9]));
    await store.delete(id);
    await store.delete(id); // deleting twice is fine
    assert.equal(await store.get(id), undefined);
  });

  test(`${name}: ids that are not hex digests are refused`, async (t) => {
    const store = await open(t);
    for (const id of ["../../etc/passwd", "/abs/path", "ab\0cd", "", "g".repeat(32)]) {
      await assert.rejects(async () => await store.get(id), /not a hex digest/);
      await assert.rejects(async () => await store.set(id, []), /not a hex digest/);
      await assert.rejects(async () => await store.delete(id), /not a hex digest/);
    }
  });
}

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
