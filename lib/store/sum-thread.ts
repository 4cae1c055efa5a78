// A helper thread that sums a file while this thread writes it: the file store's way to take the checksum
// of a large payload (README, "80 MB"). The write stays on this thread, as a raw write's does: written on
// another thread (Node's pool, Deno's blocking threads) while this one summed, 2-4 of 7 stores of 80 MB took
// 90-200 ms here instead of ~30, likely because the pages freed on this core are the warm ones (pinned to
// one core, the strays went away). The helper reads each part back from the page cache into its own
// WebAssembly memory as soon as it is written and runs XXH64's stripes over it (lib/xxh64.ts): an
// 80 MB store took ~27 ms against ~25 for a raw write, where a write and then a sum took ~42.
//
// One thread per process, started after its first large store (its constructor held Deno's main thread
// 45-80 ms, Node's ~4; it takes ~19 MB of memory), unref'd so that it never keeps a process alive. Jobs
// and their progress go through a SharedArrayBuffer and Atomics, not messages: Node 22 ref'd a worker
// again once a message listener was added, and messages wait for an event loop turn.
import { setTimeout } from "node:timers"; // a timer that can be unref'd under Deno 2.4 too
import { stripesModule, Xxh64, XXH64_START } from "../xxh64.ts";

/** A write being summed by the helper thread. */
export interface SummedWrite {
  /** Says that the first `written` bytes of the file are written. */
  progress(written: number): void;
  /** Says that all the file's bytes are written, and returns their checksum; undefined if the helper failed. */
  end(): string | undefined;
  /** Says that the write failed: the helper leaves the file. */
  abandon(): void;
}

/** The bytes read and summed at a time: the file's progress is best told at about this step. */
export const SUM_PART = 4 << 20;

// The shared control block: Int32 slots, then the job's size, lanes, tail and path (byte offsets). The
// helper gets this layout in its workerData, as it sees nothing of this module.
const LAYOUT = {
  READY: 0, // 1 once the helper has loaded
  JOB: 1, // the number of the latest job, raised to start one
  WRITTEN: 2, // whole 32-byte stripes written so far; ALL_WRITTEN, or ABANDONED
  DONE: 3, // the number of the latest job the helper finished
  FAILED: 4, // 1 if that job failed
  PATH_LENGTH: 5,
  ALL_WRITTEN: -1,
  ABANDONED: -2,
  TOTAL_AT: 32, // f64: the file's size
  LANES_AT: 40, // 4 x u64: the starting lanes in, the lanes after the whole stripes out
  TAIL_AT: 72, // the last (size % 32) bytes, out
  PATH_AT: 104,
  PATH_BYTES: 4096,
  STRIPES_AT: 4096, // where the helper reads the input in its module's memory (the lanes are at 0)
} as const;
type Layout = typeof LAYOUT;
const { READY, JOB, WRITTEN, DONE, FAILED, PATH_LENGTH, ALL_WRITTEN, ABANDONED, TOTAL_AT, LANES_AT, TAIL_AT, PATH_AT, PATH_BYTES } = LAYOUT;
// What `end` waits for the helper beyond the write: normally a part's read and sum (~1 ms). A helper
// that does not answer in this time is taken to be lost, and the process sums in its own thread again.
const ANSWER_MS = 10_000;

interface Helper {
  readonly control: Int32Array;
  readonly shared: SharedArrayBuffer;
  readonly stop: () => void;
  jobs: number;
}

let helper: Helper | undefined; // while it runs
let asked = false; // whether it was started (once a process)

/**
 * Starts the helper, unless it is started already, from a timer of its own: after the large store that
 * asks for it has returned (a call's continuations come first), so that the constructor's time is not
 * that store's.
 */
export function startSumThread(): void {
  if (asked) return;
  asked = true;
  setTimeout(start, 0).unref();
}

// The largest file summed (its stripes are counted in an Int32 slot): 64 GB.
const MAX_BYTES = 2 ** 31 * 32;

/**
 * Starts a summed write of `bytes` bytes to the file at `path` (created, empty), or returns undefined: the
 * helper is not running (see {@link startSumThread}), is busy or lost, or the path or size is too large to pass.
 */
export function beginSummedWrite(path: string, bytes: number): SummedWrite | undefined {
  if (!helper || Atomics.load(helper.control, READY) !== 1 || bytes >= MAX_BYTES) return undefined;
  const { control, shared } = helper;
  if (Atomics.load(control, DONE) !== helper.jobs) return undefined; // an abandoned job not yet left
  const encoded = new TextEncoder().encode(path);
  if (encoded.byteLength > PATH_BYTES) return undefined;
  new Uint8Array(shared, PATH_AT).set(encoded);
  control[PATH_LENGTH] = encoded.byteLength;
  new BigUint64Array(shared, LANES_AT, 4).set(XXH64_START);
  new Float64Array(shared, TOTAL_AT, 1)[0] = bytes;
  Atomics.store(control, WRITTEN, 0);
  const job = ++helper.jobs;
  Atomics.store(control, JOB, job);
  Atomics.notify(control, JOB);
  const tell = (value: number) => {
    Atomics.store(control, WRITTEN, value);
    Atomics.notify(control, WRITTEN);
  };
  return {
    progress: (written) => tell(Math.floor(written / 32)),
    end() {
      tell(ALL_WRITTEN);
      let answer: string;
      try {
        answer = Atomics.wait(control, DONE, job - 1, ANSWER_MS);
      } catch {
        answer = "timed-out"; // a thread that may not wait (none of nbmemo's runtimes' main threads)
      }
      if (answer === "timed-out") {
        lose();
        return undefined;
      }
      if (control[FAILED] === 1) return undefined;
      const sum = Xxh64.resume(new BigUint64Array(shared, LANES_AT, 4), bytes - (bytes % 32));
      sum.add(new Uint8Array(shared, TAIL_AT, bytes % 32));
      return sum.value();
    },
    abandon: () => tell(ABANDONED),
  };
}

function start(): void {
  try {
    const { Worker } = process.getBuiltinModule("node:worker_threads");
    const shared = new SharedArrayBuffer(PATH_AT + PATH_BYTES);
    const pages = Math.ceil((LAYOUT.STRIPES_AT + SUM_PART) / 65536);
    const worker = new Worker(`(${helperThread})(process.getBuiltinModule("node:worker_threads").workerData)`, {
      eval: true,
      workerData: { shared, module: stripesModule(pages), part: SUM_PART, layout: LAYOUT },
    });
    // Listeners before unref: an 'error' without one would be thrown in this thread (a kernel's).
    worker.on("error", lose);
    worker.on("exit", lose);
    worker.unref();
    helper = { control: new Int32Array(shared, 0, 8), shared, stop: () => void worker.terminate().catch(() => {}), jobs: 0 };
  } catch {
    // No thread: this process sums in its own.
  }
}

function lose(): void {
  helper?.stop();
  helper = undefined;
}

/**
 * The helper thread's whole code, run from its source text (so it has nothing but its argument and the
 * runtime's globals): waits for a job, then reads and sums the file's whole stripes as they are written.
 */
function helperThread(data: { shared: SharedArrayBuffer; module: Uint8Array<ArrayBuffer>; part: number; layout: Layout }): void {
  const { READY, JOB, WRITTEN, DONE, FAILED, PATH_LENGTH, ALL_WRITTEN, ABANDONED, TOTAL_AT, LANES_AT, TAIL_AT, PATH_AT, STRIPES_AT } = data.layout;
  const fs = process.getBuiltinModule("node:fs");
  const control = new Int32Array(data.shared, 0, 8);
  const exports = new WebAssembly.Instance(new WebAssembly.Module(data.module)).exports as {
    memory: WebAssembly.Memory;
    stripes: (at: number, length: number) => void;
  };
  const memory = new Uint8Array(exports.memory.buffer);
  const lanes = new BigUint64Array(exports.memory.buffer, 0, 4);
  const readAt = (fd: number, into: Uint8Array, position: number) => {
    for (let got = 0; got < into.byteLength;) {
      const n = fs.readSync(fd, into, got, into.byteLength - got, position + got);
      if (n === 0) throw new Error("the file is shorter than said");
      got += n;
    }
  };
  Atomics.store(control, READY, 1);
  for (let job = 0; ; ) {
    Atomics.wait(control, JOB, job);
    job = Atomics.load(control, JOB);
    let failed = 0;
    let fd = -1;
    try {
      fd = fs.openSync(new TextDecoder().decode(new Uint8Array(data.shared, PATH_AT, control[PATH_LENGTH])), "r");
      lanes.set(new BigUint64Array(data.shared, LANES_AT, 4));
      const total = new Float64Array(data.shared, TOTAL_AT, 1)[0]!;
      let done = 0; // whole stripes summed
      for (;;) {
        const written = Atomics.load(control, WRITTEN);
        if (written === ABANDONED) throw new Error("abandoned");
        const upTo = written === ALL_WRITTEN ? Math.floor(total / 32) : written;
        if (upTo === done) {
          if (written === ALL_WRITTEN) break;
          Atomics.wait(control, WRITTEN, written);
          continue;
        }
        const bytes = Math.min(upTo - done, data.part / 32) * 32;
        readAt(fd, memory.subarray(STRIPES_AT, STRIPES_AT + bytes), done * 32);
        exports.stripes(STRIPES_AT, bytes);
        done += bytes / 32;
      }
      readAt(fd, new Uint8Array(data.shared, TAIL_AT, total % 32), done * 32);
      new BigUint64Array(data.shared, LANES_AT, 4).set(lanes);
    } catch {
      failed = 1;
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    control[FAILED] = failed;
    Atomics.store(control, DONE, job);
    Atomics.notify(control, DONE);
  }
}
