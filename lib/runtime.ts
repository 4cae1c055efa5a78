// The one module that knows Node from Deno (and a notebook kernel from a script).
import process from "node:process";

/** Which JavaScript runtime runs nbmemo, as recorded with every entry it writes. */
export interface RuntimeInfo {
  readonly name: "node" | "deno";
  readonly version: string;
}

interface DenoGlobal {
  version: { deno: string };
  jupyter?: unknown;
}

const deno = (globalThis as { Deno?: DenoGlobal }).Deno;

export const runtime: RuntimeInfo = deno
  ? { name: "deno", version: deno.version.deno }
  : { name: "node", version: process.versions.node };

/** Reads an environment variable; undefined when unset or when the runtime denies access. */
export function env(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** True inside a Jupyter kernel (the Deno kernel or tslab), where notices are worth showing. */
export function inNotebook(): boolean {
  if (deno) {
    try {
      return deno.jupyter !== undefined; // the getter throws outside `deno jupyter`
    } catch {
      return false;
    }
  }
  return process.argv.some((arg) => /[\\/]tslab([\\/]|$)/.test(arg));
}

/** Registers a callback for process exit, in both runtimes. */
export function onExit(callback: () => void): () => void {
  process.once("exit", callback);
  return () => process.off("exit", callback);
}
