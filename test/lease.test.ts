// Leases: the same call started by several holders is computed by one; the others wait and read it back.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { LEASE_MS } from "../lib/memory/config.ts";
import { Memory, type NbmemoError } from "../lib/mod.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { creationSeams } from "../lib/catalog/sqlite.ts";
import { captureConsole, nodeTypeScript, root, runtimePath, startFixture, tempDir, withSeams } from "./helpers.ts";

// Two Memory instances on one directory are two lease holders with their own SQLite connections, as
// two processes would be.
async function twoHolders(t: { after: (fn: () => Promise<void>) => void }, options = {}) {
  const dir = tempDir();
  const a = await Memory.open(dir.path, { log: "silent" });
  const b = await Memory.open(dir.path, { log: "warn", ...options });
  t.after(async () => {
    await a.close();
    await b.close();
    dir.remove();
  });
  return { dir: dir.path, a, b };
}

// A compute that runs until the test lets it finish.
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  return { open, running, compute: async (value: string) => (started(), await opened, value) };
}

test("a call another holder is computing waits for it and reads its result back", async (t) => {
  const { a, b } = await twoHolders(t);
  const slow = gate();
  let computedByB = 0;
  const fa = a.fn("shared", () => slow.compute("from a"), { version: "1" });
  const fb = b.fn("shared", () => (computedByB++, "from b"), { version: "1" });
  const first = fa();
  await slow.running;
  const second = fb();
  setTimeout(slow.open, 100);
  assert.equal(await first, "from a");
  assert.equal(await second, "from a");
  assert.equal(computedByB, 0);
  assert.deepEqual(b.stats().session, { hits: 1, misses: 0, evicted: 0 });
});

test("with lock: false a call computes at once, even while another holder computes it", async (t) => {
  const { a, b } = await twoHolders(t, { lock: false });
  const slow = gate();
  const fa = a.fn("shared", () => slow.compute("from a"), { version: "1" });
  const fb = b.fn("shared", () => "from b", { version: "1" });
  const first = fa();
  await slow.running;
  assert.equal(await fb(), "from b");
  slow.open();
  await first;
});

test("waiting ends after lockTimeout: the call then computes itself, with a warning", async (t) => {
  const { a, b } = await twoHolders(t, { lockTimeout: 200 });
  const slow = gate();
  const fa = a.fn("shared", () => slow.compute("from a"), { version: "1" });
  const fb = b.fn("shared", () => "from b", { version: "1" });
  const first = fa();
  await slow.running;
  const { result, warnings } = await captureConsole(() => fb());
  slow.open();
  await first;
  assert.equal(result, "from b");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /shared: waited .* for another process .* computing it here/);
});

test("a holder whose compute fails releases its lease, and a waiting holder computes the call", async (t) => {
  const { a, b } = await twoHolders(t);
  const slow = gate();
  const fa = a.fn("shared", async () => {
    await slow.compute("");
    throw new Error("a failed");
  }, { version: "1" });
  const fb = b.fn("shared", () => "from b", { version: "1" });
  const first = fa();
  await slow.running;
  const second = fb();
  slow.open();
  await assert.rejects(first, /a failed/);
  assert.equal(await second, "from b");
});

for (const which of ["node", "deno"] as const) {
  test(`a holder killed with SIGKILL is taken over at once, not when its lease expires (${which})`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const holder = startFixture(which, "holder.ts", [dir.path, String(LEASE_MS)]); // the real lease: 30 s
    assert.equal(await holder.firstLine, "computing");
    holder.child.kill("SIGKILL");
    await holder.done;
    const memory = await Memory.open(dir.path, { log: "warn" });
    t.after(() => memory.close());
    let computed = 0;
    const hold = memory.fn("hold", (x: number) => (computed++, `computed here ${x}`), { version: "1" });
    const started = performance.now();
    const { result, warnings } = await captureConsole(() => hold(1));
    const waited = performance.now() - started;
    assert.equal(result, "computed here 1");
    assert.equal(computed, 1);
    assert.deepEqual(warnings, []);
    assert.ok(waited < 1000, `took over after ${Math.round(waited)} ms`);
  });

  test(`a holder computing synchronously past its lease's expiry (its event loop blocked) is waited for, and the call is computed once (${which})`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    // Leases of 200 ms, which the holder cannot renew while it computes for 1.5 s.
    const holder = startFixture(which, "holder.ts", [dir.path, "200", "block:1500"]);
    t.after(() => void holder.child.kill("SIGKILL"));
    assert.equal(await holder.firstLine, "computing");
    const memory = await Memory.open(dir.path, withSeams({ log: "warn" }, { leaseMs: 200 }));
    t.after(() => memory.close());
    let computed = 0;
    const hold = memory.fn("hold", (x: number) => (computed++, `computed here ${x}`), { version: "1" });
    const { result, warnings } = await captureConsole(() => hold(1));
    assert.equal(result, "computed there 1");
    assert.equal(computed, 0);
    assert.deepEqual(warnings, []);
    assert.equal((await holder.done).code, 0);
  });
}

test("a live holder keeps its lease past its duration (by its process, and heartbeats): others wait until lockTimeout", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  // A lease of 150 ms renewed every 50 ms; the waiter gives up after 1 s, well past several lease lengths.
  const holder = startFixture("deno", "holder.ts", [dir.path, "150"]);
  t.after(() => void holder.child.kill("SIGKILL"));
  assert.equal(await holder.firstLine, "computing");
  const memory = await Memory.open(dir.path, withSeams({ log: "warn", lockTimeout: 1000 }, { leaseMs: 150 }));
  t.after(() => memory.close());
  const hold = memory.fn("hold", (x: number) => `computed here ${x}`, { version: "1" });
  const { result, warnings } = await captureConsole(() => hold(1));
  assert.equal(result, "computed here 1");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /waited .* for another process \(\d+:[0-9a-f-]+:\d+@[^)]+\)/);
});

test("lock and lockTimeout are validated", async () => {
  const dir = tempDir();
  try {
    await assert.rejects(Memory.open(dir.path, { lock: "yes" } as never), (e: NbmemoError) =>
      e.code === "INVALID_OPTION" && /lock="yes"/.test(e.message));
    for (const lockTimeout of [-1, NaN, Infinity, "10"]) {
      await assert.rejects(Memory.open(dir.path, { lockTimeout } as never), /Cannot use lockTimeout=.*milliseconds/);
    }
  } finally {
    dir.remove();
  }
});

test("a process that saw no catalog yet, while another created it and took a lease, still sees that lease (it removes none of the other's files)", async (t) => {
  const dir = tempDir();
  const out = join(dir.path, "holder.out");
  let holder: ChildProcess | undefined;
  t.after(() => {
    holder?.kill();
    dir.remove();
  });
  const cache = join(dir.path, "cache");
  // Between this process's look for the catalog and its creation of one, another process creates the cache,
  // takes the lease on hold(1) and computes it (test/fixtures/holder.ts, which never finishes).
  creationSeams.missing = () => {
    creationSeams.missing = undefined;
    const fd = openSync(out, "w");
    holder = spawn(runtimePath("node"), [...nodeTypeScript(), join(root, "test", "fixtures", "holder.ts"), cache, String(LEASE_MS)], { stdio: ["ignore", fd, "inherit"] });
    closeSync(fd);
    while (!readFileSync(out, "utf8").includes("computing")) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  };
  t.after(() => (creationSeams.missing = undefined));
  const memory = await Memory.open(cache, { log: "warn", lockTimeout: 50 });
  t.after(() => memory.close());
  const hold = memory.fn("hold", (x: number) => `computed here ${x}`, { version: "1" });
  const { result, warnings } = await captureConsole(() => hold(1));
  assert.equal(result, "computed here 1");
  // It waited for the holder (then gave up), which it sees only through the -wal the holder writes.
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /hold: waited .* for another process .* computing it here/);
});
