// Leases: the same call started by several holders is computed by one; the others wait and read it back.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { Memory, type NbmemoError } from "../lib/mod.ts";
import { captureConsole, startFixture, tempDir, withSeams } from "./helpers.ts";

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

test("a holder killed with SIGKILL loses its lease when it expires, and another process computes the call", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const holder = startFixture("node", "holder.ts", [dir.path, "300"]);
  assert.equal(await holder.firstLine, "computing");
  holder.child.kill("SIGKILL");
  await holder.done;
  const memory = await Memory.open(dir.path, { log: "warn" });
  t.after(() => memory.close());
  let computed = 0;
  const hold = memory.fn("hold", (x: number) => (computed++, `computed here ${x}`), { version: "1" });
  const { result, warnings } = await captureConsole(() => hold(1));
  assert.equal(result, "computed here 1");
  assert.equal(computed, 1);
  assert.deepEqual(warnings, []);
});

test("a hung holder (its event loop blocked) loses its lease when it expires, and another process computes the call", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const holder = startFixture("node", "holder.ts", [dir.path, "300", "block"]);
  t.after(() => void holder.child.kill("SIGKILL"));
  assert.equal(await holder.firstLine, "computing");
  const memory = await Memory.open(dir.path, { log: "warn" });
  t.after(() => memory.close());
  const hold = memory.fn("hold", (x: number) => `computed here ${x}`, { version: "1" });
  const { result, warnings } = await captureConsole(() => hold(1));
  assert.equal(result, "computed here 1");
  assert.deepEqual(warnings, []); // taken over at expiry, not after lockTimeout
});

test("a live holder keeps its lease past its duration by heartbeats: others wait until lockTimeout", async (t) => {
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
  assert.match(warnings[0]!, /waited .* for another process \(\d+:[0-9a-f-]+(@[^)]+)?\)/);
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
