// `npm run bench` (after scripts/toolchain.mjs has installed the Python peers where it can): runs every
// bench/*.bench.ts in a fresh Node process of its own, in name order, passing their Markdown output through.
//
// A bench file is a plain script: it measures, then prints Markdown (a "## Title" and tables) on stdout;
// progress goes to stderr. `npm run bench -- peers` runs only the files whose names contain "peers".
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here).filter((f) => f.endsWith(".bench.ts") && (only.length === 0 || only.some((o) => f.includes(o)))).sort();
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
