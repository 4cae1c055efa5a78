import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { concat } from "../lib/bytes.ts";
import { compress, CorruptPayload, decode, encode, UnstorableValue } from "../lib/codec/codec.ts";
import { decodeSource } from "../lib/codec/read.ts";
import { readEntry } from "../lib/memory/entries.ts";
import { type Compression, compressionSupported } from "../lib/codec/compression.ts";
import { fileStore } from "../lib/store/file.ts";
import type { Store } from "../lib/store/store.ts";
import { root, tempDir } from "./helpers.ts";

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
  // An invalid Date apart: Node 22.13's deepStrictEqual compares Dates' times with ===, and NaN is not NaN.
  const { invalidDate, ...back } = roundTrip(value) as typeof value;
  const { invalidDate: _, ...expected } = value;
  assert.deepEqual(back, expected);
  assert.ok(invalidDate instanceof Date && Number.isNaN(invalidDate.getTime()));
  assert.ok(Object.is(back.negZero, -0));
});

test("errors keep their kind, message and stack", () => {
  const error = new RangeError("kept message");
  const back = roundTrip({ error }) as { error: Error };
  assert.ok(back.error instanceof RangeError);
  assert.equal(back.error.message, "kept message");
  assert.equal(back.error.stack, error.stack);
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
  assert.throws(() => encode({ a: { f: () => 1 } }), (e: UnstorableValue) => e.path === "output.a.f");
  assert.throws(() => encode([1, Symbol("s")]), /output\[1\] is a symbol/);
  assert.throws(() => encode({ m: new (class Model {})() }), /output\.m is an instance of class Model/);
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

test("a payload that claims to be plain JSON but counts binary sections is reported as corrupt, not read as its document", async () => {
  const payload = concat(encode({ x: new Float64Array([1]) })); // superjson, with one section
  payload[5] = 0; // now marked plain JSON
  assert.throws(() => decode(payload), /garbled header: plain JSON with binary sections/);
  const source = { size: payload.byteLength, read: (offset: number, into: Uint8Array) => into.set(payload.subarray(offset, offset + into.byteLength)) };
  await assert.rejects(decodeSource(source), /garbled header: plain JSON with binary sections/);
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

const compressions: Compression[] = ["gzip", "zstd"];

for (const method of compressions) {
  test(`${method}-compressed payloads round-trip exactly and are smaller`, { skip: !compressionSupported(method) && `no ${method} here` }, async () => {
    const value = { zeros: new Float64Array(100_000), nan: NaN, negZero: -0, text: "x".repeat(10_000) };
    const plain = encode(value);
    const packed = await compress(plain, method);
    const bytes = concat(packed);
    assert.ok(bytes.byteLength < concat(plain).byteLength / 10, `compressed to ${bytes.byteLength} bytes`);
    const back = decode(bytes) as typeof value;
    assert.deepEqual(back, value);
    assert.ok(Object.is(back.negZero, -0));
  });

  test(`a truncated ${method} payload is reported as corrupt`, { skip: !compressionSupported(method) && `no ${method} here` }, async () => {
    const bytes = concat(await compress(encode({ data: new Float64Array(10_000).fill(1.5) }), method));
    assert.throws(() => decode(bytes.subarray(0, bytes.byteLength - 8)), CorruptPayload);
    const garbled = bytes.slice();
    garbled[bytes.byteLength - 20]! ^= 0xff;
    assert.throws(() => decode(garbled), CorruptPayload);
  });
}

// A payload over 1 MiB, with sections small enough to sit in the first read and large ones beyond it.
function largeValue() {
  const nanWithPayload = new Float64Array(new BigUint64Array([0x7ff0_0000_0000_0001n]).buffer)[0]!;
  const big = new Float64Array(300_000).map((_, i) => i / 3);
  big[0] = nanWithPayload;
  big[1] = -0;
  return {
    small: new Int16Array([-1, 2, -3]),
    big,
    bytes: new Uint8Array(200_000).map((_, i) => i % 251),
    view: new DataView(new Uint8Array([9, 8, 7]).buffer),
    raw: new Uint32Array([1, 2, 3]).buffer,
    buffer: Buffer.from("a Buffer stays a Buffer"),
    f32: new Float32Array([NaN, -0, 1e-45]),
    when: new Date(0),
  };
}

const sameBytes = (a: ArrayBufferView | ArrayBuffer, b: ArrayBufferView | ArrayBuffer) => {
  const bytes = (v: ArrayBufferView | ArrayBuffer) => v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  assert.deepEqual(bytes(a), bytes(b));
};

// An object in a store, read back through the one read path of stored entries.
async function decodeStored(store: Store, id: string): Promise<unknown> {
  return (await readEntry(store, { inline: null, object: id, checksum: null })).value;
}

async function storeHolding(chunks: Uint8Array[]): Promise<{ store: Store; id: string; path: string; remove: () => void }> {
  const dir = tempDir();
  const store = fileStore(dir.path);
  const id = "ab".repeat(32);
  await store.set(id, chunks);
  return { store, id, path: join(dir.path, "ab", "ab".repeat(31)), remove: dir.remove };
}

test("a large payload read from a store with offset reads is exact, and each value owns just its bytes", async (t) => {
  const value = largeValue();
  const { store, id, remove } = await storeHolding(encode(value));
  t.after(remove);
  const back = await decodeStored(store, id) as ReturnType<typeof largeValue>;
  for (const key of ["small", "big", "bytes", "view", "raw", "f32"] as const) {
    assert.equal(back[key].constructor, value[key].constructor, key);
    sameBytes(back[key], value[key]);
    const buffer = back[key] instanceof ArrayBuffer ? back[key] : back[key].buffer;
    assert.equal(buffer.byteLength, value[key].byteLength, `${key} owns a buffer of exactly its bytes`);
  }
  assert.ok(Buffer.isBuffer(back.buffer));
  assert.equal(back.buffer.toString(), "a Buffer stays a Buffer");
  assert.deepEqual(back.when, value.when);
});

test("a store without offset reads decodes the same payload through get", async (t) => {
  const value = largeValue();
  const { store, id, remove } = await storeHolding(encode(value));
  t.after(remove);
  const plainStore: Store = { get: (i) => store.get(i), set: (i, c) => store.set(i, c), delete: (i) => store.delete(i) };
  const back = await decodeStored(plainStore, id) as ReturnType<typeof largeValue>;
  sameBytes(back.big, value.big);
  assert.equal(back.big.buffer.byteLength, value.big.byteLength);
});

test("of a checked payload, a large last text comes from the reader's textToEnd once its bytes are summed; unchecked, it is read and checked as UTF-8", async (t) => {
  const values = [
    "\uFEFFé✓ \uD83D\uDE00 line\n".repeat(100_000),
    ["line\n".repeat(300_000), "last é"],
    { text: "x".repeat(2 << 20), after: new Float64Array(300_000).map((_, i) => i / 7) }, // the last section is binary
  ];
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  for (const [n, value] of values.entries()) {
    const { store, id, path, remove } = await storeHolding(encode(value));
    t.after(remove);
    const file = readFileSync(path);
    for (const checked of [true, false]) {
      const opened = (await store.open!(id))!;
      let texts = 0;
      // Under Node the file store's own textToEnd, counted; under Deno (which has none) the same from the bytes.
      const textToEnd = (offset: number) => (texts++, opened.textToEnd?.(offset) ?? decoder.decode(file.subarray(offset)));
      const pieces: Uint8Array[] = [];
      const reader = { size: opened.size, cheapReads: true, read: opened.read.bind(opened), textToEnd };
      // (A copy: a Buffer's slice() is a view, and the pieces of a lazy section are views of one small buffer.)
      const back = await decodeSource(reader, { add: (piece) => void pieces.push(new Uint8Array(piece)), value: () => "" }, checked);
      await opened.close();
      assert.deepEqual(back, value);
      assert.deepEqual(concat(pieces), file);
      assert.equal(texts, checked && n < 2 ? 1 : 0, `value ${n}, checked ${checked}`);
    }
  }
  // Unchecked, bytes that are not UTF-8 are corrupt; checked, the caller's checksum is what catches them.
  const { store, id, path, remove } = await storeHolding(encode(values[0]));
  t.after(remove);
  const bad = readFileSync(path);
  bad[bad.byteLength - 2] = 0xff;
  writeFileSync(path, bad);
  const opened = (await store.open!(id))!;
  t.after(() => opened.close());
  const reader = { size: opened.size, cheapReads: true, read: opened.read.bind(opened), textToEnd: () => assert.fail("read as text unchecked") };
  await assert.rejects(decodeSource(reader, { add() {}, value: () => "" }, false), CorruptPayload);
});

// A version-3 payload laid out by hand: header (magic, version, mode, compression, spare, JSON length,
// section count, each section's length as f64), the JSON, then the sections, each 8-aligned.
function assemble(json: string, sections: Uint8Array[]): Uint8Array {
  const doc = new TextEncoder().encode(json);
  const header = new Uint8Array(16 + 8 * sections.length);
  const view = new DataView(header.buffer);
  header.set([0x4e, 0x42, 0x4d, 0x4f, 3, 1, 0, 0]);
  view.setUint32(8, doc.byteLength, true);
  view.setUint32(12, sections.length, true);
  sections.forEach((section, i) => view.setFloat64(16 + 8 * i, section.byteLength, true));
  const chunks: Uint8Array[] = [header, doc];
  let length = header.byteLength + doc.byteLength;
  for (const section of sections) {
    chunks.push(new Uint8Array((8 - (length % 8)) % 8), section);
    length = concat(chunks).byteLength;
  }
  return concat(chunks);
}

test("a list of strings stored before its text went after its lengths (text, then lengths) still reads, checked or not", async (t) => {
  const list = Array.from({ length: 300_000 }, (_, i) => `line ${i} é`); // lengths of 1.2 MB: a lazy last section
  const text = new TextEncoder().encode(list.join(""));
  const lengths = new Uint8Array(new Uint32Array(list.map((s) => s.length)).buffer);
  const old = assemble(JSON.stringify({ json: { t: 0, l: 1 }, meta: { values: [["custom", "nbmemo.texts"]], v: 1 } }), [text, lengths]);
  assert.deepEqual(decode(old), list);
  const { store, id, remove } = await storeHolding([old]);
  t.after(remove);
  for (const checked of [true, false]) {
    const opened = (await store.open!(id))!;
    assert.deepEqual(await decodeSource(opened, { add() {}, value: () => "" }, checked), list);
    await opened.close();
  }
});

test("a truncated or missing large payload in a store is reported as corrupt", async (t) => {
  const { store, id, path, remove } = await storeHolding(encode(largeValue()));
  t.after(remove);
  truncateSync(path, statSync(path).size - 1);
  await assert.rejects(decodeStored(store, id), CorruptPayload);
  await store.delete(id);
  await assert.rejects(decodeStored(store, id), /missing/);
});

test("a stored payload whose header and document outgrow the first read decodes exactly", async (t) => {
  const value = { text: "long ".repeat(30_000), arrays: Array.from({ length: 9000 }, (_, i) => new Int32Array([i, -i])) };
  const { store, id, remove } = await storeHolding(encode(value));
  t.after(remove);
  assert.deepEqual(await decodeStored(store, id), value);
});

test("a large stored payload is handed out in pieces that add up to its bytes, for its checksum, read in pieces or not", async (t) => {
  const values = [
    largeValue(),
    { text: "long ".repeat(30_000), arrays: [new Int8Array(3), new Float64Array(20_000)] },
    { head: "x".repeat(70_001), text: "line\n".repeat(300_001) + "é", after: new Uint8Array(5), list: Array.from({ length: 70_000 }, (_, i) => `${i}`) },
  ];
  for (const value of values) {
    const { store, id, path, remove } = await storeHolding(encode(value));
    t.after(remove);
    const opened = (await store.open!(id))!;
    assert.ok(opened.cheapReads);
    // The file store's reader, and the same reads declared costly (each section read whole).
    for (const reader of [opened, { size: opened.size, read: opened.read.bind(opened) }]) {
      const pieces: Uint8Array[] = [];
      const back = await decodeSource(reader, { add: (piece) => void pieces.push(piece.slice()), value: () => "" });
      assert.deepEqual(back, value);
      assert.deepEqual(concat(pieces), readFileSync(path));
      // (The first and third values have sections of over a MiB.)
      if (reader === opened) assert.ok(pieces.every((piece) => piece.byteLength < 1 << 20), "a large section was read whole");
    }
    await opened.close();
  }
});
