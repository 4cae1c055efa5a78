import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "./harness.ts";
import { checksum, crc32InJs, sumLike } from "../lib/codec/checksum.ts";

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
