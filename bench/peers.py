#!/usr/bin/env python3
"""Measure hnswlib and faiss HNSW on the data simsearch-bench wrote.

Reads DIR/base.npy (n x d float32, L2-normalised), DIR/queries.npy and
DIR/truth.npy (exact top-k ids per query), builds each library's HNSW with
the same M and efConstruction as simsearch's index, and prints one JSON
object on stdout:

  {"hnswlib": {"version": ..., "build_s": ..., "memory_bytes": ...,
               "save_bytes": ..., "load_s": ...,
               "results": [{"ef": 16, "recall": ..., "p50_ms": ...,
                            "p99_ms": ..., "batch1_mean_ms": ..., "qps": ...}]},
   "faiss": {...}}

A library that cannot be imported gives {"skipped": "<reason>"}. Latency is
one query per call on one thread (p50/p99, Python call included) and the
mean of a one-thread batch call (no per-call overhead); qps is a batch call
on --threads threads. Inner product on normalised vectors = cosine.

Usage: peers.py --dir DIR [--m 16] [--efc 200] [--ef 16,32,64] [--k 10]
       [--threads 2] [--libs hnswlib,faiss]
"""
import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def recall(ids, truth, k):
    hit = 0
    for got, want in zip(ids, truth):
        hit += len(set(int(x) for x in got[:k]) & set(int(x) for x in want[:k]))
    return hit / (len(truth) * k)


def pct(v, q):
    v = sorted(v)
    i = int(q * len(v) + 0.5) - 1
    return v[min(max(i, 0), len(v) - 1)]


def sweep(search_one, search_batch, set_ef, set_threads, queries, truth, efs, k, threads):
    out = []
    for ef in efs:
        set_ef(ef)
        set_threads(1)
        search_one(queries[0])  # warm up
        lat = []
        for q in queries:
            t = time.perf_counter()
            search_one(q)
            lat.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        ids = search_batch(queries)
        batch1 = (time.perf_counter() - t) * 1000 / len(queries)
        set_threads(threads)
        t = time.perf_counter()
        search_batch(queries)
        qps = len(queries) / (time.perf_counter() - t)
        out.append({"ef": ef, "recall": recall(ids, truth, k), "p50_ms": pct(lat, 0.5),
                    "p99_ms": pct(lat, 0.99), "batch1_mean_ms": batch1, "qps": qps})
    return out


def run_hnswlib(base, queries, truth, a, tmp):
    import hnswlib
    n, d = base.shape
    gc.collect()
    r0 = rss_bytes()
    t = time.perf_counter()
    p = hnswlib.Index(space="ip", dim=d)
    p.init_index(max_elements=n, ef_construction=a.efc, M=a.m, random_seed=100)
    p.add_items(base, list(range(n)), num_threads=a.threads)
    build = time.perf_counter() - t
    gc.collect()
    mem = rss_bytes() - r0
    path = os.path.join(tmp, "hnswlib.bin")
    p.save_index(path)
    size = os.path.getsize(path)
    t = time.perf_counter()
    q = hnswlib.Index(space="ip", dim=d)
    q.load_index(path, max_elements=n)
    load = time.perf_counter() - t
    del q
    state = {"threads": 1}

    def set_threads(x):
        state["threads"] = x
        p.set_num_threads(x)

    res = sweep(lambda v: p.knn_query(v, k=a.k, num_threads=1),
                lambda qs: p.knn_query(qs, k=a.k, num_threads=state["threads"])[0],
                p.set_ef, set_threads, queries, truth, a.ef, a.k, a.threads)
    return {"version": getattr(hnswlib, "__version__", "") or deb_version("python3-hnswlib"),
            "n": n, "build_s": build, "memory_bytes": mem, "save_bytes": size, "load_s": load, "results": res}


def run_faiss(base, queries, truth, a, tmp):
    import faiss
    n, d = base.shape
    faiss.omp_set_num_threads(a.threads)
    gc.collect()
    r0 = rss_bytes()
    t = time.perf_counter()
    p = faiss.IndexHNSWFlat(d, a.m, faiss.METRIC_INNER_PRODUCT)
    p.hnsw.efConstruction = a.efc
    p.add(base)
    build = time.perf_counter() - t
    gc.collect()
    mem = rss_bytes() - r0
    path = os.path.join(tmp, "faiss.bin")
    faiss.write_index(p, path)
    size = os.path.getsize(path)
    t = time.perf_counter()
    q = faiss.read_index(path)
    load = time.perf_counter() - t
    del q

    def set_ef(ef):
        p.hnsw.efSearch = ef

    res = sweep(lambda v: p.search(v.reshape(1, -1), a.k),
                lambda qs: p.search(qs, a.k)[1],
                set_ef, faiss.omp_set_num_threads, queries, truth, a.ef, a.k, a.threads)
    return {"version": getattr(faiss, "__version__", "") or deb_version("python3-faiss"),
            "n": n, "build_s": build, "memory_bytes": mem, "save_bytes": size, "load_s": load, "results": res}


def deb_version(pkg):
    try:
        with open("/var/lib/dpkg/status") as f:
            block = f.read().split("\n\n")
        for b in block:
            if ("Package: %s\n" % pkg) in b:
                for line in b.splitlines():
                    if line.startswith("Version: "):
                        return line[9:]
    except OSError:
        pass
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--libs", default="hnswlib,faiss")
    a = ap.parse_args()
    a.ef = [int(x) for x in a.ef.split(",") if x]
    out = {}
    try:
        import numpy as np
    except ImportError as e:
        for lib in a.libs.split(","):
            out[lib] = {"skipped": "numpy not installed (%s)" % e}
        print(json.dumps(out))
        return
    base = np.ascontiguousarray(np.load(os.path.join(a.dir, "base.npy")), dtype=np.float32)
    queries = np.ascontiguousarray(np.load(os.path.join(a.dir, "queries.npy")), dtype=np.float32)
    truth = np.load(os.path.join(a.dir, "truth.npy"))
    runners = {"hnswlib": run_hnswlib, "faiss": run_faiss}
    with tempfile.TemporaryDirectory() as tmp:
        for lib in a.libs.split(","):
            try:
                __import__(lib)
            except ImportError as e:
                out[lib] = {"skipped": "%s not installed (%s)" % (lib, e)}
                continue
            print("peers: %s on %d x %d" % (lib, base.shape[0], base.shape[1]), file=sys.stderr)
            out[lib] = runners[lib](base, queries, truth, a, tmp)
            gc.collect()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
