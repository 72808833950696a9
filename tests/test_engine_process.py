"""The embedded store's engine runs in a process of its own: what a user notices of it.

It must never be left behind (a script that forgets `close()`, a killed engine), must say so
when it is gone instead of hanging, and must keep what it acknowledged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from conftest import SAMPLE_CORPUS

from ragindex import Index, Settings, StoreError
from ragindex.store.edge import EdgeBackend


def _engine_of(index: Index) -> subprocess.Popen[bytes]:
    backend = index._core.store.backend
    assert isinstance(backend, EdgeBackend)
    return backend._engine._line.process


def test_a_killed_engine_is_an_error_that_says_so_and_keeps_what_it_acknowledged(
    settings: Settings,
) -> None:
    with Index.open(settings) as index:
        first = index.ingest([SAMPLE_CORPUS])
        engine = _engine_of(index)
        os.kill(engine.pid, signal.SIGKILL)  # as the OOM killer would
        engine.wait(timeout=10)
        assert engine.returncode == -signal.SIGKILL
        with pytest.raises(StoreError, match=r"engine .* stopped \(exit code -9\).*run the"):
            index.search("lantern", k=3)
    with Index.open(settings) as index:  # the next run finds every committed document
        assert index.stats()["documents"] == len(first.indexed)
        assert index.ingest([SAMPLE_CORPUS]).indexed == []  # nothing to redo


def test_a_script_that_never_closes_its_index_leaves_no_engine_behind(
    settings: Settings, tmp_path: Path
) -> None:
    script = tmp_path / "forgetful.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os
            from ragindex import Index, Settings

            index = Index.open(Settings(home={str(settings.home)!r}))
            index.ingest([{str(SAMPLE_CORPUS)!r}])
            print(os.getpid(), flush=True)
            """
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    )
    pid = int(done.stdout.split()[-1])
    leftovers = [
        process.pid
        for process in psutil.process_iter(["cmdline"])
        if "ragindex.store.edge_engine" in " ".join(process.info["cmdline"] or [])
        and str(settings.home) in " ".join(process.info["cmdline"] or [])
    ]
    assert leftovers == [], f"engine processes of {pid} still running: {leftovers}"
    with Index.open(settings) as index:  # not locked, and everything is there
        assert index.stats()["documents"] > 0
