// A strict comparer for outputs read back: same prototypes, own keys in order with the same descriptors,
// -0 and NaN, holes, internal contents (Map, Set, Date, RegExp, URL, binary data) and shared references.
import assert from "node:assert/strict";

/** Fails, naming the path, unless `actual` is `expected` read back exactly. */
export function assertStrictlySame(actual: unknown, expected: unknown): void {
  const pairs = new Map<object, object>(); // expected -> actual: a shared reference must stay one
  const walk = (a: unknown, e: unknown, path: string): void => {
    assert.equal(typeof a, typeof e, `${path}: type`);
    if (typeof e !== "object" || e === null || a === null) {
      assert.ok(Object.is(a, e), `${path}: ${show(a)} is not ${show(e)}`);
      return;
    }
    const x = a as object;
    const y = e as object;
    if (pairs.has(y)) {
      assert.equal(pairs.get(y), x, `${path}: a shared reference was not kept`);
      return;
    }
    pairs.set(y, x);
    assert.equal(Object.getPrototypeOf(x), Object.getPrototypeOf(y), `${path}: prototype`);
    assert.equal(Object.prototype.toString.call(x), Object.prototype.toString.call(y), `${path}: kind`);
    assert.equal(Object.isExtensible(x), Object.isExtensible(y), `${path}: extensible`);
    if (ArrayBuffer.isView(y) || y instanceof ArrayBuffer) {
      const bytes = (v: object) => v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array((v as ArrayBufferView).buffer, (v as ArrayBufferView).byteOffset, (v as ArrayBufferView).byteLength);
      assert.deepEqual(bytes(x), bytes(y), `${path}: bytes`);
      return;
    }
    if (y instanceof Date) assert.ok(Object.is((x as Date).getTime(), y.getTime()), `${path}: time`);
    if (y instanceof RegExp) assert.equal(String(x), String(y), `${path}: pattern`);
    if (y instanceof URL) assert.equal((x as URL).href, y.href, `${path}: href`);
    if (y instanceof Map) {
      const xs = [...(x as Map<unknown, unknown>)];
      const ys = [...y];
      assert.equal(xs.length, ys.length, `${path}: size`);
      ys.forEach(([k, v], i) => (walk(xs[i]![0], k, `${path}.<key ${i}>`), walk(xs[i]![1], v, `${path}.<value ${i}>`)));
    }
    if (y instanceof Set) {
      const xs = [...(x as Set<unknown>)];
      const ys = [...y];
      assert.equal(xs.length, ys.length, `${path}: size`);
      ys.forEach((v, i) => walk(xs[i], v, `${path}.<item ${i}>`));
    }
    const keys = Reflect.ownKeys(y);
    assert.deepEqual(Reflect.ownKeys(x), keys, `${path}: own keys`);
    for (const key of keys) {
      const at = `${path}[${String(key)}]`;
      const dx = Object.getOwnPropertyDescriptor(x, key)!;
      const dy = Object.getOwnPropertyDescriptor(y, key)!;
      assert.equal(dx.enumerable, dy.enumerable, `${at}: enumerable`);
      assert.equal(dx.configurable, dy.configurable, `${at}: configurable`);
      assert.equal("value" in dx, "value" in dy, `${at}: data or accessor`);
      if ("value" in dy) {
        assert.equal(dx.writable, dy.writable, `${at}: writable`);
        walk(dx.value, dy.value, at);
      } else {
        walk(Reflect.get(x, key), Reflect.get(y, key), at); // an Error's stack: compare what it reads
      }
    }
  };
  walk(actual, expected, "output");
}

// A value for a failure message: String() throws on an object without a prototype.
const show = (value: unknown): string => typeof value === "object" && value !== null ? Object.prototype.toString.call(value) : String(value);
