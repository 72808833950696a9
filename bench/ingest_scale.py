"""Ingest time and peak memory against corpus size, on the embedded default.

    python bench/ingest_scale.py [CORPUS] [--sizes 10,50,all] [--embed-url URL]

For each size it builds a subset of CORPUS (files drawn in a fixed pseudo-random order until the
subset reaches that many MB, so every subset has the corpus's mix of PDFs, HTML, Markdown, code and
prose; hard links, nothing copied), runs `ragindex ingest SUBSET --json` into a fresh index home,
and samples the resident memory of the whole process tree (the ingest process and its reading
workers) every 0.2 s. It then runs the same command again, with nothing changed, and times that.
Without --embed-url the embedded default runs (Qdrant Edge + the in-process model); the figures
are then bounded by the model on one CPU thread.
Figures go to bench/out/ingest_scale.json and the plot to bench/plots/ingest_memory.png.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora"
OUT = REPO / "bench" / "out"
PLOTS = REPO / "bench" / "plots"
SAMPLE_EVERY_S = 0.2


@dataclass
class Run:
    label: str
    files: int
    megabytes: float
    seconds: float
    chunks: int
    tokens: int
    skipped: int
    failed: int
    peak_rss_mb: float
    peak_main_rss_mb: float
    store_rss_mb: float  # a fresh process that opens the finished index and searches it once
    reingest_seconds: float


def corpus_files(corpus: Path) -> list[Path]:
    files = [path for path in corpus.rglob("*") if path.is_file() and not path.is_symlink()]
    # A stable shuffle: every subset is a sample of the whole mix, and the 10 MB subset is
    # contained in the 50 MB one.
    return sorted(files, key=lambda path: hashlib.sha1(str(path).encode()).hexdigest())


def build_subset(corpus: Path, megabytes: float | None, into: Path) -> tuple[int, float]:
    shutil.rmtree(into, ignore_errors=True)
    total = 0
    count = 0
    for path in corpus_files(corpus):
        if megabytes is not None and total >= megabytes * 1e6:
            break
        target = into / path.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
        total += path.stat().st_size
        count += 1
    return count, total / 1e6


def tree_rss(process: psutil.Process) -> tuple[int, int]:
    """(RSS of the process and all its descendants, RSS of the process alone)."""
    try:
        main = process.memory_info().rss
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    total = main
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total, main


def ingest(subset: Path, env: dict[str, str]) -> tuple[dict[str, object], float, int, int]:
    command = [sys.executable, "-m", "ragindex.cli", "ingest", str(subset), "--json"]
    output_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 (a pipe would fill up and stall)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=output_file, text=True)
    watched = psutil.Process(process.pid)
    peak_tree = peak_main = 0
    while process.poll() is None:
        total, main = tree_rss(watched)
        peak_tree, peak_main = max(peak_tree, total), max(peak_main, main)
        time.sleep(SAMPLE_EVERY_S)
    seconds = time.perf_counter() - started
    output_file.seek(0)
    output = output_file.read()
    output_file.close()
    if process.returncode not in (0, 1):  # 1: some files failed, reported in the JSON
        raise RuntimeError(f"ingest exited {process.returncode}")
    report: dict[str, object] = json.loads(output)
    return report, seconds, peak_tree, peak_main


FOOTPRINT = """
import sys, psutil
from ragindex import Index, Settings
with Index.open(Settings.load()) as index:
    index.search("how to configure the network", k=10, mode="sparse")
    print(psutil.Process().memory_info().rss)
"""


def store_footprint(env: dict[str, str]) -> int:
    """RSS of a process holding the finished index open: the store's share of the ingest's."""
    done = subprocess.run(
        [sys.executable, "-c", FOOTPRINT], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def measure(corpus: Path, size: str, workdir: Path, embed_url: str | None) -> Run:
    megabytes = None if size == "all" else float(size)
    subset = workdir / f"subset-{size}"
    files, actual_mb = build_subset(corpus, megabytes, subset)
    env = {**os.environ, "RAGINDEX_HOME": str(workdir / f"home-{size}")}
    env.pop("RAGINDEX_QDRANT_URL", None)
    if embed_url:
        env["RAGINDEX_EMBED_URL"] = embed_url
    else:
        env.pop("RAGINDEX_EMBED_URL", None)
    report, seconds, peak_tree, peak_main = ingest(subset, env)
    _, reingest_seconds, _, _ = ingest(subset, env)
    store_rss = store_footprint(env)
    shutil.rmtree(subset)
    return Run(
        label="all" if megabytes is None else f"{size} MB",
        files=files,
        megabytes=actual_mb,
        seconds=seconds,
        chunks=int(report["chunks"]),  # type: ignore[call-overload]
        tokens=int(report["tokens"]),  # type: ignore[call-overload]
        skipped=len(report["skipped"]),  # type: ignore[arg-type]
        failed=len(report["failed"]),  # type: ignore[arg-type]
        peak_rss_mb=peak_tree / 1e6,
        peak_main_rss_mb=peak_main / 1e6,
        store_rss_mb=store_rss / 1e6,
        reingest_seconds=reingest_seconds,
    )


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, speed) = plt.subplots(1, 2, figsize=(10, 4))
    sizes = [run.megabytes for run in runs]
    memory.plot(sizes, [run.peak_rss_mb for run in runs], "o-", label="process tree")
    memory.plot(sizes, [run.peak_main_rss_mb for run in runs], "s--", label="ingest process")
    memory.plot(sizes, [run.store_rss_mb for run in runs], "^:", label="index held open (store)")
    memory.set(xlabel="corpus MB", ylabel="peak RSS MB", title="memory vs corpus size")
    memory.set_ylim(bottom=0)
    memory.legend()
    speed.plot(sizes, [run.seconds for run in runs], "o-", label="first ingest")
    speed.plot(sizes, [run.reingest_seconds for run in runs], "s--", label="re-ingest, unchanged")
    speed.set(xlabel="corpus MB", ylabel="seconds", title="ingest time vs corpus size")
    speed.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--sizes", default="10,50,all", help="MB per subset, 'all' = everything")
    parser.add_argument(
        "--embed-url", help="an SGLang-compatible server instead of the local model"
    )
    parser.add_argument("--json", type=Path, default=OUT / "ingest_scale.json")
    parser.add_argument("--plot", type=Path, default=PLOTS / "ingest_memory.png")
    arguments = parser.parse_args()
    print(f"$ python bench/ingest_scale.py {' '.join(sys.argv[1:])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}; "
        f"embedder: {arguments.embed_url or 'embedded default (local model)'}"
    )
    runs: list[Run] = []
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ragindex-scale-", dir=OUT) as workdir:
        for size in arguments.sizes.split(","):
            run = measure(arguments.corpus, size, Path(workdir), arguments.embed_url)
            runs.append(run)
            print(
                f"{run.label:>7}: {run.files:5} files {run.megabytes:6.1f} MB -> "
                f"{run.chunks:6} chunks {run.tokens:10,} tokens in {run.seconds:7.1f} s "
                f"({run.chunks / run.seconds:6.1f} chunks/s, {run.tokens / run.seconds:7.0f} "
                f"tokens/s); peak RSS {run.peak_rss_mb:6.0f} MB tree, "
                f"{run.peak_main_rss_mb:6.0f} MB main, {run.store_rss_mb:6.0f} MB the index "
                f"held open; skipped {run.skipped}, failed "
                f"{run.failed}; re-ingest unchanged {run.reingest_seconds:5.2f} s",
                flush=True,
            )
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(json.dumps([asdict(run) for run in runs], indent=2))
    plot(runs, arguments.plot)
    print(f"figures: {arguments.json}; plot: {arguments.plot}")


if __name__ == "__main__":
    main()
