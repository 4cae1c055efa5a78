#!/usr/bin/env node
// Builds dist/ for npm from lib/ (what `npm run build` and `npm pack`'s prepack run): a clean dist/, so that
// nothing left from an older build is packed, and TypeScript 6's own tsc by path, because tslab's fork
// (TypeScript 5.0) takes over node_modules/.bin/tsc and writes JavaScript that still imports `.ts` files.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
