// Cold start, in a fresh process: import the library, open the cache, first call of a known function.
// Plain JavaScript so that nothing is type-stripped on the way. Usage (Node or Deno):
//   cold.mjs prime|hit <nbmemo|memoize-fs> <module specifier> <cache dir>
// "prime" stores the result; "hit" prints one JSON line: what it cost, and whether TypeScript was loaded.
import process from "node:process";

const [mode, tool, specifier, dir] = process.argv.slice(2);
const started = performance.now();
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
if (mode === "hit") {
  console.log(JSON.stringify({
    importMs: imported - started, openMs: opened - imported, firstHitMs: done - opened, sinceStartMs: done,
    typescriptLoaded: tool === "nbmemo" ? (await import(specifier.replace(/mod\.(ts|js)$/, "keys/source.$1"))).parserLoaded() : false,
  }));
}
