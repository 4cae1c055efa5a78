# Benchmarks Python peers (joblib.Memory, diskcache's memoize) the way nbmemo is benchmarked; run with
# Debian's /usr/bin/python3. Usage:
#   peers.py bench joblib|diskcache             -> one JSON line of results (times in ms)
#   peers.py cold-prime|cold-hit joblib|diskcache DIR   -> cold start: import, open, first call
#   peers.py rows joblib|diskcache              -> 1M parsed rows and 100 MB of strings: store and hit (ms)
import gc, json, os, shutil, sys, tempfile, time

mode, tool = sys.argv[1], sys.argv[2]
clock = time.perf_counter


def small(a, b):
    return {"a": a, "b": b, "sum": a + 1, "tags": ["x", "y"]}


def open_cache(directory):
    if tool == "joblib":
        import joblib
        memory = joblib.Memory(directory, verbose=0)
        return lambda f: memory.cache(f), lambda fn, *args: fn.call_and_shelve(*args).clear()
    import diskcache
    cache = diskcache.Cache(directory)
    return lambda f: cache.memoize(name=f.__name__)(f), lambda fn, *args: cache.delete(fn.__cache_key__(*args))


def known(n):
    return {"n": n, "squares": [n * n, n * n * n]}


if mode.startswith("cold"):
    started = clock()
    memoize, _ = open_cache(sys.argv[3])
    value = memoize(known)(7)
    assert value["n"] == 7
    if mode == "cold-hit":
        print(json.dumps({"firstHitMs": (clock() - started) * 1000}))
    sys.exit(0)

if mode == "rows":
    def table_rows(n=1_000_000):
        return [{"id": i, "station": f"ST{(i * 7919) % 5000}", "value": ((i * 16807) % 2147483647) / 2147483647,
                 "ok": i % 3 == 0, "note": None if i % 7 == 0 else f"n{i % 977}"} for i in range(n)]

    def strings():
        return [f"line {i}: {'lorem ipsum dolor sit amet ' * 3}{i % 97}"[:100] for i in range(1_000_000)]

    directory = tempfile.mkdtemp(prefix="nbmemo-bench-py-")
    try:
        memoize, forget = open_cache(directory)
        result = {}
        for name, data, reps in (("Rows", table_rows(), 5), ("Strings", strings(), 3)):
            def produce():
                return data
            produce.__name__ = name
            produce_m = memoize(produce)
            store, hit = [], []
            for i in range(reps):
                if tool == "diskcache" or i > 0:
                    forget(produce_m)
                gc.collect()  # each timed step from a collected heap, as bench/workers/rows.ts does
                t = clock()
                produce_m()
                store.append((clock() - t) * 1000)
                gc.collect()
                t = clock()
                back = produce_m()
                hit.append((clock() - t) * 1000)
                assert len(back) == len(data)
                back = None  # freed before the next step, not inside it
            result["store" + name] = sorted(store)[len(store) // 2]
            result["hit" + name] = sorted(hit)[len(hit) // 2]
        print(json.dumps(result))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    sys.exit(0)

import numpy


def runs(n, work, warmup=0):
    for i in range(warmup):
        work(-1 - i)
    times = []
    for i in range(n):
        t = clock()
        work(i)
        times.append((clock() - t) * 1000)
    return sorted(times)


def pct(times, p):
    return times[min(len(times) - 1, int(p / 100 * len(times)))]


directory = tempfile.mkdtemp(prefix="nbmemo-bench-py-")
try:
    memoize, forget = open_cache(directory)
    small_m = memoize(small)
    small_m(1, "x")
    hits = runs(20000 if tool == "diskcache" else 5000, lambda i: small_m(1, "x"), 1000)
    misses = runs(1000, lambda i: small_m(i, "miss"), 50)

    def sized(nbytes, reps):
        value = numpy.random.default_rng(1).random(nbytes // 8)

        def big(i):
            return value
        big.__name__ = f"big{nbytes}"
        big_m = memoize(big)
        store, hit = [], []
        for i in range(-1, reps):
            forget(big_m, 0) if tool == "diskcache" or i > -1 else None
            t = clock()
            big_m(0)
            if i >= 0:
                store.append((clock() - t) * 1000)
            t = clock()
            back = big_m(0)
            if i >= 0:
                hit.append((clock() - t) * 1000)
            assert back.shape == value.shape
        return pct(sorted(store), 50), pct(sorted(hit), 50)

    store1, hit1 = sized(1_000_000, 21)
    store80, hit80 = sized(80_000_000, 7)
    result = {"smallHitP50": pct(hits, 50), "smallHitP99": pct(hits, 99), "smallMiss": pct(misses, 50),
              "store1MB": store1, "hit1MB": hit1, "store80MB": store80, "hit80MB": hit80}
    if tool == "joblib":
        import joblib
        data = numpy.random.default_rng(2).random(10_000_000)
        hash_ms = pct(runs(5, lambda i: joblib.hash(data), 1), 50)
        result["hashMBps"] = 80 / (hash_ms / 1000)
    print(json.dumps(result))
finally:
    shutil.rmtree(directory, ignore_errors=True)
