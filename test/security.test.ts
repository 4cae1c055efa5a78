// Names, arguments and stored bytes are data, never paths, SQL or code; the cache is private to its owner.
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "./harness.ts";
import { Memory, type NbmemoError } from "../lib/mod.ts";
import { captureConsole, tempDir } from "./helpers.ts";

function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

test("names that are paths, absolute, hold NUL or are very long are refused before anything is written", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const cache = join(dir.path, "cache");
  const memory = await Memory.open(cache, { log: "silent" });
  t.after(() => memory.close());
  const before = listAll(dir.path);
  const names = ["../escape", "../../etc/passwd", "/etc/passwd", "/tmp/x", "C:\\x", "a/../../b", "..", "x\0y", "\0", "x".repeat(10_000), "ok\n../x"];
  for (const name of names) {
    assert.throws(() => memory.fn(name, () => 1), (e: NbmemoError) => e.code === "INVALID_NAME", JSON.stringify(name.slice(0, 20)));
    await assert.rejects(memory.cell(name, [], () => 1), (e: NbmemoError) => e.code === "INVALID_NAME");
  }
  assert.deepEqual(listAll(dir.path), before);
});

test("arguments that look like paths or SQL are only hashed: every file stays inside the cache", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const cache = join(dir.path, "cache");
  const memory = await Memory.open(cache, { log: "silent", inlineBytes: 0 }); // every output in a file
  t.after(() => memory.close());
  const echo = memory.fn("echo", (s: string) => ({ s }));
  const hostile = ["../../../../tmp/escape", "/etc/passwd", "x\0y", "'); DROP TABLE entries; --", "\" OR 1=1 --", "a".repeat(100_000)];
  for (const s of hostile) assert.deepEqual(await echo(s), { s });
  for (const s of hostile) assert.deepEqual(await echo(s), { s }); // read back
  assert.deepEqual(readdirSync(dir.path), ["cache"]);
  assert.equal(memory.stats().entries, hostile.length); // the entries table is intact
  assert.deepEqual(memory.stats().session, { hits: hostile.length, misses: hostile.length, evicted: 0 });
});

// A payload as the codec lays it out (magic, version 1, mode, JSON length, no binary sections), with
// any JSON document: what an attacker with write access to the cache could plant.
function payload(superjson: boolean, document: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(document));
  const bytes = new Uint8Array(16 + json.byteLength);
  bytes.set([0x4e, 0x42, 0x4d, 0x4f, 1, superjson ? 1 : 0]);
  new DataView(bytes.buffer).setUint32(8, json.byteLength, true);
  bytes.set(json, 16);
  return bytes;
}

test("reading a planted payload never runs code nor pollutes prototypes", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(dir.path, { log: "warn" });
  t.after(() => memory.close());
  const planted = [
    payload(false, JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}')),
    payload(true, { json: { a: {} }, meta: { values: { "a": ["class", "Function"] } } }),
    payload(true, { json: {}, meta: { values: { "__proto__.polluted": ["custom", "nbmemo.binary"] } } }),
    payload(true, { json: { f: "function () { globalThis.ran = true }" }, meta: { values: { f: ["custom", "Function"] } } }),
    payload(true, { json: { x: { t: "Function", i: 0 } }, meta: { values: { x: [["custom", "nbmemo.binary"]] } } }),
    payload(true, { json: "globalThis.ran = true", meta: { values: ["regexp"] } }),
  ];
  const target = memory.fn("target", (i: number) => ({ recomputed: i }), { version: "1" });
  for (let i = 0; i < planted.length; i++) await target(i);
  const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
  const plant = db.prepare("UPDATE entries SET inline = ?, checksum = NULL WHERE args_preview = ?");
  planted.forEach((bytes, i) => plant.run(bytes, String(i)));
  db.close();
  const { result } = await captureConsole(async () => {
    const values = [];
    for (let i = 0; i < planted.length; i++) values.push(await target(i));
    return values;
  });
  // Whatever each one reads back as (plain data, or a miss that recomputes), no code ran and no prototype changed.
  assert.equal((globalThis as { ran?: boolean }).ran, undefined);
  assert.equal(({} as { polluted?: string }).polluted, undefined);
  assert.equal((Object.prototype as { polluted?: string }).polluted, undefined);
  for (const value of result) assert.ok(typeof value !== "function" && !(value instanceof Function));
});

test("the cache directory and every file in it, catalog -wal and -shm included, are private (0700 / 0600)", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const cache = join(dir.path, "cache");
  const memory = await Memory.open(cache, { log: "silent", inlineBytes: 0 });
  t.after(() => memory.close());
  await memory.fn("f", (x: number) => new Float64Array(x))(100);
  const modes = Object.fromEntries([".", ...listAll(cache)].map((name) => [name, statSync(join(cache, name)).mode & 0o777]));
  assert.ok("catalog.sqlite-wal" in modes && "catalog.sqlite-shm" in modes, Object.keys(modes).join(", "));
  for (const [name, mode] of Object.entries(modes)) {
    const isDir = statSync(join(cache, name)).isDirectory();
    assert.equal(mode.toString(8), isDir ? "700" : "600", name);
  }
});
