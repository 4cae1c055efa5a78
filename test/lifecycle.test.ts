// The cache's life cycle in ordinary use: a directory deleted under a running process, close() during
// calls, Memory.open run again without close(), must lose nothing and never leave a cache that refuses to open.
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { Memory } from "../lib/mod.ts";
import { startFixture, tempDir } from "./helpers.ts";

for (const which of ["node", "deno"] as const) {
  test(`a cache directory deleted while a ${which} process has it open becomes a fresh cache there, which opens and hits`, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const child = startFixture(which, "reset.ts", [dir.path]);
    t.after(() => void child.child.kill("SIGKILL"));
    assert.equal(await child.firstLine, "stored");
    rmSync(dir.path, { recursive: true, force: true }); // the "reset"
    child.child.stdin!.write("go\n");
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

test("a directory holding only nbmemo's leftovers (objects/, a temp file, -wal and -shm without their catalog) opens as a fresh cache", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  mkdirSync(join(dir.path, "objects", "ab"), { recursive: true });
  writeFileSync(join(dir.path, "objects", "ab", "ab12.1234.0.tmp"), "half a write");
  writeFileSync(join(dir.path, "catalog.sqlite-wal"), "a WAL of a deleted catalog");
  writeFileSync(join(dir.path, "catalog.sqlite-shm"), "its index");
  const memory = await Memory.open(dir.path, { log: "silent" });
  const f = memory.fn("f", (x: number) => x + 1, { version: "1" });
  assert.equal(await f(1), 2);
  await memory.close();
  const again = await Memory.open(dir.path, { log: "silent", create: false });
  t.after(() => again.close());
  assert.equal(again.stats().entries, 1);
});
