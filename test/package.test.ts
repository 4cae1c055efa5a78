// The package as users get it: `npm test` packs it (npm pack) and installs the tarball into a fresh npm
// project outside the repository (NBMEMO_TEST_PROJECT); these tests use it there as a user would, in
// real processes: a Node script (ES module and CommonJS), `npx nbmemo`, the README's quick start, an old
// Node, the oldest Node claimed, and a Deno script through deno.json's exports, as JSR serves them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { isDeno, root, runtimePath, startProcess } from "./helpers.ts";

const project = process.env.NBMEMO_TEST_PROJECT;
const tarball = process.env.NBMEMO_TEST_TARBALL;
// The processes below are the same whichever runner starts them: the Node suite runs them once.
const skip = isDeno
  ? "the installed package is checked once, by the Node suite"
  : !project || !tarball
  ? "`npm test` packs the package and installs it into a fresh project first (scripts/toolchain.mjs)"
  : false;

const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;
const node = () => runtimePath("node");
// A user's shell: the Node that runs the tests first on PATH, so that `npx` and the bin's shebang find it.
const userEnv = () => ({ PATH: `${dirname(node())}${delimiter}${process.env.PATH ?? ""}` });

// Each test works in a new folder of the project (so caches start empty, also when the tests run again);
// `import "nbmemo"` finds the project's node_modules from there, and its package.json's "type".
function folder(t: { after: (fn: () => void) => void }) {
  const cwd = mkdtempSync(join(project!, "run-"));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  return {
    run: (executable: string, argv: string[], env: Record<string, string> = {}) =>
      startProcess(executable, argv, { cwd, env: { ...userEnv(), NBMEMO_LOG: "warn", ...env } }).done,
    write: (name: string, text: string) => (writeFileSync(join(cwd, name), text), name),
    has: (name: string) => existsSync(join(cwd, name)),
  };
}

// Opens a cache in the project, memoizes one function, calls it, and says whether TypeScript was loaded
// (ts-morph is CommonJS: once loaded, it is in the module cache).
const SCRIPT = `
const memory = await Memory.open(process.argv[2] ?? ".nbmemo");
const double = memory.fn("double", (x) => 2 * x);
const value = await double(21);
await memory.close();
const { createRequire } = await import("node:module");
const loaded = Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes("ts-morph"));
console.log(JSON.stringify({ value, typescriptLoaded: loaded }));
`;

test("the tarball holds the built code, its types, the README and the LICENSE, and no TypeScript sources", { skip }, () => {
  const files = execFileSync("tar", ["-tzf", tarball!], { encoding: "utf8" }).trim().split("\n").map((f) => f.replace(/^package\//, ""));
  for (const file of ["package.json", "README.md", "LICENSE", "dist/mod.js", "dist/mod.d.ts", "dist/cli/main.js"]) {
    assert.ok(files.includes(file), `the tarball has ${file}`);
  }
  assert.deepEqual(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), []);
  // tslab's TypeScript 5.0 (which takes node_modules/.bin/tsc) leaves `.ts` specifiers in the JavaScript.
  const installed = join(project!, "node_modules", "nbmemo", "dist");
  const tsImports = readdirSync(installed, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".js"))
    .filter((f) => /^(import|export)\b[^\n]*from "\.{1,2}\/[^"]*\.ts"/m.test(readFileSync(join(installed, f), "utf8")));
  assert.deepEqual(tsImports, []);
});

test("a Node script in the project imports the package; a second process hits without loading TypeScript", { skip }, async (t) => {
  const { run, write } = folder(t);
  const script = write("script.mjs", `import { Memory } from "nbmemo";\n${SCRIPT}`);
  const first = await run(node(), [script]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(JSON.parse(first.stdout), { value: 42, typescriptLoaded: true });
  assert.equal(first.stderr, "");
  const second = await run(node(), [script]);
  assert.deepEqual(JSON.parse(second.stdout), { value: 42, typescriptLoaded: false });
});

test("CommonJS code (npm init -y writes \"type\": \"commonjs\") loads it with require() and with import()", { skip }, async (t) => {
  const { run: inFolder, write } = folder(t);
  assert.equal(JSON.parse(readFileSync(join(project!, "package.json"), "utf8")).type, "commonjs");
  const required = write("required.js", `const { Memory } = require("nbmemo");\n(async () => {\n${SCRIPT.replace("import.meta.url", "__filename")}\n})();\n`);
  const imported = write("imported.js", `(async () => {\nconst { Memory } = await import("nbmemo");\n${SCRIPT.replace("import.meta.url", "__filename")}\n})();\n`);
  for (const file of [required, imported]) {
    const run = await inFolder(node(), [file, `.nbmemo-${file}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).value, 42);
    assert.equal(run.stderr, "", `${file} prints no warning`);
  }
});

// The file store's summing thread runs from its function's source text (lib/store/sum-thread.ts): what the
// build made of that text must still run in a thread of its own and sum as the one of lib/ does.
test("large outputs stored by the package's summing thread are hits in a second process", { skip }, async (t) => {
  const { run, write } = folder(t);
  const script = write("large.mjs", `import { Memory } from "nbmemo";
const threads = [];
process.on("worker", (worker) => {
  const thread = { errors: [] };
  threads.push(thread);
  worker.on("error", (error) => thread.errors.push(String(error)));
});
const memory = await Memory.open(".nbmemo-large");
let computed = 0;
const big = memory.fn("big", (n) => (computed++, Float64Array.from({ length: 1_500_000 }, (_, i) => i * n)), { unkeyed: ["computed"] });
for (let n = 0; n < 4; n++) {
  await big(n);
  await new Promise((resolve) => setTimeout(resolve, 200));
}
await memory.close();
console.log(JSON.stringify({ computed, threads }));
`);
  const first = await run(node(), [script]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(JSON.parse(first.stdout), { computed: 4, threads: [{ errors: [] }] }, "one summing thread, which never failed");
  const second = await run(node(), [script]);
  assert.equal(JSON.parse(second.stdout).computed, 0, "all four are hits");
});

test("the README's quick start runs as written, saved as a .mts file", { skip }, async (t) => {
  const { run: inFolder, write } = folder(t);
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const quickStart = readme.slice(readme.indexOf("\n## Quick start\n"));
  const code = /```ts\n([\s\S]*?)```/.exec(quickStart)![1]!;
  const run = await inFolder(node(), [write("primes.mts", code)], { NBMEMO_LOG: "" });
  assert.equal(run.code, 0, run.stderr);
  // What the example says it prints: its console.log lines' `// prints: …` comments.
  const printed = [...code.matchAll(/^console\.log\(.*\/\/ prints: (.*)$/gm)].map((m) => `${m[1]}\n`).join("");
  assert.equal(run.stdout, printed);
  assert.match(run.stderr, /^nbmemo: primes_below miss \(computed in .*\nnbmemo: primes_below hit \(saved /);
});

test("npx nbmemo answers --help, --version, ls --json and stats in the project", { skip }, async (t) => {
  const { run, write } = folder(t);
  await run(node(), [write("fill.mjs", `import { Memory } from "nbmemo";\n${SCRIPT}`)]);
  const npx = (...args: string[]) => run("npx", ["--no-install", "nbmemo", ...args]);
  const help = await npx("--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: nbmemo COMMAND/m);
  assert.equal((await npx("--version")).stdout, `${version}\n`);
  const ls = await npx("ls", "--json");
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual((JSON.parse(ls.stdout) as { name: string }[]).map((f) => f.name), ["double"]);
  const stats = await npx("stats");
  assert.equal(stats.code, 0, stats.stderr);
  assert.match(stats.stdout, /^entries +1$/m);
  assert.equal(stats.stderr, "");
});

// Node versions other than the tests' own, found on PATH (the machine's Node 20 on the project's machines).
function nodesOnPath(): { path: string; version: string }[] {
  const found = new Map<string, string>();
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const path = join(dir, "node");
    if (!dir || !existsSync(path)) continue;
    try {
      found.set(path, execFileSync(path, ["--version"], { encoding: "utf8" }).trim());
    } catch { /* not runnable */ }
  }
  return [...found].map(([path, version]) => ({ path, version }));
}

const olderNode = skip ? undefined : nodesOnPath().find((n) => {
  const [major, minor] = n.version.slice(1).split(".").map(Number);
  return major! < 22 || (major === 22 && minor! < 13);
});

test("on a Node older than 22.13 the package and the CLI say which Node they need", { skip: skip || (!olderNode && "no Node older than 22.13 on PATH") }, async (t) => {
  const { run: inFolder, write, has } = folder(t);
  const script = write("old-node.mjs", `import { Memory } from "nbmemo";
try { await Memory.open(".nbmemo-old"); } catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }`);
  const run = await inFolder(olderNode!.path, [script]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), {
    code: "RUNTIME_TOO_OLD",
    message: `Cannot load node:sqlite: nbmemo needs Node >= 22.13 (this is ${olderNode!.version}). Install Node 22.13 or newer.`,
  });
  assert.equal(has(".nbmemo-old"), false, "nothing is created");
  const cli = await inFolder(olderNode!.path, [join(project!, "node_modules", "nbmemo", "dist", "cli", "main.js"), "ls"]);
  assert.equal(cli.code, 4);
  assert.match(cli.stderr, /^nbmemo: Cannot load node:sqlite: nbmemo needs Node >= 22\.13 \(this is v/);
});

const oldestNode = process.env.NBMEMO_TEST_NODE_OLDEST;

test("on the oldest Node claimed (22.13) the package works and prints no warning", { skip: skip || (!oldestNode && "NBMEMO_TEST_NODE_OLDEST is not set") }, async (t) => {
  const { run: inFolder, write } = folder(t);
  const run = await inFolder(oldestNode!, [write("oldest.mjs", `import { Memory } from "nbmemo";\n${SCRIPT}`)]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).value, 42);
  assert.equal(run.stderr, "");
});

test("deno publish --dry-run passes: no slow types, no missing exports, a license", { skip }, async () => {
  const run = await startProcess(runtimePath("deno"), ["publish", "--dry-run", "--allow-dirty"], { env: { NO_COLOR: "1" } }).done;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /Success Dry run complete/);
  assert.doesNotMatch(run.stderr, /^(warning|error)/im);
});

test("a Deno script imports the package and runs its CLI through deno.json's exports, as JSR serves them", { skip }, async (t) => {
  const { run, write } = folder(t);
  // `links` resolves jsr:@nbmemo/nbmemo to this repository through its deno.json; npm: imports come from
  // the project's node_modules.
  write("deno.json", `${JSON.stringify({ links: [root], nodeModulesDir: "manual" })}\n`);
  const script = write("deno-script.ts", `import { Memory } from "jsr:@nbmemo/nbmemo";
const memory = await Memory.open(".nbmemo-deno");
console.log(await memory.fn("triple", (x: number) => 3 * x)(14));
await memory.close();\n`);
  const deno = runtimePath("deno");
  const ran = await run(deno, ["run", "-A", "--quiet", script]);
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(ran.stdout, "42\n");
  const cli = await run(deno, ["run", "-A", "--quiet", "jsr:@nbmemo/nbmemo/cli", "ls", "--json", "--dir", ".nbmemo-deno"]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual((JSON.parse(cli.stdout) as { name: string }[]).map((f) => f.name), ["triple"]);
});
