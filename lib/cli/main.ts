#!/usr/bin/env node
// The `nbmemo` executable: `npx nbmemo ...` runs the built dist/cli/main.js under Node >= 22.13,
// `deno run -A <repo>/lib/cli/main.ts ...` (or jsr:@nbmemo/nbmemo/cli) runs this file under Deno.
import process from "node:process";
import { createInterface } from "node:readline/promises";
import { run } from "./cli.ts";

async function ask(question: string): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await terminal.question(question);
  } finally {
    terminal.close();
  }
}

process.exitCode = await run(process.argv.slice(2), {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  ...(process.stdin.isTTY ? { ask } : {}),
});
