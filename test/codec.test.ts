import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { concat, CorruptPayload, decode, encode, UnstorableValue } from "../lib/codec.ts";
import { root } from "./helpers.ts";

const roundTrip = (value: unknown) => decode(concat(encode(value)));

test("plain JSON data round-trips", () => {
  const value = { a: [1, "two", { three: true }], b: null, c: "ü ✓ \u2028" };
  assert.deepEqual(roundTrip(value), value);
});

test("special values round-trip exactly", () => {
  const value = {
    undef: undefined, nan: NaN, negZero: -0, inf: Infinity, big: -(2n ** 70n), date: new Date(1e12),
    invalidDate: new Date(NaN), set: new Set([1, [2]]), map: new Map([[{ k: 1 }, "object key"]]),
    regexp: /x\d+/su,
  };
  const back = roundTrip(value) as typeof value;
  assert.deepEqual(back, value);
  assert.ok(Object.is(back.negZero, -0));
  assert.ok(Number.isNaN(back.invalidDate.getTime()));
});

test("errors keep their message (superjson drops the stack)", () => {
  const back = roundTrip({ error: new RangeError("kept message") }) as { error: Error };
  assert.ok(back.error instanceof Error);
  assert.equal(back.error.message, "kept message");
});

test("every typed array type round-trips bit-exactly, including NaN payloads", () => {
  const nanWithPayload = new Float64Array(new BigUint64Array([0x7ff8_0000_dead_beefn]).buffer)[0]!;
  const values = [
    new Int8Array([-128, 127]), new Uint8Array([0, 255]), new Uint8ClampedArray([0, 255]),
    new Int16Array([-1]), new Uint16Array([65535]), new Int32Array([-(2 ** 31)]), new Uint32Array([2 ** 32 - 1]),
    new Float32Array([0.1, NaN, -0]), new Float64Array([nanWithPayload, -0, Number.EPSILON]),
    new BigInt64Array([-(2n ** 63n)]), new BigUint64Array([2n ** 64n - 1n]), new DataView(new Uint8Array([1, 2, 3]).buffer),
  ];
  for (const value of values) {
    const back = roundTrip({ value }) as { value: ArrayBufferView };
    assert.equal(back.value.constructor, value.constructor);
    assert.deepEqual(
      new Uint8Array(back.value.buffer, back.value.byteOffset, back.value.byteLength),
      new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
    );
  }
});

test("binary data is stored as raw bytes, not inflated", () => {
  const data = new Float64Array(125_000); // 1 MB
  const chunks = encode({ data });
  const size = chunks.reduce((n, c) => n + c.byteLength, 0);
  assert.ok(size < 1_000_000 + 200, `payload is ${size} bytes`);
  assert.ok(chunks.some((c) => c.buffer === data.buffer), "the array's own bytes are written, not a copy");
});

test("subarray views keep only their own bytes", () => {
  const whole = Float64Array.from({ length: 10 }, (_, i) => i);
  const back = roundTrip(whole.subarray(2, 5)) as Float64Array;
  assert.deepEqual(Array.from(back), [2, 3, 4]);
});

test("shared and cyclic references are kept", () => {
  const shared = { k: 1 };
  const cyclic: Record<string, unknown> = { shared, again: shared };
  cyclic.self = cyclic;
  const back = roundTrip(cyclic) as typeof cyclic;
  assert.equal(back.self, back);
  assert.equal(back.shared, back.again);
});

test("values that would not read back as they are are refused with their path", () => {
  assert.throws(() => encode({ a: { f: () => 1 } }), (e: UnstorableValue) => e.path === "result.a.f");
  assert.throws(() => encode([1, Symbol("s")]), /result\[1\] is a symbol/);
  assert.throws(() => encode({ m: new (class Model {})() }), /result\.m is an instance of Model/);
  assert.throws(() => encode([1, , 3]), /hole in a sparse array/);
});

test("truncated, garbled or foreign bytes are reported as corrupt", () => {
  const good = concat(encode({ x: new Float64Array([1, 2, 3]), d: new Date(0) }));
  assert.throws(() => decode(good.subarray(0, good.byteLength - 1)), CorruptPayload);
  assert.throws(() => decode(new TextEncoder().encode("{\"json\": 1}")), CorruptPayload);
  const garbled = good.slice();
  garbled[20] = 0x7b; // inside the JSON document
  garbled[21] = 0x7b;
  assert.throws(() => decode(garbled), CorruptPayload);
  assert.throws(() => decode(new Uint8Array(0)), CorruptPayload);
});

test("a payload written by codec version 1 still reads back", () => {
  const bytes = readFileSync(join(root, "test", "fixtures", "payload-v1.bin"));
  assert.deepEqual(decode(bytes), {
    name: "v1",
    when: new Date("2026-11-24T00:00:00.000Z"),
    values: new Float64Array([1.5, -0, NaN]),
    tags: new Set(["a", "b"]),
  });
});
