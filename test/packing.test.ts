// Property tests of how the catalog stores hex digests and checksums (lib/catalog/packing.ts), on generated
// strings: every string comes back as it was through a SQLite column, and a hex digest takes half its length.
// fast-check prints the seed and the values of a failure; NBMEMO_PROPERTY_SEED replays one,
// NBMEMO_PROPERTY_RUNS changes the number of cases.
import assert from "node:assert/strict";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { test } from "./harness.ts";
import fc from "fast-check";
import { packChecksum, packHex, unpackChecksum, unpackHex } from "../lib/catalog/packing.ts";
import { checksum } from "../lib/codec/checksum.ts";

const runs = Number(process.env.NBMEMO_PROPERTY_RUNS ?? 4000);
const seed = process.env.NBMEMO_PROPERTY_SEED === undefined ? undefined : Number(process.env.NBMEMO_PROPERTY_SEED);
const options = { numRuns: runs, seed, verbose: true };

// Written apart from packing.ts, so that the two are not wrong the same way.
const hexOf = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const digest = fc.uint8Array({ minLength: 1, maxLength: 64 }).map(hexOf);
// Digests, and what is almost one: upper case, an odd length, a stray character; any other text.
const keyText = fc.oneof(
  digest,
  digest.map((hex) => hex.toUpperCase()),
  digest.map((hex) => hex.slice(1)),
  fc.tuple(digest, fc.nat(), fc.constantFrom("g", " ", "-", "é", "\0")).map(([hex, at, c]) => hex.slice(0, at % hex.length) + c + hex.slice(at % hex.length + 1)),
  fc.constantFrom("", "pinned:1", "pinned:ab"),
  fc.string(),
  fc.string({ unit: "binary" }),
);
const checksumText = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => `crc32:${hexOf(b)}`),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => `xxh64:${hexOf(b)}`), // Node's, of a large payload
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hexOf), // SHA-256, before CRC-32
  keyText.map((text) => `crc32:${text}`),
  keyText,
);

// Deno's node:sqlite cuts a TEXT value at its first NUL (Deno 2.9.6: "\u00000" reads back as ""), whatever nbmemo
// does; through SQLite, the strings are those without one.
const noNul = (text: string | null) => !text?.includes("\0");

// A column as the catalog declares its packed ones (BLOB: values are kept as they come, of any type).
function column() {
  const db = new DatabaseSync(":memory:");
  db.exec("CREATE TABLE t (v BLOB)");
  return {
    db,
    // Stores `value`, reads it back, and removes it again.
    through(value: unknown) {
      db.prepare("INSERT INTO t (v) VALUES (?)").run(value as Uint8Array | string | bigint | null);
      const stored = db.prepare("SELECT v FROM t").get()!.v;
      db.exec("DELETE FROM t");
      return stored;
    },
  };
}

test("every string comes back unchanged through a SQLite column, and is found by its packed value", (t) => {
  const { db, through } = column();
  t.after(() => db.close());
  fc.assert(fc.property(keyText, (text) => assert.equal(unpackHex(packHex(text)), text)), options);
  fc.assert(fc.property(keyText.filter(noNul), (text) => {
    assert.equal(unpackHex(through(packHex(text))), text);
    db.prepare("INSERT INTO t (v) VALUES (?)").run(packHex(text));
    assert.equal(db.prepare("SELECT count(*) AS n FROM t WHERE v = ?").get(packHex(text))!.n, 1);
    db.exec("DELETE FROM t");
  }), options);
});

test("a lowercase hex digest is stored as the bytes it spells, half its length", () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
    assert.deepEqual(packHex(hexOf(bytes)), bytes);
  }), options);
  assert.equal(packHex("AB"), "AB"); // upper case would not come back as written
  assert.equal(packHex("abc"), "abc");
});

test("every checksum comes back unchanged through a SQLite column; a CRC-32 is a 32-bit integer", (t) => {
  const { db, through } = column();
  t.after(() => db.close());
  fc.assert(fc.property(checksumText, (text) => assert.equal(unpackChecksum(packChecksum(text)), text)), options);
  fc.assert(fc.property(checksumText.filter(noNul), (text) => assert.equal(unpackChecksum(through(packChecksum(text))), text)), options);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (payload) => {
    const written = checksum([payload]); // as the codec writes it
    const packed = packChecksum(written);
    assert.ok(typeof packed === "bigint" && packed >= -(2n ** 31n) && packed < 2n ** 31n, `${written} packed to ${packed}`);
    assert.equal(db.prepare("SELECT typeof(?) AS type").get(packed)!.type, "integer");
    assert.equal(unpackChecksum(through(packed)), written);
  }), options);
});
