// Writers killed with SIGKILL in the middle of their stores: the cache still opens and no entry ever
// reads back wrong. The check below is independent of nbmemo's own read path: it opens the catalog
// with node:sqlite and decodes every row's payload itself.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "./harness.ts";
import { isDeepStrictEqual } from "node:util";
import { decode } from "../lib/codec/codec.ts";
import { Memory } from "../lib/mod.ts";
import { captureConsole, startFixture, tempDir } from "./helpers.ts";
import { valueFor } from "./fixtures/values.ts";

const ROUNDS = 25; // two writers (one Node, one Deno) killed per round

interface CacheCheck {
  rows: number;
  /** Rows whose payload is missing, does not decode, or decodes to another value than the key's. */
  bad: string[];
  /** Files no row refers to: temp files of killed writes, payloads written before a kill hit the commit. */
  orphans: number;
}

function checkCache(dir: string): CacheCheck {
  const db = new DatabaseSync(join(dir, "catalog.sqlite"));
  const rows = db.prepare("SELECT args_preview, lower(hex(object)) AS object, inline, bytes FROM entries").all();
  db.close();
  const bad: string[] = [];
  const referenced = new Set<string>();
  for (const row of rows) {
    const k = Number(row.args_preview);
    try {
      const object = row.object as string | null;
      if (object) referenced.add(join(object.slice(0, 2), object.slice(2)));
      const bytes = (row.inline as Uint8Array | null) ?? readFileSync(join(dir, "objects", object!.slice(0, 2), object!.slice(2)));
      if (bytes.byteLength !== Number(row.bytes)) throw new Error(`${bytes.byteLength} bytes, the row says ${row.bytes}`);
      if (!isDeepStrictEqual(decode(bytes), valueFor(k))) throw new Error("another value");
    } catch (error) {
      bad.push(`${k}: ${error}`);
    }
  }
  const objects = join(dir, "objects");
  // objects/ is made by the first output stored in a file: writers killed before that leave none.
  const files = (existsSync(objects) ? readdirSync(objects, { recursive: true, withFileTypes: true }) : []).filter((e) => e.isFile())
    .map((e) => relative(objects, join(e.parentPath, e.name)));
  return { rows: rows.length, bad, orphans: files.filter((f) => !referenced.has(f)).length };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test(`writers killed with SIGKILL at random points of their stores (${2 * ROUNDS} kills) never leave an entry that reads back wrong`, { timeout: 180_000 }, async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  let check: CacheCheck = { rows: 0, bad: [], orphans: 0 };
  let kills = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const writers = (["node", "deno"] as const).map((runtime) => startFixture(runtime, "crash-writer.ts", [dir.path]));
    await Promise.all(writers.map(async (writer) => {
      assert.equal(await writer.firstLine, "ready");
      await pause(20 + Math.random() * 150);
      writer.child.kill("SIGKILL");
      assert.equal((await writer.done).signal, "SIGKILL"); // killed while writing, not finished
      kills++;
    }));
    // The cache opens after every crash, and every row it holds reads back exactly.
    const memory = await Memory.open(dir.path, { log: "silent" });
    await memory.close();
    check = checkCache(dir.path);
    assert.deepEqual(check.bad, [], `after round ${round}`);
  }
  assert.equal(kills, 2 * ROUNDS);
  assert.ok(check.rows > ROUNDS, `the writers stored ${check.rows} entries`); // they were killed mid-work, not at start
  // And through nbmemo's own read path: every stored key is a hit with the right value, without a warning.
  const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
  const keys = db.prepare("SELECT args_preview FROM entries").all().map((row) => Number(row.args_preview));
  db.close();
  const memory = await Memory.open(dir.path, { log: "warn" });
  t.after(() => memory.close());
  let computed = 0;
  const read = memory.fn("crash", (k: number) => (computed++, valueFor(k)), { version: "1" });
  const { result, warnings } = await captureConsole(async () => {
    let wrong = 0;
    for (const k of keys) if (!isDeepStrictEqual(await read(k), valueFor(k))) wrong++;
    return wrong;
  });
  assert.equal(result, 0);
  assert.equal(computed, 0);
  assert.deepEqual(warnings, []);
  console.log(`crash test: ${kills} kills, ${check.rows} entries checked, 0 bad, ${check.orphans} orphan files`);
});
