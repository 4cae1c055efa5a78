// Batches the record of hits: reads are noted in memory and written to the catalog in one transaction
// on a timer (that never keeps the process alive), before eviction and inspection, on close and at exit.
// The timer and the exit hook exist only while hits are pending, so a notebook that opens a Memory on
// every run of a cell does not pile up exit listeners.
import { clearTimeout, setTimeout } from "node:timers";
import type { Access, Catalog } from "../catalog/catalog.ts";
import type { EntryKey } from "../types.ts";
import { onExit } from "../runtime.ts";

/** How long a hit may stay unrecorded; other processes see it (and evict by it) this much later at most. */
export const ACCESS_FLUSH_MS = 1000;

export class AccessLog {
  readonly #catalog: Catalog;
  readonly #onError: (error: unknown) => void;
  readonly #pending = new Map<string, { -readonly [K in keyof Access]: Access[K] }>(); // updated in place by each read
  #timer: ReturnType<typeof setTimeout> | undefined;
  #removeExitHook: (() => void) | undefined;

  constructor(catalog: Catalog, onError: (error: unknown) => void) {
    this.#catalog = catalog;
    this.#onError = onError;
  }

  /**
   * Notes one read of `key` at `at`; costs no I/O. `id` stands for the key (the call's id, made and hashed
   * already for the calls in flight), so that a hit builds no key text of its own.
   */
  record(id: string, key: EntryKey, at: number): void {
    if (this.#catalog.readOnly) return; // nothing can be written: no timer, no exit hook
    const previous = this.#pending.get(id);
    if (previous) {
      previous.at = Math.max(at, previous.at);
      previous.count++;
      return; // a timer and an exit hook are set already
    }
    this.#pending.set(id, { key, at, count: 1 });
    this.#removeExitHook ??= onExit(() => this.flush());
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), ACCESS_FLUSH_MS);
      this.#timer.unref();
    }
  }

  /**
   * Writes the pending reads in one transaction; afterwards no timer and no exit hook remain. A failure
   * drops them (they only order eviction).
   */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#removeExitHook?.();
    this.#removeExitHook = undefined;
    if (this.#pending.size === 0) return;
    const accesses = [...this.#pending.values()];
    this.#pending.clear();
    try {
      this.#catalog.recordAccesses(accesses);
    } catch (error) {
      this.#onError(error);
    }
  }
}
