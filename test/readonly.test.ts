// Read-only caches: `readOnly: true`, a cache directory this process cannot write (another user's, a
// read-only mount), and a reader of a team's shared store. Every hit is served; nothing is written.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { cannotRun, test } from "./harness.ts";
import { kvStore, Memory, type MemoryOptions, NbmemoError } from "../lib/mod.ts";
import { captureConsole, type Fixture, nodeTypeScript, root, runtimePath, startProcess, tempDir } from "./helpers.ts";

type Double = { x: number; twice: number };

// Stores double(x) for each of `xs` in `dir` (outputs as files under objects/, not inline), and closes.
async function build(dir: string, xs: number[], options: MemoryOptions = {}): Promise<void> {
  const memory = await Memory.open(dir, { log: "silent", inlineBytes: 0, ...options });
  const double = memory.fn("double", (x: number): Double => ({ x, twice: x * 2 }), { version: "1" });
  for (const x of xs) await double(x);
  await memory.close();
}

// double(x) read from the cache in `dir` by this process, which may write it.
async function double(dir: string, x: number): Promise<Double> {
  const memory = await Memory.open(dir, { log: "silent" });
  try {
    return await memory.fn("double", (x: number): Double => ({ x, twice: -1 }), { version: "1" })(x);
  } finally {
    await memory.close();
  }
}

// Every file under `dir` by its path, with a hash of its contents.
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return files;
}

// Makes `dir` and everything in it read-only for everyone (root still writes it).
function freeze(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) freeze(path);
    else chmodSync(path, 0o444);
  }
  chmodSync(dir, 0o555);
}

test("readOnly: true serves every hit, computes a miss without storing it, and changes no file of the cache", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  await build(dir.path, [1, 2, 3]);
  const before = snapshot(dir.path);
  const { warnings, notices } = await captureConsole(async () => {
  const memory = await Memory.open(dir.path, { log: "info", readOnly: true });
  let computed = 0;
  const double = memory.fn("double", (x: number): Double => (computed++, { x, twice: x * 2 }), { version: "1" });
  try {
    assert.deepEqual(await double(9), { x: 9, twice: 18 });
    assert.deepEqual(await double(9), { x: 9, twice: 18 });
    assert.equal(computed, 2, "a miss is not stored, so it computes again");
    for (const x of [1, 2, 3]) assert.deepEqual(await double(x), { x, twice: x * 2 });
    assert.equal(computed, 2, "every stored result is a hit");
    assert.equal(memory.stats().entries, 3);
    assert.deepEqual(memory.functions().map((f) => [f.name, f.entries]), [["double", 3]]);
    assert.equal(memory.entries().length, 3);
    assert.deepEqual((await memory.verify()).problems, []);
    for (const attempt of [() => memory.delete("double"), () => memory.clear(), () => memory.prune(), () => memory.verify({ repair: true })]) {
      await assert.rejects(attempt(), (e: NbmemoError) => e.code === "READ_ONLY" && /open read-only \(readOnly: true\)/.test(e.message));
    }
  } finally {
    await memory.close();
  }
  });
  assert.match(notices.join("\n"), /double miss \(computed in [^)]*, not stored: read-only\)/);
  assert.deepEqual(warnings, []);
  // SQLite's reader, in a folder it can write, makes the catalog's side files (an empty write-ahead log and
  // its index) as any reader of a WAL database does; the catalog and the outputs are untouched.
  const after = snapshot(dir.path);
  if ("catalog.sqlite-wal" in after) assert.equal(statSync(join(dir.path, "catalog.sqlite-wal")).size, 0);
  delete after["catalog.sqlite-wal"], delete after["catalog.sqlite-shm"];
  assert.deepEqual(after, before);
});

test("readOnly: true on a directory without a cache computes every call and creates nothing", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const missing = join(dir.path, "none");
  const { warnings } = await captureConsole(async () => {
    const memory = await Memory.open(missing, { log: "warn", readOnly: true });
    const double = memory.fn("double", (x: number): Double => ({ x, twice: x * 2 }), { version: "1" });
    try {
      assert.deepEqual(await double(1), { x: 1, twice: 2 });
    } finally {
      await memory.close();
    }
  });
  assert.match(warnings.join("\n"), /There is no cache at .*none to read \(readOnly: true\): every call computes/);
  assert.equal(existsSync(missing), false);
});

test("readOnly: true on a catalog of an older schema says it cannot be upgraded read-only", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  await build(dir.path, [1]);
  const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
  const schema = Number(db.prepare("PRAGMA user_version").get()!.user_version);
  db.exec(`PRAGMA user_version = ${schema - 1}`);
  db.close();
  await assert.rejects(Memory.open(dir.path, { readOnly: true }),
    (e: NbmemoError) => e.code === "READ_ONLY" && /older than this nbmemo's/.test(e.message) && /Open it once with write access/.test(e.message));
});

test("a reader with readOnly: true gets the hits of a shared store and writes nothing to it", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const kv = join(dir.path, "team.kv");
  let computed = 0;
  const run = async (machine: string, xs: number[], options: MemoryOptions = {}) => {
    const memory = await Memory.open(join(dir.path, machine), { log: "silent", store: await kvStore(kv), ...options });
    const double = memory.fn("double", (x: number): Double => (computed++, { x, twice: x * 2 }), { version: "1" });
    try {
      for (const x of xs) assert.deepEqual(await double(x), { x, twice: x * 2 });
    } finally {
      await memory.close();
    }
  };
  await run("writer", [1, 2]);
  computed = 0;
  await run("reader", [1, 2, 7], { readOnly: true });
  assert.equal(computed, 1, "1 and 2 are hits from the shared store, 7 is computed");
  assert.equal(existsSync(join(dir.path, "reader")), false, "the reader's cache directory is not made");
  computed = 0;
  await run("third", [7]);
  assert.equal(computed, 1, "the reader did not store 7 in the shared store");
});

// Tests run as root here, for whom permissions do not bite: a reader runs as root without the capabilities
// that override file permissions (so it still reads the checkout, which may be private to root).
const SETPRIV = "/usr/bin/setpriv";
const NO_OVERRIDE = ["--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"];

// Runs `script` and its arguments under `which`, as a process that cannot write what root made read-only.
function startReader(which: "node" | "deno", [script, ...args]: string[]): Fixture {
  const argv = which === "deno" ? ["run", "-A", "--quiet", `--config=${join(root, "deno.json")}`, script!, ...args] : [...nodeTypeScript(), script!, ...args];
  const asRoot = process.getuid?.() === 0;
  return asRoot ? startProcess(SETPRIV, [...NO_OVERRIDE, runtimePath(which), ...argv]) : startProcess(runtimePath(which), argv);
}

// Lines a child prints, one JSON object each, in order.
function replies(fixture: Fixture): () => Promise<Record<string, unknown>> {
  const lines: string[] = [];
  let waiting: (() => void) | undefined;
  let buffer = "";
  fixture.child.stdout!.on("data", (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n")) {
      lines.push(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
    }
    waiting?.();
  });
  return async () => {
    while (lines.length === 0) {
      const exited = fixture.done.then((run) => {
        throw new Error(`the child exited (${run.code}) before answering:\n${run.stdout}\n${run.stderr}`);
      });
      await Promise.race([new Promise<void>((resolve) => (waiting = resolve)), exited]);
    }
    return JSON.parse(lines.shift()!);
  };
}

for (const which of ["node", "deno"] as const) {
  test(`a cache directory this process cannot write serves every hit, after one warning, and follows a writer that comes (${which})`, async (t) => {
    const dir = tempDir();
    const cache = join(dir.path, "cache");
    t.after(() => (thaw(cache), dir.remove()));
    await build(cache, [1, 2, 3]);
    freeze(cache);
    const asRoot = process.getuid?.() === 0;
    if (asRoot && !existsSync(SETPRIV)) return cannotRun(t, `${SETPRIV} (util-linux) is missing: a process of root cannot be kept from writing`);
    const before = snapshot(cache);
    const reader = startReader(which, [join(root, "test", "fixtures", "read-only.ts"), cache]);
    const next = replies(reader);
    const ask = async (x: number) => {
      reader.child.stdin!.write(`${x}\n`);
      return await next();
    };
    try {
      assert.deepEqual(await next(), { ready: true });
      for (const x of [1, 2, 3]) assert.deepEqual(await ask(x), { x, value: { x, twice: x * 2 }, computed: false });
      assert.deepEqual(await ask(9), { x: 9, value: { x: 9, twice: 18 }, computed: true });
      assert.deepEqual(await ask(9), { x: 9, value: { x: 9, twice: 18 }, computed: true });
      assert.deepEqual(snapshot(cache), before, "the reader wrote nothing");
      if (asRoot) {
        // The owner (root, with its capabilities) writes while the reader has the cache open: its new result is in the
        // write-ahead log, which the reader must see (it read the catalog as immutable until now). Inline
        // in the catalog: an output file would be the owner's alone (nbmemo makes them 0600), a miss for another user.
        const owner = await Memory.open(cache, { log: "silent" });
        t.after(() => owner.close());
        await owner.fn("double", (x: number): Double => ({ x, twice: x * 2 }), { version: "1" })(5);
        assert.ok(existsSync(join(cache, "catalog.sqlite-wal")));
        assert.deepEqual(await ask(5), { x: 5, value: { x: 5, twice: 10 }, computed: false });
        assert.deepEqual(await ask(1), { x: 1, value: { x: 1, twice: 2 }, computed: false });
        await owner.close();
        assert.deepEqual(await ask(2), { x: 2, value: { x: 2, twice: 4 }, computed: false });
      }
    } finally {
      reader.child.stdin!.end("close\n");
    }
    const { code, stderr } = await reader.done;
    assert.equal(code, 0, stderr);
    assert.equal(stderr.match(/Cannot write the cache at .*: EACCES.*Its results are read; new ones are computed and returned but not stored/g)?.length, 1, stderr);
    assert.doesNotMatch(stderr.replace(/.*Cannot write the cache at.*\n/, ""), /Cannot|warn/i);
    // The CLI inspects it too, and refuses to change it.
    const cli = (...args: string[]) => startReader(which, [join(root, "lib", "cli", "main.ts"), ...args]).done;
    const ls = await cli("ls", "--json", "--dir", cache);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /"double"/);
    const rm = await cli("rm", "double", "--dir", cache);
    assert.equal(rm.code, 4, rm.stderr); // the CLI's exit code for a failure
    assert.match(rm.stderr, /Cannot delete the results of double: the cache at .* is open read-only \(this process cannot write it\)/);
    assert.deepEqual(await double(cache, 1), { x: 1, twice: 2 }, "still there");
  });
}

// Gives `dir` and its folders back to their owner, so that they can be removed.
function thaw(dir: string): void {
  if (!existsSync(dir)) return;
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) thaw(join(dir, entry.name));
}
