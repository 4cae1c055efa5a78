// Runs the README's examples of the sections listed below, each as a module in a fresh directory, and
// checks that it prints what its `// prints: ...` comments say.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { pathToFileURL } from "node:url";
import { captureConsole, root, tempDir } from "./helpers.ts";

const sections = ["Quick start", "When the code changes", "What the key covers, and what it refuses", "Long loops and input files", "Read-only caches"];
const readme = readFileSync(join(root, "README.md"), "utf8");
const modUrl = pathToFileURL(join(root, "lib", "mod.ts")).href;

function examples(title: string): string[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has no section "${title}"`);
  const end = readme.indexOf("\n## ", start + 1);
  const text = readme.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

for (const title of sections) {
  for (const [i, code] of examples(title).entries()) {
    test(`the README example ${i + 1} of "${title}" runs and prints what it says`, async (t) => {
      const dir = tempDir();
      const cwd = process.cwd();
      t.after(() => {
        process.chdir(cwd);
        dir.remove();
      });
      const file = join(dir.path, `example-${i + 1}.ts`);
      writeFileSync(file, code.replaceAll(`from "nbmemo"`, `from ${JSON.stringify(modUrl)}`));
      process.chdir(dir.path);
      const { warnings, notices } = await captureConsole(() => import(pathToFileURL(file).href));
      const printed = [...warnings, ...notices].join("\n");
      const expected = [...code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1]!);
      assert.ok(expected.length > 0, "an example says what it prints");
      for (const line of expected) assert.ok(printed.includes(line), `expected the output to include ${JSON.stringify(line)}:\n${printed}`);
    });
  }
}
