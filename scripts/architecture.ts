// The parts of lib/ and the rules between them, read from the tree: the import graph, the layering it must
// keep, and the module list of docs/ARCHITECTURE.md. `node scripts/architecture.ts --write` regenerates that list.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const lib = join(root, "lib");

/** The parts of lib/: a folder each, plus the small shared modules at the top and the entry point. */
export const PARTS = {
  memory: "Memory and what only it uses: versions, entries read/write, leases, access log, eviction, verify, explain, change notices",
  keys: "what a key is made of: normalized source, argument hash, deps, free identifiers, names",
  catalog: "the SQLite catalog: node:sqlite wrapper, schema and migrations, queries",
  store: "where outputs live: the Store interface and its back ends, each with its options",
  codec: "outputs as bytes and back: codec, large reads, compression, checksums",
  notebook: "what a notebook user sees: the summary, HTML table, SVG chart, text table",
  cli: "the nbmemo command",
  shared: "small modules every part may use: errors, log, runtime, format, options, types, bytes, text tables, version, xxh64",
  entry: "lib/mod.ts: the public API, re-exports only",
} as const;
export type Part = keyof typeof PARTS;

/**
 * Which parts each part must never import. Arrows run downward: memory uses keys, catalog, store and
 * codec; notebook and cli use memory. The shared modules import only each other.
 */
export const FORBIDDEN: Readonly<Record<Part, readonly Part[]>> = {
  memory: ["cli", "entry"],
  keys: ["memory", "catalog", "store", "codec", "notebook", "cli", "entry"],
  catalog: ["memory", "store", "codec", "notebook", "cli", "entry"],
  store: ["memory", "catalog", "keys", "codec", "notebook", "cli", "entry"],
  codec: ["memory", "catalog", "keys", "store", "notebook", "cli", "entry"],
  notebook: ["catalog", "store", "codec", "keys", "cli", "entry"],
  cli: ["entry"],
  shared: ["memory", "keys", "catalog", "store", "codec", "notebook", "cli", "entry"],
  entry: [],
};

/** The imports of memory into the notebook part: memory.show() and memory.map()'s progress, loaded on first use. */
export const ALLOWED_LAZY = [["lib/memory/memory.ts", "lib/notebook/show.ts"], ["lib/memory/memory.ts", "lib/notebook/progress.ts"]] as const;

/** One import in lib/: from which module, of which (a repository path, or a bare specifier such as "node:sqlite"). */
export interface Import {
  readonly from: string;
  readonly to: string;
  readonly lazy: boolean;
}

/** Every .ts module of lib/, as repository paths, sorted. */
export function modules(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith(".ts")) found.push(relative(root, join(dir, entry.name)).split("\\").join("/"));
    }
  };
  walk(lib);
  return found.sort();
}

/** The part a module of lib/ belongs to. */
export function partOf(module: string): Part {
  const inner = module.slice("lib/".length);
  if (inner === "mod.ts") return "entry";
  if (!inner.includes("/")) return "shared";
  const folder = inner.slice(0, inner.indexOf("/"));
  if (!Object.hasOwn(PARTS, folder)) throw new Error(`${module} is in a folder that names no part (${Object.keys(PARTS).join(", ")})`);
  return folder as Part;
}

// Static imports and re-exports (type-only ones too: they bind modules together just the same), and dynamic imports.
const IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;

/** Every import of every module of lib/. */
export function imports(): Import[] {
  const found: Import[] = [];
  for (const module of modules()) {
    const text = readFileSync(join(root, module), "utf8");
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] ?? match[2] ?? match[3]!;
      const to = spec.startsWith(".") ? relative(root, resolve(root, dirname(module), spec)).split("\\").join("/") : spec;
      found.push({ from: module, to, lazy: match[3] !== undefined });
    }
  }
  return found;
}

/** The cycles of the graph of modules (each as the list of modules around it); none is wanted. */
export function cycles(edges: readonly Import[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) if (to.startsWith("lib/")) next.set(from, [...next.get(from) ?? [], to]);
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (module: string) => {
    state.set(module, "open");
    stack.push(module);
    for (const to of next.get(module) ?? []) {
      if (state.get(to) === "open") found.push([...stack.slice(stack.indexOf(to)), to]);
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(module, "done");
  };
  for (const module of modules()) if (!state.has(module)) visit(module);
  return found;
}

/** The imports that run against the layering, in words. */
export function violations(edges: readonly Import[]): string[] {
  const wrong: string[] = [];
  for (const edge of edges) {
    if (!edge.to.startsWith("lib/")) continue;
    const from = partOf(edge.from);
    const to = partOf(edge.to);
    const allowed = edge.lazy && ALLOWED_LAZY.some(([a, b]) => a === edge.from && b === edge.to);
    if (from === "memory" && to === "notebook" && !allowed) wrong.push(`${edge.from} imports ${edge.to}: memory uses the notebook part only through memory.show(), lazily`);
    else if (FORBIDDEN[from].includes(to)) wrong.push(`${edge.from} (${from}) imports ${edge.to} (${to})`);
  }
  return wrong;
}

/** Every module that importing `module` loads, bare specifiers included (lazy imports are not followed). */
export function loads(module: string, edges: readonly Import[]): Set<string> {
  const seen = new Set<string>();
  const pending = [module];
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (const edge of edges) {
      if (edge.from !== current || edge.lazy || seen.has(edge.to)) continue;
      seen.add(edge.to);
      if (edge.to.startsWith("lib/")) pending.push(edge.to);
    }
  }
  return seen;
}

/** A module's job: the first sentence of its leading comment. */
export function jobOf(module: string): string {
  const lines = readFileSync(join(root, module), "utf8").split("\n").filter((line) => !line.startsWith("#!"));
  const comment: string[] = [];
  for (const line of lines) {
    const text = /^\s*(?:\/\/|\/\*\*|\*)\s?(.*)$/.exec(line);
    if (!text || line.trim() === "*/") break;
    if (text[1]!.trim() === "" && comment.length > 0) break;
    if (text[1]!.trim() !== "") comment.push(text[1]!.trim());
  }
  const joined = comment.join(" ");
  const end = joined.search(/\.(\s|$)/);
  return end < 0 ? joined : joined.slice(0, end);
}

const BEGIN = "<!-- modules: generated by `node scripts/architecture.ts --write`; do not edit by hand -->";
const END = "<!-- modules: end -->";

/** The module list of docs/ARCHITECTURE.md: each part with its job, then each of its modules with its own. */
export function moduleList(): string {
  const all = modules();
  const width = Math.max(...all.map((m) => m.length)) + 2;
  const out: string[] = [];
  for (const part of Object.keys(PARTS) as Part[]) {
    const members = all.filter((m) => partOf(m) === part);
    if (members.length === 0) continue;
    out.push(`${part}: ${PARTS[part]}`);
    for (const m of members) out.push(`  ${m.padEnd(width)}${jobOf(m)}`);
  }
  return `${BEGIN}\n\`\`\`\n${out.join("\n")}\n\`\`\`\n${END}`;
}

/** The module list as docs/ARCHITECTURE.md holds it now (undefined when the markers are missing). */
export function documentedModuleList(text = readFileSync(join(root, "docs", "ARCHITECTURE.md"), "utf8")): string | undefined {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  return start < 0 || end < 0 ? undefined : text.slice(start, end + END.length);
}

if (process.argv.includes("--write")) {
  const path = join(root, "docs", "ARCHITECTURE.md");
  const text = readFileSync(path, "utf8");
  const current = documentedModuleList(text);
  if (current === undefined) throw new Error(`docs/ARCHITECTURE.md has no module list between ${BEGIN} and ${END}`);
  writeFileSync(path, text.replace(current, moduleList()));
}
