// Cross-process leases: a call started in several processes at once is computed by one of them while
// the others wait for its result; a holder on this machine holds it while its process lives, one on another
// machine until its lease expires. A shared store that takes leases extends this across machines.
import { hostname } from "node:os";
import type { Catalog, LeaseHolder } from "../catalog/catalog.ts";
import type { Store } from "../store/store.ts";
import type { EntryKey } from "../types.ts";
import { keyDigest } from "./entries.ts";
import { describe } from "../errors.ts";
import { formatDuration } from "../format.ts";
import type { Logger } from "../log.ts";
// node:crypto's randomUUID (the global crypto's loads all of WebCrypto, ~3 ms), at the first lease: node:crypto
// itself costs ~5 ms of a cold start that only hits.
import { nodeCrypto } from "../runtime.ts";
// Through getBuiltinModule, not an ESM import: see "Built-ins" in lib/runtime.ts.
const { readFileSync } = process.getBuiltinModule("node:fs");

export interface LeaseOptions {
  /** How long a lease lasts without a heartbeat, in ms; the holder renews it every third of that. */
  readonly leaseMs: number;
  /** How long a call waits for another holder before computing itself, in ms. */
  readonly timeoutMs: number;
}

const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 200;

/** Runs computations under leases in one catalog, as one holder. */
export class Leases {
  /** This holder's id: unique per Memory, with what tells whether its process lives (see {@link stillHeld}). */
  get holder(): string {
    return this.#holder ??= holderId(nodeCrypto().randomUUID());
  }
  #holder: string | undefined;
  readonly #catalog: Catalog;
  readonly #log: Logger;
  readonly #options: LeaseOptions;
  readonly #store: Store | undefined;

  /** With a `store` that takes leases ({@link Store.lease}), a call is also leased there, across machines. */
  constructor(catalog: Catalog, log: Logger, options: LeaseOptions, store?: Store) {
    this.#catalog = catalog;
    this.#log = log;
    this.#options = options;
    this.#store = store?.lease && store.release ? store : undefined;
  }

  /**
   * Returns what `check` finds (the result another process stored), else the result of `compute`, run
   * while holding the lease on `key`. `check` runs again once the lease is taken, since the previous
   * holder may have stored the result just before releasing it. Waiting gives up after the timeout, and
   * a catalog that cannot take leases (read-only, disk full) does not stop the computation.
   */
  async run<T>(key: EntryKey, check: () => Promise<T | undefined>, compute: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let poll = FIRST_POLL_MS;
    for (;;) {
      let other: LeaseHolder | undefined;
      try {
        const now = Date.now();
        other = await this.#catalog.takeLease(key, this.holder, now, this.#options.leaseMs, (lease) => stillHeld(lease, now));
      } catch (error) {
        this.#log.warnOnce(`lease:${key.name}`, `Cannot coordinate ${key.name} with other processes: ${describe(error)}. Computing it without waiting for them.`);
        return await compute();
      }
      if (!other) return await this.#holding(key, () => this.#acrossMachines(key, started, check, compute));
      // Held by another process: wait for its result, or for its lease to end (released, its process gone,
      // or, on another machine, expired).
      while (other && stillHeld(other, Date.now())) {
        const waited = Date.now() - started;
        if (waited >= this.#options.timeoutMs) {
          this.#log.warn(`${key.name}: waited ${formatDuration(waited)} for another process (${other.holder}) computing the same call; computing it here.`);
          return await compute();
        }
        await sleep(Math.min(poll, this.#options.timeoutMs - waited));
        poll = Math.min(poll * 1.5, MAX_POLL_MS);
        const found = await check();
        if (found !== undefined) return found;
        other = this.#readLease(key);
      }
    }
  }

  async #holding<T>(key: EntryKey, work: () => Promise<T>): Promise<T> {
    const { leaseMs } = this.#options;
    return await heartbeating(key.name, this.#log, leaseMs, work,
      () => this.#catalog.renewLease(key, this.holder, Date.now(), leaseMs),
      () => this.#catalog.releaseLease(key, this.holder));
  }

  // Under this catalog's lease: the store's lease on the call, so that one machine computes it while the
  // others poll the store for its result, until that lease ends (released, or expired with its machine) or
  // the timeout. A store that cannot take the lease (its server gone) does not stop the computation.
  async #acrossMachines<T>(key: EntryKey, started: number, check: () => Promise<T | undefined>, compute: () => Promise<T>): Promise<T> {
    const store = this.#store;
    if (!store) return (await check()) ?? await compute();
    const digest = keyDigest(key);
    const { leaseMs, timeoutMs } = this.#options;
    let poll = FIRST_POLL_MS;
    for (;;) {
      let taken: boolean;
      try {
        taken = await store.lease!(digest, this.holder, leaseMs);
      } catch (error) {
        this.#log.warnOnce(`store-lease:${key.name}`, `Cannot coordinate ${key.name} with other machines through the shared store: ${describe(error)}. Computing it without waiting for them.`);
        return (await check()) ?? await compute();
      }
      if (taken) {
        return await heartbeating(key.name, this.#log, leaseMs, async () => (await check()) ?? await compute(),
          () => store.lease!(digest, this.holder, leaseMs), () => store.release!(digest, this.holder));
      }
      const waited = Date.now() - started;
      if (waited >= timeoutMs) {
        this.#log.warn(`${key.name}: waited ${formatDuration(waited)} for another machine computing the same call; computing it here.`);
        return await compute();
      }
      await sleep(Math.min(poll, timeoutMs - waited));
      poll = Math.min(poll * 1.5, MAX_POLL_MS);
      const found = await check();
      if (found !== undefined) return found;
    }
  }

  #readLease(key: EntryKey): LeaseHolder | undefined {
    try {
      return this.#catalog.lease(key);
    } catch {
      return undefined; // unreadable: try to take it, which reports the problem
    }
  }
}

// Runs `work` while renewing a lease every third of `leaseMs`, and releases it after. A renewal or release
// that fails is only logged: the lease then expires by itself.
async function heartbeating<T>(name: string, log: Logger, leaseMs: number, work: () => Promise<T>,
  renew: () => unknown, release: () => unknown): Promise<T> {
  const quietly = async (what: string, step: () => unknown) => {
    try {
      await step();
    } catch (error) {
      log.debug(`could not ${what} the lease on ${name}: ${describe(error)}`);
    }
  };
  const heartbeat = setInterval(() => void quietly("renew", renew), leaseMs / 3);
  // A compute that never settles must not keep the process alive through this timer.
  (heartbeat as { unref?: () => void }).unref?.();
  try {
    return await work();
  } finally {
    clearInterval(heartbeat);
    await quietly("release", release);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A holder is `<pid>:<uuid>:<start>@<machine>`: its process's id and start time (field 22 of /proc/<pid>/stat,
// clock ticks since boot, so a reused pid is another process), and the machine (host name and boot id). A
// holder on this machine whose process lives holds its lease past its expiry: a synchronous compute longer
// than the lease blocks the event loop, and with it the heartbeat, and would otherwise be computed twice. One
// whose process is gone (killed, crashed) is taken over at once. Without /proc (not Linux) or a host name,
// the holder is `<pid>:<uuid>` as before and only its expiry counts, as for a holder on another machine.
const HOLDER = /^(\d+):[0-9a-f-]+:(\d+)@(.+)$/;

function holderId(uuid: string): string {
  const start = processStart(process.pid);
  const host = machine();
  return start && host ? `${process.pid}:${uuid}:${start}@${host}` : `${process.pid}:${uuid}`;
}

/** Whether `lease` still binds others at `now`: by its process on this machine, by its expiry elsewhere. */
export function stillHeld(lease: LeaseHolder, now: number): boolean {
  const parts = HOLDER.exec(lease.holder);
  if (parts && parts[3] === machine()) return processStart(Number(parts[1])) === parts[2];
  return lease.expiresAt > now;
}

let thisMachine: string | undefined | null = null;
function machine(): string | undefined {
  if (thisMachine !== null) return thisMachine;
  try {
    // The boot id tells this boot from the last one, whose pids and start times start over.
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    return thisMachine = `${hostname()}/${boot}`;
  } catch {
    return thisMachine = undefined;
  }
}

// The start time of the live process `pid`, or undefined if there is none (or it is a zombie, dead but not
// yet reaped by its parent).
function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[0] === "Z" || fields[0] === "X" ? undefined : fields[19];
}
