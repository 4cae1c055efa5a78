// Signed entries: the trailer format's own properties (every change to a signed payload is refused), and
// the signing contract on the shared store every machine has, Deno KV (S3 and Redis run it in their suites).
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { test } from "./harness.ts";
import { ForgedPayload, Signer } from "../lib/codec/signature.ts";
import { kvStore, Memory, NbmemoError } from "../lib/mod.ts";
import { tempDir } from "./helpers.ts";
import { signingContract } from "./signing-contract.ts";

const runs = Number(process.env.NBMEMO_PROPERTY_RUNS ?? 4000);
const seed = process.env.NBMEMO_PROPERTY_SEED === undefined ? undefined : Number(process.env.NBMEMO_PROPERTY_SEED);
const options = { numRuns: runs, seed, verbose: true };
const KEY = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
const info = { computeMs: 12.5, runtime: "node 24.0.0", createdAt: 1_700_000_000_000, key: "ab".repeat(32) };
const chunksOf = fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 });

function sealed(chunks: Uint8Array[]): Uint8Array {
  const parts = [...chunks, new Signer(KEY).seal(chunks, info)];
  const stored = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) stored.set(p, at), at += p.byteLength;
  return stored;
}

test("a sealed payload opens to the same bytes and info, without a copy", () => {
  fc.assert(fc.property(chunksOf, (chunks) => {
    const stored = sealed(chunks);
    const { payload, info: signed } = new Signer(KEY).open(stored, info.key);
    assert.deepEqual(payload, new Uint8Array(chunks.flatMap((c) => [...c])));
    assert.equal(payload.buffer, stored.buffer);
    assert.deepEqual(signed, info);
  }), options);
});

test("any changed, dropped or added byte of a signed payload, a wrong key or another entry's key is refused", () => {
  const change = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("key" as const), other: fc.uint8Array({ minLength: 16, maxLength: 40 }) }),
    fc.record({ kind: fc.constant("entry" as const), other: fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 }) }),
  );
  fc.assert(fc.property(chunksOf, change, (chunks, c) => {
    let stored = sealed(chunks);
    let key: Uint8Array = KEY;
    let entry = info.key;
    if (c.kind === "flip") stored[c.at % stored.length]! ^= c.bits;
    if (c.kind === "truncate") stored = stored.subarray(0, c.at % stored.length);
    if (c.kind === "insert") {
      const at = c.at % (stored.length + 1);
      stored = Uint8Array.from([...stored.subarray(0, at), c.byte, ...stored.subarray(at)]);
    }
    if (c.kind === "key") fc.pre(Buffer.compare(c.other, KEY) !== 0), key = c.other;
    if (c.kind === "entry") fc.pre(c.other !== info.key), entry = c.other;
    assert.throws(() => new Signer(key).open(stored, entry), ForgedPayload);
  }), options);
});

test("signingKey is checked at the edge: too short or not a string or bytes, from the option or NBMEMO_SIGNING_KEY", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  for (const signingKey of ["short", new Uint8Array(8), 42]) {
    await assert.rejects(Memory.open(dir.path, { signingKey: signingKey as string }), (e: NbmemoError) =>
      e.code === "INVALID_OPTION" && /signingKey/.test(e.message) && /openssl rand -hex 32/.test(e.message));
  }
  process.env.NBMEMO_SIGNING_KEY = "too short";
  t.after(() => delete process.env.NBMEMO_SIGNING_KEY);
  await assert.rejects(Memory.open(dir.path), /Cannot use NBMEMO_SIGNING_KEY: it has 9 bytes/);
});

test("NBMEMO_SIGNING_KEY signs like the option does", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const kv = join(dir.path, "kv.sqlite");
  process.env.NBMEMO_SIGNING_KEY = "0123456789abcdef0123456789abcdef";
  t.after(() => delete process.env.NBMEMO_SIGNING_KEY);
  const a = await Memory.open(join(dir.path, "a"), { log: "silent", store: kv });
  t.after(() => a.close());
  let calls = 0;
  await a.fn("env_signed", (x: number) => (calls++, x), { version: "1" })(1);
  const b = await Memory.open(join(dir.path, "b"), { log: "silent", store: kv, signingKey: "0123456789abcdef0123456789abcdef" });
  t.after(() => b.close());
  assert.equal(await b.fn("env_signed", (x: number) => (calls++, x), { version: "1" })(1), 1);
  assert.equal(calls, 1);
  const raw = await kvStore(kv);
  t.after(() => raw.close?.());
  const stored = (await raw.get(a.entries()[0]!.object!))!;
  assert.equal(new TextDecoder().decode(stored.subarray(-8)), "nbmsig01");
});

signingContract("Deno KV store", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const path = join(dir.path, "team.kv");
  return { machine: () => kvStore(path) };
});
