// The calls in flight in this process: the same call made while one is running shares its result; a call
// that would wait on itself (f(x) calling f(x), or through other memoized functions) is refused; a
// computation whose arguments changed after they were hashed is not shared.
import { AsyncLocalStorage } from "node:async_hooks";
import { NbmemoError } from "../errors.ts";

/** How a call in flight settled: its value, and whether calls that joined it may take it as theirs. */
export interface Settled<T> {
  readonly value: T;
  /** False when the arguments changed before or while it computed: joiners start again with their own. */
  readonly shared: boolean;
  /** True when the value was read back rather than computed. */
  readonly hit?: boolean;
}

/** Thrown by a computation that did not start because its arguments no longer hash to its key. */
export class ArgumentsMoved extends Error {
  constructor() {
    super("the arguments changed after the call was keyed");
  }
}

// The calls computing around the code that runs now (Node and Deno both have AsyncLocalStorage): a call
// that finds its own key among them is waiting on itself.
interface Computing {
  readonly calls: Calls;
  readonly id: string;
  readonly name: string;
}
const computing = new AsyncLocalStorage<readonly Computing[]>();

/** One Memory's calls in flight, by key (`id`). */
export class Calls {
  readonly #running = new Map<string, Promise<Settled<unknown>>>();

  /** Whether the code running now is a computation of one of these calls (or runs inside one). */
  inside(): boolean {
    return (computing.getStore() ?? []).some((c) => c.calls === this);
  }

  /**
   * The call `id` in flight, to wait for, or undefined if there is none.
   *
   * @throws NbmemoError `CALL_CYCLE` when the code asking runs inside that very call.
   */
  join(id: string, name: string): Promise<Settled<unknown>> | undefined {
    const running = this.#running.get(id);
    if (!running) return undefined;
    const around = computing.getStore() ?? [];
    const at = around.findIndex((c) => c.calls === this && c.id === id);
    if (at >= 0) {
      const cycle = [...around.slice(at).map((c) => c.name), name].join(" → ");
      throw new NbmemoError("CALL_CYCLE", `Cannot call ${name}: it is already computing with the same arguments and waits for itself (${cycle}), ` +
        "so it would never settle. Call it with other arguments, or call the unmemoized function inside.");
    }
    return running;
  }

  /** Makes `promise` the call `id` in flight, so that the same call made meanwhile joins it (until {@link end}). */
  start(id: string, promise: Promise<Settled<unknown>>): void {
    this.#running.set(id, promise);
  }

  end(id: string): void {
    this.#running.delete(id);
  }

  /** Runs the function of call `id`, so that the calls it makes are known to run inside it. */
  within<R>(id: string, name: string, invoke: () => R): R {
    return computing.run([...computing.getStore() ?? [], { calls: this, id, name }], invoke);
  }
}
