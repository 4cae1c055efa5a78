// Signed entries in a shared store, as tests any shared store's suite registers (Deno KV in
// test/signing.test.ts; S3 and Redis in theirs): outputs planted in the store itself, by its own API and
// so past nbmemo's signing (unsigned, signed with another key, altered, moved to another entry), are
// misses with one warning, never returned.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { test } from "./harness.ts";
import { Memory, type MemoryOptions, type Store } from "../lib/mod.ts";
import { keyDigest } from "../lib/memory/entries.ts";
import { captureConsole, tempDir } from "./helpers.ts";

const TEAM_KEY = "team key: 0123456789abcdef0123456789abcdef";
const OTHER_KEY = "another team's key, 0123456789abcdef";

/**
 * One shared backend: `machine` opens the store a machine's Memory uses (each Memory closes the one it is
 * given), `raw` a plain connection to the backend itself, for planting; undefined where it cannot run.
 */
export type SharedBackend = (t: TestContext) => Promise<{ machine: () => Promise<Store>; raw?: () => Promise<Store> } | undefined>;

export function signingContract(name: string, backend: SharedBackend) {
  // Machines: separate cache directories, each with its own connection to the one backend.
  const setup = async (t: TestContext) => {
    const connect = await backend(t);
    if (!connect) return undefined;
    const dir = tempDir();
    t.after(dir.remove);
    let machines = 0;
    const machine = async (options: MemoryOptions) => {
      const memory = await Memory.open(join(dir.path, `machine-${machines++}`), { log: "warn", ...options, store: await connect.machine() });
      t.after(() => memory.close());
      return memory;
    };
    const raw = await (connect.raw ?? connect.machine)();
    t.after(() => raw.close?.());
    return { machine, raw };
  };
  const check = (title: string, run: (s: NonNullable<Awaited<ReturnType<typeof setup>>>) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const s = await setup(t);
      if (s) await run(s);
    });
  let calls = 0;
  const body = (x: number) => (calls++, { x, rows: Array.from({ length: 50 }, (_, i) => ({ i, x })) });
  const expected = (x: number) => ({ x, rows: Array.from({ length: 50 }, (_, i) => ({ i, x })) });

  check(`an entry signed with the team key is adopted by another machine with the key`, async (s) => {
    const a = await s.machine({ signingKey: TEAM_KEY });
    const b = await s.machine({ signingKey: TEAM_KEY });
    calls = 0;
    assert.deepEqual(await a.fn("signed_ok", body, { version: "1" })(1), expected(1));
    const { result, warnings } = await captureConsole(() => b.fn("signed_ok", body, { version: "1" })(1));
    assert.deepEqual([result, calls, warnings], [expected(1), 1, []]);
  });

  check(`entries that are unsigned or signed with another key are misses with one warning, never returned`, async (s) => {
    const unsigned = await s.machine({});
    const other = await s.machine({ signingKey: OTHER_KEY });
    calls = 0;
    // Planted: another team's values under this team's keys (a poisoned cache would hold wrong ones).
    await unsigned.fn("planted", (x: number) => ({ x: -x, rows: [] }), { version: "1" })(1);
    await other.fn("planted", (x: number) => ({ x: -x, rows: [] }), { version: "1" })(2);
    const team = await s.machine({ signingKey: TEAM_KEY });
    const f = team.fn("planted", body, { version: "1" });
    const { result, warnings } = await captureConsole(async () => [await f(1), await f(2)]);
    assert.deepEqual(result, [expected(1), expected(2)]);
    assert.equal(calls, 2);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0]!, /Refused the result of planted\(\d\) in the shared store: it (is not signed|s signature does not match)/);
    assert.deepEqual(await f(1), expected(1)); // now the team's own signed entry: a hit
    assert.equal(calls, 2);
  });

  check(`a signed payload altered in the store is refused`, async (s) => {
    const a = await s.machine({ signingKey: TEAM_KEY });
    calls = 0;
    const f = a.fn("altered", body, { version: "1" });
    await f(3);
    const id = a.entries({ fn: "altered" })[0]!.object!;
    const stored = new Uint8Array((await s.raw.get(id))!);
    stored[30]! ^= 0xff; // a byte of the payload (the signature's trailer is at the end)
    await s.raw.set(id, [stored], await s.raw.info?.(id));
    const b = await s.machine({ signingKey: TEAM_KEY });
    const g = b.fn("altered", body, { version: "1" });
    const { result, warnings } = await captureConsole(() => g(3));
    assert.deepEqual([result, calls], [expected(3), 2]);
    assert.match(warnings.join("\n"), /Refused the result of altered\(3\).*signature does not match/);
    assert.deepEqual(await g(3), expected(3)); // b's recomputed, signed one
    // The writer refuses it too, unless it reads a copy of its own (a tiered store's local tier).
    assert.deepEqual(await f(3), expected(3));
    assert.ok(calls === 2 || calls === 3);
  });

  check(`a signed payload moved to another entry's key is refused`, async (s) => {
    const a = await s.machine({ signingKey: TEAM_KEY });
    calls = 0;
    const f = a.fn("moved", body, { version: "1" });
    await f(5);
    await f(6);
    const [five, six] = [5, 6].map((x) => a.entries({ fn: "moved" }).find((e) => e.argsPreview === String(x))!);
    // The store's index for f(6) now leads to a copy of f(5)'s signed payload.
    const info = { computeMs: 1, runtime: "node 24.0.0", createdAt: Date.now(), key: keyDigest(six!) };
    await s.raw.set("77".repeat(16), [(await s.raw.get(five!.object!))!], info);
    assert.equal(await s.raw.find?.(info.key), "77".repeat(16));
    const b = await s.machine({ signingKey: TEAM_KEY });
    const { result, warnings } = await captureConsole(() => b.fn("moved", body, { version: "1" })(6));
    assert.deepEqual([result, calls], [expected(6), 3]);
    assert.match(warnings.join("\n"), /Refused the result of moved\(6\).*signed for another entry/);
  });

  check(`a machine without the key is told that the entries are signed`, async (s) => {
    const a = await s.machine({ signingKey: TEAM_KEY });
    calls = 0;
    await a.fn("keyless", body, { version: "1" })(7);
    const b = await s.machine({});
    const { result, warnings } = await captureConsole(() => b.fn("keyless", body, { version: "1" })(7));
    assert.deepEqual([result, calls], [expected(7), 2]);
    assert.match(warnings.join("\n"), /signed with a team key, and this Memory has none: give it the same signingKey \(or NBMEMO_SIGNING_KEY\)/);
  });
}
