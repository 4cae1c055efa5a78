import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "./harness.ts";
import { checksum, matchesChecksum } from "../lib/codec/checksum.ts";

const bytes = new TextEncoder().encode("the payload");

test("a checksum is the same however the payload is split into chunks", () => {
  assert.equal(checksum([bytes]), checksum([bytes.subarray(0, 3), bytes.subarray(3)]));
  assert.match(checksum([bytes]), /^crc32:[0-9a-f]{8}$/);
});

test("one changed byte no longer matches the checksum", () => {
  const stored = checksum([bytes]);
  const garbled = bytes.slice();
  garbled[4]! ^= 1;
  assert.ok(matchesChecksum([bytes], stored));
  assert.ok(!matchesChecksum([garbled], stored));
});

test("rows written with the earlier SHA-256 checksum still check", () => {
  const sha = createHash("sha256").update(bytes).digest("hex");
  assert.ok(matchesChecksum([bytes.subarray(0, 5), bytes.subarray(5)], sha));
  assert.ok(!matchesChecksum([bytes.subarray(1)], sha));
});
