// The one module that knows Node from Deno (and a notebook kernel from a script).
//
// Built-ins: nbmemo uses the global `process` and takes node:fs, node:util, node:crypto and node:zlib
// through `process.getBuiltinModule` (Node >= 22.3, Deno 2) rather than an ESM import. Node builds an imported
// built-in's module namespace by reading every export, lazy getters included: process.stdin/stdout/stderr,
// fs.ReadStream (all of streams), fs.promises, util's lazily loaded parts. That cost ~6 ms for node:process
// and ~3 ms each for node:fs and node:util of a cold start (import, open, first hit), against ~0.01 ms;
// node:crypto's namespace ~1 ms. node:zlib is loaded only when needed (lib/codec/checksum.ts), and node:crypto
// (~5 ms) only when a hash or a lease needs it (lib/keys/sha256.ts).
import type * as NodeCrypto from "node:crypto";
import { dirname, join } from "node:path";
import type * as NodeZlib from "node:zlib";
import { NbmemoError } from "./errors.ts";

let crypto: typeof NodeCrypto | undefined;
/** node:crypto, loaded at its first use (see "Built-ins" above). */
export const nodeCrypto = (): typeof NodeCrypto => crypto ??= process.getBuiltinModule("node:crypto");
/** Whether node:crypto is loaded already: lib/keys/sha256.ts hashes a few short texts in JavaScript until it is. */
export const nodeCryptoLoaded = (): boolean => crypto !== undefined;

let zlib: typeof NodeZlib | undefined;
/** node:zlib, loaded at its first use (see "Built-ins" above). */
export const nodeZlib = (): typeof NodeZlib => zlib ??= process.getBuiltinModule("node:zlib");

/** Which JavaScript runtime runs nbmemo, as recorded with every entry it writes. */
export interface RuntimeInfo {
  readonly name: "node" | "deno";
  readonly version: string;
}

interface DenoGlobal {
  version: { deno: string };
  jupyter?: {
    display(bundle: Record<string, string>, options: { raw: true }): Promise<void>;
    broadcast(type: "stream", content: { name: "stdout"; text: string }): Promise<void> | undefined;
    broadcast(type: "display_data" | "update_display_data", content: DisplayMessage): Promise<void> | undefined;
  };
  openKv?: (path?: string) => Promise<unknown>;
  openSync(path: string, options: { write: true }): DenoFile;
}

interface DenoFile {
  write(bytes: Uint8Array): Promise<number>;
  writeSync(bytes: Uint8Array): number;
  close(): void;
}

// What tslab's kernel puts on globalThis before it runs a cell: the `require` cells use (Node's, with
// its module cache).
interface TslabGlobal {
  require: ((id: string) => unknown) & { cache?: Record<string, { exports?: unknown; filename?: string } | undefined> };
}

interface TslabModule {
  display: { html(html: string): void };
}

// tslab 1.0's own sender of display_data messages (dist/jupyter.js), which its public `display` calls
// with one MIME type per message.
type TslabDisplayData = (message: DisplayMessage, update: boolean) => void;

// A Jupyter display_data (or update_display_data) message's content.
interface DisplayMessage {
  data: Record<string, string>;
  metadata: object;
  transient: { display_id?: string };
}

const deno = (globalThis as { Deno?: DenoGlobal }).Deno;

export const runtime: RuntimeInfo = deno
  ? { name: "deno", version: deno.version.deno }
  : { name: "node", version: process.versions.node };

/**
 * Under Deno, writes all of `chunks`, in order, to the existing file at `path` on one of Deno's own blocking
 * threads (`Deno.FsFile.write`), while JavaScript goes on: the caller sums the payload meanwhile. Deno's
 * node:fs writes in the background copy first, and took ~195 ms for 80 MB against ~28 ms for a raw write.
 * The file is opened, and chunks under 64 KiB written, synchronously, so that the first long write is under
 * way when this returns (awaited, a payload's 24-byte header held its 80 MB section back until the caller's
 * checksum ended). Undefined under Node, whose file store uses fs.writev on its thread pool.
 */
export const denoWriteFile = deno && (async (path: string, chunks: readonly Uint8Array[]): Promise<void> => {
  const file = deno.openSync(path, { write: true });
  try {
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.byteLength;) {
        const rest = chunk.subarray(at);
        at += rest.byteLength < 65536 ? file.writeSync(rest) : await file.write(rest);
      }
    }
  } finally {
    file.close();
  }
});

/**
 * Whether `readFileSync(fd, "utf8")` decodes a file's UTF-8 natively: Node makes the string in C++, with
 * no buffer in JavaScript. Deno's goes through a buffer, and took ~1.7x nbmemo's own read of 100 MB.
 */
export const nativeFileText = !deno;

/** The oldest runtimes nbmemo is tested on (package.json `engines`, README): node:sqlite and its fixes. */
export const MINIMUM_VERSIONS = { node: "22.13", deno: "2.4" } as const;

/** The error for a runtime that lacks `feature` (such as node:sqlite): which version nbmemo needs. */
export function runtimeTooOld(feature: string): NbmemoError {
  const [name, wanted, version] = deno
    ? ["Deno", MINIMUM_VERSIONS.deno, deno.version.deno]
    : ["Node", MINIMUM_VERSIONS.node, process.version];
  return new NbmemoError(
    "RUNTIME_TOO_OLD",
    `Cannot load ${feature}: nbmemo needs ${name} >= ${wanted} (this is ${version}). Install ${name} ${wanted} or newer.`,
  );
}

/** Reads an environment variable; undefined when unset or when the runtime denies access. */
export function env(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined; // Deno without --allow-env
  }
}

function denoJupyter(): DenoGlobal["jupyter"] {
  try {
    return deno?.jupyter; // the getter throws outside `deno jupyter`
  } catch {
    return undefined;
  }
}

// tslab runs cells in the kernel's own process and sets globalThis.__tslab__ first; a script never
// has it (the kernel's argv, which a script path can imitate, is not a test).
function tslab(): TslabGlobal | undefined {
  return (globalThis as { __tslab__?: TslabGlobal }).__tslab__;
}

/** True inside a Jupyter kernel (the Deno kernel or tslab), where notices are worth showing. */
export function inNotebook(): boolean {
  return denoJupyter() !== undefined || tslab() !== undefined;
}

/** True inside tslab's kernel, which compiles every cell to CommonJS before running it. */
export function inTslab(): boolean {
  return tslab() !== undefined;
}

// The subset of node:inspector's Session used to read a cell's compiled script.
interface InspectorSession {
  connect(): void;
  post(method: string, params: object, callback: (error: Error | null, result?: unknown) => void): void;
}

let inspector: InspectorSession | null | undefined;
const cellScripts = new Map<string, string | undefined>();

/**
 * In tslab, the compiled JavaScript of the cell that defined `fn` (which says how that cell named its imports),
 * read through node:inspector: V8 knows the script a function came from, and tslab keeps no other copy.
 * Undefined outside tslab, or where the inspector is not available. Answers within the same call (a session
 * in the process's own thread is synchronous); a script is read once.
 */
export function tslabCellScript(fn: Function): string | undefined {
  if (!tslab()) return undefined;
  try {
    const session = inspectorSession();
    if (!session) return undefined;
    const post = <T,>(method: string, params: object): T => {
      let result: T | undefined;
      let failure: Error | null = null;
      session.post(method, params, (error, value) => ((failure = error), (result = value as T)));
      if (failure || result === undefined) throw failure ?? new Error(`${method} did not answer synchronously`);
      return result;
    };
    const probe = Symbol.for("nbmemo.probe");
    const global = globalThis as Record<symbol, unknown>;
    global[probe] = fn;
    const group = "nbmemo";
    try {
      const { result } = post<{ result: { objectId: string } }>("Runtime.evaluate", { expression: `globalThis[Symbol.for("nbmemo.probe")]`, objectGroup: group });
      const { internalProperties } = post<{ internalProperties?: { name: string; value?: { value?: { scriptId?: string } } }[] }>(
        "Runtime.getProperties", { objectId: result.objectId, ownProperties: true });
      const scriptId = internalProperties?.find((p) => p.name === "[[FunctionLocation]]")?.value?.value?.scriptId;
      if (scriptId === undefined) return undefined;
      if (!cellScripts.has(scriptId)) {
        post("Debugger.enable", {});
        try {
          cellScripts.set(scriptId, post<{ scriptSource: string }>("Debugger.getScriptSource", { scriptId }).scriptSource);
        } finally {
          post("Debugger.disable", {});
        }
      }
      return cellScripts.get(scriptId);
    } finally {
      delete global[probe];
      session.post("Runtime.releaseObjectGroup", { objectGroup: group }, () => {});
    }
  } catch {
    return undefined; // no inspector (a Node built without it), or it refused: the imports stay unknown
  }
}

function inspectorSession(): InspectorSession | null {
  if (inspector === undefined) {
    const load = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    const module = load?.("node:inspector") as { Session: new () => InspectorSession } | undefined;
    inspector = module ? new module.Session() : null;
    inspector?.connect();
  }
  return inspector;
}

/**
 * Prints a line into the output of the cell that is running (stdout outside a notebook). The Deno
 * kernel forwards console output asynchronously (2.9 seen): a line can land in the next cell, or after
 * the cell's end where a client drops it. A stream message sent through Deno.jupyter keeps its cell.
 */
export function printInCell(line: string): void {
  const jupyter = denoJupyter();
  if (!jupyter) return console.log(line);
  const fallback = () => console.log(line);
  try {
    // Typed as a Promise; Deno 2.9 returns undefined.
    Promise.resolve(jupyter.broadcast("stream", { name: "stdout", text: `${line}\n` })).catch(fallback);
  } catch {
    fallback();
  }
}

/**
 * Shows a rich view through the kernel's display mechanism (`Deno.jupyter.display` in the Deno kernel,
 * tslab's sender of display messages), as HTML with its text form beside it, or prints the text form on
 * stdout outside a notebook.
 */
export async function display(view: { html: string; text: string }): Promise<void> {
  const jupyter = denoJupyter();
  if (jupyter) return await jupyter.display({ "text/html": view.html, "text/plain": view.text.trimEnd() }, { raw: true });
  const kernel = tslab();
  if (kernel) {
    const send = tslabDisplayData(kernel);
    if (send) return send({ data: { "text/html": view.html, "text/plain": view.text.trimEnd() }, metadata: {}, transient: {} }, false);
    return (kernel.require("tslab") as TslabModule).display.html(view.html);
  }
  process.stdout.write(view.text.endsWith("\n") ? view.text : `${view.text}\n`);
}

/** A display in the running cell that can be replaced in place (Jupyter's update_display_data). */
interface LiveDisplay {
  update(view: { html?: string; text: string }): void;
}

let displays = 0;

/**
 * Shows `view` (HTML beside its text, or text only) as a display that later `update`s replace in place,
 * in both kernels; undefined outside a notebook. One display id per call, so that a progress bar updated
 * hundreds of times stays one output.
 */
function liveDisplay(view: { html?: string; text: string }): LiveDisplay | undefined {
  const send = displaySender();
  if (!send) return undefined;
  const id = `nbmemo-${process.pid}-${Date.now().toString(36)}-${++displays}`;
  const message = (v: { html?: string; text: string }): DisplayMessage => ({
    data: v.html === undefined ? { "text/plain": v.text.trimEnd() } : { "text/html": v.html, "text/plain": v.text.trimEnd() },
    metadata: {},
    transient: { display_id: id },
  });
  send(message(view), false);
  return { update: (v) => send(message(v), true) };
}

// What sends display_data messages in the running cell, in either kernel; undefined outside a notebook
// (or in a tslab whose files are laid out otherwise).
function displaySender(): ((m: DisplayMessage, update: boolean) => void) | undefined {
  const jupyter = denoJupyter();
  // Sent directly rather than through console or display(): stamped with the running cell (see printInCell).
  if (jupyter) return (m, update) => void Promise.resolve(jupyter.broadcast(update ? "update_display_data" : "display_data", m)).catch(() => {});
  const kernel = tslab();
  return kernel ? tslabDisplayData(kernel) : undefined;
}

/** The terminal a single updating progress line can go to (stderr), or undefined when it is not a TTY. */
function terminalLine(): { write(text: string): void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  return { write: (text) => void process.stderr.write(text) };
}

/** Writes a line to stderr: for progress asked for in a script whose stderr is not a terminal. */
export function printProgress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * tslab's public `display` sends one MIME type per message, so a front end without HTML would get
 * nothing. Its module that sends the messages takes a bundle: found beside the tslab that the cell's
 * own `require` returns (the instance that runs the kernel and knows the cell being executed, not another
 * copy), in the module cache. Undefined where tslab's files are laid out otherwise: HTML only then.
 */
function tslabDisplayData(kernel: TslabGlobal): TslabDisplayData | undefined {
  const tslabModule = kernel.require("tslab");
  const cache = kernel.require.cache ?? {};
  const main = Object.values(cache).find((m) => m?.exports === tslabModule)?.filename;
  if (!main) return undefined;
  const jupyter = cache[join(dirname(main), "jupyter.js")]?.exports as { lastWriteDisplayData?: unknown } | undefined;
  const send = jupyter?.lastWriteDisplayData;
  return typeof send === "function" ? (send as TslabDisplayData) : undefined;
}

/** One line of output that can be rewritten in place. */
export interface LiveLine {
  /** Shows `text` in place of what was shown (in a notebook, `html` beside it when given). */
  set(text: string, html?: string): void;
  /** Leaves the line as it is last set. */
  end(): void;
}

/**
 * A line that is rewritten in place: in a notebook one display ({@link liveDisplay}), in a terminal the
 * last line of stderr; undefined where output cannot be rewritten (a pipe, a log file).
 */
export function liveLine(): LiveLine | undefined {
  if (displaySender()) {
    let display: LiveDisplay | undefined;
    return {
      set: (text, html) => display ? display.update({ html, text }) : void (display = liveDisplay({ html, text })),
      end() {},
    };
  }
  const terminal = inNotebook() ? undefined : terminalLine();
  if (!terminal) return undefined;
  let shown = false;
  return {
    set(text) {
      terminal.write(`\r\x1b[2K${text}`);
      shown = true;
    },
    end() {
      if (shown) terminal.write("\n");
    },
  };
}

/**
 * Registers a callback for process exit, in both runtimes, and under Node outside a notebook for SIGINT
 * and SIGTERM too (which end a process without its exit event): the callbacks run, then the signal is
 * raised again unless someone else handles it. A kernel's SIGINT interrupts a cell, so a notebook is left
 * alone; and Deno is too: a signal that arrives there while a listener added through node:process is
 * being removed can leave the process running, unkillable by that signal (Deno 2.9), which is far worse
 * than a second of hits not recorded. All callbacks share one listener per event, there while any callback
 * is registered: a script that opens Memory after Memory must not pile up listeners (Node warns past ten),
 * and a signal listener left with nothing to run would stop the signal from ending the process.
 */
export function onExit(callback: () => void): () => void {
  // An object per registration keeps them apart, even of one function twice.
  const entry = { callback };
  if (exitCallbacks.size === 0) listen(true);
  exitCallbacks.add(entry);
  return () => {
    if (exitCallbacks.delete(entry) && exitCallbacks.size === 0) listen(false);
  };
}

const exitCallbacks = new Set<{ readonly callback: () => void }>();

function runExitCallbacks(): void {
  const entries = [...exitCallbacks];
  exitCallbacks.clear();
  listen(false);
  for (const { callback } of entries) callback();
}

function onSignal(signal: NodeJS.Signals): void {
  runExitCallbacks();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function listen(on: boolean): void {
  const signals = inNotebook() || deno ? [] : ["SIGINT", "SIGTERM"] as const;
  const method = on ? "on" : "off";
  process[method]("exit", runExitCallbacks);
  for (const signal of signals) process[method](signal, onSignal);
}

/**
 * Under Deno, its own `Deno.openKv` (undefined when Deno KV is off: it needs --unstable-kv); under Node, null.
 * `T` is the client type the caller declares for what Deno returns.
 */
export function denoKvOpener<T>(): ((path: string) => Promise<T>) | undefined | null {
  if (!deno) return null;
  return deno.openKv as ((path: string) => Promise<T>) | undefined;
}

/** The first line of an error's message (the native @deno/kv errors append a Rust backtrace). */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!.trim();
}
