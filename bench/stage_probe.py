"""Where an ingest waits: how busy each stage of the pipeline is, from inside one run.

    python bench/stage_probe.py ../shared/corpora/code [--cores 16]

Starts the SGLang stand-in at no cost (the ceiling profile of `bench/scaling.py`), runs one
ingest in this process with every stage's calls timed, and prints per stage: how many calls
were under way on average (against the most allowed), and the share of the run's wall time
with at least one under way. The stage that is always busy at its bound sets the pace; a stage
mostly idle below its bound is waiting on another one. Figures, not a test: nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

# loaded by the store engine's process (through PYTHONPATH): times its calls from inside
ENGINE_PROBE = """
import atexit, json, os, time
import ragindex.store.edge_engine as engine
totals = {}
original = engine.run_call
def run_call(shard, name, args):
    started = time.perf_counter()
    try:
        return original(shard, name, args)
    finally:
        calls, seconds = totals.get(name, (0, 0.0))
        totals[name] = (calls + 1, seconds + time.perf_counter() - started)
engine.run_call = run_call
atexit.register(lambda: open(os.environ["PROBE_ENGINE_OUT"], "w").write(json.dumps(totals)))
"""

# stage -> [(start, end)]
intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
# start-up steps (sync calls), by name -> (start, end) of their first call
startup: dict[str, tuple[float, float]] = {}


def marked(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            startup.setdefault(label, (started, time.perf_counter()))

    setattr(owner, name, wrapper)


def timed(owner: Any, name: str, stage: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            intervals[stage].append((started, time.perf_counter()))

    setattr(owner, name, wrapper)


def occupancy(spans: list[tuple[float, float]], start: float, end: float) -> tuple[float, float]:
    """Mean number under way over [start, end], and the share of it with at least one."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    level, last, area, busy = 0, start, 0.0, 0.0
    for moment, change in events:
        moment = min(max(moment, start), end)
        area += level * (moment - last)
        busy += (moment - last) if level > 0 else 0.0
        level, last = level + change, moment
    return area / (end - start), busy / (end - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval, seconds")
    parser.add_argument("--write-groups", type=int, help="an experiment: groups written at once")
    parser.add_argument("--queue", type=int, help="an experiment: documents between stages")
    arguments = parser.parse_args()
    if arguments.switch_interval:
        sys.setswitchinterval(arguments.switch_interval)

    import scaling
    from ingest_throughput import CHUNK_OVERLAP, CHUNK_TOKENS, MODEL

    import ragindex.api  # (imports before the clock)
    from ragindex import Index, Settings
    from ragindex.embedding.http import HttpEmbedder
    from ragindex.store.backend import Backend  # noqa: F401
    from ragindex.store.documents import DocumentStore
    from ragindex.store.edge import EdgeBackend
    from ragindex.workers import ReadingPool

    if arguments.write_groups:
        import dataclasses

        import ragindex.limits

        built = ragindex.limits.IngestLimits.from_settings

        def with_groups(settings: Settings) -> ragindex.limits.IngestLimits:
            return dataclasses.replace(
                built(settings), write_groups_in_flight=arguments.write_groups
            )

        ragindex.limits.IngestLimits.from_settings = with_groups  # type: ignore[method-assign]
    if arguments.queue:
        import ragindex.pipeline

        ragindex.pipeline._QUEUE = arguments.queue
    import ragindex.pipeline as pipeline
    import ragindex.walking as walking

    marked(walking.FolderWalk, "_walk", "walk the folders")
    marked(pipeline.IngestPipeline, "_plan", "plan")
    marked(pipeline, "finish_loading", "finish loading tokenizer and language model")
    marked(ReadingPool, "__init__", "make the reading pool")
    timed(ReadingPool, "prepare", "read (files in workers)")
    timed(HttpEmbedder, "embed_documents", "embed (windows at the server)")
    timed(DocumentStore, "upsert", "write: chunks")
    timed(DocumentStore, "commit", "write: commit")
    for call in ("upsert", "delete", "delete_where", "flush"):
        timed(EdgeBackend, call, f"engine call: {call}")

    server = scaling.standin(None, 0.0, 1 << 30, None)
    workdir = Path(tempfile.mkdtemp(prefix="stage-probe-"))
    (workdir / "sitecustomize.py").write_text(ENGINE_PROBE)
    engine_out = workdir / "engine.json"
    os.environ["PROBE_ENGINE_OUT"] = str(engine_out)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(workdir), os.environ.get("PYTHONPATH")])
    )
    try:
        settings = Settings(
            home=workdir / "ragindex",
            embed_url=server.url,
            embed_model=MODEL,
            chunk_tokens=CHUNK_TOKENS,
            chunk_overlap=CHUNK_OVERLAP,
        )
        started = time.perf_counter()
        with Index.open(settings) as index:
            opened = time.perf_counter()
            report = index.ingest([arguments.corpus])
            ingested = time.perf_counter()
        closed = time.perf_counter()
    finally:
        server.stop()
    workers = len(os.sched_getaffinity(0))
    print(
        f"{workers} cores: {report.chunks} chunks; open {opened - started:.2f} s, "
        f"ingest {ingested - opened:.2f} s, close {closed - ingested:.2f} s"
    )
    print("  start-up, from the index opened (s):")
    for label, (begun, ended) in sorted(startup.items(), key=lambda item: item[1][0]):
        print(f"    {label:46} {begun - opened:6.3f} -> {ended - opened:6.3f}")
    rows = {}
    for stage, spans in sorted(intervals.items()):
        mean, busy = occupancy(spans, opened, ingested)
        seconds = sum(e - s for s, e in spans)
        rows[stage] = {"calls": len(spans), "mean_under_way": mean, "busy_share": busy}
        print(
            f"  {stage:32} {len(spans):6} calls, {seconds / max(len(spans), 1) * 1000:8.2f} ms "
            f"each, {mean:6.2f} under way on average, busy {busy:6.1%} of the ingest, "
            f"first at {min(s for s, _ in spans) - opened:5.2f} s"
        )
    engine = json.loads(engine_out.read_text())
    busy = sum(seconds for _, seconds in engine.values())
    print(f"  the engine's process, busy {busy / (closed - started):.1%} of open-to-close:")
    for name, (calls, seconds) in sorted(engine.items(), key=lambda item: -item[1][1]):
        print(f"    {name:14} {calls:6} calls, {seconds * 1000 / calls:8.2f} ms each")
    if arguments.json:
        arguments.json.write_text(json.dumps({"workers": workers, "stages": rows}, indent=1))


if __name__ == "__main__":
    main()
