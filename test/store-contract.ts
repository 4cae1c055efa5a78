// The contract every output store implements, as tests that any store's suite registers (the file store
// and Deno KV in test/store.test.ts; every new back end runs it too).
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { TestContext } from "node:test";
import { cannotRun, test } from "./harness.ts";
import { ServerUnavailable } from "./servers.ts";
import { Memory } from "../lib/mod.ts";
import type { Store } from "../lib/store/store.ts";
import { tempDir } from "./helpers.ts";

/** A store under test, with a way to make its server go away (for stores that talk to one). */
export interface ContractStore {
  readonly store: Store;
  /** Stops the store's server at once (killed), as a crash or a lost network would. */
  readonly goAway?: () => Promise<void>;
}

/**
 * Registers the contract tests of one store; `make` opens a fresh store in the temp directory it is given
 * (a store with a server returns the server's `goAway` beside it). A `make` that throws
 * {@link ServerUnavailable} makes each test one that cannot run here (a failure under CI=true).
 */
export function storeContract(name: string, make: (dir: string) => Store | ContractStore | Promise<Store | ContractStore>) {
  const opened = async (t: TestContext): Promise<ContractStore | undefined> => {
    const dir = tempDir();
    let made: Store | ContractStore;
    try {
      made = await make(dir.path);
    } catch (error) {
      dir.remove();
      if (error instanceof ServerUnavailable) return void cannotRun(t, error.message);
      throw error;
    }
    const contract = "store" in made ? made : { store: made };
    t.after(async () => {
      await contract.store.close?.();
      dir.remove();
    });
    return contract;
  };
  // One contract test: its store opened fresh, or the test skipped (failed under CI=true) without one.
  const check = (title: string, body: (store: Store, t: TestContext, contract: ContractStore) => Promise<unknown>) =>
    test(`${name}: ${title}`, async (t) => {
      const contract = await opened(t);
      if (contract) await body(contract.store, t, contract);
    });

  check(`set then get returns the concatenated chunks; delete removes them`, async (store) => {
    const id = "0123456789abcdef0123456789abcdef";
    assert.equal(await store.get(id), undefined);
    await store.set(id, [new Uint8Array([1, 2]), new Uint8Array([3])]);
    assert.deepEqual(new Uint8Array(await store.get(id) as Uint8Array), new Uint8Array([1, 2, 3]));
    await store.delete(id);
    await store.delete(id); // deleting twice is fine
    assert.equal(await store.get(id), undefined);
  });

  check(`ids that are not hex digests are refused`, async (store, t) => {
    for (const id of ["../../etc/passwd", "/abs/path", "ab\0cd", "", "g".repeat(32)]) {
      await assert.rejects(async () => await store.get(id), /not a hex digest/);
      await assert.rejects(async () => await store.set(id, []), /not a hex digest/);
      await assert.rejects(async () => await store.delete(id), /not a hex digest/);
    }
  });

  check(`declares its powers as flags, with boolean values`, async (store, t) => {
    for (const [flag, value] of Object.entries(store.flags ?? {})) {
      assert.ok(KNOWN_FLAGS.includes(flag), `unknown flag ${flag}`);
      assert.equal(typeof value, "boolean", flag);
    }
  });

  check(`a large value (several MB, in many chunks) comes back byte for byte, also at offsets`, async (store, t) => {
    const id = "1a".repeat(32);
    const big = pattern(5 * 1024 * 1024 + 17, 7);
    await store.set(id, [big.subarray(0, 1000), big.subarray(1000)]);
    assert.deepEqual(new Uint8Array(await store.get(id) as Uint8Array), big);
    if (!store.open) return;
    const reader = (await store.open(id))!;
    t.after(() => reader.close());
    assert.equal(reader.size, big.byteLength);
    const into = new Uint8Array(100_000);
    await reader.read(3_000_000, into);
    assert.deepEqual(into, big.subarray(3_000_000, 3_100_000));
  });

  check(`list reports what is stored, with a write time, and not what was deleted`, async (store, t) => {
    if (!store.list) return t.skip("this store cannot list (an optional power)");
    const before = Date.now() - 1000;
    const ids = ["2b".repeat(32), "3c".repeat(32), "4d".repeat(32)];
    for (const id of ids) await store.set(id, [pattern(70_000, id.charCodeAt(0))]);
    await store.delete(ids[1]!);
    const listed = await store.list();
    assert.deepEqual(listed.map((o) => o.id).sort(), [ids[0], ids[2]]);
    for (const o of listed) assert.ok(o.modifiedAt >= before && o.modifiedAt <= Date.now() + 1000, `modifiedAt ${o.modifiedAt}`);
  });

  check(`info written with a payload comes back (for stores that keep it)`, async (store, t) => {
    if (!store.info) return t.skip("this store keeps no info (an optional power)");
    const id = "5e".repeat(32);
    await store.set(id, [new Uint8Array([1])], { computeMs: 1234.5, runtime: "node 24.0.0", createdAt: 1_700_000_000_000 });
    assert.deepEqual(await store.info(id), { computeMs: 1234.5, runtime: "node 24.0.0", createdAt: 1_700_000_000_000 });
    assert.equal(await store.info("6f".repeat(32)), undefined);
  });

  check(`find leads from an entry key to the payload last written for it (for stores that index)`, async (store, t) => {
    if (!store.find) return t.skip("this store keeps no index (an optional power of shared stores)");
    const key = "4d".repeat(32);
    assert.equal(await store.find(key), undefined);
    for (const id of ["1a".repeat(16), "2b".repeat(16)]) {
      await store.set(id, [new Uint8Array([1])], { computeMs: 1, runtime: "node 24.0.0", key });
      assert.equal(await store.find(key), id);
    }
  });

  // Every write has a fresh id (newObjectId), so an entry's output is replaced by a write under a new id
  // that the store's index then leads to; a store without an index (one machine's files) replaces in place.
  const KEY = "4e".repeat(32);
  const ids = (() => {
    let n = 0;
    return () => (n++).toString(16).padStart(32, "7");
  })();
  const replace = async (store: Store, value: Uint8Array, id: string) => await store.set(store.find ? ids() : id, [value], { computeMs: 1, runtime: "node 24.0.0", key: KEY });
  const current = async (store: Store, id: string) => new Uint8Array(await store.get(store.find ? (await store.find(KEY))! : id) as Uint8Array);

  check(`a reader racing a replacing writer sees a whole old or a whole new value, never a mix`, async (store) => {
    const id = "7a".repeat(32);
    const versions = [pattern(300_000, 1), pattern(200_000, 2), pattern(90_000, 3)];
    await replace(store, versions[0]!, id);
    let writing = true;
    const writer = (async () => {
      for (let round = 0; round < 12; round++) await replace(store, versions[round % versions.length]!, id);
      writing = false;
    })();
    let reads = 0;
    while (writing || reads < 3) {
      // s3rver (not S3) rewrites the index object in place: a read between its truncate and write finds nothing.
      const found = store.find ? await store.find(KEY) : id;
      if (found) {
        const got = new Uint8Array(await store.get(found) as Uint8Array);
        assert.ok(versions.some((v) => v.byteLength === got.byteLength && Buffer.compare(v, got) === 0), `read ${reads} is a mix`);
        reads++;
      }
      // A store that answers from memory or a local file would otherwise starve a writer that waits on I/O.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await writer;
  });

  check(`concurrent writers of one entry leave one of their values whole`, async (store) => {
    const id = "8b".repeat(32);
    const values = Array.from({ length: 6 }, (_, i) => pattern(100_000 + i * 1000, i + 10));
    await Promise.all(values.map((v) => replace(store, v, id)));
    const got = await current(store, id);
    assert.ok(values.some((v) => Buffer.compare(v, got) === 0));
  });

  check(`a server that goes away mid-call: each call fails with a readable error or misses, none hangs, and a memoized call still returns its value`, async (store, t, { goAway }) => {
    if (!goAway) return t.skip("this store has no server");
    const dir = tempDir();
    t.after(dir.remove);
    const memory = await Memory.open(dir.path, { store, log: "silent" });
    let calls = 0;
    const f = memory.fn("after_the_server", (x: number) => (calls++, { x, data: pattern(2_000_000, x) }), { version: "1" });
    const id = "9c".repeat(32);
    await store.set(id, [pattern(1000, 1)]);
    const inFlight = Promise.resolve(store.set("9d".repeat(32), [pattern(5 * 1024 * 1024, 2)])); // killed while it uploads
    inFlight.catch(() => {}); // settled below; not an unhandled rejection meanwhile
    await goAway();
    const outcomes = await Promise.all([
      inFlight, store.get(id), store.set("9e".repeat(32), [pattern(10, 3)]), store.delete(id), store.list?.(), store.find?.("9f".repeat(32)),
    ].map((call) => settles(Promise.resolve(call))));
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.ok) assert.ok(i === 0 || i === 1 || outcome.value === undefined, `call ${i} claimed success after the server went away`);
      else assert.ok(outcome.error instanceof Error && outcome.error.message.length > 10, `call ${i} failed without a readable error: ${String(outcome.error)}`);
    }
    assert.ok(outcomes[1]!.ok ? outcomes[1]!.value === undefined : true, "a get after the server went away returned a value");
    const value = await settles(f(7));
    assert.ok(value.ok, `the memoized call failed: ${value.ok || String(value.error)}`);
    assert.deepEqual(value.value, { x: 7, data: pattern(2_000_000, 7) });
    assert.equal(calls, 1);
    await settles(memory.close());
  });
}

const SETTLE_MS = 15_000;

type Outcome = { ok: true; value: unknown; error?: undefined } | { ok: false; error: unknown; value?: undefined };

/** How `promise` settles, or a failure if it has not within {@link SETTLE_MS}: a call must never hang. */
async function settles(promise: Promise<unknown>): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("hung")), SETTLE_MS)));
  try {
    return { ok: true, value: await Promise.race([promise, hung]) };
  } catch (error) {
    assert.ok(!(error instanceof Error && error.message === "hung"), `a call did not settle within ${SETTLE_MS} ms after the server went away`);
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

// Every flag a store may declare (lib/store/store.ts, StoreFlags).
const KNOWN_FLAGS: readonly string[] = ["shared"];

// Bytes that differ at every offset, so that a misplaced chunk cannot go unnoticed.
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return bytes;
}
