// Cross-process leases: a call started in several processes at once is computed by one of them while
// the others wait for its result; a holder that crashed or hung loses the lease when it expires, or at once when it was a process of this machine that is gone.
import process from "node:process";
import type { Catalog, LeaseHolder } from "../catalog/catalog.ts";
import type { EntryKey } from "../types.ts";
import { describe } from "../errors.ts";
import { formatDuration } from "../format.ts";
import type { Logger } from "../log.ts";
import { hostName, processGone } from "../runtime.ts";

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
  /**
   * This holder's id: unique per Memory, with the pid and the machine, so that a holder on this machine
   * whose process is gone (killed, a kernel restarted) loses its lease at once rather than at expiry.
   */
  readonly holder = `${process.pid}:${crypto.randomUUID()}${HOST === undefined ? "" : `@${HOST}`}`;
  readonly #catalog: Catalog;
  readonly #log: Logger;
  readonly #options: LeaseOptions;

  constructor(catalog: Catalog, log: Logger, options: LeaseOptions) {
    this.#catalog = catalog;
    this.#log = log;
    this.#options = options;
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
        other = this.#catalog.takeLease(key, this.holder, Date.now(), this.#options.leaseMs);
      } catch (error) {
        this.#log.warnOnce(`lease:${key.name}`, `Cannot coordinate ${key.name} with other processes: ${describe(error)}. Computing it without waiting for them.`);
        return await compute();
      }
      if (!other) return await this.#holding(key, async () => (await check()) ?? await compute());
      // Held by another process: wait for its result, or for its lease to end (released or expired).
      while (other && other.expiresAt > Date.now()) {
        if (gone(other.holder)) {
          this.#log.debug(`${key.name}: the process that held its lease (${other.holder}) is gone; taking it over`);
          try {
            this.#catalog.releaseLease(key, other.holder);
          } catch {
            // taking the lease below reports the problem
          }
          break;
        }
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
    const heartbeat = setInterval(() => {
      try {
        this.#catalog.renewLease(key, this.holder, Date.now(), leaseMs);
      } catch (error) {
        this.#log.debug(`could not renew the lease on ${key.name}: ${describe(error)}`);
      }
    }, leaseMs / 3);
    // A compute that never settles must not keep the process alive through this timer.
    (heartbeat as { unref?: () => void }).unref?.();
    try {
      return await work();
    } finally {
      clearInterval(heartbeat);
      try {
        this.#catalog.releaseLease(key, this.holder);
      } catch (error) {
        // The lease then expires by itself.
        this.#log.debug(`could not release the lease on ${key.name}: ${describe(error)}`);
      }
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

const HOST = hostName();

// A holder id of this machine (`<pid>:<uuid>@<host>`) whose process no longer exists.
function gone(holder: string): boolean {
  const match = /^(\d+):[^@]*@(.*)$/.exec(holder);
  return match !== null && HOST !== undefined && match[2] === HOST && Number(match[1]) !== process.pid && processGone(Number(match[1]));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
