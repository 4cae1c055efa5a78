import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { sha256Hex, sha256InJs } from "../lib/keys/sha256.ts";

const native = (text: string) => createHash("sha256").update(text).digest("hex");

test("SHA-256 in JavaScript gives node:crypto's digest of a text's UTF-8, at every block boundary", () => {
  assert.equal(sha256InJs(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(sha256InJs("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  for (let length = 0; length <= 200; length++) assert.equal(sha256InJs("x".repeat(length)), native("x".repeat(length)), `length ${length}`);
});

test("SHA-256 in JavaScript agrees with node:crypto over any text, lone surrogates and astral characters included", () => {
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), fc.string({ unit: fc.constantFrom("\ud800", "\udfff", "é", "🙂", "a"), maxLength: 80 }),
    (text, odd) => sha256InJs(text + odd) === native(text + odd)), { numRuns: 1000 });
});

test("sha256Hex gives the same digests before and after it hands over to node:crypto, and for long texts", () => {
  const texts = Array.from({ length: 200 }, (_, i) => `text ${i} ${"y".repeat(i * 31)}`);
  for (const text of [...texts, "z".repeat(100_000)]) assert.equal(sha256Hex(text), native(text));
});
