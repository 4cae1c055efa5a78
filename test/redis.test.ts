// The Redis store against a real redis-server on loopback: the store contract, chunking, atomic replacement,
// expiry, a lost server, and "machines" (separate cache directories and processes) sharing one Redis.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { TestContext } from "node:test";
import { createClient } from "redis";
import { test } from "./harness.ts";
import { freePort, type Server, started, startRedis } from "./servers.ts";
import { storeContract } from "./store-contract.ts";
import { signingContract } from "./signing-contract.ts";
import { Memory, NbmemoError, redisStore, type RedisStoreOptions } from "../lib/mod.ts";
import type { Store } from "../lib/store/store.ts";
import { captureConsole, lastJson, nodeTypeScript, raceMachines, root, runFixture, runtimePath, startFixture, startProcess, tempDir, withSeams } from "./helpers.ts";

// A server per store, stopped when the contract closes the store (killed first by goAway, if the test does).
storeContract("Redis store", async () => {
  const server = await startRedis();
  const store = await redisStore(server.url);
  const close = async () => {
    await store.close?.();
    await server.stop();
  };
  return { store: { ...store, close }, goAway: () => server.kill() };
});

const ID = "ab".repeat(32);

function pattern(bytes: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + seed + (i >> 8)) & 0xff);
}

// A fresh redis-server for one test, stopped after it; undefined (the test skipped) where there is none.
const redis = (t: TestContext): Promise<Server | undefined> => started(t, startRedis);

async function openStore(t: TestContext, server: Server, options?: RedisStoreOptions): Promise<Store> {
  const store = await redisStore(server.url, options);
  t.after(() => store.close?.());
  return store;
}

// A client of the test's own, to look at the keys the store wrote.
async function rawClient(t: TestContext, server: Server) {
  const client = await createClient({ url: server.url }).on("error", () => {}).connect();
  t.after(() => client.isReady ? client.close() : client.destroy());
  return client;
}

test("a value over several chunks is kept as one list of chunks beside its head, and reads back exactly", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const store = await openStore(t, server, { chunkBytes: 4096 });
  const value = pattern(10 * 4096 + 5, 1);
  await store.set(ID, [value.subarray(0, 1000), value.subarray(1000)]);
  assert.deepEqual(new Uint8Array((await store.get(ID))!), value);
  const raw = await rawClient(t, server);
  const keys = (await raw.keys("nbmemo:*")).sort();
  assert.equal(keys.length, 2);
  assert.equal(keys[1], `nbmemo:obj:${ID}`);
  assert.match(keys[0]!, new RegExp(`^nbmemo:chunks:${ID}:[0-9a-f]{16}$`));
  assert.equal(await raw.lLen(keys[0]!), 11);
  assert.equal(await raw.ttl(keys[0]!), -1); // published: no longer the staging expiry
});

test("replacing or deleting a chunked value leaves none of its chunks behind", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const store = await openStore(t, server, { chunkBytes: 4096 });
  const raw = await rawClient(t, server);
  await store.set(ID, [pattern(30_000, 1)]);
  await store.set(ID, [pattern(20_000, 2)]);
  assert.equal((await raw.keys("nbmemo:*")).length, 2);
  assert.deepEqual(new Uint8Array((await store.get(ID))!), pattern(20_000, 2));
  await store.set(ID, [new Uint8Array([7])]);
  assert.deepEqual(await raw.keys("nbmemo:*"), [`nbmemo:obj:${ID}`]);
  await store.set(ID, [pattern(10_000, 3)]);
  await store.delete(ID);
  assert.deepEqual(await raw.keys("nbmemo:*"), []);
  assert.equal(await store.get(ID), undefined);
});

test("with expireIn, Redis expires the head, its chunks and the index, and an expired entry reads as missing", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const store = await openStore(t, server, { expireIn: 300, chunkBytes: 4096 });
  const raw = await rawClient(t, server);
  const key = "cd".repeat(32);
  await store.set(ID, [new Uint8Array([1, 2, 3])], { computeMs: 1, runtime: "node 24", key });
  await store.set("ef".repeat(32), [pattern(10_000, 1)]);
  for (const k of await raw.keys("nbmemo:*")) {
    const ttl = await raw.pTTL(k);
    assert.ok(ttl > 0 && ttl <= 300, `${k} expires in ${ttl} ms`);
  }
  assert.equal(await store.find!(key), ID);
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(await store.get(ID), undefined);
  assert.equal(await store.get("ef".repeat(32)), undefined);
  assert.equal(await store.find!(key), undefined);
  assert.deepEqual(await raw.keys("nbmemo:*"), []);
});

test("stores under different prefixes share a server without seeing each other's objects; a client passed in stays open", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const client = await rawClient(t, server);
  const a = await redisStore(client, { prefix: "team:a" });
  const b = await redisStore(client, { prefix: "team:a*" }); // a glob character: list must not match team:a's keys
  await a.set(ID, [new Uint8Array([1])]);
  await b.set(ID, [pattern(2_000_000, 6)]);
  assert.deepEqual(new Uint8Array((await a.get(ID))!), new Uint8Array([1]));
  assert.deepEqual(new Uint8Array((await b.get(ID))!), pattern(2_000_000, 6));
  assert.deepEqual((await a.list!()).map((o) => o.id), [ID]);
  await a.delete(ID);
  assert.equal(await a.get(ID), undefined);
  assert.deepEqual((await b.list!()).map((o) => o.id), [ID]);
  await a.close?.();
  await b.close?.();
  assert.equal(await client.ping(), "PONG");
});

test("bad redisStore options and URLs are refused at the edge", async () => {
  const invalid = (e: NbmemoError) => e instanceof NbmemoError && e.code === "INVALID_OPTION";
  await assert.rejects(redisStore("redis://127.0.0.1:1", { prefix: "" }), invalid);
  await assert.rejects(redisStore("redis://127.0.0.1:1", { expireIn: 0 }), invalid);
  await assert.rejects(redisStore("redis://127.0.0.1:1", { chunkBytes: 10 }), invalid);
  await assert.rejects(redisStore("redis://127.0.0.1:1", { ttl: 1 } as never), /option "ttl".*Known options: prefix, expireIn, chunkBytes/);
  await assert.rejects(redisStore("http://127.0.0.1:1"), /must start with redis:\/\/ or rediss:\/\//);
});

test("a Redis server that cannot be reached is a STORE_UNAVAILABLE error naming it, without the password, soon", async () => {
  const port = await freePort();
  const started = Date.now();
  await assert.rejects(redisStore(`redis://user:secret@127.0.0.1:${port}`), (e: NbmemoError) => {
    assert.equal(e.code, "STORE_UNAVAILABLE");
    assert.match(e.message, new RegExp(`^Cannot open the Redis store redis://user:\\*\\*\\*@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\. Check the URL`));
    assert.doesNotMatch(e.message, /secret/);
    return true;
  });
  assert.ok(Date.now() - started < 5_000);
});

test("a store whose server went away fails fast, and works again once a server answers at the URL", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const store = await openStore(t, server);
  await store.set(ID, [new Uint8Array([1])]);
  await server.kill();
  const started = Date.now();
  await assert.rejects(async () => await store.get(ID), new RegExp(`^Error: Cannot read object ${ID} in redis://127\\.0\\.0\\.1:${server.port}: `));
  await assert.rejects(async () => await store.set(ID, [new Uint8Array([2])]), /Cannot write object/);
  assert.ok(Date.now() - started < 2_000, `failing took ${Date.now() - started} ms`);
  // Another redis-server on the same port (empty: the first kept nothing on disk).
  const again = spawn(process.env.NBMEMO_TEST_REDIS_SERVER ?? "/usr/bin/redis-server", ["--port", String(server.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  t.after(() => void again.kill("SIGKILL"));
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await store.set(ID, [new Uint8Array([3])]);
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  assert.deepEqual(new Uint8Array((await store.get(ID))!), new Uint8Array([3]));
});

// lib/ copied where no node_modules is found, as for a user who has not installed the peer dependency.
for (const which of ["node", "deno"] as const) {
  test(`without the npm package redis, a redisStore URL is a STORE_UNAVAILABLE error that says to install it (${which})`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    cpSync(join(root, "lib"), join(dir.path, "lib"), { recursive: true });
    writeFileSync(join(dir.path, "probe.ts"), `import { redisStore } from "./lib/store/redis.ts";
redisStore("redis://127.0.0.1:1").then(() => console.log("{}"), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));
`);
    const argv = which === "deno" ? ["run", "-A", "--quiet", "--no-config", "probe.ts"] : [...nodeTypeScript(), "probe.ts"];
    const run = await startProcess(runtimePath(which), argv, { cwd: dir.path }).done;
    const { code, message } = lastJson<{ code?: string; message?: string }>(run);
    assert.equal(code, "STORE_UNAVAILABLE");
    assert.equal(message, "Cannot open the Redis store redis://127.0.0.1:1: the npm package redis is not installed. Run `npm install redis`.");
  });
}

// The memoizer on Redis.

test("two machines (separate cache directories) sharing one Redis adopt each other's entries", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  let calls = 0;
  const slowSum = async (xs: number[]) => (calls++, await new Promise((r) => setTimeout(r, 30)), xs.reduce((a, b) => a + b));
  const a = await Memory.open(join(dir.path, "machine-a"), { log: "silent", store: await redisStore(server.url) });
  t.after(() => a.close());
  const b = await Memory.open(join(dir.path, "machine-b"), { log: "silent", store: await redisStore(server.url) });
  t.after(() => b.close());
  assert.equal(await a.fn("slow_sum", slowSum)([1, 2, 3]), 6);
  assert.equal(await b.fn("slow_sum", slowSum)([1, 2, 3]), 6);
  assert.equal(await b.fn("slow_sum", slowSum)([4, 5]), 9);
  assert.equal(await a.fn("slow_sum", slowSum)([4, 5]), 9);
  assert.equal(calls, 2);
  for (const entry of b.entries({ fn: "slow_sum" })) assert.ok(entry.computeMs >= 25 && /^(node|deno) /.test(entry.runtime));
  assert.equal(a.stats().session.hits, 1);
  assert.equal(b.stats().session.hits, 1);
});

test("a memoized value over several chunks round-trips through Redis to another machine", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  let calls = 0;
  const big = (n: number) => (calls++, { n, samples: Float64Array.from({ length: n }, (_, i) => Math.sin(i) * n) });
  const a = await Memory.open(join(dir.path, "machine-a"), { log: "silent", store: await redisStore(server.url, { chunkBytes: 64 * 1024 }) });
  t.after(() => a.close());
  const expected = big(300_000); // 2.4 MB of floats: 37 chunks
  await a.fn("big", big, { version: "1" })(300_000);
  const raw = await rawClient(t, server);
  const lists = await raw.keys("nbmemo:chunks:*");
  assert.equal(lists.length, 1);
  assert.ok(await raw.lLen(lists[0]!) >= 30);
  const b = await Memory.open(join(dir.path, "machine-b"), { log: "silent", store: await redisStore(server.url, { chunkBytes: 64 * 1024 }) });
  t.after(() => b.close());
  assert.deepEqual(await b.fn("big", big, { version: "1" })(300_000), expected);
  assert.equal(calls, 2); // the expected value, and machine a's compute
});

test("a server lost mid-call: the memoized call still returns the user's value, and so does the next one", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent", store: await redisStore(server.url) });
  t.after(() => memory.close());
  let calls = 0;
  const f = memory.fn("lost_server", async (x: number) => {
    calls++;
    if (calls === 1) await server.kill(); // gone while this call computes: storing its value fails
    return { x, data: pattern(3_000_000, x) };
  }, { version: "1" });
  const started = Date.now();
  const { result, warnings } = await captureConsole(() => f(3));
  assert.deepEqual(result, { x: 3, data: pattern(3_000_000, 3) });
  assert.deepEqual(await f(4), { x: 4, data: pattern(3_000_000, 4) });
  assert.equal(calls, 2);
  assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  assert.deepEqual(warnings, []); // log: silent
});

test("a damaged record in Redis is a miss with a warning, then recomputed", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "warn", store: await redisStore(server.url) });
  t.after(() => memory.close());
  let calls = 0;
  const f = memory.fn("fragile_redis", (x: number) => (calls++, { x }), { version: "1" });
  await f(1);
  const [entry] = memory.entries();
  const raw = await rawClient(t, server);
  await raw.hSet(`nbmemo:obj:${entry!.object!}`, "meta", "garbage");
  const { result, warnings } = await captureConsole(() => f(1));
  assert.deepEqual(result, { x: 1 });
  assert.equal(calls, 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Cannot read the stored result of fragile_redis\(1\): the Redis record of object [0-9a-f]+ is not an nbmemo record\. Recomputing it\./);
});

// Two "machines" in two runtimes (separate cache directories and OS processes), one Redis.
interface WorkerResult {
  computed: number;
  squares: number[];
  squaresType: string;
}

test("an entry written to Redis by a Node process is read by a Deno process, and the other way round", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const run = async (which: "node" | "deno", machine: string, x: string) =>
    lastJson<WorkerResult>(await runFixture(which, "worker.ts", [join(dir.path, machine), x, server.url]));
  assert.equal((await run("node", "node-a", "7")).computed, 1);
  const denoHit = await run("deno", "deno-b", "7");
  assert.equal(denoHit.computed, 0);
  assert.deepEqual(denoHit.squares, Array.from({ length: 7 }, (_, i) => i * i + 0.5));
  assert.equal((await run("deno", "deno-c", "200000")).computed, 1); // 1.6 MB of floats: chunked
  const nodeHit = await run("node", "node-d", "200000");
  assert.equal(nodeHit.computed, 0);
  assert.equal(nodeHit.squaresType, "Float64Array");
  assert.deepEqual(nodeHit.squares, Array.from({ length: 200_000 }, (_, i) => i * i + 0.5));
});

// Compute once across machines: the store's lease (SET NX with an expiry, renewed by its holder).

test("a lease in Redis is taken by one holder at a time, renewed by it, released only by it, and ends by itself", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const store = await openStore(t, server);
  const key = "cd".repeat(32);
  assert.equal(await store.lease!(key, "machine-a", 200), true);
  assert.equal(await store.lease!(key, "machine-b", 200), false);
  assert.equal(await store.lease!(key, "machine-a", 200), true); // renewed
  await store.release!(key, "machine-b"); // not b's: stays a's
  assert.equal(await store.lease!(key, "machine-b", 200), false);
  await store.release!(key, "machine-a");
  assert.equal(await store.lease!(key, "machine-b", 200), true);
  await new Promise((resolve) => setTimeout(resolve, 300)); // b's lease expires
  assert.equal(await store.lease!(key, "machine-a", 200), true);
});

test("the same slow call started at once on two machines sharing one Redis is computed once", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  let calls = 0;
  const machines = await Promise.all(["machine-a", "machine-b", "machine-c"].map(async (machine) => {
    const memory = await Memory.open(join(dir.path, machine), { log: "silent", store: await redisStore(server.url) });
    t.after(() => memory.close());
    return memory.fn("slow_once", async (x: number) => (calls++, await new Promise((r) => setTimeout(r, 300)), { x, machine }), { version: "1" });
  }));
  const values = await Promise.all(machines.map((f) => f(1)));
  assert.equal(calls, 1);
  assert.ok(values.every((v) => v.machine === values[0]!.machine));
});

test("a machine that died computing a call is taken over once its lease in Redis expires", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const raw = await rawClient(t, server);
  const b = await Memory.open(join(dir.path, "machine-b"), withSeams({ log: "silent", store: await redisStore(server.url) }, { leaseMs: 600 }));
  t.after(() => b.close());
  // Machine a starts computing the call for a minute, with leases of 600 ms, and is killed.
  const a = startFixture("node", "race.ts", [join(dir.path, "machine-a"), server.url, String(Date.now()), "60000", "600"]);
  t.after(() => a.child.kill("SIGKILL"));
  const deadline = Date.now() + 30_000;
  while ((await raw.keys("nbmemo:lease:*")).length === 0) {
    assert.ok(Date.now() < deadline, "machine a never took the lease");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  a.child.kill("SIGKILL");
  await a.done;
  let calls = 0;
  const started = Date.now();
  const value = await b.fn("slow_once", (x: number) => (calls++, { x, by: "machine b" }), { version: "1" })(1);
  assert.deepEqual(value, { x: 1, by: "machine b" });
  assert.equal(calls, 1);
  assert.ok(Date.now() - started >= 100, `computed after ${Date.now() - started} ms, while the dead machine's lease still held`);
});

test("several processes (Node and Deno, separate cache directories) on one Redis compute the same slow call once", { timeout: 120_000 }, async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const results = await raceMachines(dir.path, server.url, 1500);
  assert.equal(results.reduce((sum, r) => sum + r.computed, 0), 1, JSON.stringify(results));
  assert.ok(results.every((r) => r.value.by === results[0]!.value.by && r.value.x === 1), JSON.stringify(results));
});

// Outputs planted in Redis through the store's own API (past nbmemo's signing) are refused.
signingContract("Redis store", async (t) => {
  const server = await redis(t);
  return server && { machine: () => redisStore(server.url) };
});

test("store: a redis:// URL opens the Redis store; a wrong password or URL is a clear error that does not show the password", async (t) => {
  const server = await redis(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  let calls = 0;
  const body = (n: number) => (calls++, { n, at: "redis" });
  const a = await Memory.open(join(dir.path, "a"), { log: "silent", store: server.url });
  await a.fn("by_url", body, { version: "1" })(1);
  await a.close();
  const b = await Memory.open(join(dir.path, "b"), { log: "silent", store: await redisStore(server.url) });
  t.after(() => b.close());
  assert.deepEqual(await b.fn("by_url", body, { version: "1" })(1), { n: 1, at: "redis" }); // the same store
  assert.equal(calls, 1);
  const secret = "s3cret-pass";
  await assert.rejects(Memory.open(join(dir.path, "c"), { log: "silent", store: `redis://:${secret}@127.0.0.1:1` }), (e: NbmemoError) => {
    assert.equal(e.code, "STORE_UNAVAILABLE");
    assert.match(e.message, /Cannot open the Redis store redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
    assert.ok(!e.message.includes(secret), e.message);
    return true;
  });
  await assert.rejects(Memory.open(join(dir.path, "d"), { store: `mongodb://u:${secret}@db/x` }), (e: NbmemoError) => {
    assert.equal(e.code, "INVALID_OPTION");
    assert.match(e.message, /Cannot use store="mongodb:\/\/u:\*\*\*@db\/x": a store URL is a Redis URL/);
    assert.ok(!e.message.includes(secret), e.message);
    return true;
  });
});
