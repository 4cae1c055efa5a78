// XXH64 (seed 0), the checksum Node gives large payloads, its inner loop in a small WebAssembly module. That
// loop runs at ~9 GB/s here, where Node's zlib.crc32 has no SIMD path and runs at ~2.5 GB/s (32 ms per 80 MB,
// more than the raw write of those bytes, which it runs beside; see lib/codec/checksum.ts). The rest (pieces
// shorter than a 32-byte stripe, the final mix) is plain JavaScript on BigInt, a few dozen operations per
// payload. It is a RunningSum of lib/codec/checksum.ts by its shape (a shared module imports no part); the
// file store's summing thread (lib/store/sum-thread.ts) runs the same module's stripes on a thread of its own.

const PRIME1 = 0x9e3779b185ebca87n;
const PRIME2 = 0xc2b2ae3d27d4eb4fn;
const PRIME3 = 0x165667b19e3779f9n;
const PRIME4 = 0x85ebca77c2b2ae63n;
const PRIME5 = 0x27d4eb2f165667c5n;
const u64 = (n: bigint) => BigInt.asUintN(64, n);
const rotl = (n: bigint, bits: bigint) => u64((n << bits) | (n >> (64n - bits)));
const round = (lane: bigint, input: bigint) => u64(rotl(u64(lane + input * PRIME2), 31n) * PRIME1);

const STRIPE = 32;
// The module's memory: the four lanes at 0, then up to PIECE bytes of input copied in at INPUT + a shift.
// The shift keeps each copy's destination ~2 KB from its source modulo 4 KB: a copy that lands just after
// its source's offset in a page (8-40 bytes) ran at ~1.7 GB/s here instead of ~10 (glibc's rep movsb).
const INPUT = 4096;
const PIECE = 256 * 1024;
const PAGES = Math.ceil((INPUT + 4096 + PIECE) / 65536);

interface Stripes {
  readonly run: (at: number, length: number) => void;
  readonly memory: Uint8Array;
  readonly lanes: BigUint64Array;
}
let stripes: Stripes | undefined;

function loadStripes(): Stripes {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(stripesModule(PAGES)));
  const { memory, stripes: run } = instance.exports as { memory: WebAssembly.Memory; stripes: Stripes["run"] };
  return { run, memory: new Uint8Array(memory.buffer), lanes: new BigUint64Array(memory.buffer, 0, 4) };
}

export const XXH64 = "xxh64:";
/** The four lanes before any stripe (seed 0). */
export const XXH64_START: readonly bigint[] = [u64(PRIME1 + PRIME2), PRIME2, 0n, u64(-PRIME1)];

/** XXH64 with seed 0 of the bytes added, in order, as `xxh64:` and 16 hex digits (a {@link RunningSum}). */
export class Xxh64 {
  #lanes = [...XXH64_START];
  #total = 0;
  // The bytes added since the last whole stripe.
  #pending = new Uint8Array(STRIPE);
  #pendingLength = 0;

  /** The running sum after `total` bytes (whole stripes) whose stripes left `lanes` (taken elsewhere). */
  static resume(lanes: Iterable<bigint>, total: number): Xxh64 {
    const sum = new Xxh64();
    sum.#lanes = [...lanes];
    sum.#total = total;
    return sum;
  }

  add(chunk: Uint8Array): void {
    this.#total += chunk.byteLength;
    let at = 0;
    if (this.#pendingLength > 0) {
      at = Math.min(STRIPE - this.#pendingLength, chunk.byteLength);
      this.#pending.set(chunk.subarray(0, at), this.#pendingLength);
      this.#pendingLength += at;
      if (this.#pendingLength < STRIPE) return;
      this.#stripes(this.#pending);
      this.#pendingLength = 0;
    }
    while (chunk.byteLength - at >= STRIPE) {
      const length = Math.min(PIECE, chunk.byteLength - at - ((chunk.byteLength - at) % STRIPE));
      this.#stripes(chunk.subarray(at, at + length));
      at += length;
    }
    this.#pending.set(chunk.subarray(at));
    this.#pendingLength = chunk.byteLength - at;
  }

  value(): string {
    let h: bigint;
    if (this.#total >= STRIPE) {
      const [v1, v2, v3, v4] = this.#lanes as [bigint, bigint, bigint, bigint];
      h = u64(rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n));
      for (const lane of this.#lanes) h = u64((h ^ round(0n, lane)) * PRIME1 + PRIME4);
    } else {
      h = PRIME5;
    }
    h = u64(h + BigInt(this.#total));
    const rest = new DataView(this.#pending.buffer, 0, this.#pendingLength);
    let at = 0;
    for (; at + 8 <= rest.byteLength; at += 8) h = u64(rotl(h ^ round(0n, rest.getBigUint64(at, true)), 27n) * PRIME1 + PRIME4);
    if (at + 4 <= rest.byteLength) h = u64(rotl(h ^ u64(BigInt(rest.getUint32(at, true)) * PRIME1), 23n) * PRIME2 + PRIME3), at += 4;
    for (; at < rest.byteLength; at++) h = u64(rotl(h ^ u64(BigInt(rest.getUint8(at)) * PRIME5), 11n) * PRIME1);
    h = u64((h ^ (h >> 33n)) * PRIME2);
    h = u64((h ^ (h >> 29n)) * PRIME3);
    h ^= h >> 32n;
    return `${XXH64}${h.toString(16).padStart(16, "0")}`;
  }

  // Whole stripes (at most PIECE bytes), through the module: copied into its memory, with this sum's lanes.
  #stripes(bytes: Uint8Array): void {
    const module = stripes ??= loadStripes();
    const at = INPUT + ((bytes.byteOffset + 2048) & 4095);
    module.memory.set(bytes, at);
    module.lanes.set(this.#lanes);
    module.run(at, bytes.byteLength);
    this.#lanes = [...module.lanes];
  }
}

/**
 * The WebAssembly module, built here so that its code can be read: one function, stripes(at, length), runs
 * XXH64's inner loop over `length` bytes (a multiple of 32) from `at` in its memory of `pages` pages, taking
 * and leaving the four lanes as four little-endian u64 at offset 0. Each lane takes its u64 of each stripe:
 * lane = rotl(lane + input * PRIME2, 31) * PRIME1. (Checked against wabt's build of the same text format.)
 */
export function stripesModule(pages: number) {
  const [I32, I64, VOID] = [0x7f, 0x7e, 0x40];
  const op = {
    block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b, get: 0x20, set: 0x21, i64Load: 0x29, i64Store: 0x37,
    i32Const: 0x41, i64Const: 0x42, i32GeU: 0x4f, i32Add: 0x6a, i64Add: 0x7c, i64Mul: 0x7e, i64Rotl: 0x89,
  };
  const [AT, LENGTH, LANE, END] = [0, 1, 2, 6]; // locals: the two parameters, the four lanes, the end of the input
  const lane = (k: number) => LANE + k;
  const memoryArgument = (k: number) => [3, ...uleb(8 * k)]; // 8-byte aligned, at offset 8k
  const body: number[] = [2, 4, I64, 1, I32]; // locals: 4 x i64, 1 x i32
  for (let k = 0; k < 4; k++) body.push(op.i32Const, 0, op.i64Load, ...memoryArgument(k), op.set, lane(k));
  body.push(op.get, AT, op.get, LENGTH, op.i32Add, op.set, END);
  body.push(op.block, VOID, op.loop, VOID, op.get, AT, op.get, END, op.i32GeU, op.brIf, 1);
  for (let k = 0; k < 4; k++) {
    body.push(op.get, lane(k), op.get, AT, op.i64Load, ...memoryArgument(k), op.i64Const, ...sleb(PRIME2), op.i64Mul, op.i64Add);
    body.push(op.i64Const, 31, op.i64Rotl, op.i64Const, ...sleb(PRIME1), op.i64Mul, op.set, lane(k));
  }
  body.push(op.get, AT, op.i32Const, STRIPE, op.i32Add, op.set, AT, op.br, 0, op.end, op.end);
  for (let k = 0; k < 4; k++) body.push(op.i32Const, 0, op.get, lane(k), op.i64Store, ...memoryArgument(k));
  body.push(op.end);
  const name = (text: string) => [text.length, ...new TextEncoder().encode(text)];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // "\0asm", version 1
    ...section(1, [1, 0x60, 2, I32, I32, 0]), // one type: (i32, i32) -> ()
    ...section(3, [1, 0]), // one function, of that type
    ...section(5, [1, 0, ...uleb(pages)]), // one memory, of `pages` pages at least
    ...section(7, [2, ...name("memory"), 2, 0, ...name("stripes"), 0, 0]), // exported
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

// LEB128, unsigned and signed (an i64.const is signed: PRIME1 and PRIME2 as the negative numbers they are as i64).
function uleb(n: number): number[] {
  const bytes: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    bytes.push(n === 0 ? byte : byte | 0x80);
  } while (n !== 0);
  return bytes;
}

function sleb(value: bigint): number[] {
  let n = BigInt.asIntN(64, value);
  const bytes: number[] = [];
  for (;;) {
    const byte = Number(n & 0x7fn);
    n >>= 7n;
    const done = (n === 0n && (byte & 0x40) === 0) || (n === -1n && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}
