// `npm run bench`: installs the Python peers where it can, then runs every bench/*.bench.ts in a fresh
// Node process of its own, in name order, passing their Markdown output through.
//
// A bench file is a plain script: it measures, then prints Markdown (a "## Title" and tables) on stdout;
// progress goes to stderr. `npm run bench -- peers` runs only the files whose names contain "peers".
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const python = "/usr/bin/python3";
const pythonPeers = ["python3-joblib", "python3-diskcache", "python3-numpy"];

// Debian's packages, installed with apt-get when running as root; otherwise the peers' columns say skipped.
function ensurePythonPeers(): void {
  const present = () => existsSync(python) && spawnSync(python, ["-c", "import joblib, diskcache, numpy"]).status === 0;
  if (present()) return;
  const root = process.getuid?.() === 0;
  if (!root || spawnSync("apt-get", ["--version"]).status !== 0) {
    console.error(`bench: ${pythonPeers.join(", ")} are missing and cannot be installed here (needs root and apt-get): their columns are skipped.`);
    return;
  }
  console.error(`bench: installing ${pythonPeers.join(", ")} with apt-get`);
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", ...pythonPeers], { stdio: "inherit" }).status === 0;
  if (!install()) {
    spawnSync("apt-get", ["update"], { stdio: "inherit" });
    install();
  }
  if (!present()) console.error("bench: the Python peers could not be installed: their columns are skipped.");
}

const only = process.argv.slice(2);
const files = readdirSync(here).filter((f) => f.endsWith(".bench.ts") && (only.length === 0 || only.some((o) => f.includes(o)))).sort();
ensurePythonPeers();
console.log(`# nbmemo benchmarks\n\n${new Date().toISOString().slice(0, 16)}Z, Node ${process.version}, ${process.platform} ${process.arch}, command: \`npm run bench\`\n`);
let failed = 0;
for (const file of files) {
  const child = spawnSync(process.execPath, [join(here, file)], { stdio: "inherit" });
  if (child.status !== 0) {
    failed++;
    console.log(`\n${file}: failed (exit ${child.status ?? child.signal})\n`);
  }
}
process.exit(failed > 0 ? 1 : 0);
