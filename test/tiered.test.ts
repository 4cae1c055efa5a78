// The tiered store: a local file store in front of a shared one (Deno KV here; S3 and Redis in their
// suites): the contracts, and that a team hit fetches once, then reads the local copy.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { kvStore, Memory, type Store, tieredStore } from "../lib/mod.ts";
import { tempDir } from "./helpers.ts";
import { storeContract } from "./store-contract.ts";
import { signingContract } from "./signing-contract.ts";

storeContract("tiered store (files over Deno KV)", async (dir) => tieredStore(await kvStore(join(dir, "kv.sqlite")), join(dir, "copies")));

signingContract("tiered store (files over Deno KV)", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "team.kv");
  let machines = 0;
  return { machine: async () => tieredStore(await kvStore(path), join(dir.path, `copies-${machines++}`)), raw: () => kvStore(path) };
});

// The shared store's reads, counted (the store itself is the real one).
function counted(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const get = store.get.bind(store);
  const open = store.open?.bind(store);
  return {
    store: Object.assign(store, {
      get: (id: string) => (reads++, get(id)),
      ...(open && { open: (id: string) => (reads++, open(id)) }),
    }),
    reads: () => reads,
  };
}

test("a team hit is fetched from the shared store once, then read from the local copy, also after a restart", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const kv = join(dir.path, "team.kv");
  let calls = 0;
  const body = (n: number) => (calls++, new Float64Array(n).map((_, i) => i / 3));
  const a = await Memory.open(join(dir.path, "a"), { log: "silent", store: kv });
  await a.fn("tiered", body, { version: "1" })(100_000);
  await a.close();
  const shared = counted(await kvStore(kv));
  const copies = join(dir.path, "b", "copies");
  const b = await Memory.open(join(dir.path, "b"), { log: "silent", store: tieredStore(shared.store, copies) });
  assert.deepEqual(await b.fn("tiered", body, { version: "1" })(100_000), body(100_000));
  calls--;
  assert.equal(shared.reads(), 1);
  const object = b.entries()[0]!.object!;
  assert.ok(existsSync(join(copies, object.slice(0, 2), object.slice(2))));
  await b.close();
  const again = counted(await kvStore(kv));
  const restarted = await Memory.open(join(dir.path, "b"), { log: "silent", store: tieredStore(again.store, copies) });
  t.after(() => restarted.close());
  assert.deepEqual(await restarted.fn("tiered", body, { version: "1" })(100_000), body(100_000));
  calls--;
  assert.deepEqual([again.reads(), calls], [0, 1]);
});

test("where no local copy can be written, every hit still comes from the shared store", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const kv = join(dir.path, "team.kv");
  writeFileSync(join(dir.path, "a-file"), "not a directory");
  const a = await Memory.open(join(dir.path, "a"), { log: "silent", store: kv });
  t.after(() => a.close());
  await a.fn("no_copies", (x: number) => ({ x, big: "y".repeat(100_000) }), { version: "1" })(1);
  const b = await Memory.open(join(dir.path, "b"), { log: "silent", store: tieredStore(await kvStore(kv), join(dir.path, "a-file", "copies")) });
  t.after(() => b.close());
  let calls = 0;
  const f = b.fn("no_copies", (x: number) => (calls++, { x, big: "y".repeat(100_000) }), { version: "1" });
  assert.deepEqual([(await f(1)).x, (await f(1)).x, calls], [1, 1, 0]);
});

test("a tiered store's write goes to both, and a delete removes both copies", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const shared = await kvStore(join(dir.path, "team.kv"));
  const front = join(dir.path, "copies");
  const store = tieredStore(shared, front);
  t.after(() => store.close?.());
  const id = "ab".repeat(16);
  await store.set(id, [new Uint8Array([1, 2, 3])], { computeMs: 1, runtime: "node 24.0.0", key: "cd".repeat(32) });
  assert.deepEqual([...(await shared.get(id))!], [1, 2, 3]);
  assert.ok(existsSync(join(front, "ab", id.slice(2))));
  assert.equal(await store.find!("cd".repeat(32)), id);
  await store.delete(id);
  assert.deepEqual([await shared.get(id), existsSync(join(front, "ab", id.slice(2)))], [undefined, false]);
});
