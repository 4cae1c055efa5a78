import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import process from "node:process";
import fc from "fast-check";
import { test } from "./harness.ts";
import { runFixture, tempDir } from "./helpers.ts";
import { checksum, crc32InJs, newChecksum, sumLike } from "../lib/codec/checksum.ts";
import { runtime } from "../lib/runtime.ts";
import { Xxh64 } from "../lib/xxh64.ts";

const seed = process.env.NBMEMO_PROPERTY_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.NBMEMO_PROPERTY_SEED);
console.log(`checksum property: seed ${seed} (NBMEMO_PROPERTY_SEED=${seed} replays it)`);

// Whether the concatenation of `chunks`, summed as the stored checksum `expected` is, gives it.
function matches(chunks: readonly Uint8Array[], expected: string): boolean {
  const sum = sumLike(expected);
  for (const chunk of chunks) sum.add(chunk);
  return sum.value() === expected;
}

const bytes = new TextEncoder().encode("the payload");

test("a checksum is the same however the payload is split into chunks", () => {
  assert.equal(checksum([bytes]), checksum([bytes.subarray(0, 3), bytes.subarray(3)]));
  assert.match(checksum([bytes]), /^crc32:[0-9a-f]{8}$/);
});

test("one changed byte no longer matches the checksum", () => {
  const stored = checksum([bytes]);
  const garbled = bytes.slice();
  garbled[4]! ^= 1;
  assert.ok(matches([bytes], stored));
  assert.ok(!matches([garbled], stored));
});

test("rows written with the earlier SHA-256 checksum still check", () => {
  const sha = createHash("sha256").update(bytes).digest("hex");
  assert.ok(matches([bytes.subarray(0, 5), bytes.subarray(5)], sha));
  assert.ok(!matches([bytes.subarray(1)], sha));
});

test("the CRC-32 of small pieces, computed in JavaScript, is zlib's, also continued across pieces of either size", () => {
  const { crc32 } = process.getBuiltinModule("node:zlib");
  const data = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7919 + (i >> 5)) % 256);
  for (const length of [0, 1, 3, 255, 4095, 4096, 9000]) {
    assert.equal(crc32InJs(data.subarray(0, length)), crc32(data.subarray(0, length)), `${length} bytes`);
    assert.equal(crc32InJs(data.subarray(length, length + 100), 0xdeadbeef), crc32(data.subarray(length, length + 100), 0xdeadbeef));
  }
  // Pieces below and above the size from which zlib computes it: the checksum of the whole either way.
  assert.equal(checksum([data.subarray(0, 10), data.subarray(10, 9000), data.subarray(9000)]), `crc32:${crc32(data).toString(16).padStart(8, "0")}`);
});

// XXH64 (seed 0) as its specification states it, one shot, all in BigInt: written apart from lib/xxh64.ts
// (whose inner loop runs in WebAssembly), so that the two are not wrong the same way.
function referenceXxh64(data: Uint8Array): string {
  const [p1, p2, p3, p4, p5] = [0x9e3779b185ebca87n, 0xc2b2ae3d27d4eb4fn, 0x165667b19e3779f9n, 0x85ebca77c2b2ae63n, 0x27d4eb2f165667c5n];
  const m = (n: bigint) => n & 0xffffffffffffffffn;
  const rotl = (n: bigint, r: bigint) => m((n << r) | (n >> (64n - r)));
  const round = (acc: bigint, input: bigint) => m(rotl(m(acc + m(input * p2)), 31n) * p1);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  let h: bigint;
  if (data.length >= 32) {
    const v = [m(p1 + p2), p2, 0n, m(0n - p1)];
    for (; at + 32 <= data.length; at += 32) for (let k = 0; k < 4; k++) v[k] = round(v[k]!, view.getBigUint64(at + 8 * k, true));
    h = m(rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n));
    for (const lane of v) h = m(m(h ^ round(0n, lane)) * p1 + p4);
  } else {
    h = p5;
  }
  h = m(h + BigInt(data.length));
  for (; at + 8 <= data.length; at += 8) h = m(rotl(h ^ round(0n, view.getBigUint64(at, true)), 27n) * p1 + p4);
  if (at + 4 <= data.length) h = m(rotl(h ^ m(BigInt(view.getUint32(at, true)) * p1), 23n) * p2 + p3), at += 4;
  for (; at < data.length; at++) h = m(rotl(h ^ m(BigInt(data[at]!) * p5), 11n) * p1);
  h = m((h ^ (h >> 33n)) * p2);
  h = m((h ^ (h >> 29n)) * p3);
  return `xxh64:${(h ^ (h >> 32n)).toString(16).padStart(16, "0")}`;
}

const xxh64Of = (...chunks: Uint8Array[]) => {
  const sum = new Xxh64();
  for (const chunk of chunks) sum.add(chunk);
  return sum.value();
};

test("XXH64 gives the specification's published values, and so does the reference it is tested against", () => {
  // xxHash's sanity buffer: each byte the top byte of a squared 32-bit state, from 2654435761.
  const sanity = new Uint8Array(101);
  for (let i = 0, state = 2654435761; i < sanity.length; i++, state = Math.imul(state, state) >>> 0) sanity[i] = state >>> 24;
  const text = (s: string) => new TextEncoder().encode(s);
  const published: [Uint8Array, string][] = [
    [new Uint8Array(0), "ef46db3751d8e999"], [text("a"), "d24ec4f1a98c6e5b"], [text("abc"), "44bc2cf5ad770999"],
    [text("Nobody inspects the spammish repetition"), "fbcea83c8a378bf1"],
    [sanity.subarray(0, 1), "4fce394cc88952d8"], [sanity.subarray(0, 14), "cffa8db881bc3a3d"], [sanity, "0eab543384f878ad"],
  ];
  for (const [data, value] of published) {
    assert.equal(xxh64Of(data), `xxh64:${value}`, `${data.length} bytes`);
    assert.equal(referenceXxh64(data), `xxh64:${value}`, `${data.length} bytes, reference`);
  }
});

test("XXH64 taken in any pieces is the reference's of the whole (property, 3,000 cases)", () => {
  const cut = fc.uint8Array({ maxLength: 700 }).chain((data) =>
    fc.tuple(fc.constant(data), fc.uniqueArray(fc.integer({ min: 0, max: data.length }), { maxLength: 6 })));
  fc.assert(fc.property(cut, fc.integer({ min: 0, max: 15 }), ([data, cuts], shift) => {
    // At a shifted offset in a larger buffer, as sections of a payload are.
    const placed = new Uint8Array(data.length + shift);
    placed.set(data, shift);
    const bounds = [0, ...cuts.sort((a, b) => a - b), data.length];
    const pieces = bounds.slice(1).map((end, i) => placed.subarray(shift + bounds[i]!, shift + end));
    assert.equal(xxh64Of(...pieces), referenceXxh64(data));
  }), { numRuns: 3000, seed });
});

test("XXH64 of more than the WebAssembly module takes at once, in uneven pieces, is the reference's", () => {
  const data = Uint8Array.from({ length: 700_001 }, (_, i) => (i * 2654435761) >>> 23);
  const expected = referenceXxh64(data);
  assert.equal(xxh64Of(data), expected);
  assert.equal(xxh64Of(data.subarray(0, 5), data.subarray(5, 300_007), data.subarray(300_007)), expected);
  const changed = data.slice();
  changed[500_000]! ^= 0x10;
  assert.notEqual(xxh64Of(changed), expected);
  assert.ok(matches([changed], expected) === false && matches([data.subarray(0, 9), data.subarray(9)], expected));
});

test("a payload of 1 MiB or more is summed with XXH64 under Node and CRC-32 under Deno; smaller ones with CRC-32", () => {
  const large = new Uint8Array(1 << 20);
  assert.match(checksum([large]), runtime.name === "node" ? /^xxh64:[0-9a-f]{16}$/ : /^crc32:[0-9a-f]{8}$/);
  assert.match(checksum([large.subarray(1)]), /^crc32:/);
  const running = newChecksum(large.byteLength);
  running.add(large.subarray(0, 3));
  running.add(large.subarray(3));
  assert.equal(running.value(), checksum([large]));
});

// Each runtime reads the other's checksum kind: a cache is shared by Node and Deno processes.
test("a large output stored by Node is a hit under Deno, and one stored by Deno a hit under Node", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const run = async (which: "node" | "deno") => {
    const { code, stdout, stderr } = await runFixture(which, "large-output.ts", [dir.path]);
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout) as { computed: boolean; same: boolean; checksum: string };
  };
  for (const [writer, reader, kind] of [["node", "deno", /^xxh64:/], ["deno", "node", /^crc32:/]] as const) {
    dir.remove();
    const written = await run(writer);
    assert.deepEqual([written.computed, written.same], [true, true], `${writer} computes and stores it`);
    assert.match(written.checksum, kind);
    assert.deepEqual(await run(reader), { computed: false, same: true, checksum: written.checksum }, `${reader} reads ${writer}'s`);
  }
});
