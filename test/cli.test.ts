// The nbmemo CLI as users run it, in real child processes: under the Node suite the built
// dist/cli/main.js (what `npx nbmemo` runs), under the Deno suite `deno run -A lib/cli/main.ts`.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "./harness.ts";
import { Memory } from "../lib/mod.ts";
import { isDeno, root, runtimePath, startProcess, tempDir } from "./helpers.ts";

const entry = isDeno
  ? { runtime: runtimePath("deno"), argv: ["run", "-A", "--quiet", join(root, "lib", "cli", "main.ts")] }
  : { runtime: runtimePath("node"), argv: [join(root, "dist", "cli", "main.js")] };

function nbmemo(cwd: string, ...args: string[]) {
  if (!isDeno && !existsSync(entry.argv[0]!)) throw new Error("dist/cli/main.js is missing: run `npm test` (it builds dist/ first)");
  return startProcess(entry.runtime, [...entry.argv, ...args], { cwd }).done;
}

// The CLI on a terminal: util-linux `script` runs it on a pseudo-terminal and passes `input` to it as typed.
async function onTerminal(cwd: string, input: string, ...args: string[]) {
  const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;
  const child = startProcess("script", ["-qec", [entry.runtime, ...entry.argv, ...args].map(quote).join(" "), "/dev/null"], { cwd });
  child.child.stdin!.end(input);
  return await child.done;
}

// A cache in <dir>/.nbmemo with two functions: "load" (two entries, one hit) and "fit" at two pinned versions.
async function sampleCache(t: { after: (fn: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(join(dir.path, ".nbmemo"), { log: "silent", inlineBytes: 64 });
  const load = memory.fn("load", (state: string) => ({ state, rows: new Float64Array(100).fill(1) }));
  await load("CA"), await load("CA"), await load("NY");
  await memory.fn("fit", (xs: number[]) => xs.length, { version: "1" })([1, 2]);
  await new Promise((resolve) => setTimeout(resolve, 5));
  await memory.fn("fit", (xs: number[]) => xs.length, { version: "2" })([1, 2]);
  await memory.close();
  return dir.path;
}

test("the CLI refuses a directory that is not a cache with exit code 3, and creates nothing", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const missing = await nbmemo(dir.path, "ls");
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /Cannot open the cache at .*\.nbmemo: there is no such directory/);
  mkdirSync(join(dir.path, "notes"));
  writeFileSync(join(dir.path, "notes", "a.txt"), "hello");
  const other = await nbmemo(dir.path, "stats", "--dir", "notes");
  assert.equal(other.code, 3);
  assert.match(other.stderr, /holds no catalog\.sqlite, so it is not an nbmemo cache/);
  assert.deepEqual(readdirSync(dir.path).sort(), ["notes"]);
  assert.deepEqual(readdirSync(join(dir.path, "notes")), ["a.txt"]);
});

test("ls, show and stats print tables for people and the same facts as JSON for scripts", async (t) => {
  const cwd = await sampleCache(t);
  const ls = await nbmemo(cwd, "ls");
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(ls.stderr, ""); // no warning either (Node 22 warns about node:sqlite unless told otherwise)
  assert.match(ls.stdout, /^NAME +VERSION +ENTRIES +SIZE +HITS +SAVED +LAST USED$/m);
  assert.match(ls.stdout, /^fit +pinned:2 +1 +\d+ B +0 /m);
  assert.match(ls.stdout, /^load +[0-9a-f]{12} +2 +\d\.\d kB +1 /m);
  const lsJson = JSON.parse((await nbmemo(cwd, "ls", "--json")).stdout) as { name: string; entries: number }[];
  assert.deepEqual(lsJson.map((f) => [f.name, f.entries]).sort(), [["fit", 1], ["fit", 1], ["load", 2]]);

  const show = await nbmemo(cwd, "show", "load");
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /source of [0-9a-f]{12}:\n  \(?state\)? => \(\{\s+state,\s+rows: new Float64Array\(100\)\.fill\(1\)\s+\}\)/);
  assert.match(show.stdout, /^"CA" +[0-9a-f]{12} +\d+ B +1 /m);
  const shown = JSON.parse((await nbmemo(cwd, "show", "fit", "--version", "1", "--json")).stdout) as { versions: { version: string }[]; entries: unknown[] };
  assert.deepEqual(shown.versions.map((v) => v.version), ["pinned:1"]);
  assert.equal(shown.entries.length, 1);

  const stats = await nbmemo(cwd, "stats");
  assert.match(stats.stdout, /^entries +4$/m);
  assert.match(stats.stdout, /^hits +1$/m);
  const totals = JSON.parse((await nbmemo(cwd, "stats", "--json")).stdout) as { functions: number; versions: number; entries: number };
  assert.deepEqual([totals.functions, totals.versions, totals.entries], [2, 3, 4]);
});

test("rm removes one version or a whole name, and exits with 1 for a name the cache does not hold", async (t) => {
  const cwd = await sampleCache(t);
  const one = await nbmemo(cwd, "rm", "fit", "--version", "1");
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, "Removed 1 entry of fit (version pinned:1).\n");
  const all = JSON.parse((await nbmemo(cwd, "rm", "load", "--json")).stdout) as { removed: number };
  assert.equal(all.removed, 2);
  const unknown = await nbmemo(cwd, "rm", "nothing_here");
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no function "nothing_here"/);
});

test("ls hides versions left with no stored results, says how many, and --all lists them", async (t) => {
  const cwd = await sampleCache(t);
  await nbmemo(cwd, "rm", "fit", "--version", "1");
  const ls = await nbmemo(cwd, "ls");
  assert.doesNotMatch(ls.stdout, /pinned:1/);
  assert.match(ls.stdout, /^fit +pinned:2 +1 /m);
  assert.match(ls.stdout, /^1 version with no stored results not shown; --all lists it\.$/m);
  assert.match((await nbmemo(cwd, "ls", "--all")).stdout, /^fit +pinned:1 +0 +0 B /m);
  const listed = JSON.parse((await nbmemo(cwd, "ls", "--json")).stdout) as { version: string }[];
  assert.deepEqual(listed.map((f) => f.version).filter((v) => v.startsWith("pinned:")), ["pinned:2"]);
});

test("errors under --json are one JSON object on stderr, with the code and the exit code", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const error = async (expected: { code: string; exitCode: number }, ...args: string[]) => {
    const run = await nbmemo(dir.path, ...args, "--json");
    assert.equal(run.code, expected.exitCode, run.stderr);
    assert.equal(run.stdout, "");
    const parsed = JSON.parse(run.stderr) as { error: { code: string; message: string; exitCode: number } };
    assert.deepEqual({ code: parsed.error.code, exitCode: parsed.error.exitCode }, expected);
    assert.ok(parsed.error.message.length > 0);
  };
  await error({ code: "NOT_A_CACHE", exitCode: 3 }, "ls");
  await error({ code: "USAGE", exitCode: 2 }, "frobnicate");
  await error({ code: "USAGE", exitCode: 2 }, "ls", "--frob");
  const cwd = await sampleCache(t);
  const unknown = await nbmemo(cwd, "show", "nothing_here", "--json");
  assert.equal(unknown.code, 1);
  assert.equal(JSON.parse(unknown.stderr).error.code, "NOT_FOUND");
});

test("show keeps every argument of a long call visible", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const memory = await Memory.open(join(dir.path, ".nbmemo"), { log: "silent" });
  await memory.fn("fetch", (url: string, opts: { year: number }) => url.length + opts.year)(`https://example.org/${"x".repeat(60)}.csv`, { year: 2024 });
  await memory.close();
  const show = await nbmemo(dir.path, "show", "fetch");
  assert.match(show.stdout, /^"https:\/\/example\.org\/x+…", \{year: 2024\} +[0-9a-f]{12} /m);
});

test("verify exits with 1 when it finds problems, and --repair fixes them and exits with 0", async (t) => {
  const cwd = await sampleCache(t);
  const objects = join(cwd, ".nbmemo", "objects");
  const [prefix] = readdirSync(objects);
  rmSync(join(objects, prefix!, readdirSync(join(objects, prefix!))[0]!));
  const found = await nbmemo(cwd, "verify");
  assert.equal(found.code, 1, found.stderr);
  assert.match(found.stdout, /^missing +load +"(CA|NY)" +its output file is missing$/m);
  assert.match(found.stdout, /^Checked 4 entries and 1 stored output: 1 problem\. Run `nbmemo verify --repair`/m);
  const repaired = JSON.parse((await nbmemo(cwd, "verify", "--repair", "--json")).stdout) as { repaired: number };
  assert.equal(repaired.repaired, 1);
  const clean = await nbmemo(cwd, "verify");
  assert.equal(clean.code, 0);
  assert.match(clean.stdout, /Checked 3 entries and 1 stored output: no problems\./);
});

// Rows of runtimes that no entry names, as evicting or deleting the last entries of two runtimes leaves.
function leaveUnusedRuntimes(cwd: string): void {
  const db = new DatabaseSync(join(cwd, ".nbmemo", "catalog.sqlite"));
  db.exec("INSERT INTO runtimes (name) VALUES ('node 0.0.1'), ('deno 0.0.1')");
  db.close();
}

test("verify tells of the runtimes no entry names any more, which are no problem, and --repair forgets them", async (t) => {
  const cwd = await sampleCache(t);
  leaveUnusedRuntimes(cwd);
  const found = await nbmemo(cwd, "verify");
  assert.equal(found.code, 0, found.stderr);
  assert.match(found.stdout, /: no problems\.\n2 runtimes no entry names any more \(not a problem; `nbmemo prune` forgets them\)\.\n$/);
  assert.match((await nbmemo(cwd, "verify", "--repair")).stdout, /: no problems\.\nForgot 2 runtimes no entry names any more\.\n$/);
  assert.match((await nbmemo(cwd, "verify")).stdout, /: no problems\.\n$/);
});

test("prune says how many runtimes no entry names any more it forgot, and says nothing of them when there were none", async (t) => {
  const cwd = await sampleCache(t);
  leaveUnusedRuntimes(cwd);
  const pruned = await nbmemo(cwd, "prune");
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /^Removed 0 entries \(0 B\): .*\.\nForgot 2 runtimes no entry names any more\.\n$/);
  assert.doesNotMatch((await nbmemo(cwd, "prune")).stdout, /runtime/);
});

test("prune applies the limits given on the command line and drops old versions", async (t) => {
  const cwd = await sampleCache(t);
  const pruned = JSON.parse((await nbmemo(cwd, "prune", "--max-entries", "3", "--old-versions", "0", "--json")).stdout) as Record<string, number>;
  assert.equal(pruned.evicted, 2); // 4 entries > 3: down to 90% of 3, i.e. 2
  assert.equal(pruned.versions, 1);
  const bad = await nbmemo(cwd, "prune", "--max-bytes", "lots");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Cannot use maxBytes="lots"/);
});

test("clear needs --yes outside a terminal, removes every result and leaves a cache", async (t) => {
  const cwd = await sampleCache(t);
  const refused = await nbmemo(cwd, "clear");
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^nbmemo clear: it deletes every stored result: pass --yes to confirm/);
  assert.match((await nbmemo(cwd, "stats")).stdout, /^entries +4$/m);
  const cleared = await nbmemo(cwd, "clear", "--yes");
  assert.equal(cleared.stdout, "Removed 4 entries.\n");
  const after = await nbmemo(cwd, "ls");
  assert.equal(after.code, 0);
  assert.match(after.stdout, /^No stored results in /);
});

test("clear on a terminal asks first, and deletes only after a yes", async (t) => {
  const cwd = await sampleCache(t);
  const kept = await onTerminal(cwd, "n\n", "clear");
  assert.equal(kept.code, 0, kept.stdout);
  assert.match(kept.stdout, /Delete all 4 stored results \([\d.]+ kB\) in .*\.nbmemo\? \[y\/N\] /);
  assert.match(kept.stdout, /Nothing deleted\./);
  assert.match((await nbmemo(cwd, "stats")).stdout, /^entries +4$/m);
  const cleared = await onTerminal(cwd, "y\n", "clear");
  assert.match(cleared.stdout, /Removed 4 entries\./);
  assert.match((await nbmemo(cwd, "stats")).stdout, /^entries +0$/m);
});

test("--help describes the CLI and each command; a wrong command line exits with 2", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const help = await nbmemo(dir.path, "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Commands:\n  ls +list the memoized functions/m);
  assert.match(help.stdout, /Exit codes: 0 done; 1 /);
  const rmHelp = await nbmemo(dir.path, "rm", "--help");
  assert.equal(rmHelp.code, 0);
  assert.match(rmHelp.stdout, /^Usage: nbmemo rm NAME \[--version V\]/);
  for (const args of [[], ["frobnicate"], ["ls", "--frob"], ["rm"], ["show", "a", "b"]]) {
    const wrong = await nbmemo(dir.path, ...args);
    assert.equal(wrong.code, 2, `nbmemo ${args.join(" ")}: ${wrong.stderr}`);
    assert.match(wrong.stderr, /nbmemo/);
  }
  assert.deepEqual(readdirSync(dir.path), []);
});

test("--version prints nbmemo's version, the one package.json and deno.json give", async (t) => {
  const dir = tempDir();
  t.after(dir.remove);
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  assert.equal((JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as { version: string }).version, version);
  const printed = await nbmemo(dir.path, "--version");
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(printed.stdout, `${version}\n`);
});
