"""Peak memory of an ingest when the store is slower than the embedder.

    python bench/slow_store.py [CORPUS] [--delays 0,2] [--dim 1024]

The embedder is the SGLang stand-in with no pretend cost (vectors come back as fast as the
client asks), the store is the real embedded one with `--delays` seconds added to every write,
as a busy Qdrant server would take. A pipeline whose backpressure holds keeps the same peak
memory whatever the delay, and never more documents or embedding windows in flight than its
limits; one whose backpressure leaks keeps embedding ahead of the store and grows with the
corpus. Prints one line per delay; figures go to bench/out/slow_store.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
from ingest_throughput import Server

from ragindex import AsyncIndex, Settings
from ragindex.limits import IngestLimits
from ragindex.store.base import DocumentChunks

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "code"
OUT = REPO / "bench" / "out"


class DelayedStore:
    """The real store, each write `delay_s` slower."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def upsert(self, documents: Sequence[DocumentChunks]) -> None:
        await asyncio.sleep(self.delay_s)
        await self.inner.upsert(documents)


class PeakRss:
    """Samples the RSS of this process and its reading workers every 0.1 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.1):
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


async def ingest(corpus: Path, home: Path, url: str, dim: int, delay_s: float) -> dict[str, Any]:
    settings = Settings.load(home=home, embed_url=url, dim=dim)
    async with await AsyncIndex.open(settings) as index:
        index.store = DelayedStore(index.store, delay_s)  # type: ignore[assignment]
        with PeakRss() as rss:
            started = time.perf_counter()
            report = await index.ingest(corpus)
            seconds = time.perf_counter() - started
    limits = IngestLimits.from_settings(settings)
    return {
        "delay_s": delay_s,
        "seconds": round(seconds, 1),
        "documents": len(report.indexed),
        "chunks": report.chunks,
        "peak_rss_mb": round(rss.peak / 1e6),
        "peak_chunks_in_flight": report.peak_chunks_in_flight,
        "chunks_bound": limits.chunks_in_flight,
        "peak_windows_in_flight": report.peak_windows_in_flight,
        "windows_bound": limits.windows_in_flight,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--delays", default="0,2", help="seconds added to every store write")
    parser.add_argument("--dim", type=int, default=1024)
    arguments = parser.parse_args()
    print(f"$ python bench/slow_store.py {' '.join(sys.argv[1:])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}"
    )
    server = Server("ceiling")
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="ragindex-slow-store-") as workdir:
            for delay in (float(value) for value in arguments.delays.split(",")):
                home = Path(workdir) / f"home-{delay:g}"
                run = asyncio.run(ingest(arguments.corpus, home, server.url, arguments.dim, delay))
                runs.append(run)
                print(json.dumps(run), flush=True)
    finally:
        server.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "slow_store.json").write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
