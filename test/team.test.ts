// Two machines (cache directories of their own) on one shared store, S3 (s3rver) and Redis (redis-server),
// the second one plain or behind a local tier: a shared store's outputs are the team's. One machine's limits,
// prune, delete and clear drop its own entries and local copies only; `{ shared: true }` deletes for everyone,
// and an entry deleted elsewhere is a miss, never an error.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { test } from "./harness.ts";
import { Memory, type Memoized, redisStore, s3Store, type Store, tieredStore } from "../lib/mod.ts";
import { tempDir } from "./helpers.ts";
import { S3_BUCKET, S3_CREDENTIALS, type Server, started, startRedis, startS3 } from "./servers.ts";

const backends: { name: string; start: () => Promise<Server>; store: (server: Server) => Promise<Store> }[] = [
  {
    name: "S3",
    start: startS3,
    store: async (server) => s3Store({ bucket: S3_BUCKET, endpoint: server.url, region: "us-east-1", credentials: S3_CREDENTIALS }),
  },
  { name: "Redis", start: startRedis, store: (server) => redisStore(server.url) },
];

/** Every file under `dir` (the local copies of a tiered store), by count. */
function files(dir: string): number {
  let count = 0;
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) count++;
  } catch {
    // No copies yet.
  }
  return count;
}

interface Team {
  /** Machine A: the shared store alone. */
  a: Memory;
  /** Machine B: the shared store, plain or tiered. */
  b: Memory;
  /** The shared store, as a third party sees it. */
  raw: Store;
  /** B's local copies (tiered), or undefined. */
  copies?: string;
  calls: () => number;
  f: (m: Memory) => Memoized<[number], number[]>;
}

async function team(t: TestContext, backend: (typeof backends)[number], tiered: boolean, bOptions: { maxEntries?: number } = {}): Promise<Team | undefined> {
  const server = await started(t, backend.start);
  if (!server) return undefined;
  const dir = tempDir();
  t.after(dir.remove);
  const copies = tiered ? join(dir.path, "b-copies") : undefined;
  const a = await Memory.open(join(dir.path, "a"), { log: "silent", store: await backend.store(server) });
  const bStore = copies ? tieredStore(await backend.store(server), copies) : await backend.store(server);
  const b = await Memory.open(join(dir.path, "b"), { log: "silent", store: bStore, ...bOptions });
  const raw = await backend.store(server);
  t.after(async () => (await a.close(), await b.close(), await raw.close?.()));
  let calls = 0;
  // Values of some size (so that a copy is a file), different for every n.
  const f = (m: Memory) => m.fn("team_f", (n: number) => (calls++, Array.from({ length: 5000 }, (_, i) => n * 10_000 + i)), { version: "1" });
  return { a, b, raw, copies, calls: () => calls, f };
}

const expected = (n: number) => Array.from({ length: 5000 }, (_, i) => n * 10_000 + i);

for (const backend of backends) {
  for (const tiered of [false, true]) {
    const label = `${backend.name}${tiered ? ", B tiered" : ""}`;

    test(`${label}: one machine's limits and prune drop its own entries and copies, never the team's outputs`, async (t) => {
      const setup = await team(t, backend, tiered, { maxEntries: 2 });
      if (!setup) return;
      const { a, b, raw, copies, calls, f } = setup;
      for (let n = 1; n <= 6; n++) await f(a)(n);
      assert.equal(calls(), 6);
      for (let n = 1; n <= 6; n++) assert.deepEqual(await f(b)(n), expected(n)); // adopted, then evicted by B's limit
      await b.prune();
      assert.equal(calls(), 6);
      assert.ok(b.stats().entries <= 2, `B keeps at most its maxEntries: ${b.stats().entries}`);
      if (copies) assert.ok(files(copies) <= 2, `B's local copies follow its limits: ${files(copies)} files`);
      assert.equal((await raw.list!()).length, 6);
      for (let n = 1; n <= 6; n++) assert.deepEqual(await f(a)(n), expected(n));
      for (let n = 1; n <= 6; n++) assert.deepEqual(await f(b)(n), expected(n)); // read back from the store again
      assert.equal(calls(), 6);
    });

    test(`${label}: delete and clear on one machine keep the team's outputs; { shared: true } deletes them for every machine`, async (t) => {
      const setup = await team(t, backend, tiered);
      if (!setup) return;
      const { a, b, raw, copies, calls, f } = setup;
      let gCalls = 0;
      const g = (m: Memory) => m.fn("team_g", (n: number) => (gCalls++, `g${n}`), { version: "1" });
      await f(a)(1);
      await f(a)(2);
      await g(a)(1);
      assert.deepEqual([await f(b)(1), await f(b)(2), await g(b)(1)], [expected(1), expected(2), "g1"]);
      assert.equal(calls(), 2);

      assert.equal(await b.delete("team_f"), 2);
      assert.equal(await f(b).clear(), 0);
      if (copies) assert.equal(files(copies), 1, "B's copies of team_f are gone, g's is kept");
      assert.deepEqual([await f(a)(1), await f(a)(2)], [expected(1), expected(2)]);
      assert.deepEqual([await f(b)(1), await f(b)(2)], [expected(1), expected(2)]); // the team's, read back
      assert.equal(calls(), 2);
      assert.equal(await b.clear(), 3);
      assert.equal((await raw.list!()).length, 3);

      assert.deepEqual([await f(b)(1), await f(b)(2)], [expected(1), expected(2)]);
      assert.equal(await f(b).clear({ shared: true }), 2);
      assert.equal((await raw.list!()).length, 1);
      assert.deepEqual(await f(a)(1), expected(1)); // deleted elsewhere: a miss on A, computed again
      assert.equal(calls(), 3);
      assert.equal(await b.delete("team_f", { shared: true }), 0); // B no longer knows A's new output of team_f(1)
      assert.deepEqual(await g(b)(1), "g1");
      await b.clear({ shared: true }); // every machine's outputs, also those B never read
      assert.deepEqual(await raw.list!(), []);
      assert.deepEqual([await f(a)(1), await g(a)(1)], [expected(1), "g1"]);
      assert.deepEqual([calls(), gCalls], [4, 2]);
    });
  }
}

test("delete options are checked", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent" });
  t.after(() => memory.close());
  const f = memory.fn("checked", (x: number) => x);
  await assert.rejects(memory.delete("checked", { shared: "yes" } as never), /Cannot delete checked: the options must be an object such as \{ version: "pinned:2" \} or \{ shared: true \}/);
  await assert.rejects(memory.clear({ version: "1" } as never), /Cannot delete the cache: the options must be an object such as \{ shared: true \}/);
  await assert.rejects(f.clear(null as never), /Cannot delete the results of checked/);
  await f(1);
  assert.equal(await memory.clear({ shared: true }), 1); // the file store is not shared: the option changes nothing
});
