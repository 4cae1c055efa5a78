// Cold start, in a fresh process: import the library, open the cache, first call of a known function.
// Plain JavaScript so that nothing is type-stripped on the way. Usage (Node or Deno):
//   cold.mjs prime|hit <nbmemo|memoize-fs> <module specifier> <cache dir>
// "prime" stores the result; "hit" prints one JSON line: what it cost, and whether TypeScript was loaded.
// Times are taken from the first line of this script (insideMs), so the runtime's own boot is left out; and
// it imports nothing itself (the global `process`), so that what the library imports is counted.
const started = performance.now();
const cpuAtStart = process.cpuUsage();
const [mode, tool, specifier, dir] = process.argv.slice(2);
const lib = await import(specifier);
const imported = performance.now();
const work = (n) => ({ n, squares: [n * n, n * n * n] });
let call;
if (tool === "nbmemo") {
  const memory = await lib.Memory.open(dir, { log: "silent" });
  call = async () => {
    const value = await memory.fn("known", work)(7);
    await memory.close();
    return value;
  };
} else {
  const memoizer = lib.default({ cachePath: dir });
  const fn = await memoizer.fn(work, { cacheId: "known" });
  call = () => fn(7);
}
const opened = performance.now();
const value = await call();
const done = performance.now();
if (value.n !== 7) throw new Error("wrong value");
// CPU time (user + system) spent since the first line: on a loaded machine, steadier than wall time.
const cpuMs = ({ user, system }) => (user + system) / 1000;
if (mode === "hit") {
  console.log(JSON.stringify({
    importMs: imported - started, openMs: opened - imported, firstHitMs: done - opened, insideMs: done - started, insideCpuMs: cpuMs(process.cpuUsage(cpuAtStart)), sinceStartMs: done,
    typescriptLoaded: tool === "nbmemo" ? await typescriptLoaded() : false,
  }));
}

// Whether ts-morph was loaded: under Deno (lib/*.ts), the parser module says; under Node (dist/, bundled, so
// its modules cannot be imported one by one), ts-morph is CommonJS, in the module cache once loaded.
async function typescriptLoaded() {
  if (specifier.endsWith(".ts")) return (await import(specifier.replace(/mod\.ts$/, "keys/source.ts"))).parserLoaded();
  const { createRequire } = await import("node:module");
  return Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes("ts-morph"));
}
