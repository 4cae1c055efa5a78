// Tables stored as columns (lib/codec/rows.ts): every value exact, identity kept, and a clean fall back for what is not a table.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import fc from "fast-check";
import { concat } from "../lib/bytes.ts";
import { decode, encode, UnstorableValue } from "../lib/codec/codec.ts";
import { BUILD_ROWS, decodeRows, MIN_ROWS } from "../lib/codec/rows.ts";
import { assertStrictlySame } from "./strict-equal.ts";
import { lastJson, nodeTypeScript, root, runtimePath, startProcess } from "./helpers.ts";

const roundTrip = (value: unknown) => {
  const chunks = encode(value);
  return { back: decode(concat(chunks)), columnar: new TextDecoder().decode(chunks[1]).includes("nbmemo.rows") };
};

const cell = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.double(), // includes -0, NaN, ±Infinity
  fc.string({ unit: "binary" }), // lone surrogates too
  fc.boolean(),
  fc.constant(null),
);
// A column holds one kind (plus nulls) to be a table; mixed columns must fall back and still round-trip.
const column = fc.oneof(
  fc.constant("int"), fc.constant("num"), fc.constant("str"), fc.constant("bool"), fc.constant("mixed"),
);
const valueOf = (kind: string) =>
  kind === "int" ? fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constant(null))
  : kind === "num" ? fc.oneof(fc.double(), fc.integer(), fc.constant(null))
  : kind === "str" ? fc.oneof(fc.string({ unit: "binary", maxLength: 4 }), fc.constantFrom("CA", "NY", "TX"), fc.constant(null))
  : kind === "bool" ? fc.oneof(fc.boolean(), fc.constant(null))
  : cell;
const table = fc.tuple(
  fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k !== "__proto__"), { minLength: 1, maxLength: 5 }),
  fc.oneof(fc.integer({ min: MIN_ROWS, max: MIN_ROWS * 3 }), fc.integer({ min: BUILD_ROWS, max: BUILD_ROWS + 64 })), // (rebuilt by a template, or a generated builder)
).chain(([keys, n]) =>
  fc.tuple(...keys.map(() => column)).chain((kinds) =>
    fc.array(fc.tuple(...kinds.map(valueOf)), { minLength: n, maxLength: n })
      .map((rows) => rows.map((values) => Object.fromEntries(keys.map((k, i) => [k, values[i]]))))
  )
);

test("any generated table reads back exactly, as columns when its columns are of one kind each", () => {
  let columnar = 0;
  fc.assert(fc.property(table, (rows) => {
    const result = roundTrip({ rows, label: "t" });
    assertStrictlySame((result.back as { rows: unknown }).rows, rows);
    if (result.columnar) columnar++;
  }), { numRuns: 1500 });
  assert.ok(columnar > 100, `only ${columnar} generated tables went as columns`);
});

const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, state: ["CA", "NY"][i % 2]!, value: i / 7, ok: i % 3 === 0, note: i % 5 ? null : `n${i}` }));

test("a parsed table goes as columns, and its values come back exactly", () => {
  const rows = rowsOf(1000);
  rows[3]!.value = -0;
  rows[4]!.value = Number.NaN;
  const { back, columnar } = roundTrip(rows);
  assert.ok(columnar);
  assertStrictlySame(back, rows);
});

test("a row met again elsewhere in the output keeps its identity (the table is not stored as columns)", () => {
  const rows = rowsOf(200);
  for (const value of [{ rows, first: rows[0] }, { first: rows[0], rows }, [...rows, rows[7]]]) {
    const { back, columnar } = roundTrip(value);
    assert.equal(columnar, false);
    const b = back as { rows: { id: number }[]; first: unknown } | { id: number }[];
    if (Array.isArray(b)) assert.equal(b[200], b[7]);
    else assert.equal(b.first, b.rows[0]);
  }
});

test("a row met twice in a table that is the whole output keeps its identity, whatever its number columns hold", () => {
  const tables = [
    Array.from({ length: 200 }, (_, i) => ({ x: i === 7 ? Number.NaN : i / 7, s: "a" })), // NaN is not equal to itself
    Array.from({ length: 200 }, (_, i) => ({ x: i === 7 ? -0 : i + 1, s: "a" })), // nor -0 apart from 0
    Array.from({ length: 200 }, (_, i) => ({ x: i === 7 ? null : i, s: "a" })),
    Array.from({ length: 200 }, (_, i) => ({ s: `s${i}` })), // no number column
  ];
  for (const rows of tables) {
    const value = [...rows, rows[7]!];
    const { back, columnar } = roundTrip(value);
    assert.equal(columnar, false);
    assertStrictlySame(back, value);
    assert.equal((back as unknown[])[200], (back as unknown[])[7]);
  }
});

test("a hole in a table is refused, even with Array.prototype holding a row at its index and an extra key making up the count", () => {
  const protoItems = Array.prototype as unknown as Record<number, unknown>;
  for (const inherited of [rowsOf(10)[9], 5]) {
    const rows: unknown[] = rowsOf(100);
    delete rows[9];
    Object.assign(rows, { extra: 1 }); // as many keys as the length again
    protoItems[9] = inherited;
    try {
      assert.throws(() => encode(rows), (e) => e instanceof UnstorableValue && /^output\[9\] is a hole in a sparse array/.test(e.message));
    } finally {
      delete protoItems[9];
    }
  }
});

// One row of a table changed in a way its columns could not keep: each is refused, naming that row, as the
// general path refuses it, and no getter runs; a null-prototype row reads back with its null prototype.
test("a table with one row that is not plain data is refused at that row, and a getter in it is never run", () => {
  let ran = 0;
  const data = (flags: PropertyDescriptor) => (r: object, key: string) => Object.defineProperty({ ...r }, key, flags);
  const odd: [string, (r: object) => object, RegExp][] = [
    ["a getter", (r) => Object.defineProperty({ ...r }, "value", { get: () => ++ran, enumerable: true, configurable: true }), /^output\[40\]\.value is a getter/],
    ["a setter", (r) => Object.defineProperty({ ...r }, "value", { set: () => ++ran, enumerable: true, configurable: true }), /^output\[40\]\.value is a getter or setter/],
    ["a non-enumerable value", (r) => data({ enumerable: false })(r, "note"), /^output\[40\]\.note is non-enumerable/],
    ["a non-enumerable extra key", (r) => Object.defineProperty({ ...r }, "hidden", { value: 1, writable: true, configurable: true }), /^output\[40\]\.hidden is non-enumerable/],
    ["a read-only value", (r) => data({ writable: false })(r, "id"), /^output\[40\]\.id is read-only/],
    ["a non-configurable value", (r) => data({ configurable: false })(r, "ok"), /^output\[40\]\.ok is read-only/],
    ["a symbol key", (r) => ({ ...r, [Symbol("s")]: 1 }), /^output\[40\] has symbol keys/],
    ["no extensions", (r) => Object.preventExtensions({ ...r }), /^output\[40\] is frozen or sealed/],
    ["sealed", (r) => Object.seal({ ...r }), /^output\[40\] is frozen or sealed/],
  ];
  for (const [what, change, refusal] of odd) {
    const rows: object[] = rowsOf(100);
    rows[40] = change(rows[40]!);
    assert.throws(() => encode(rows), (e) => e instanceof UnstorableValue && refusal.test(e.message), what);
  }
  assert.equal(ran, 0);
  const rows: object[] = rowsOf(100);
  rows[40] = Object.assign(Object.create(null), rows[40]);
  const { back, columnar } = roundTrip(rows);
  assert.equal(columnar, false);
  assert.equal(Object.getPrototypeOf((back as object[])[40]), null);
  assertStrictlySame(back, rows);
});

test("arrays that are not tables fall back to the general path and still read back as they were", () => {
  const cases: unknown[] = [
    rowsOf(100).map((r, i) => (i === 50 ? { ...r, extra: 1 } : r)), // one row with another key
    rowsOf(100).map((r, i) => (i === 50 ? { state: r.state, id: r.id, value: r.value, ok: r.ok, note: r.note } : r)), // key order
    rowsOf(100).map((r, i) => (i === 9 ? { ...r, value: "nine" } : r)), // two kinds in a column
    rowsOf(100).map((r, i) => (i === 9 ? { ...r, note: { nested: true } } : r)), // a nested object
    rowsOf(100).map((r, i) => (i === 9 ? { ...r, note: undefined } : r)), // undefined
    rowsOf(100).map((r, i) => (i === 9 ? { ...r, id: 10n } : r)), // a bigint
    rowsOf(MIN_ROWS - 1), // too short to pay
  ];
  for (const value of cases) {
    const { back, columnar } = roundTrip(value);
    assert.equal(columnar, false);
    assertStrictlySame(back, value);
  }
});

test("a table nested inside other data, and two tables side by side, go as columns", () => {
  const value = { meta: { source: "x.csv", when: new Date(0) }, a: rowsOf(100), b: rowsOf(300).map((r) => ({ k: r.state })) };
  const { back, columnar } = roundTrip(value);
  assert.ok(columnar);
  assertStrictlySame((back as typeof value).a, value.a);
  assertStrictlySame((back as typeof value).b, value.b);
  assert.deepEqual((back as typeof value).meta, value.meta);
});

test("a table whose string column has mostly distinct values, and one of nulls only, read back exactly", () => {
  const rows = Array.from({ length: 500 }, (_, i) => ({ text: `row ${i} \u2028 "quoted" \ud800`, nothing: null }));
  const { back, columnar } = roundTrip(rows);
  assert.ok(columnar);
  assertStrictlySame(back, rows);
});

test("keys that read as code, numbers or escapes come back as the same keys, in order, with their values", () => {
  const keys = ['"}; throw new Error("ran"); ({"', "a\\", "$0[i]", "10", "2", "\u2028", "\ud800", "constructor", " ", "c0_0"];
  const rows = Array.from({ length: BUILD_ROWS }, (_, i) => Object.fromEntries(keys.map((k, c) => [k, c % 2 ? `v${(i + c) % 3}` : i * c])));
  const { back, columnar } = roundTrip(rows);
  assert.ok(columnar);
  assertStrictlySame(back, rows);
});

test("a garbled table document is refused: repeated or __proto__ keys", () => {
  const section = () => new Int32Array(1).buffer;
  const corrupt = (why: string) => new Error(why);
  const col = { k: "int", s: 0 };
  for (const keys of [["a", "a"], ["__proto__", "b"]]) {
    assert.throws(() => decodeRows({ n: 1, keys, cols: [col, col] }, section, corrupt), /garbled table/);
  }
});

test("where code cannot be made from strings, tables still read back exactly", async () => {
  const fixture = `${root}/test/fixtures/rows-no-eval.ts`;
  const flag = "--disallow-code-generation-from-strings";
  for (const argv of [[...nodeTypeScript(), flag, fixture], ["run", "-A", "--quiet", `--config=${root}/deno.json`, `--v8-flags=${flag}`, fixture]]) {
    const run = await startProcess(runtimePath(argv[0] === "run" ? "deno" : "node"), argv).done;
    assert.deepEqual(lastJson(run), { codeGeneration: false, columnar: true, rows: 600, wrong: [] }, run.stderr);
  }
});

test("columns whose first rows are null, whose ints turn to floats, or whose strings turn mostly distinct, read back exactly", () => {
  const rows = Array.from({ length: BUILD_ROWS * 2 }, (_, i) => ({
    late: i < 50 ? null : i < 100 ? i : i / 3, // nulls, then ints, then floats: one number column
    word: i < 10 ? null : `w${i % 3}`, // nulls before the first string: in the dictionary
    text: i < 20 ? "same" : i % 50 === 0 ? null : `t${i}`, // one string, then mostly distinct: one JSON list
    flag: i < 30 ? null : i % 2 === 0,
    none: null,
    big: i === BUILD_ROWS * 2 - 1 ? 2 ** 31 : i, // an int column until its last row
  }));
  const { back, columnar } = roundTrip(rows);
  assert.ok(columnar);
  assertStrictlySame(back, rows);
});
