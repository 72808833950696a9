"""Large ingests read and chunk in worker processes; that must work from any script."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ragindex import Index, Settings
from ragindex.chunking import ChunkingPolicy
from ragindex.discovery import Candidate, Discovery
from ragindex.preparing import PrepareSpec
from ragindex.types import SparseVector
from ragindex.workers import ReadingPool


def big_folder(root: Path, files: int) -> Path:
    root.mkdir()
    for i in range(files):
        (root / f"module_{i:03}.py").write_text(
            f'"""Module {i}."""\n\n\ndef function_{i}(value):\n    return value * {i}\n',
            encoding="utf-8",
        )
    return root


def test_large_ingests_use_processes_small_ones_threads(tmp_path: Path) -> None:
    folder = big_folder(tmp_path / "big", 80)
    discovery = Discovery(max_bytes=10**6, excludes=[], follow_symlinks=False, portable=False)
    candidates = [c for c in discovery.walk(folder) if isinstance(c, Candidate)]
    spec = PrepareSpec(
        "use-m3-sentencepiece",
        ChunkingPolicy(256, 32, 1024),
        max_pdf_pages=10,
        file_timeout_s=30,
        max_unpacked_bytes=10**8,
    )
    large = ReadingPool(spec, candidates, 2, private=str(tmp_path / "store"))
    small = ReadingPool(spec, candidates[:5], 2, private=str(tmp_path / "store"))
    try:
        assert large.processes and not small.processes
    finally:
        large.close()
        small.close()


def test_a_script_without_a_main_guard_can_ingest_a_large_folder(tmp_path: Path) -> None:
    folder = big_folder(tmp_path / "big", 80)
    script = tmp_path / "plain_script.py"
    script.write_text(
        textwrap.dedent(f"""
        from ragindex import Index, Settings
        with Index.open(Settings(home={str(tmp_path / "home")!r})) as index:
            report = index.ingest([{str(folder)!r}])
        print(len(report.indexed), len(report.failed))
    """),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["80", "0"]  # printed once: no worker re-ran the script


def test_processes_and_threads_give_the_same_index(tmp_path: Path) -> None:
    folder = big_folder(tmp_path / "big", 80)
    with Index.open(Settings.load(home=tmp_path / "a")) as index:
        index.ingest([folder])  # 80 files: processes
        in_processes = [(r.source, r.sha256, r.chunks) for r in index.documents()]
    with Index.open(Settings.load(home=tmp_path / "b")) as index:
        for path in sorted(folder.iterdir()):
            index.ingest([path])  # one file at a time: threads
        one_by_one = [(r.source, r.sha256, r.chunks) for r in index.documents()]
    assert in_processes == one_by_one and len(in_processes) == 80


@dataclass(frozen=True, slots=True)
class Wider(SparseVector):
    """A subclass: its own fields come after the inherited ones, and must come back there."""

    weight: float = 1.0


def test_what_crosses_between_processes_comes_back_whole(tmp_path: Path) -> None:
    """Chunks, sparse vectors, records, files and points pickle by their fields in order
    (`ragindex.picklable`): every field, optional ones set, must come back equal."""
    import pickle

    import numpy as np

    from ragindex.store.points import Point, SparseValues
    from ragindex.types import Chunk, ManifestRecord

    big_folder(tmp_path / "one", 1)
    discovery = Discovery(max_bytes=10**6, excludes=[], follow_symlinks=False, portable=False)
    (candidate,) = [c for c in discovery.walk(tmp_path / "one") if isinstance(c, Candidate)]
    values = [
        candidate,
        Chunk("/a.pdf", 2, "text", 5, 9, 1, 3, 4, page=7, heading="Intro", location="slide 2"),
        SparseVector((1, 5), (0.5, 0.25)),
        ManifestRecord("/a.pdf", "ab" * 32, 3, 1.5, 99, "document", "en", "pdf", "recipe"),
    ]
    for value in values:
        assert pickle.loads(pickle.dumps(value)) == value

    assert pickle.loads(pickle.dumps(Wider((1,), (0.5,), 2.0))) == Wider((1,), (0.5,), 2.0)
    point = Point("id", {"k": [1, 2]}, np.arange(4, dtype=np.float32), SparseValues([3], [0.5]))
    again = pickle.loads(pickle.dumps(point))
    assert (again.id, again.payload, again.sparse) == (point.id, point.payload, point.sparse)
    assert again.dense is not None and np.array_equal(again.dense, np.arange(4))
