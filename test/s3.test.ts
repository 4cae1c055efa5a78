// The S3 store against a real S3 protocol server (s3rver on loopback): the store contract, what it keeps in
// the bucket, multipart uploads and ranged reads, errors, and machines and processes sharing one bucket.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { AwsClient } from "aws4fetch";
import { test } from "./harness.ts";
import { Memory, NbmemoError, s3Store, type S3StoreOptions, tieredStore } from "../lib/mod.ts";
import type { Store } from "../lib/store/store.ts";
import { lastJson, raceMachines, type RaceResult, runFixture, tempDir } from "./helpers.ts";
import { S3_BUCKET, S3_CREDENTIALS, type Server, started, startS3 } from "./servers.ts";
import { storeContract } from "./store-contract.ts";
import { signingContract } from "./signing-contract.ts";

const MIB = 1024 * 1024;

// Each contract test has a server of its own, stopped when the test closes its store.
storeContract("S3 store", async () => {
  const server = await startS3();
  const store = s3Store({ bucket: S3_BUCKET, endpoint: server.url, region: "us-east-1", credentials: S3_CREDENTIALS });
  return { store: { ...store, close: async () => (await store.close?.(), await server.stop()) }, goAway: () => server.kill() };
});

/** A fresh s3rver for this test (stopped after it), or undefined when this machine cannot run one. */
const s3rver = (t: TestContext) => started(t, startS3);

function options(server: Server, more: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return { bucket: S3_BUCKET, endpoint: server.url, region: "us-east-1", credentials: S3_CREDENTIALS, ...more };
}

/** Every key in the bucket, read with a client of our own. */
async function bucketKeys(server: Server): Promise<string[]> {
  const s3 = new AwsClient({ ...S3_CREDENTIALS, service: "s3", region: "us-east-1" });
  const xml = await (await s3.fetch(`${server.url}/${S3_BUCKET}?list-type=2`)).text();
  return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!).sort();
}

/** A fetch that records each request as "METHOD what", what being the S3 operation. */
function counting(): { fetch: (request: Request) => Promise<Response>; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    fetch: (request) => {
      const { searchParams } = new URL(request.url);
      const what = searchParams.has("partNumber") ? "UploadPart" : searchParams.has("uploads") ? "CreateMultipartUpload"
        : searchParams.has("uploadId") ? (request.method === "POST" ? "CompleteMultipartUpload" : "AbortMultipartUpload")
        : searchParams.has("list-type") ? "ListObjectsV2" : request.headers.has("range") ? "ranged" : "object";
      seen.push(`${request.method} ${what}`);
      return fetch(request);
    },
  };
}

const count = (seen: string[], what: string) => seen.filter((s) => s === what).length;

function floats(length: number, seed: number): Float64Array {
  return Float64Array.from({ length }, (_, i) => i * 0.25 + seed);
}

test("s3Store refuses bad options at the edge, naming the option and never showing a secret", () => {
  const good: S3StoreOptions = { bucket: "team-cache", region: "us-east-1", credentials: { accessKeyId: "AKID", secretAccessKey: "top-secret" } };
  const refused = (more: Record<string, unknown>, message: RegExp) =>
    assert.throws(() => s3Store({ ...good, ...more } as S3StoreOptions), (e: NbmemoError) => {
      assert.equal(e.code, "INVALID_OPTION");
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /top-secret|also-secret/);
      return true;
    });
  refused({ bucket: "Team_Cache" }, /^Cannot use bucket="Team_Cache" in s3Store: .*lowercase/);
  refused({ bucket: undefined }, /bucket=undefined/);
  refused({ region: "" }, /region="" in s3Store/);
  refused({ endpoint: "ftp://example.org" }, /endpoint="ftp:\/\/example.org" in s3Store: .*http\(s\) URL/);
  refused({ endpoint: "not a url" }, /endpoint="not a url"/);
  refused({ credentials: undefined }, /credentials=undefined in s3Store: pass \{ accessKeyId, secretAccessKey \}/);
  refused({ credentials: { accessKeyId: "AKID" } }, /credentials\.secretAccessKey in s3Store: it is missing/);
  refused({ credentials: { accessKeyId: "", secretAccessKey: "top-secret" } }, /credentials\.accessKeyId in s3Store: it is empty/);
  refused({ credentials: { accessKeyId: "AKID", secretAccessKey: "also-secret ", sessionToken: 5 } }, /credentials\.secretAccessKey in s3Store: it is holding whitespace/);
  refused({ credentials: { accessKeyId: "AKID", secretAccessKey: "top-secret", token: "x" } }, /option "token" of s3Store's credentials/);
  refused({ prefix: "/abs" }, /prefix="\/abs"/);
  refused({ prefix: "a/../b/" }, /prefix="a\/..\/b\/"/);
  refused({ partBytes: 1024 }, /partBytes=1024 in s3Store: .*from 5 MiB/);
  refused({ timeoutMs: 0 }, /timeoutMs=0/);
  refused({ fetch: "fetch" }, /fetch="fetch"/);
  refused({ ttl: 5 }, /option "ttl" of s3Store: there is no such option/);
  assert.throws(() => s3Store(undefined as never), /Cannot read the options of s3Store: pass an object/);
  assert.equal(s3Store(good).flags?.shared, true); // AWS S3's endpoint by default; nothing is sent yet
});

test("the bucket holds each payload under objects/ and an index object per entry key under index/, below the prefix", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent", store: s3Store(options(server, { prefix: "team/a" })) });
  t.after(() => memory.close());
  await memory.fn("tiny", (x: number) => x + 1)(1);
  const [entry] = memory.entries();
  assert.ok(entry?.object);
  const keys = await bucketKeys(server);
  assert.equal(keys.length, 2);
  assert.equal(keys[1], `team/a/objects/${entry.object}`);
  assert.match(keys[0]!, /^team\/a\/index\/[0-9a-f]{64}$/);
  // Another prefix is another cache: it lists nothing of this one's.
  const other = s3Store(options(server, { prefix: "team/b/" }));
  assert.deepEqual(await other.list!(), []);
  assert.deepEqual((await s3Store(options(server, { prefix: "team/a/" })).list!()).map((o) => o.id), [entry.object]);
});

test("list follows continuation tokens past 1,000 objects", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const { fetch, seen } = counting();
  const store = s3Store(options(server, { fetch }));
  const ids = Array.from({ length: 1005 }, (_, i) => i.toString(16).padStart(32, "0"));
  for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => store.set(id, [new Uint8Array([1])])));
  const listed = await store.list!();
  assert.deepEqual(listed.map((o) => o.id).sort(), ids);
  assert.equal(count(seen, "GET ListObjectsV2"), 2);
});

test("two machines (separate cache directories) sharing one bucket adopt each other's entries", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  let calls = 0;
  const body = async (x: number) => (calls++, await new Promise((r) => setTimeout(r, 20)), { x, data: floats(1000 * x, x) });
  const a = await Memory.open(join(dir.path, "machine-a"), { log: "warn", store: s3Store(options(server)) });
  t.after(() => a.close());
  const b = await Memory.open(join(dir.path, "machine-b"), { log: "warn", store: s3Store(options(server)) });
  t.after(() => b.close());
  const fa = a.fn("shared_fit", body, { version: "1" });
  const fb = b.fn("shared_fit", body, { version: "1" });
  assert.deepEqual(await fa(1), { x: 1, data: floats(1000, 1) });
  assert.deepEqual(await fb(1), { x: 1, data: floats(1000, 1) }); // adopted from a
  assert.deepEqual(await fb(20), { x: 20, data: floats(20_000, 20) });
  assert.deepEqual(await fa(20), { x: 20, data: floats(20_000, 20) }); // adopted from b
  assert.equal(calls, 2);
  assert.equal(a.stats().session.hits, 1);
  assert.equal(b.stats().session.hits, 1);
  const [adopted] = b.entries({ fn: "shared_fit" }).filter((e) => e.argsPreview === "1");
  assert.ok(adopted && adopted.computeMs >= 15 && /^(node|deno) /.test(adopted.runtime), JSON.stringify(adopted));
});

test("a value larger than partBytes goes up in parts and comes back exactly, in ranges", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const writer = counting();
  const reader = counting();
  const a = await Memory.open(join(dir.path, "a"), { log: "warn", store: s3Store(options(server, { partBytes: 5 * MIB, fetch: writer.fetch })) });
  t.after(() => a.close());
  const b = await Memory.open(join(dir.path, "b"), { log: "warn", store: s3Store(options(server, { partBytes: 5 * MIB, fetch: reader.fetch })) });
  t.after(() => b.close());
  let calls = 0;
  const big = (n: number) => (calls++, floats(n, 3)); // 12 MB of floats: three parts of 5 MiB, 5 MiB and the rest
  const value = await a.fn("big", big)(1_500_000);
  assert.equal(value.length, 1_500_000);
  assert.equal(count(writer.seen, "POST CreateMultipartUpload"), 1);
  assert.equal(count(writer.seen, "PUT UploadPart"), 3);
  assert.equal(count(writer.seen, "POST CompleteMultipartUpload"), 1);
  assert.equal(count(writer.seen, "DELETE AbortMultipartUpload"), 0);
  const [object] = (await bucketKeys(server)).filter((k) => k.includes("/objects/"));
  assert.ok(object);
  const got = await b.fn("big", big)(1_500_000); // adopted: read in ranges
  assert.equal(calls, 1);
  assert.ok(got instanceof Float64Array);
  assert.deepEqual(got, floats(1_500_000, 3));
  // The first 64 KiB with the size, then the floats' 12 MB in three ranges of at most 5 MiB.
  assert.equal(count(reader.seen, "GET ranged"), 1 + 3, reader.seen.join(", "));
  assert.equal(count(reader.seen, "GET object"), 1); // the index object
});

test("a small payload is one PUT, and a small read one GET", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const { fetch, seen } = counting();
  const store = s3Store(options(server, { fetch }));
  const id = "ab".repeat(16);
  await store.set(id, [new Uint8Array([1, 2]), new Uint8Array([3])]);
  assert.deepEqual(seen, ["PUT object"]);
  const reader = (await store.open!(id))!;
  const into = new Uint8Array(2);
  await reader.read(1, into);
  assert.deepEqual([reader.size, [...into]], [3, [2, 3]]);
  assert.deepEqual(seen, ["PUT object", "GET ranged"]);
  assert.equal(await store.open!("cd".repeat(16)), undefined);
});

test("a server lost mid-call: the memoized call still returns the user's value, and later calls compute again", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent", store: s3Store(options(server, { timeoutMs: 5_000 })) });
  t.after(() => memory.close());
  let calls = 0;
  const f = memory.fn("lost", async (x: number) => {
    calls++;
    if (x === 2) await server.kill(); // the server goes away while the value is computed, before it is stored
    return { x, data: floats(100_000, x) };
  });
  assert.deepEqual(await f(1), { x: 1, data: floats(100_000, 1) });
  const since = Date.now();
  assert.deepEqual(await f(2), { x: 2, data: floats(100_000, 2) });
  assert.deepEqual(await f(1), { x: 1, data: floats(100_000, 1) }); // its stored output is out of reach: computed again
  assert.deepEqual(await f(3), { x: 3, data: floats(100_000, 3) });
  assert.equal(calls, 4);
  assert.ok(Date.now() - since < 10_000, `took ${Date.now() - since} ms`);
});

test("a service that takes connections but never answers fails within timeoutMs, saying so", async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  const store = s3Store({ bucket: S3_BUCKET, endpoint, region: "us-east-1", credentials: S3_CREDENTIALS, timeoutMs: 300 });
  const since = Date.now();
  await assert.rejects(async () => await store.get("ab".repeat(16)), (e: NbmemoError) => {
    assert.equal(e.code, "STORE_UNAVAILABLE");
    assert.match(e.message, new RegExp(`^Cannot read s3://${S3_BUCKET}/nbmemo/objects/(ab)+ at ${endpoint}: no answer within 300 ms\\. .*timeoutMs`));
    return true;
  });
  assert.ok(Date.now() - since < 3_000);
});

test("wrong credentials, a missing bucket and a stopped server are errors naming the status, the code, the object and the way out", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const id = "ab".repeat(16);
  const expect = (store: Store, message: RegExp) => async () => {
    for (const call of [() => store.get(id), () => store.set(id, [new Uint8Array(1)]), () => store.find!("cd".repeat(32)), () => store.list!()]) {
      await assert.rejects(async () => await call(), (e: NbmemoError) => (assert.equal(e.code, "STORE_UNAVAILABLE"), assert.match(e.message, message), true));
    }
  };
  // s3rver does not check V4 signatures, so a wrong secretAccessKey passes there; an unknown key id does not.
  await expect(s3Store(options(server, { credentials: { accessKeyId: "NOBODY", secretAccessKey: "S3RVER" } })),
    /^Cannot \w+.* s3:\/\/nbmemo-test\/nbmemo\/.* at http:\/\/127\.0\.0\.1:\d+: HTTP 403 InvalidAccessKeyId \(.*\)\. .*check it/)();
  await expect(s3Store(options(server, { bucket: "no-such-bucket" })),
    /s3:\/\/no-such-bucket\/.*HTTP 404 NoSuchBucket .*The bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+: create it/)();
  await server.stop();
  await expect(s3Store(options(server)), /the request failed: .*Check the endpoint and that the service is up and reachable\./)();
});

test("a closed store refuses calls", async () => {
  const store = s3Store({ bucket: S3_BUCKET, endpoint: "http://127.0.0.1:9", region: "us-east-1", credentials: S3_CREDENTIALS });
  await store.close!();
  await assert.rejects(async () => await store.get("ab".repeat(16)), (e: NbmemoError) => e.code === "CLOSED");
});

// Two "machines" in two runtimes, one bucket.
interface WorkerResult {
  computed: number;
  count: number;
  type: string;
  length: number;
  wrong: number;
}

test("an entry written to S3 under Node is read under Deno, and a multipart one written under Deno is read under Node", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const run = async (which: "node" | "deno", machine: string, n: number) => {
    const result = await runFixture(which, "s3-worker.ts", [join(dir.path, machine), server.url, String(n)]);
    assert.equal(result.stderr, "", `${which}: ${result.stderr}`);
    return lastJson<WorkerResult>(result);
  };
  assert.deepEqual(await run("node", "node-a", 7), { computed: 1, count: 7, type: "Float64Array", length: 7, wrong: -1 });
  assert.deepEqual(await run("deno", "deno-b", 7), { computed: 0, count: 7, type: "Float64Array", length: 7, wrong: -1 });
  const big = 800_000; // 6.4 MB: two parts of the fixture's 5 MiB
  assert.deepEqual(await run("deno", "deno-c", big), { computed: 1, count: big, type: "Float64Array", length: big, wrong: -1 });
  assert.deepEqual(await run("node", "node-d", big), { computed: 0, count: big, type: "Float64Array", length: big, wrong: -1 });
});

// Outputs planted in the bucket through the store's own API (past nbmemo's signing) are refused; and the
// same through a local tier in front of the bucket.
signingContract("S3 store", async (t) => {
  const server = await started(t, startS3);
  if (!server) return undefined;
  const bucket = () => Promise.resolve(s3Store({ bucket: S3_BUCKET, endpoint: server.url, region: "us-east-1", credentials: S3_CREDENTIALS }));
  return { machine: bucket };
});

signingContract("tiered store (files over S3)", async (t) => {
  const server = await started(t, startS3);
  if (!server) return undefined;
  const dir = tempDir();
  t.after(dir.remove);
  const bucket = () => Promise.resolve(s3Store({ bucket: S3_BUCKET, endpoint: server.url, region: "us-east-1", credentials: S3_CREDENTIALS }));
  let machines = 0;
  return { machine: async () => tieredStore(await bucket(), join(dir.path, `copies-${machines++}`)), raw: bucket };
});

test("a failed part stops the upload: no part is in flight or started after the abort, and the first error reaches the caller", async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  // Part 2 is refused (400, not tried again); every other request goes to s3rver. Each is recorded when it
  // starts and when its answer arrives.
  const events: string[] = [];
  const failing = async (request: Request) => {
    const { searchParams } = new URL(request.url);
    const what = searchParams.has("partNumber") ? `part ${searchParams.get("partNumber")}`
      : searchParams.has("uploadId") && request.method === "DELETE" ? "abort" : `${request.method} other`;
    events.push(`start ${what}`);
    const response = what === "part 2"
      ? new Response("<Error><Code>InvalidRequest</Code><Message>part 2 refused by the test</Message></Error>", { status: 400 })
      : await fetch(request);
    events.push(`end ${what}`);
    return response;
  };
  const store = s3Store(options(server, { partBytes: 5 * MIB, fetch: failing }));
  const payload = new Uint8Array(floats(4_000_000, 1).buffer); // 32 MB: 7 parts, 4 at a time
  await assert.rejects(async () => await store.set("ab".repeat(16), [payload]), (e: NbmemoError) => {
    assert.equal(e.code, "STORE_UNAVAILABLE");
    assert.match(e.message, /^Cannot upload part 2 of 7 of s3:\/\/nbmemo-test\/nbmemo\/objects\/(ab)+ at http:\/\/127\.0\.0\.1:\d+: HTTP 400 InvalidRequest \(part 2 refused by the test\)\./);
    return true;
  });
  const abort = events.indexOf("start abort");
  assert.ok(abort > 0, events.join(", "));
  const parts = (from: number, to: number, kind: "start" | "end") => events.slice(from, to).filter((e) => e.startsWith(`${kind} part`)).length;
  assert.equal(parts(abort, events.length, "start"), 0, `a part started after the abort: ${events.join(", ")}`);
  assert.equal(parts(0, abort, "start"), parts(0, abort, "end"), `a part was in flight at the abort: ${events.join(", ")}`);
  assert.ok(parts(0, abort, "start") < 7, `parts were started after part 2 failed: ${events.join(", ")}`);
  // s3rver has no AbortMultipartUpload (it answers 405): that failure does not replace the first one.
  assert.deepEqual(events.slice(abort), ["start abort", "end abort"]);
  assert.deepEqual((await bucketKeys(server)).filter((k) => k.includes("/objects/")), []);

  // Through a memoized call: the value is still returned, and the next call computes it again.
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent", store: s3Store(options(server, { partBytes: 5 * MIB, fetch: failing })) });
  t.after(() => memory.close());
  let calls = 0;
  const big = memory.fn("big_refused", (n: number) => (calls++, floats(n, 2)));
  assert.deepEqual(await big(4_000_000), floats(4_000_000, 2));
  assert.deepEqual(await big(4_000_000), floats(4_000_000, 2));
  assert.equal(calls, 2);
});

// S3 has no lease (Store.lease): machines that call a key none of them has yet each compute it, at worst
// once per machine (within one machine its own catalog's lease holds), and each gets a correct value.
test("several processes (Node and Deno, separate cache directories) on one bucket each get the right value, computing it at most once per machine", { timeout: 120_000 }, async (t) => {
  const server = await s3rver(t);
  if (!server) return;
  const dir = tempDir();
  t.after(dir.remove);
  const results = await raceMachines(dir.path, server.url, 1500);
  const computed = results.reduce((sum, r) => sum + r.computed, 0);
  assert.ok(computed >= 1 && computed <= results.length, JSON.stringify(results));
  assert.ok(results.every((r) => r.computed <= 1 && r.value.x === 1 && /^(node|deno) \d+$/.test(r.value.by)), JSON.stringify(results));
  // Whatever a machine did not compute it adopted from one that did.
  const computers = new Set(results.filter((r) => r.computed === 1).map((r) => r.value.by));
  assert.ok(results.every((r) => computers.has(r.value.by)), JSON.stringify(results));
  t.diagnostic(`${computed} of ${results.length} machines computed the call`);
  // Afterwards every machine hits: the bucket's index names one of the outputs.
  const later = await runFixture("deno", "race.ts", [join(dir.path, "machine-late"), server.url, "0", "1500"]);
  const late = lastJson<RaceResult>(later);
  assert.equal(late.computed, 0, JSON.stringify(late));
  assert.ok(computers.has(late.value.by), JSON.stringify(late));
});
