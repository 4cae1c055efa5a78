// Large strings and lists of strings stored as their UTF-8 (lib/codec/text.ts): every string exact, lone
// surrogates and a leading U+FEFF included, through the codec and through a real Memory. fast-check's seed
// is printed; NBMEMO_PROPERTY_SEED replays one.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import fc from "fast-check";
import { test } from "./harness.ts";
import { concat } from "../lib/bytes.ts";
import { CorruptPayload, decode, encode, readLayout, UnstorableValue } from "../lib/codec/codec.ts";
import { deferText, LARGE_TEXT, materialize, payloadPieces, utf8Pieces } from "../lib/codec/text.ts";
import { Memory } from "../lib/mod.ts";
import { root, tempDir, withTestStore } from "./helpers.ts";
import { assertStrictlySame } from "./strict-equal.ts";

const seed = process.env.NBMEMO_PROPERTY_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.NBMEMO_PROPERTY_SEED);
console.log(`text property: seed ${seed} (NBMEMO_PROPERTY_SEED=${seed} replays it)`);

// The payload's version byte: 3 only when a text went as UTF-8.
const asText = (chunks: Uint8Array[]) => chunks[0]![4] === 3;

function roundTrip(value: unknown): { back: unknown; text: boolean } {
  const chunks = encode(value);
  return { back: decode(concat(chunks)), text: asText(chunks) };
}

const piece = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 8 }), // lone surrogates too
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 4 }),
  fc.constantFrom("\n", "\uFEFF", "\uD800", "\uDC00", "\uD83D\uDE00", "\"\\", "\u2028", "\0"),
);
// Around LARGE_TEXT long, on both sides of it; cut anywhere, so a pair may be split at the end.
const large = fc.tuple(piece, fc.integer({ min: LARGE_TEXT - 3, max: 3 * LARGE_TEXT }), fc.option(fc.tuple(fc.nat(), piece)))
  .map(([p, length, insert]) => {
    const s = p.repeat(Math.ceil(length / p.length)).slice(0, length);
    if (insert === null) return s;
    const at = insert[0] % s.length;
    return s.slice(0, at) + insert[1] + s.slice(at);
  });
const small = fc.string({ unit: "binary", maxLength: 6 });
// Lists of many strings, some LARGE_TEXT long in all.
const list = fc.tuple(fc.array(fc.oneof(small, piece), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 3_000 }), fc.boolean())
  .map(([items, copies, withLarge]) => {
    const out = Array.from({ length: items.length * copies }, (_, i) => items[i % items.length]!);
    if (withLarge) out.push("x".repeat(LARGE_TEXT));
    return out;
  });
const { value: output } = fc.letrec<{ value: unknown; leaf: unknown }>((tie) => ({
  leaf: fc.oneof(large, small, list, fc.constantFrom(NaN, 1, null)),
  value: fc.oneof({ depthSize: "small" },
    tie("leaf"),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 3 }), tie("value"), { maxKeys: 3 }),
    fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 2 }).map((entries) => new Map(entries)),
    fc.array(tie("value"), { maxLength: 2 }).map((items) => new Set(items)),
    fc.tuple(large, tie("value")).map(([message, cause]) => new RangeError(message, { cause })),
    tie("value").map((v) => [v, v]), // shared (or, for a primitive, repeated)
  ),
}));

test("any generated strings, large and small, alone and in lists, arrays, objects, Maps, Sets and Errors, round-trip strictly equal (or are refused by path)", () => {
  let text = 0;
  let runs = 0;
  fc.assert(fc.property(output, (value) => {
    let result: ReturnType<typeof roundTrip>;
    try {
      result = roundTrip(value);
    } catch (error) {
      // (NaN, or an array, met twice with a Map or Set between: refused as everywhere, see test/values.test.ts)
      assert.ok(error instanceof UnstorableValue, String(error));
      return;
    }
    assertStrictlySame(result.back, value);
    if (result.text) text++;
    runs++;
  }), { numRuns: 3000, seed });
  console.log(`text property: ${runs} of 3000 outputs read back strictly equal, ${text} of them with text as UTF-8`);
  assert.ok(text > 300, `only ${text} generated outputs had text as UTF-8`);
});

test("any generated strings read back strictly equal from a fresh Memory (or, as elsewhere, are refused and not stored)", { timeout: 300_000 }, async () => {
  let stored = 0;
  await fc.assert(fc.asyncProperty(fc.array(output, { minLength: 10, maxLength: 10 }), async (values) => {
    const dir = tempDir();
    try {
      const define = (memory: Memory) => values.map((_, i) => memory.fn(`v${i}`, () => values[i]));
      const first = await Memory.open(dir.path, withTestStore({ log: "silent" }));
      let kept: boolean[];
      try {
        for (const f of define(first)) await f();
        kept = values.map((_, i) => first.entries({ fn: `v${i}` }).length === 1);
      } finally {
        await first.close();
      }
      const second = await Memory.open(dir.path, withTestStore({ log: "silent" }));
      try {
        const fns = define(second);
        for (let i = 0; i < values.length; i++) if (kept[i]) assertStrictlySame(await fns[i]!(), values[i]);
        assert.equal(second.stats().session.hits, kept.filter(Boolean).length);
      } finally {
        await second.close();
      }
      stored += kept.filter(Boolean).length;
    } finally {
      dir.remove();
    }
  }), { numRuns: 25, seed });
  assert.ok(stored > 100, `only ${stored} generated outputs were stored`);
});

test("a text's UTF-8 made in pieces is its whole encoding, wherever the pieces end (a pair is never split)", () => {
  const wellFormedText = fc.array(fc.oneof(fc.string({ unit: "grapheme", maxLength: 6 }), fc.constantFrom("\uD83D\uDE00", "é", "✓", "\uFEFF", "a")), { maxLength: 40 })
    .map((parts) => parts.join(""));
  fc.assert(fc.property(wellFormedText, fc.integer({ min: 1, max: 9 }), (text, chars) => {
    const pieces = Array.from(utf8Pieces(text, chars), (piece) => piece.slice()); // each view is overwritten by the next
    assert.deepEqual(new Uint8Array(concat(pieces)), new TextEncoder().encode(text));
    assert.equal(deferText(text).byteLength, new TextEncoder().encode(text).byteLength);
  }), { numRuns: 2000, seed });
});

test("a large text deferred, written in pieces, is byte for byte the payload encoded whole, ASCII or not, with pairs across the pieces' ends", async () => {
  const values = [
    "x".repeat(600_000),
    "a" + "\uD83D\uDE00".repeat(300_000), // a pair across every 256 Ki-unit piece's end
    "\uD83D\uDE00".repeat(300_000) + "é",
    ["é✓", "\uD83D\uDE00".repeat(200_000), "line\n".repeat(100_000)],
  ];
  for (const value of values) {
    const deferred = encode(value, true);
    assert.ok(deferred.some((chunk) => !(chunk instanceof Uint8Array)), "not deferred");
    const whole = concat(encode(value));
    assert.deepEqual(concat(Array.from(payloadPieces(deferred), (piece) => piece.slice())), whole);
    assert.deepEqual(concat(materialize(deferred)), whole);
  }
  const dir = tempDir();
  try {
    let calls = 0;
    const define = (memory: Memory) => values.map((value, i) => memory.fn(`v${i}`, () => (calls++, value)));
    const first = await Memory.open(dir.path, withTestStore({ log: "silent" }));
    try {
      for (const f of define(first)) await f();
    } finally {
      await first.close();
    }
    const second = await Memory.open(dir.path, withTestStore({ log: "silent" }));
    try {
      const fns = define(second);
      for (let i = 0; i < values.length; i++) assertStrictlySame(await fns[i]!(), values[i]);
      assert.equal(second.stats().session.hits, values.length);
      assert.equal(calls, values.length);
    } finally {
      await second.close();
    }
  } finally {
    dir.remove();
  }
});

test("large strings of only ASCII, and of ASCII but for one character anywhere, read back exactly", () => {
  fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 50 }),
    fc.option(fc.tuple(fc.nat(), fc.constantFrom("\u0080", "é", "\uFEFF", "\uD83D\uDE00", "\u00FF"))), (unit, odd) => {
      const base = (unit || "a").repeat(Math.ceil(LARGE_TEXT / Math.max(1, unit.length)));
      const value = odd === null ? base : base.slice(0, odd[0] % base.length) + odd[1] + base.slice(odd[0] % base.length);
      const { back, text } = roundTrip([value, { v: value }]);
      assert.ok(text);
      assertStrictlySame(back, [value, { v: value }]);
    }), { numRuns: 300, seed });
});

test("a large string goes as its UTF-8, unescaped, and a leading U+FEFF stays", () => {
  const value = "\uFEFF" + "\n".repeat(1 << 20) + "✓";
  const chunks = encode(value);
  assert.ok(asText(chunks));
  assert.ok(concat(chunks).byteLength < (1 << 20) + 200, "newlines were escaped");
  assert.equal(decode(concat(chunks)), value);
});

test("a string with a lone surrogate goes through JSON, and so does a list with one (its other large strings as UTF-8), exactly", () => {
  const big = "a".repeat(LARGE_TEXT);
  for (const [value, asUtf8] of [[big + "\uD800", false], ["\uDC00" + big, false], [[big + "\uD83D", "b"], false], [[big, "\uD83D"], true], [["\uD83D", "\uDE00" + big], false]] as const) {
    const { back, text } = roundTrip(value);
    assert.equal(text, asUtf8, String(value).slice(-3));
    assertStrictlySame(back, value);
  }
});

test("a list of strings goes as one text, and one referred to twice stays one array", () => {
  const lines = Array.from({ length: 10_000 }, (_, i) => `line ${i} é ✓ \uD83D\uDE00`);
  const value = { a: lines, b: lines, m: new Map([["k", lines]]) };
  const { back, text } = roundTrip(value);
  assert.ok(text);
  assertStrictlySame(back, value);
  const { a, b } = back as typeof value;
  assert.equal(a, b);
});

test("a plain output with many objects and one large string stays plain JSON", () => {
  const rows = Array.from({ length: 1000 }, (_, i) => (i % 2 ? { i } : { j: i })); // (not a table)
  const value = { rows, note: "n".repeat(LARGE_TEXT) };
  const chunks = encode(value);
  assert.equal(chunks[0]![5], 0, "not plain JSON");
  assert.equal(asText(chunks), false);
  assertStrictlySame(decode(concat(chunks)), value);
});

test("payloads without text are still written as version 2", () => {
  assert.equal(encode({ a: "x", b: new Float64Array(2) })[0]![4], 2);
});

test("a payload written by codec version 2, with large strings and a list of strings as JSON, still reads back", () => {
  const bytes = readFileSync(join(root, "test", "fixtures", "payload-v2-strings.bin"));
  assert.equal(bytes[4], 2);
  assertStrictlySame(decode(bytes), {
    text: "line\n".repeat(20_000) + "\uD800 lone, \uFEFF, ✓",
    lines: Array.from({ length: 2_000 }, (_, i) => `line ${i}: ${"lorem ipsum ".repeat(4)}`),
    tail: "\uFEFF" + "é".repeat(70_000),
  });
});

test("a large ASCII text but for its very last character, or for one character in a list's last item, reads back exactly, from a file store too", async () => {
  const ascii = "line of ASCII\n".repeat(100_000); // 1.4 MB: several of the reads a hit sums apart
  const values = [ascii + "é", ascii + "\u0080", [ascii, "x".repeat(LARGE_TEXT), "ok \uD83D\uDE00"], ascii + "\u007f"];
  for (const value of values) assertStrictlySame(roundTrip(value).back, value);
  const dir = tempDir();
  try {
    const memory = await Memory.open(dir.path, withTestStore({ log: "silent", inlineBytes: 0 }));
    const f = memory.fn("text", (i: number) => values[i], { version: "1" });
    for (let i = 0; i < values.length; i++) await f(i);
    await memory.close();
    const fresh = await Memory.open(dir.path, withTestStore({ log: "silent", inlineBytes: 0 }));
    const g = fresh.fn("text", (_: number): unknown => assert.fail("recomputed"), { version: "1" });
    for (let i = 0; i < values.length; i++) assertStrictlySame(await g(i), values[i]);
    await fresh.close();
  } finally {
    dir.remove();
  }
});

test("an ASCII text section with one byte no longer ASCII, nor UTF-8, is reported as corrupt", () => {
  for (const at of [0, 70_000, -1]) {
    const bad = concat(encode("a".repeat(2 * LARGE_TEXT)));
    const i = at < 0 ? bad.byteLength + at : bad.byteLength - 2 * LARGE_TEXT + at; // the text is the payload's end
    assert.equal(bad[i], 0x61);
    bad[i] = 0xe9; // latin1's "é", not UTF-8 alone
    assert.throws(() => decode(bad), CorruptPayload, `byte ${at}`);
  }
});

test("a garbled text section or list of lengths is reported as corrupt", () => {
  const payload = (value: unknown) => concat(encode(value));
  const bad = payload("é".repeat(LARGE_TEXT));
  bad[bad.byteLength - 1] = 0xff; // not UTF-8
  assert.throws(() => decode(bad), CorruptPayload);
  const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i}`);
  // Where the lengths end (u32 little-endian each): the section of 4 bytes per line, before the text.
  const lengthsEnd = (bytes: Uint8Array) => {
    const { offset, length } = readLayout(bytes).sections.find((s) => s.length === 4 * lines.length)!;
    return offset + length;
  };
  const longer = payload(lines);
  longer[lengthsEnd(longer) - 1] = 0x7f; // the last length now past the text
  assert.throws(() => decode(longer), CorruptPayload);
  const shorter = payload(lines);
  shorter.fill(0, lengthsEnd(shorter) - 4, lengthsEnd(shorter)); // the last string's length 0: the text has more
  assert.throws(() => decode(shorter), CorruptPayload);
});
