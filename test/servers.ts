// Real servers on loopback for the team stores' tests: redis-server (Debian's, which scripts/toolchain.mjs
// installs when missing) and s3rver (an S3 protocol server from npm, run by Node), each a child process of
// the test run, on a free port, in a temp directory, stopped by the test that started it or when the run
// exits.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { TestContext } from "node:test";
import { cannotRun } from "./harness.ts";
import { root, runtimePath } from "./helpers.ts";

/** A server running on loopback. */
export interface Server {
  readonly port: number;
  /** How a client reaches it, e.g. `redis://127.0.0.1:6380` or `http://127.0.0.1:4569`. */
  readonly url: string;
  /** Stops it (SIGTERM, then SIGKILL) and removes its directory; stopping twice is fine. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash or a lost network would: its directory stays until `stop`. */
  kill(): Promise<void>;
}

/** Why a server cannot be started on this machine, for `cannotRun`. */
export class ServerUnavailable extends Error {}

const READY_MS = 15_000;
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A port nothing listens on now (the OS picks it; another process could take it before the server does). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => (socket.destroy(), resolve(false)));
  });
}

/**
 * Starts `executable` with the arguments `argv(port, dir)` gives for a free port and a fresh temp directory,
 * and resolves once the port accepts connections; rejects with the server's output if it exits first or
 * is not ready in time.
 */
export async function startServer(what: string, executable: string, argv: (port: number, dir: string) => string[], url: (port: number) => string): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "nbmemo-server-"));
  const child = spawn(executable, argv(port, dir), { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("close", () => (running.delete(child), resolve())));
  let gone = false;
  void exited.then(() => (gone = true));
  child.once("error", (error) => (output += String(error)));
  const deadline = Date.now() + READY_MS;
  while (!(await accepts(port))) {
    if (gone || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${what} did not start on port ${port}${gone ? ` (it exited)` : ` within ${READY_MS} ms`}: ${output.trim() || "no output"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const signal = async (name: "SIGTERM" | "SIGKILL") => {
    if (!gone) child.kill(name);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2_000))]);
  };
  return {
    port,
    url: url(port),
    kill: () => signal("SIGKILL"),
    async stop() {
      await signal("SIGTERM");
      if (!gone) await signal("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** redis-server on loopback, without persistence. Throws {@link ServerUnavailable} where there is none. */
export async function startRedis(): Promise<Server> {
  const path = process.env.NBMEMO_TEST_REDIS_SERVER ?? "/usr/bin/redis-server";
  if (!existsSync(path)) {
    throw new ServerUnavailable(process.env.NBMEMO_TEST_REDIS_MISSING ?? `the Redis store's tests need redis-server (${path}); \`npm test\` installs it`);
  }
  return await startServer("redis-server", path, (port, dir) => ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    (port) => `redis://127.0.0.1:${port}`);
}

/** The bucket {@link startS3} creates. */
export const S3_BUCKET = "nbmemo-test";

/** s3rver on loopback (under Node, whichever runtime runs the tests), with the bucket {@link S3_BUCKET}. */
export async function startS3(): Promise<Server> {
  const s3rver = join(root, "node_modules", "s3rver", "bin", "s3rver.js");
  if (!existsSync(s3rver)) throw new ServerUnavailable("the S3 store's tests need s3rver from npm: run `npm test`, which installs it");
  return await startServer("s3rver", runtimePath("node"), // s3rver's continuation tokens are DES-encrypted, which OpenSSL 3 keeps in its legacy provider.
    (port, dir) => ["--openssl-legacy-provider", s3rver, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent", "--configure-bucket", S3_BUCKET],
    (port) => `http://127.0.0.1:${port}`);
}

/** s3rver's fixed credentials (any well-formed signature with them is accepted). */
export const S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/**
 * A server `start` starts for the test `t`, stopped after it; undefined (the test skipped, failed under
 * CI=true) when this machine cannot run one.
 */
export async function started(t: TestContext, start: () => Promise<Server>): Promise<Server | undefined> {
  try {
    const server = await start();
    t.after(() => server.stop());
    return server;
  } catch (error) {
    if (error instanceof ServerUnavailable) return void cannotRun(t, error.message);
    throw error;
  }
}

/**
 * One server of a kind for a whole test file, started at first use and stopped when the run exits; a test
 * that kills its server starts one of its own instead.
 */
export function shared(start: () => Promise<Server>): () => Promise<Server> {
  let server: Promise<Server> | undefined;
  return () => (server ??= start());
}
