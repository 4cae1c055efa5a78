#!/usr/bin/env node
// Builds dist/ for npm from lib/ (what `npm run build` and `npm pack`'s prepack run): a clean dist/, so that
// nothing left from an older build is packed, and TypeScript 6's own tsc by path, because tslab's fork
// (TypeScript 5.0) takes over node_modules/.bin/tsc and writes JavaScript that still imports `.ts` files.
//
// Then the JavaScript is bundled (rollup): one file per entry point (dist/mod.js, dist/cli/main.js) and
// a shared chunk, instead of ~70 modules. Node's ESM loader spends ~0.4 ms per module on resolving,
// reading and linking it, so a cold start (import, open, first hit) took ~25 ms more from separate files.
// Declarations (*.d.ts) stay as tsc wrote them; what is loaded lazily (ts-morph, redis, @deno/kv, the
// notebook views) stays lazy: packages but superjson are left external, dynamic imports become chunks.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rollup } from "rollup";

// superjson (a dozen small modules, ~6 ms of a cold start from separate files) and its one dependency go
// into the bundle; the other packages are loaded only by what needs them.
const INLINED = ["superjson", "copy-anything"];
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });

const bundled = join(root, "dist.bundle");
rmSync(bundled, { recursive: true, force: true });
const bundle = await rollup({
  input: { mod: join(dist, "mod.js"), "cli/main": join(dist, "cli", "main.js") },
  external: (id) => !id.startsWith(".") && !id.startsWith("/") && !INLINED.includes(id), // node: built-ins and npm packages
  // Rollup 2 does not parse a shebang: the CLI's goes back on as a banner.
  plugins: [{
    name: "shebang",
    transform: (code) => code.startsWith("#!") ? code.replace(/^#!.*/, "") : null,
    renderChunk: (code, chunk) => chunk.fileName === "cli/main.js" ? `#!/usr/bin/env node\n${code}` : null,
  }, {
    name: "inline",
    resolveId: (id) => INLINED.includes(id) ? join(root, "node_modules", id, "dist", "index.js") : null,
    // Their MIT licenses ask for the notice in every copy.
    renderChunk(code, chunk) {
      const inlined = INLINED.filter((name) => Object.keys(chunk.modules).some((m) => m.includes(`/node_modules/${name}/`)));
      const notices = inlined.map((name) => `/*! ${name}, bundled:\n${readFileSync(join(root, "node_modules", name, "LICENSE"), "utf8").trim()}\n*/\n`);
      return notices.length > 0 ? notices.join("") + code : null;
    },
  }],
  onwarn(warning) {
    throw new Error(`rollup: ${warning.message}`);
  },
});
await bundle.write({ dir: bundled, format: "es", entryFileNames: "[name].js", chunkFileNames: "chunks/[name].js" });
await bundle.close();
for (const file of readdirSync(dist, { recursive: true, encoding: "utf8" })) {
  if (file.endsWith(".js")) rmSync(join(dist, file));
}
for (const file of readdirSync(bundled, { recursive: true, encoding: "utf8" })) {
  if (file.endsWith(".js")) {
    execFileSync("mkdir", ["-p", dirname(join(dist, file))]);
    renameSync(join(bundled, file), join(dist, file));
  }
}
rmSync(bundled, { recursive: true, force: true });
