"""Ingest at scale: cores (taskset), several embedding replicas, and a real GPU.

    python bench/scaling.py cores    [--cores 1,2,4,8,16] [--pipelines ragindex,langchain]
    python bench/scaling.py replicas [--replicas 1,4] [--profile h100]
    python bench/scaling.py gpu      [--pipelines ragindex,langchain,tutorial]

Each ingest runs in a fresh process (`_ingest`, below) under `taskset`, so `default_workers()`
sees the cores it was given, and its peak memory is its own: the ingest process's `ru_maxrss`,
and the peak of its process tree's summed RSS, sampled every 50 ms (forked workers share pages
with the parent, so the tree figure counts those once per process: an upper bound). Imports
happen before the clock starts; the clock runs from the pipeline's first call to its store
closed, as in `bench/ingest_throughput.py`, whose pipelines these are.

- `cores`: the SGLang stand-in (`tests/sglang_standin.py`) at the ceiling profile (no compute
  cost: the client's own limit), `--servers` of them, pinned to the cores the ingest is not
  given while there are any (at 16 of 16 they share). Tokens/s as the servers counted them.
- `replicas`: stand-ins with the h100 profile (60,000 tokens/s, 4 ms a step, 16,384 tokens a
  batch), N of them listed in `RAGINDEX_EMBED_URL`, or one with N times the capacity
  (`--one-big`). Fleet utilization = the servers' busy time summed / (N x wall).
  `--tokens-per-s` scales each stand-in down (same step and batch) for a client that cannot
  feed the full profile (a two-core machine: 10,000); `--srcs A,B --repeat 3` alternates
  checkouts in one window of time; `--timeline DIR` keeps every step of every stand-in and
  every request of the client (replica, sent, answered, its limit then) and prints where the
  servers' idle time went (before their first step, between steps, after their last).
- `gpu`: `bench/gpu_server.py` (a real forward pass on the GPU), one server for every pipeline
  in turn; utilization = the GPU's busy time (CUDA events) / wall.

`--copies N` ingests N copies of the corpus (one folder each), for runs long enough that
start-up does not dominate. `--src DIR` runs ragindex from another checkout (a before/after
comparison in one run). Figures go to `--json`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "code"


# --- servers --------------------------------------------------------------------------------
class Server:
    """One embedding server in its own process; its first stdout line is `{"url": ...}`."""

    def __init__(self, command: list[str], cpus: list[int] | None, env: dict[str, str]) -> None:
        if cpus:
            command = ["taskset", "-c", ",".join(map(str, cpus)), *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first:
            raise RuntimeError(f"the server did not start: {' '.join(command)}")
        self.info = json.loads(first)
        self.url: str = self.info["url"]
        # the stand-in prints a line a second: drained, or its pipe fills and it blocks
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def stats(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as response:
            stats: dict[str, float] = json.loads(response.read())
            return stats

    def timeline(self) -> dict[str, list[Any]]:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/timeline") as response:
            timeline: dict[str, list[Any]] = json.loads(response.read())
            return timeline

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def standin(
    tokens_per_s: float | None, step_s: float, batch_tokens: int, cpus: list[int] | None
) -> Server:
    command = [
        sys.executable,
        str(BENCH / "scaling.py"),
        "_serve",
        "--batch-tokens",
        str(batch_tokens),
        "--step-s",
        str(step_s),
    ]
    if tokens_per_s is not None:
        command += ["--tokens-per-s", str(tokens_per_s)]
    return Server(command, cpus, dict(os.environ))


def serve_standin(arguments: argparse.Namespace) -> None:
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from sglang_standin import Profile, StandIn

    profile = Profile(arguments.tokens_per_s, arguments.step_s, arguments.batch_tokens)
    server = StandIn(profile=profile).start(0)
    print(json.dumps({"url": server.url}), flush=True)
    while True:
        time.sleep(3600)


# --- one ingest, in its own process -----------------------------------------------------------
def ingest_once(arguments: argparse.Namespace) -> None:
    sys.path.insert(0, arguments.src or str(REPO))
    sys.path.insert(0, str(BENCH))
    from ingest_throughput import PIPELINES

    if arguments.pipeline == "ragindex":
        import ragindex.api  # noqa: F401  (imports before the clock)

        if batch := os.environ.get("BENCH_WRITE_BATCH"):  # an experiment: points per store call
            from ragindex.store.documents import DocumentStore

            DocumentStore.__init__.__kwdefaults__["write_batch"] = int(batch)
        if arguments.trace:
            _trace_requests(Path(arguments.trace))
    elif arguments.pipeline in ("langchain", "tutorial"):
        import langchain_openai  # noqa: F401
        import langchain_qdrant  # noqa: F401
        import qdrant_client  # noqa: F401
    workdir = Path(tempfile.mkdtemp(prefix=f"scale-{arguments.pipeline}-"))
    try:
        started = time.perf_counter()
        chunks = PIPELINES[arguments.pipeline](Path(arguments.corpus), arguments.url, workdir)
        ended = time.perf_counter()
        seconds = ended - started
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "started_at": started,  # CLOCK_MONOTONIC, as the stand-ins' timelines
                "ended_at": ended,
                "chunks": chunks,
                "peak_rss_parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "workers": len(os.sched_getaffinity(0)),
            }
        ),
        flush=True,
    )


def _trace_requests(path: Path) -> None:
    """Record every embeddings request (replica, when it was asked for, sent, answered; the
    replica's limit and requests in flight then), written to `path` when the process exits."""
    import atexit

    from ragindex.embedding import http, limiter, sending

    events: list[tuple[int, float, float, float, float, int]] = []
    replicas: dict[int, int] = {}
    original = sending.limited

    async def traced(gate: limiter.AdaptiveLimiter, call: Any, **options: Any) -> Any:
        replica = replicas.setdefault(id(gate), len(replicas))
        asked = time.perf_counter()
        result, latency = await original(gate, call, **options)
        answered = time.perf_counter()
        events.append((replica, asked, answered - latency, answered, gate.limit, gate.in_flight))
        return result, latency

    http.limited = traced  # type: ignore[attr-defined]
    names = ("replica", "asked", "sent", "answered", "limit", "in_flight")

    def write() -> None:
        path.write_text(json.dumps([dict(zip(names, event, strict=True)) for event in events]))

    atexit.register(write)


def run_ingest(
    pipeline: str,
    corpus: Path,
    servers: list[Server],
    cpus: list[int] | None,
    *,
    src: str | None = None,
    py_spy: Path | None = None,
    trace: Path | None = None,
) -> dict[str, Any]:
    """One pipeline in a fresh process on `cpus`; its figures and the servers' counters."""
    if pipeline != "ragindex":
        servers = servers[:1]  # the peers take one base URL
    before = [server.stats() for server in servers]
    cpu_before = [server.cpu_seconds() for server in servers]
    command = [
        sys.executable,
        str(BENCH / "scaling.py"),
        "_ingest",
        "--pipeline",
        pipeline,
        "--corpus",
        str(corpus),
        "--url",
        ",".join(server.url for server in servers),
    ]
    if src:
        command += ["--src", src]
    if trace is not None:
        command += ["--trace", str(trace)]
    if py_spy is not None:
        # every thread of the ingest process that holds the GIL, sampled: what binds the parent
        command = [
            "py-spy",
            "record",
            "--gil",
            "--nonblocking",  # without it py-spy pauses the process at every sample
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(py_spy),
            "--",
            *command,
        ]
    if cpus:
        command = ["taskset", "-c", ",".join(map(str, cpus)), *command]
    # output to files: a pipe nobody reads while the run goes on could fill and block it
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=REPO)
        peak_tree = _peak_tree_rss(process)
        process.wait()
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{pipeline} failed:\n{stderr[-4000:]}")
    # the last JSON line (py-spy prints its own lines after the child's)
    last = [line for line in stdout.splitlines() if line.startswith("{")][-1]
    result: dict[str, Any] = json.loads(last)
    if not result["chunks"]:
        raise RuntimeError(f"{pipeline} indexed nothing from {corpus} (an ignored folder?)")
    after = [server.stats() for server in servers]
    result["pipeline"] = pipeline
    result["peak_rss_tree_mb"] = peak_tree / 2**20
    result["tokens"] = sum(a["tokens"] - b["tokens"] for a, b in zip(after, before, strict=True))
    result["busy_seconds"] = sum(
        a["busy_seconds"] - b["busy_seconds"] for a, b in zip(after, before, strict=True)
    )
    result["tokens_per_s"] = result["tokens"] / result["seconds"]
    result["chunks_per_s"] = result["chunks"] / result["seconds"]
    result["server_cpu_share"] = max(
        (server.cpu_seconds() - b) / result["seconds"]
        for server, b in zip(servers, cpu_before, strict=True)
    )
    return result


def _peak_tree_rss(process: subprocess.Popen[str]) -> int:
    """The peak of the summed RSS of a process and its descendants, sampled from outside (a
    sampler inside would take the GIL the ingest needs) until the process exits."""
    import psutil

    peak = 0
    root = psutil.Process(process.pid)
    while process.poll() is None:
        total = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for member in members:
            with contextlib.suppress(psutil.Error):
                total += member.memory_info().rss
        peak = max(peak, total)
        time.sleep(0.1)
    return peak


# --- the corpus -----------------------------------------------------------------------------
def corpus_of(corpus: Path, copies: int, scratch: Path) -> Path:
    if copies <= 1:
        return corpus
    folder = scratch / f"corpus-x{copies}"
    if not folder.exists():
        for copy in range(copies):
            shutil.copytree(corpus, folder / f"copy{copy}")
    return folder


# --- the three benchmarks ---------------------------------------------------------------------
def bench_cores(arguments: argparse.Namespace, corpus: Path) -> list[dict[str, Any]]:
    total = len(os.sched_getaffinity(0))
    rows = []
    for cores in [int(n) for n in arguments.cores.split(",")]:
        ingest_cpus = list(range(min(cores, total)))
        spare = [cpu for cpu in range(total) if cpu not in ingest_cpus]
        server_cpus = spare[-arguments.servers :] if spare else None
        servers = [standin(None, 0.0, 1 << 30, server_cpus) for _ in range(arguments.servers)]
        try:
            for src in arguments.srcs.split(",") if arguments.srcs else [None]:
                for pipeline in arguments.pipelines.split(","):
                    spy = None
                    if arguments.py_spy and pipeline == "ragindex" and cores == total:
                        spy = Path(arguments.py_spy)
                    row = run_ingest(pipeline, corpus, servers, ingest_cpus, src=src, py_spy=spy)
                    row.update(
                        cores=cores,
                        src=src or "this checkout",
                        servers_pinned=server_cpus is not None,
                    )
                    rows.append(row)
                    _print_row(row)
        finally:
            for server in servers:
                server.stop()
    return rows


def bench_replicas(arguments: argparse.Namespace, corpus: Path) -> list[dict[str, Any]]:
    profiles = {"h100": (60_000.0, 0.004, 16_384)}
    rate, step, batch = profiles[arguments.profile]
    rate = arguments.tokens_per_s or rate
    total = len(os.sched_getaffinity(0))
    timeline = Path(arguments.timeline) if arguments.timeline else None
    if timeline:
        timeline.mkdir(parents=True, exist_ok=True)
    rows = []
    # --repeat and --srcs alternate in one window of time: before/after on a shared machine
    for repeat in range(arguments.repeat):
        for count in [int(n) for n in arguments.replicas.split(",")]:
            layouts = [("separate", count)] + (
                [("one-big", count)] if arguments.one_big and count > 1 else []
            )
            for layout, n in layouts:
                for src in arguments.srcs.split(",") if arguments.srcs else [None]:
                    if layout == "separate":
                        servers = [standin(rate, step, batch, None) for _ in range(n)]
                    else:
                        servers = [standin(rate * n, step, batch * n, None)]
                    try:
                        for pipeline in arguments.pipelines.split(","):
                            name = f"{repeat}-{n}-{layout}-{pipeline}-{Path(src or 'this').name}"
                            trace = timeline / f"{name}.requests.json" if timeline else None
                            row = run_ingest(
                                pipeline, corpus, servers, list(range(total)), src=src, trace=trace
                            )
                            row.update(
                                replicas=n,
                                layout=layout,
                                src=src or "this checkout",
                                utilization=row["busy_seconds"] / (len(servers) * row["seconds"]),
                            )
                            if timeline:
                                steps = [server.timeline()["steps"] for server in servers]
                                row["idle"] = idle_gaps(steps, row["started_at"], row["ended_at"])
                                (timeline / f"{name}.steps.json").write_text(json.dumps(steps))
                            rows.append(row)
                            _print_row(row)
                    finally:
                        for server in servers:
                            server.stop()
    return rows


def idle_gaps(
    servers_steps: list[list[list[float]]], started: float, ended: float
) -> dict[str, float]:
    """Where each server's idle time went, summed over the servers, in seconds: before its
    first step (start-up), between steps, after its last step (the end of the run)."""
    idle = {"start": 0.0, "between": 0.0, "end": 0.0}
    for steps in servers_steps:
        run = [(begin, begin + cost) for begin, cost, *_ in steps if started <= begin <= ended]
        if not run:
            idle["start"] += ended - started
            continue
        idle["start"] += run[0][0] - started
        idle["end"] += max(0.0, ended - run[-1][1])
        idle["between"] += sum(
            max(0.0, begin - previous_end)
            for (_, previous_end), (begin, _) in itertools.pairwise(run)
        )
    return idle


def bench_gpu(arguments: argparse.Namespace, corpus: Path) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        str(BENCH / "gpu_server.py"),
        "--batch-tokens",
        str(arguments.batch_tokens),
        "--device",
        arguments.device,
    ]
    if arguments.tiny:
        command.append("--tiny")
    server = Server(command, None, dict(os.environ))
    print(f"GPU server: {server.info}", flush=True)
    rows = []
    try:
        for pipeline in arguments.pipelines.split(","):
            row = run_ingest(pipeline, corpus, [server], None)
            stats = server.stats()
            row.update(
                utilization=row["busy_seconds"] / row["seconds"],
                capacity_tokens_per_s=server.info["capacity_tokens_per_s"],
                padded_tokens=stats["padded_tokens"],
                server_tokens=stats["tokens"],
            )
            rows.append(row)
            _print_row(row)
    finally:
        server.stop()
    return rows


def _print_row(row: dict[str, Any]) -> None:
    where = " ".join(
        f"{key}={row[key]}" for key in ("cores", "replicas", "layout", "src") if key in row
    )
    utilization = f" util {row['utilization']:.3f}" if "utilization" in row else ""
    if "idle" in row:
        utilization += (
            " (idle s: " + ", ".join(f"{k} {v:.2f}" for k, v in row["idle"].items()) + ")"
        )
    print(
        f"{where} {row['pipeline']}: {row['seconds']:.2f} s, {row['chunks']} chunks, "
        f"{row['tokens_per_s']:,.0f} tokens/s{utilization}, peak RSS parent "
        f"{row['peak_rss_parent_mb']:.0f} MB / tree {row['peak_rss_tree_mb']:.0f} MB, "
        f"server CPU {row['server_cpu_share']:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["cores", "replicas", "gpu", "_ingest", "_serve"])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--pipelines", default="ragindex")
    parser.add_argument("--cores", default="1,2,4,8,16")
    parser.add_argument("--servers", type=int, default=1, help="stand-ins for `cores`")
    parser.add_argument("--srcs", default="", help="ragindex checkouts to compare, comma-separated")
    parser.add_argument("--py-spy", default="", help="raw py-spy profile of the widest run")
    parser.add_argument("--replicas", default="1,4")
    parser.add_argument("--profile", default="h100")
    parser.add_argument("--one-big", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="replicas: rounds, alternated")
    parser.add_argument("--timeline", default="", help="replicas: folder for the timelines")
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--json", type=Path)
    # internal
    parser.add_argument("--pipeline")
    parser.add_argument("--url")
    parser.add_argument("--src")
    parser.add_argument("--trace", help="where to write the requests' timeline (JSON)")
    parser.add_argument(
        "--tokens-per-s",
        type=float,
        help="replicas: each stand-in's throughput instead of the profile's (a scaled-down "
        "profile, same step and batch shape, for a client that cannot feed the full one)",
    )
    parser.add_argument("--step-s", type=float, default=0.0)
    arguments = parser.parse_args()
    if arguments.mode == "_ingest":
        return ingest_once(arguments)
    if arguments.mode == "_serve":
        return serve_standin(arguments)
    print(
        f"$ python bench/scaling.py {' '.join(sys.argv[1:])}\nmachine: {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="scaling-") as scratch:
        corpus = corpus_of(arguments.corpus, arguments.copies, Path(scratch))
        rows = {"cores": bench_cores, "replicas": bench_replicas, "gpu": bench_gpu}[arguments.mode](
            arguments, corpus
        )
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
