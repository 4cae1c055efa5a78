// Large and compressed outputs through Memory: stored, read back exactly, and options checked.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { compressionSupported } from "../lib/codec/compression.ts";
import { Memory, NbmemoError } from "../lib/mod.ts";
import { tempDir } from "./helpers.ts";

test("a large Float64Array output is read back bit-exactly in a buffer of its own", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "silent" });
  t.after(() => memory.close());
  const signal = memory.fn("signal", (n: number) => {
    const out = new Float64Array(n).map((_, i) => Math.sin(i));
    out[0] = -0;
    out[1] = NaN;
    return out;
  });
  const first = await signal(500_000);
  const second = await signal(500_000);
  assert.notEqual(second, first);
  assert.equal(second.buffer.byteLength, 4_000_000);
  assert.deepEqual(new Uint8Array(second.buffer), new Uint8Array(first.buffer));
  assert.equal(memory.stats().session.hits, 1);
});

for (const method of ["gzip", "zstd"] as const) {
  test(`with compress: "${method}", large outputs are stored compressed and read back`, { skip: !compressionSupported(method) && `no ${method} here` }, async (t) => {
    const dir = tempDir();
    t.after(dir.remove);
    const memory = await Memory.open(dir.path, { log: "silent", compress: method, compressMinBytes: 1000 });
    t.after(() => memory.close());
    const zeros = memory.fn("zeros", (n: number) => ({ data: new Float64Array(n), n }));
    await zeros(1_000_000);
    const back = await zeros(1_000_000);
    assert.equal(back.data.length, 1_000_000);
    assert.ok(back.data.every((x) => Object.is(x, 0)));
    const [entry] = memory.entries({ fn: "zeros" });
    assert.ok(entry!.bytes < 100_000, `8 MB of zeros stored as ${entry!.bytes} bytes`);
    assert.ok(!existsSync(join(dir.path, "objects")), "small enough once compressed to live in the catalog");
  });
}

test("an unknown compression method is refused when the cache is opened", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  await assert.rejects(
    Memory.open(dir.path, { compress: "lz4" as "gzip" }),
    (e: NbmemoError) => e.code === "INVALID_OPTION" && /compress="lz4"/.test(e.message),
  );
});
