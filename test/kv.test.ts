// The Deno KV store: chunking, atomic replacement, expiry, batching, portability, and the memoizer on it.
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { type KvClient, kvStore, Memory, NbmemoError } from "../lib/mod.ts";
import { type KvKey, openKv } from "../lib/store/kv.ts";
import { captureConsole, isDeno, lastJson, runFixture, tempDir, withSeams } from "./helpers.ts";

type After = { after: (fn: () => unknown) => void };

const ID = "ab".repeat(32);

// A temp directory and a Deno KV file in it, both removed after the test.
function kvPath(t: After): { dir: string; kv: string } {
  const dir = tempDir();
  t.after(dir.remove);
  return { dir: dir.path, kv: join(dir.path, "kv.sqlite") };
}

async function rawClient(t: After, path: string): Promise<KvClient> {
  const kv = await openKv(path);
  t.after(() => kv.close());
  return kv;
}

async function keysUnder(kv: KvClient, prefix: KvKey): Promise<KvKey[]> {
  const keys: KvKey[] = [];
  for await (const entry of kv.list({ prefix })) keys.push(entry.key);
  return keys;
}

function pattern(bytes: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff);
}

test("a value over 64 KiB is kept in chunks and reads back exactly", async (t) => {
  const { kv: path } = kvPath(t);
  const store = await kvStore(path);
  t.after(() => store.close?.());
  const value = pattern(1024 * 1024 + 5, 1);
  await store.set(ID, [value.subarray(0, 1000), value.subarray(1000)]);
  assert.deepEqual(new Uint8Array((await store.get(ID))!), value);
  const keys = await keysUnder(await rawClient(t, path), ["nbmemo"]);
  assert.equal(keys.length, 1 + 17); // the head and ceil(1 MiB + 5 B / 64 KiB) chunks
});

test("replacing or deleting a chunked value leaves none of its chunks behind", async (t) => {
  const { kv: path } = kvPath(t);
  const store = await kvStore(path);
  t.after(() => store.close?.());
  const raw = await rawClient(t, path);
  await store.set(ID, [pattern(300_000, 1)]);
  await store.set(ID, [pattern(200_000, 2)]);
  assert.equal((await keysUnder(raw, ["nbmemo"])).length, 1 + 4);
  assert.deepEqual(new Uint8Array((await store.get(ID))!), pattern(200_000, 2));
  await store.set(ID, [new Uint8Array([7])]);
  assert.deepEqual(await keysUnder(raw, ["nbmemo"]), [["nbmemo", ID]]);
  await store.set(ID, [pattern(100_000, 3)]);
  await store.delete(ID);
  assert.deepEqual(await keysUnder(raw, ["nbmemo"]), []);
  assert.equal(await store.get(ID), undefined);
});

test("a reader on another connection sees only whole values while a writer replaces them", async (t) => {
  const { kv: path } = kvPath(t);
  const writer = await kvStore(path);
  const reader = await kvStore(path);
  t.after(async () => {
    await writer.close?.();
    await reader.close?.();
  });
  const versions = [pattern(300_000, 1), pattern(900_000, 2), pattern(70_000, 3)];
  await writer.set(ID, [versions[0]!]);
  let writing = true;
  const writes = (async () => {
    for (let i = 1; i <= 30; i++) await writer.set(ID, [versions[i % versions.length]!]);
    writing = false;
  })();
  let reads = 0;
  while (writing) {
    const got = await reader.get(ID);
    assert.ok(got !== undefined);
    assert.ok(versions.some((v) => v.byteLength === got.byteLength && Buffer.compare(v, got) === 0), `a read returned ${got.byteLength} bytes that match no written value`);
    reads++;
  }
  await writes;
  assert.ok(reads > 0);
});

test("an entry past its expireIn reads as missing", async (t) => {
  const { kv: path } = kvPath(t);
  const store = await kvStore(path, { expireIn: 150 });
  t.after(() => store.close?.());
  await store.set(ID, [new Uint8Array([1, 2, 3])]);
  await store.set("cd".repeat(32), [pattern(100_000, 1)]);
  assert.deepEqual(new Uint8Array((await store.get(ID))!), new Uint8Array([1, 2, 3]));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(await store.get(ID), undefined);
  assert.equal(await store.get("cd".repeat(32)), undefined);
});

test("payloads are raw bytes in the database, never V8-serialized values", async (t) => {
  const { kv: path } = kvPath(t);
  const store = await kvStore(path);
  await store.set(ID, [new TextEncoder().encode("payload")], { computeMs: 12.5, runtime: "test 1" });
  await store.set("cd".repeat(32), [pattern(100_000, 1)]);
  await store.close?.();
  const raw = await rawClient(t, path);
  const values: unknown[] = [];
  for await (const entry of raw.list({ prefix: [] })) values.push(entry.value);
  assert.equal(values.length, 1 + 1 + 2);
  assert.ok(values.every((v) => v instanceof Uint8Array));
  const head = (await raw.get(["nbmemo", ID])).value as Uint8Array;
  assert.equal(new TextDecoder().decode(head.subarray(0, 4)), "NBKV");
  assert.match(new TextDecoder().decode(head), /"computeMs":12.5,"runtime":"test 1".*payload$/);
});

test("writes made together are committed together, in a few atomic operations", async (t) => {
  const { kv: path } = kvPath(t);
  const kv = await rawClient(t, path);
  let commits = 0;
  const counting: KvClient = {
    get: (key) => kv.get(key),
    getMany: (keys) => kv.getMany!(keys),
    list: (selector) => kv.list(selector),
    atomic: () => {
      const atomic = kv.atomic();
      const commit = atomic.commit.bind(atomic);
      atomic.commit = () => (commits++, commit());
      return atomic;
    },
    close: () => {},
  };
  const store = await kvStore(counting);
  const ids = Array.from({ length: 1000 }, (_, i) => i.toString(16).padStart(32, "0"));
  await Promise.all(ids.map((id, i) => store.set(id, [new Uint8Array([i & 0xff, i >> 8])])));
  assert.ok(commits <= 3, `${commits} commits for 1000 writes`);
  assert.deepEqual(new Uint8Array((await store.get(ids[999]!))!), new Uint8Array([999 & 0xff, 999 >> 8]));
  await store.close?.();
});

test("a client without getMany is enough", async (t) => {
  const { kv: path } = kvPath(t);
  const kv = await rawClient(t, path);
  const store = await kvStore({ get: (k) => kv.get(k), list: (s) => kv.list(s), atomic: () => kv.atomic(), close: () => {} });
  await store.set(ID, [pattern(100_000, 4)]);
  await store.set(ID, [pattern(10, 5)]);
  assert.deepEqual(new Uint8Array((await store.get(ID))!), pattern(10, 5));
  assert.deepEqual(await keysUnder(kv, ["nbmemo"]), [["nbmemo", ID]]);
  await store.close?.();
});

test("stores under different prefixes share a database without seeing each other's objects", async (t) => {
  const { kv: path } = kvPath(t);
  const kv = await rawClient(t, path);
  const longest = ["team", "x".repeat(240)];
  const a = await kvStore(kv, { prefix: ["team", "a"] });
  const b = await kvStore(kv, { prefix: longest });
  await a.set(ID, [new Uint8Array([1])]);
  await b.set(ID, [pattern(100_000, 6)]);
  assert.deepEqual(new Uint8Array((await a.get(ID))!), new Uint8Array([1]));
  assert.deepEqual(new Uint8Array((await b.get(ID))!), pattern(100_000, 6));
  await a.delete(ID);
  assert.equal(await a.get(ID), undefined);
  assert.equal((await b.get(ID))?.byteLength, 100_000);
  await a.close?.();
  await b.close?.();
  assert.equal((await kv.get(["still", "open"])).value, null); // closing a store leaves a client it was given open
});

test("a write that Deno KV refuses rejects with a readable reason", async (t) => {
  const { kv: path } = kvPath(t);
  const kv = await openKv(path);
  const store = await kvStore(kv);
  kv.close();
  await assert.rejects(async () => await store.set(ID, [new Uint8Array([1])]), (e: Error) => {
    assert.match(e.message, /^Deno KV refused the write \(.+\)$/);
    assert.doesNotMatch(e.message, /backtrace/i);
    return true;
  });
});

test("bad kvStore options and store values are refused at the edge", async (t) => {
  const { dir, kv: path } = kvPath(t);
  const kv = await rawClient(t, path);
  const invalid = (e: NbmemoError) => e instanceof NbmemoError && e.code === "INVALID_OPTION";
  await assert.rejects(kvStore(kv, { prefix: ["x".repeat(300)] }), invalid);
  await assert.rejects(kvStore(kv, { prefix: [{}] as never }), invalid);
  await assert.rejects(kvStore(kv, { expireIn: 0 }), invalid);
  await assert.rejects(kvStore(kv, { expireIn: 1.5 }), invalid);
  await assert.rejects(kvStore(kv, { expireIn: 1, ttl: 1 } as never), /option "ttl".*Known options: prefix, expireIn/);
  await assert.rejects(Memory.open(dir, { store: "ftp://example.org/kv" }), /a Redis URL \(redis:\/\/ or rediss:\/\/\) or a Deno KV Connect URL \(http:\/\/ or https:\/\/\)/);
  await assert.rejects(Memory.open(dir, { store: "" }), invalid);
  await assert.rejects(Memory.open(dir, { store: {} as never }), /pass a Store/);
});

test("a Deno KV database that cannot be opened is a STORE_UNAVAILABLE error naming it", async (t) => {
  const { dir } = kvPath(t);
  const where = join(dir, "no", "such", "folder", "kv.sqlite");
  await assert.rejects(Memory.open(join(dir, "cache"), { store: where }), (e: NbmemoError) => {
    assert.equal(e.code, "STORE_UNAVAILABLE");
    assert.ok(e.message.startsWith(`Cannot open the Deno KV store ${where}: `), e.message);
    assert.doesNotMatch(e.message, /backtrace/i);
    return true;
  });
});

// No KV Connect server runs here; a local HTTP server that refuses every request shows what the client sends.
test("a KV Connect URL is opened with the token in DENO_KV_ACCESS_TOKEN, and a refusal is STORE_UNAVAILABLE", async (t) => {
  const { dir } = kvPath(t);
  const requests: string[] = [];
  const refuse = (req: { method?: string; url?: string; headers: { authorization?: string } }, res: { writeHead(status: number): unknown; end(body: string): void }) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    res.writeHead(401);
    res.end("unauthorized");
  };
  // Deno's client speaks HTTP/2 without TLS (prior knowledge); @deno/kv uses fetch, HTTP/1.1.
  const server = isDeno ? createHttp2Server(refuse) : createHttpServer(refuse);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const saved = process.env.DENO_KV_ACCESS_TOKEN;
  process.env.DENO_KV_ACCESS_TOKEN = "token-from-env";
  t.after(() => {
    if (saved === undefined) delete process.env.DENO_KV_ACCESS_TOKEN;
    else process.env.DENO_KV_ACCESS_TOKEN = saved;
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  await assert.rejects(Memory.open(dir, { store: url }), (e: NbmemoError) => {
    assert.equal(e.code, "STORE_UNAVAILABLE");
    assert.match(e.message, /^Cannot open the Deno KV store http:\/\/127\.0\.0\.1:\d+\/: .*401.*\. Check the path or URL, and DENO_KV_ACCESS_TOKEN/);
    return true;
  });
  assert.deepEqual(requests, ["POST / Bearer token-from-env"]);
});

// The memoizer on a shared store.

test("with a Deno KV store every output goes to the store, none inline in the catalog", async (t) => {
  const { dir, kv: path } = kvPath(t);
  const memory = await Memory.open(join(dir, "cache"), { log: "silent", store: path });
  const tiny = memory.fn("tiny", (x: number) => x + 1);
  await tiny(1);
  const [entry] = memory.entries();
  await memory.close();
  assert.ok(entry?.object);
  const keys = await keysUnder(await rawClient(t, path), ["nbmemo"]);
  assert.deepEqual(keys.filter((k) => k.length === 2), [["nbmemo", entry.object]]);
  assert.equal(keys.length, 2); // and the index record that leads another machine to it
});

test("every write gets an object of its own, and the store's index leads to the latest one for a key", async (t) => {
  const { kv: path } = kvPath(t);
  const store = await kvStore(path);
  t.after(() => store.close?.());
  const key = "cd".repeat(32);
  await store.set(ID, [pattern(10, 1)], { computeMs: 1, runtime: "node 24", createdAt: 5, key });
  assert.equal(await store.find!(key), ID);
  const next = "ef".repeat(32);
  await store.set(next, [pattern(70_000, 2)], { computeMs: 1, runtime: "node 24", createdAt: 6, key });
  assert.equal(await store.find!(key), next);
  assert.deepEqual(await store.get(ID), pattern(10, 1)); // the earlier object stays until its owner deletes it
  assert.equal((await store.info!(next))?.createdAt, 6);
  await store.delete(next);
  assert.equal(await store.get(next), undefined);
  assert.equal(await store.find!("01".repeat(32)), undefined);
});

test("an entry another machine wrote before object ids were fresh per write (under its key's digest) is still adopted", async (t) => {
  const { dir, kv: path } = kvPath(t);
  const first = await Memory.open(join(dir, "machine-a"), { log: "silent", store: path });
  await first.fn("legacy", (x: number) => ({ x }), { version: "1" })(1);
  const [written] = first.entries();
  await first.close();
  // Move the object to where nbmemo 0.2 put it, the digest of its key, and drop the index.
  const raw = await rawClient(t, path);
  const { sha256 } = await import("../lib/keys/source.ts");
  const legacy = sha256(`legacy\0${written!.version}\0${written!.argsHash}`);
  const head = await raw.get(["nbmemo", written!.object!]);
  await raw.atomic().set(["nbmemo", legacy], head.value).delete(["nbmemo", written!.object!]).delete(["nbmemo", "by-key", legacy]).commit();
  const second = await Memory.open(join(dir, "machine-b"), { log: "silent", store: path });
  t.after(() => second.close());
  let calls = 0;
  assert.deepEqual(await second.fn("legacy", (x: number) => (calls++, { x }), { version: "1" })(1), { x: 1 });
  assert.equal(calls, 0);
  assert.equal(second.entries()[0]?.object, legacy);
});

// Eviction on a shared store drops only the local catalog rows (the objects belong to every machine), and a
// later miss adopts from the store: an adopted entry must keep the time it was computed, or maxAge never ends.
test("with a shared store, maxAge counts from when an entry was computed, also after eviction or on another machine", async (t) => {
  const { dir, kv: path } = kvPath(t);
  let clock = Date.now();
  const now = () => clock;
  const open = async (machine: string) => {
    const memory = await Memory.open(join(dir, machine), withSeams({ log: "silent", store: path, maxAge: 1_000 }, { now }));
    t.after(() => memory.close());
    return memory;
  };
  let calls = 0;
  const body = (x: number) => (calls++, { x, at: clock });
  const a = await open("machine-a");
  const f = a.fn("aging", body, { version: "1" });
  const computedAt = clock;
  await f(1);
  clock += 600;
  const b = await open("machine-b");
  const g = b.fn("aging", body, { version: "1" });
  assert.deepEqual(await g(1), { x: 1, at: computedAt }); // adopted, with the time it was computed
  assert.equal(calls, 1);
  assert.equal(b.entries()[0]?.createdAt, computedAt);
  clock += 600; // 1.2 s after the compute: expired everywhere
  await f(2); // this store starts a pass that evicts the expired row of f(1) on machine a
  await a.settle();
  assert.equal(a.entries({ fn: "aging" }).length, 1);
  assert.deepEqual(await f(1), { x: 1, at: clock }); // not adopted back from the store: computed again
  assert.equal(calls, 3);
  clock += 10;
  assert.deepEqual(await g(1), { x: 1, at: clock - 10 }); // machine b's row is past maxAge: it finds machine a's new one
  assert.equal(calls, 3);
});

test("an entry another machine wrote to the shared store is adopted as a hit", async (t) => {
  const { dir, kv: path } = kvPath(t);
  let calls = 0;
  const slowSum = async (xs: number[]) => (calls++, await new Promise((r) => setTimeout(r, 30)), xs.reduce((a, b) => a + b));
  const first = await Memory.open(join(dir, "machine-a"), { log: "silent", store: await kvStore(path) });
  assert.equal(await first.fn("slow_sum", slowSum)([1, 2, 3]), 6);
  await first.close();
  const second = await Memory.open(join(dir, "machine-b"), { log: "silent", store: "../kv.sqlite" });
  t.after(() => second.close());
  assert.equal(await second.fn("slow_sum", slowSum)([1, 2, 3]), 6);
  assert.equal(calls, 1);
  const [entry] = second.entries({ fn: "slow_sum" });
  assert.ok(entry && entry.computeMs >= 25 && /^(node|deno) /.test(entry.runtime) && entry.argsPreview === "[1, 2, 3]");
  assert.equal(second.stats().session.hits, 1);
});

test("verify with repair on one machine leaves the shared store's objects of other machines alone", async (t) => {
  const { dir, kv: path } = kvPath(t);
  let calls = 0;
  const body = (x: number) => (calls++, { x });
  const a = await Memory.open(join(dir, "machine-a"), { log: "silent", store: path });
  t.after(() => a.close());
  await a.fn("shared", body, { version: "1" })(1);
  // Machine b knows none of a's entries, and its clock is past the orphan grace period of a's write.
  const b = await Memory.open(join(dir, "machine-b"), withSeams({ log: "silent", store: path }, { now: () => Date.now() + 3_600_000 }));
  t.after(() => b.close());
  const report = await b.verify({ repair: true });
  assert.deepEqual([report.objects, report.problems, report.repaired], [1, [], 0]);
  const c = await Memory.open(join(dir, "machine-c"), { log: "silent", store: path });
  t.after(() => c.close());
  assert.deepEqual(await c.fn("shared", body, { version: "1" })(1), { x: 1 }); // adopted: a's output is still there
  assert.equal(calls, 1);
});

test("an expired entry in the shared store is recomputed without a warning", async (t) => {
  const { dir, kv: path } = kvPath(t);
  const memory = await Memory.open(join(dir, "cache"), { log: "warn", store: await kvStore(path, { expireIn: 100 }) });
  t.after(() => memory.close());
  let calls = 0;
  const f = memory.fn("short_lived", (x: number) => (calls++, { x }));
  await f(1);
  await f(1);
  assert.equal(calls, 1);
  await new Promise((resolve) => setTimeout(resolve, 150));
  const { warnings } = await captureConsole(() => f(1));
  assert.equal(calls, 2);
  assert.deepEqual(warnings, []);
});

test("a damaged record in the shared store is a miss with a warning, then recomputed", async (t) => {
  const { dir, kv: path } = kvPath(t);
  const memory = await Memory.open(join(dir, "cache"), { log: "warn", store: path });
  t.after(() => memory.close());
  let calls = 0;
  const f = memory.fn("fragile_kv", (x: number) => (calls++, { x }));
  await f(1);
  const [entry] = memory.entries();
  const raw = await rawClient(t, path);
  await raw.atomic().set(["nbmemo", entry!.object!], new TextEncoder().encode("garbage")).commit();
  const { result, warnings } = await captureConsole(() => f(1));
  assert.deepEqual(result, { x: 1 });
  assert.equal(calls, 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot read the stored result of fragile_kv\(1\): the Deno KV record of object [0-9a-f]+ is not an nbmemo record\. Recomputing it\./);
});

// Two "machines" (separate cache directories, so separate catalogs) in two runtimes, one KV database.
interface WorkerResult {
  computed: number;
  squares: number[];
  squaresType: string;
}

test("an entry written to Deno KV under Node is read under Deno, and one written under Deno is read under Node", async (t) => {
  const { dir, kv: path } = kvPath(t);
  const run = async (which: "node" | "deno", machine: string, x: string) =>
    lastJson<WorkerResult>(await runFixture(which, "worker.ts", [join(dir, machine), x, path]));
  assert.equal((await run("node", "node-a", "7")).computed, 1);
  const denoHit = await run("deno", "deno-b", "7");
  assert.equal(denoHit.computed, 0);
  assert.deepEqual(denoHit.squares, Array.from({ length: 7 }, (_, i) => i * i + 0.5));
  assert.equal((await run("deno", "deno-c", "9000")).computed, 1); // 72 kB of floats: chunked
  const nodeHit = await run("node", "node-d", "9000");
  assert.equal(nodeHit.computed, 0);
  assert.equal(nodeHit.squaresType, "Float64Array");
  assert.deepEqual(nodeHit.squares, Array.from({ length: 9000 }, (_, i) => i * i + 0.5));
});
