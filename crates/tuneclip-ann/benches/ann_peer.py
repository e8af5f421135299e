"""Peers for the ANN bench: hnswlib and faiss-cpu HNSW on the bench's own vectors.

Called by `cargo bench -p tuneclip-ann --bench ann` as
    python ann_peer.py DIR N DIM NQ THREADS M EF_CONSTRUCTION EF,EF,...
DIR holds base.f32 (N x DIM), queries.f32 (NQ x DIM) and gt.u32 (NQ x 10, exact top-10
by dot product). Prints one JSON object per line. Needs `pip install hnswlib faiss-cpu`.
"""
import json
import sys
import time

import numpy as np


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    d, n, dim, nq, threads, m, efc, efs = sys.argv[1:9]
    n, dim, nq, threads, m, efc = int(n), int(dim), int(nq), int(threads), int(m), int(efc)
    efs = [int(e) for e in efs.split(",")]
    base = np.fromfile(f"{d}/base.f32", dtype="<f4").reshape(n, dim)
    queries = np.fromfile(f"{d}/queries.f32", dtype="<f4").reshape(nq, dim)
    gt = np.fromfile(f"{d}/gt.u32", dtype="<u4").reshape(nq, 10)

    def recall(ids):
        return sum(len(set(ids[i][:10].tolist()) & set(gt[i].tolist())) for i in range(nq)) / (nq * 10.0)

    def emit(**kw):
        print(json.dumps(kw), flush=True)

    try:
        import hnswlib
    except ImportError:
        emit(lib="hnswlib", error="not installed (pip install hnswlib)")
    else:
        before = rss_mb()
        t = time.perf_counter()
        p = hnswlib.Index(space="ip", dim=dim)
        p.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)
        p.set_num_threads(threads)
        p.add_items(base, np.arange(n))
        emit(lib="hnswlib", build_s=time.perf_counter() - t, mem_mb=rss_mb() - before)
        p.set_num_threads(1)
        for ef in efs:
            p.set_ef(max(ef, 10))
            dt = float("inf")
            for _ in range(3):  # best of three, as for tuneclip
                t = time.perf_counter()
                labels, _ = p.knn_query(queries, k=10)
                dt = min(dt, time.perf_counter() - t)
            emit(lib="hnswlib", ef=ef, recall=recall(labels), qps=nq / dt)
        del p

    try:
        import faiss
    except ImportError:
        emit(lib="faiss", error="not installed (pip install faiss-cpu)")
    else:
        faiss.omp_set_num_threads(threads)
        before = rss_mb()
        t = time.perf_counter()
        idx = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = efc
        idx.add(base)
        emit(lib="faiss", build_s=time.perf_counter() - t, mem_mb=rss_mb() - before)
        faiss.omp_set_num_threads(1)
        for ef in efs:
            idx.hnsw.efSearch = max(ef, 10)
            dt = float("inf")
            for _ in range(3):  # best of three, as for tuneclip
                t = time.perf_counter()
                _, ids = idx.search(queries, 10)
                dt = min(dt, time.perf_counter() - t)
            emit(lib="faiss", ef=ef, recall=recall(ids), qps=nq / dt)


if __name__ == "__main__":
    main()
