"""Search latency at scale, and under concurrent load.

    python bench/search_latency.py [--sizes 10000,100000,1000000] [--stores edge,qdrant-client]
                                   [--dim 512] [--load-size 100000] [--threads 1,2,4,8,16]

Store part: collections of synthetic chunks (random unit vectors of --dim dimensions, sparse
vectors of 20-40 Zipf-distributed terms, ~500 characters of payload text; 10 chunks a
document, spread over 9 languages and 3 kinds) are written through the `DocumentStore`, as
an ingest would, then searched with random queries: dense, sparse and hybrid, with no filter,
with `kind=code` (1 in 3 chunks) and with `language=de` (1 in 9). The figures are the store's
alone: query vectors are made before the clock starts. Qdrant Edge builds its HNSW index
(`ragindex optimize`) before searching; its build time is reported. qdrant-client's local mode
(the contract path without a server) is a pure-Python stand-in for a server, brute force by
design: it runs only at 10k chunks, and its figures say nothing about a real Qdrant server.

Query embedding is measured on its own: the embedded default's model, one query at a time.

Load part: N threads search through the Python API (`Index.search`, query embedding included)
for a fixed time each, against the Edge collection of --load-size chunks built with the
embedded default's model name and dimension, so `Index.open` accepts it.
Figures go to bench/out/search_latency.json; plots to bench/plots/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import AsyncQdrantClient

from ragindex import Index, Settings, sparse
from ragindex.embedding.local import MODEL_NAME, LocalEmbedder
from ragindex.store.documents import DocumentStore
from ragindex.store.edge import EdgeBackend
from ragindex.store.server import QdrantClientBackend
from ragindex.types import (
    Chunk,
    CollectionSpec,
    EmbeddedChunk,
    Filters,
    ManifestRecord,
    SparseVector,
)

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PLOTS = REPO / "bench" / "plots"
LANGUAGES = ["en", "de", "es", "fr", "zh", "ja", "pt", "it", "ru"]
KINDS = ["code", "text", "pdf"]
CHUNKS_PER_DOCUMENT = 10
DOCUMENTS_PER_CALL = 50
VOCABULARY = 200_000
FILTERS = {
    "none": Filters(),
    "kind=code": Filters(kind="code"),
    "language=de": Filters(language="de"),
}
MODES = ("dense", "sparse", "hybrid")
CLIENT_LOCAL_MAX = 10_000
FILLER = ("lorem ipsum dolor sit amet consectetur adipiscing elit " * 10)[:500]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def unit_rows(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((count, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def sparse_vector(rng: np.random.Generator, terms: int) -> SparseVector:
    ids = np.unique(rng.zipf(1.3, terms) % VOCABULARY)
    weights = rng.uniform(0.2, 2.0, len(ids))
    return SparseVector(tuple(int(i) for i in ids), tuple(float(w) for w in weights))


# --- building a collection ------------------------------------------------------------------
async def fill(store: DocumentStore, size: int, dim: int, seed: int = 0) -> float:
    """Write `size` synthetic chunks as an ingest would (upsert, then commit); seconds taken."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    documents = size // CHUNKS_PER_DOCUMENT
    for first in range(0, documents, DOCUMENTS_PER_CALL):
        batch = []
        for number in range(first, min(first + DOCUMENTS_PER_CALL, documents)):
            language = LANGUAGES[number % len(LANGUAGES)]
            kind = KINDS[number % len(KINDS)]
            source = f"/synthetic/{language}/{kind}/doc{number}.txt"
            record = ManifestRecord(
                source, f"{number:064x}", CHUNKS_PER_DOCUMENT, 0.0, 5000, kind, language, "plain"
            )
            dense = unit_rows(rng, CHUNKS_PER_DOCUMENT, dim)
            chunks = [
                EmbeddedChunk(
                    chunk=Chunk(source, index, FILLER, 0, 500, 120, 1, 10),
                    dense=dense[index],
                    sparse=sparse_vector(rng, int(rng.integers(20, 41))),
                )
                for index in range(CHUNKS_PER_DOCUMENT)
            ]
            batch.append((record, chunks))
        await store.upsert(batch)
        await store.commit([record for record, _ in batch])
    await store.finish_ingest(size)
    return time.perf_counter() - started


# --- timing searches --------------------------------------------------------------------------
async def time_searches(
    store: DocumentStore, dim: int, queries: int, seed: int = 1
) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    dense_queries = unit_rows(rng, queries, dim)
    sparse_queries = [sparse_vector(rng, 6) for _ in range(queries)]
    figures: dict[str, dict[str, float]] = {}
    for mode in MODES:
        for filter_name, filters in FILTERS.items():
            latencies: list[float] = []
            for number in range(queries):
                started = time.perf_counter()
                hits = await store.search(
                    dense=dense_queries[number] if mode != "sparse" else None,
                    sparse=sparse_queries[number] if mode != "dense" else None,
                    mode=mode,
                    filters=filters,
                    limit=10,
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if not hits and mode == "dense":
                    raise RuntimeError(f"no hits for a {mode} query with filter {filter_name}")
            figures[f"{mode}/{filter_name}"] = {
                "p50_ms": percentile(latencies, 50),
                "p95_ms": percentile(latencies, 95),
                "p99_ms": percentile(latencies, 99),
                "qps": 1000 / statistics.fmean(latencies),
            }
    return figures


def make_store(kind: str, folder: Path, collection: str) -> DocumentStore:
    if kind == "edge":
        return DocumentStore(EdgeBackend(folder, collection))
    path = str(folder / "qdrant-local")
    backend = QdrantClientBackend(AsyncQdrantClient(path=path), collection, location=path)
    return DocumentStore(backend, abandoned_after_s=0)


async def measure_store(
    kind: str, size: int, dim: int, folder: Path, queries: int, *, build_index: bool = True
) -> dict[str, Any]:
    spec = CollectionSpec(model=MODEL_NAME, dimension=dim, sparse_scheme=sparse.SCHEME)
    store = make_store(kind, folder, "ragindex")
    await store.create_or_check(spec)
    fill_s = await fill(store, size, dim)
    started = time.perf_counter()
    if build_index:
        await store.optimize()
    optimize_s = time.perf_counter() - started if build_index else None
    searches = await time_searches(store, dim, queries)
    await store.close()
    return {
        "store": kind,
        "size": size,
        "dim": dim,
        "fill_s": fill_s,
        "optimize_s": optimize_s,
        "searches": searches,
    }


def measure_query_embedding(count: int = 100) -> dict[str, float]:
    embedder = LocalEmbedder(threads=1)
    texts = [f"how do I configure feature number {i} of the router?" for i in range(count)]

    async def run() -> list[float]:
        await embedder.embed_query("warm-up", task="")
        latencies = []
        for text in texts:
            started = time.perf_counter()
            await embedder.embed_query(text, task="")
            latencies.append((time.perf_counter() - started) * 1000)
        await embedder.aclose()
        return latencies

    latencies = asyncio.run(run())
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


# --- load through the Python API -------------------------------------------------------------
def load_test(home: Path, threads: list[int], seconds: float, mode: str) -> list[dict[str, float]]:
    results = []
    queries = [f"error handling in function number {i} of the parser" for i in range(1000)]
    with Index.open(Settings.load(home=home)) as index:
        index.search("warm-up", k=10, mode=mode)  # type: ignore[arg-type]
        for count in threads:
            latencies: list[list[float]] = [[] for _ in range(count)]
            stop_at = time.perf_counter() + seconds
            workers = [
                threading.Thread(
                    target=_search_until,
                    args=(index, queries[slot::count], mode, stop_at, latencies[slot]),
                )
                for slot in range(count)
            ]
            begun = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - begun
            flat = [value for per_thread in latencies for value in per_thread]
            results.append(
                {
                    "threads": count,
                    "mode": mode,
                    "queries": len(flat),
                    "qps": len(flat) / elapsed,
                    "p50_ms": percentile(flat, 50),
                    "p99_ms": percentile(flat, 99),
                }
            )
            print(
                f"  load {mode:<6} {count:>2} threads: {len(flat) / elapsed:7.1f} q/s, "
                f"p50 {percentile(flat, 50):7.1f} ms, p99 {percentile(flat, 99):7.1f} ms",
                flush=True,
            )
    return results


def _search_until(
    index: Index, queries: list[str], mode: str, stop_at: float, latencies: list[float]
) -> None:
    number = 0
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        index.search(queries[number % len(queries)], k=10, mode=mode)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - started) * 1000)
        number += 1


# --- plots -------------------------------------------------------------------------------
def plot(results: list[dict[str, Any]], load: list[dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, percentile_name in zip(axes, ("p50_ms", "p99_ms"), strict=True):
        for store in sorted({result["store"] for result in results}):
            for mode in MODES:
                rows = [r for r in results if r["store"] == store]
                axis.plot(
                    [r["size"] for r in rows],
                    [r["searches"][f"{mode}/none"][percentile_name] for r in rows],
                    "o-" if store == "edge" else "s--",
                    label=f"{store} {mode}",
                )
        axis.set(
            xscale="log",
            yscale="log",
            xlabel="chunks in the collection",
            ylabel=f"{percentile_name[:3]} ms",
            title=f"search latency ({percentile_name[:3]}), no filter",
        )
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(PLOTS / "search_latency.png", dpi=110)
    if load:
        figure, axis = plt.subplots(figsize=(6, 4))
        for mode in sorted({row["mode"] for row in load}):
            rows = [row for row in load if row["mode"] == mode]
            axis.plot(
                [r["threads"] for r in rows], [r["p99_ms"] for r in rows], "o-", label=f"{mode} p99"
            )
            axis.plot(
                [r["threads"] for r in rows],
                [r["p50_ms"] for r in rows],
                "s--",
                label=f"{mode} p50",
            )
        axis.set(
            xscale="log",
            xlabel="concurrent searchers",
            ylabel="ms",
            title="Index.search under load",
        )
        axis.legend()
        figure.tight_layout()
        figure.savefig(PLOTS / "search_load.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--stores", default="edge,qdrant-client")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--hnsw-max",
        type=int,
        default=10**9,
        help="build the HNSW index only up to this size; larger collections are searched exactly",
    )
    parser.add_argument("--load-size", type=int, default=100_000, help="0: no load test")
    parser.add_argument("--threads", default="1,2,4,8,16")
    parser.add_argument("--seconds", type=float, default=8.0, help="per load step")
    parser.add_argument("--json", type=Path, default=OUT / "search_latency.json")
    arguments = parser.parse_args()
    print(f"$ python bench/search_latency.py {' '.join(sys.argv[1:])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    workdir = OUT / "search-latency"
    results: list[dict[str, Any]] = []
    report: dict[str, Any] = {"stores": results}
    report["query_embedding_local"] = embedding = measure_query_embedding()
    print(
        f"query embedding (local model, 1 thread): p50 {embedding['p50_ms']:.1f} ms, "
        f"p99 {embedding['p99_ms']:.1f} ms",
        flush=True,
    )
    for size in (int(value) for value in arguments.sizes.split(",")):
        for kind in arguments.stores.split(","):
            if kind == "qdrant-client" and size > CLIENT_LOCAL_MAX:
                continue
            shutil.rmtree(workdir, ignore_errors=True)
            result = asyncio.run(
                measure_store(
                    kind,
                    size,
                    arguments.dim,
                    workdir,
                    arguments.queries,
                    build_index=size <= arguments.hnsw_max,
                )
            )
            results.append(result)
            print(
                f"{kind} {size:,} chunks x {arguments.dim}d: written in {result['fill_s']:.1f} s, "
                + (
                    f"index built in {result['optimize_s']:.1f} s"
                    if result["optimize_s"] is not None
                    else "no HNSW index built (exact search)"
                ),
                flush=True,
            )
            for name, figures in result["searches"].items():
                print(
                    f"  {name:<20} p50 {figures['p50_ms']:7.2f} ms  "
                    f"p95 {figures['p95_ms']:7.2f} ms  p99 {figures['p99_ms']:7.2f} ms  "
                    f"{figures['qps']:8.1f} q/s",
                    flush=True,
                )
    shutil.rmtree(workdir, ignore_errors=True)
    load: list[dict[str, float]] = []
    if arguments.load_size:
        home = OUT / "search-load"
        shutil.rmtree(home, ignore_errors=True)
        asyncio.run(measure_store("edge", arguments.load_size, 512, home, queries=1))
        threads = [int(value) for value in arguments.threads.split(",")]
        print(f"load test on {arguments.load_size:,} chunks through Index.search:", flush=True)
        for mode in ("hybrid", "sparse"):
            load.extend(load_test(home, threads, arguments.seconds, mode))
        shutil.rmtree(home, ignore_errors=True)
    report["load"] = load
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(json.dumps(report, indent=2))
    plot(results, load)
    print(f"figures: {arguments.json}; plots: {PLOTS}/search_latency.png, search_load.png")


if __name__ == "__main__":
    main()
