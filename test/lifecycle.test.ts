// The cache's life cycle in ordinary use: a directory deleted under a running process, close() during
// calls, Memory.open run again without close(), must lose nothing and never leave a cache that refuses to open.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "./harness.ts";
import { Memory, type NbmemoError } from "../lib/mod.ts";
import { captureConsole, nodeTypeScript, root, runtimePath, startFixture, startProcess, tempDir } from "./helpers.ts";

for (const which of ["node", "deno"] as const) {
  test(`a cache directory deleted while a ${which} process has it open becomes a fresh cache there, which opens and hits`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const child = startFixture(which, "reset.ts", [dir.path]);
    t.after(() => void child.child.kill("SIGKILL"));
    assert.equal(await child.firstLine, "stored");
    rmSync(dir.path, { recursive: true, force: true }); // the "reset"
    child.child.stdin!.end("go\n");
    const { code, stdout, stderr } = await child.done;
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), { computed: 3 });
    assert.equal(stderr.match(/was deleted or replaced while this process had it open/g)?.length, 1, stderr);
    const memory = await Memory.open(dir.path, { log: "silent" });
    t.after(() => memory.close());
    let computed = 0;
    const twice = memory.fn("twice", (x: number) => (computed++, x * 2), { version: "1" });
    assert.deepEqual([await twice(2), await twice(3)], [4, 6]);
    assert.equal(computed, 0); // both stored in the fresh cache by the child
    assert.equal(await twice(1), 2);
    assert.equal(computed, 1); // gone with the deleted cache
    assert.deepEqual(memory.functions().map((f) => [f.name, f.entries]), [["twice", 3]]);
  });
}

test("a process whose cache directory was deleted and made again by another process follows the new catalog and leaves it sound", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const child = startFixture("deno", "reset.ts", [dir.path]);
  t.after(() => void child.child.kill("SIGKILL"));
  assert.equal(await child.firstLine, "stored");
  rmSync(dir.path, { recursive: true, force: true });
  // This process makes the fresh cache first, and keeps writing to it while the child follows.
  const memory = await Memory.open(dir.path, { log: "silent" });
  t.after(() => memory.close());
  const mine = memory.fn("mine", (x: number) => -x, { version: "1" });
  for (let x = 0; x < 50; x++) await mine(x);
  child.child.stdin!.end("go\n");
  for (let x = 50; x < 100; x++) await mine(x);
  const { code, stderr } = await child.done;
  assert.equal(code, 0, stderr);
  assert.equal(stderr.match(/was deleted or replaced/g)?.length, 1, stderr);
  for (let x = 100; x < 150; x++) await mine(x);
  await memory.close();
  const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
  t.after(() => db.close());
  assert.equal(db.prepare("PRAGMA integrity_check").get()!.integrity_check, "ok");
  assert.deepEqual(db.prepare("SELECT name, count(*) AS n FROM entries JOIN functions f ON f.id = fn GROUP BY name ORDER BY name").all().map((r) => [r.name, r.n]),
    [["mine", 150], ["twice", 2]]);
});

test("a directory holding only nbmemo's leftovers (objects/, a temp file, -wal and -shm without their catalog, a dead creator's lock) opens as a fresh cache", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  mkdirSync(join(dir.path, "objects", "ab"), { recursive: true });
  writeFileSync(join(dir.path, "objects", "ab", "ab12.1234.0.tmp"), "half a write");
  writeFileSync(join(dir.path, "catalog.sqlite-wal"), "a WAL of a deleted catalog");
  writeFileSync(join(dir.path, "catalog.sqlite-shm"), "its index");
  // The creation lock, and its journal, of a process killed while it created the catalog (lib/catalog/sqlite.ts, create).
  const creator = startFixture("node", "creator.ts", [dir.path, "forever"]);
  await new Promise<void>((resolve) => creator.child.stdout!.on("data", (d) => String(d).includes("locked") && resolve()));
  creator.child.kill("SIGKILL");
  await creator.done;
  assert.ok(readdirSync(dir.path).includes("catalog.sqlite-lock-journal"));
  const memory = await Memory.open(dir.path, { log: "silent" });
  const f = memory.fn("f", (x: number) => x + 1, { version: "1" });
  assert.equal(await f(1), 2);
  await memory.close();
  const again = await Memory.open(dir.path, { log: "silent", create: false });
  t.after(() => again.close());
  assert.equal(again.stats().entries, 1);
  assert.ok(!readdirSync(dir.path).includes("catalog.sqlite-lock-journal")); // rolled back by the next creator
});

test("close() waits for every call, those still computing their function's version included, and each result is stored", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "warn" });
  let computed = 0;
  // A source never seen before: its version is still being worked out when close() is called.
  const fresh = new Function("computed", `return (x) => (computed(), x * ${Date.now()} + x)`)(() => computed++) as (x: number) => number;
  const f = memory.fn("fresh", fresh, { unkeyed: "all" });
  const g = memory.fn("pinned", (x: number) => (computed++, x - 1), { version: "1" });
  const { result, warnings } = await captureConsole(async () => {
    const calls = [f(1), f(2), g(3)];
    await memory.close();
    return await Promise.all(calls);
  });
  assert.deepEqual(warnings, []);
  assert.equal(result.length, 3);
  assert.equal(computed, 3);
  const again = await Memory.open(dir.path, { log: "silent" });
  t.after(() => again.close());
  assert.equal(again.stats().entries, 3);
});

test("a call made after close() began is refused with CLOSED; one made by a call still computing goes through", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent" });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const inner = memory.fn("inner", (x: number) => x + 1, { version: "1" });
  const outer = memory.fn("outer", async (x: number) => (await released, await inner(x)), { version: "1" });
  const running = outer(1);
  const closing = memory.close();
  await assert.rejects(inner(5), (e: NbmemoError) => e.code === "CLOSED" && /Cannot call inner: this Memory .* is closed/.test(e.message));
  release();
  assert.equal(await running, 2);
  await closing;
  const again = await Memory.open(dir.path, { log: "silent" });
  t.after(() => again.close());
  assert.equal(again.stats().entries, 2);
});

test("Memory.open run again and again on one directory without close() keeps the open descriptors bounded", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const openFds = () => readdirSync("/proc/self/fd").length;
  const first = await Memory.open(dir.path, { log: "silent" });
  t.after(() => first.close());
  const before = openFds();
  for (let run = 0; run < 1000; run++) {
    // A notebook cell re-run: a new Memory on the same directory, the previous one dropped unclosed.
    const memory = await Memory.open(dir.path, { log: "silent" });
    const f = memory.fn("cell", (x: number) => x * 2, { version: "1" });
    assert.equal(await f(run % 10), (run % 10) * 2);
  }
  assert.ok(openFds() - before <= 4, `${openFds() - before} more descriptors open after 1,000 opens`);
});

for (const which of ["node", "deno"] as const) {
  test(`a Memory dropped without close() releases its catalog connection once collected (${which})`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const flags = which === "node" ? ["--expose-gc"] : ["--v8-flags=--expose-gc"];
    const script = join(root, "test", "fixtures", "dropped.ts");
    const argv = which === "deno" ? ["run", "-A", "--quiet", ...flags, `--config=${join(root, "deno.json")}`, script, dir.path] : [...nodeTypeScript(), ...flags, script, dir.path];
    const { code, stdout, stderr } = await startProcess(runtimePath(which), argv).done;
    assert.equal(code, 0, stderr);
    const { whileOpen, after } = JSON.parse(stdout.trim());
    assert.ok(whileOpen > 0 && whileOpen <= 4, `${whileOpen} descriptors while open`);
    assert.equal(after, 0);
  });

  test(`Memories opened one after another with hits not yet recorded share one exit listener, and close() gives it back (${which})`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const script = join(root, "test", "fixtures", "exit-listeners.ts");
    const argv = which === "deno" ? ["run", "-A", "--quiet", `--config=${join(root, "deno.json")}`, script, dir.path] : [...nodeTypeScript(), script, dir.path];
    const { code, stdout, stderr } = await startProcess(runtimePath(which), argv).done;
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /MaxListeners/);
    const { before, during, after } = JSON.parse(stdout.trim());
    // Under Deno nbmemo does not listen for signals (see onExit in lib/runtime.ts).
    const signals = which === "node" ? 1 : 0;
    assert.deepEqual(during, [before[0] + 1, before[1] + signals, before[2] + signals]);
    assert.deepEqual(after, before);
  });
}
