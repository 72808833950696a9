"""Servers that misbehave during an ingest: the embedding server stalls, miscounts, returns NaN,
dies and comes back; the Qdrant side is unreachable or fails a write. Whatever happens, what is
in the index is right, and what is not is reported and redone by the next run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import write_mixed_corpus
from sglang_standin import Faults, StandIn

from ragindex import Index, Settings
from ragindex.errors import StoreError
from ragindex.store.documents import DocumentStore
from ragindex.types import IngestReport


def settings_for(tmp_path: Path, url: str, name: str = "home", **overrides: object) -> Settings:
    options: dict[str, object] = {
        "embed_max_inputs": 8,
        "embed_batch_tokens": 2048,
        "dim": 64,
        "embed_max_attempts": 12,
    }
    return Settings.load(home=tmp_path / name, embed_url=url, **{**options, **overrides})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mixed_corpus(tmp_path_factory.mktemp("faults") / "corpus", 60, pdfs=2, seed=3)


@pytest.fixture(scope="module")
def expected(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What the index holds after one run against a healthy server."""
    with StandIn() as clean:
        settings = settings_for(tmp_path_factory.mktemp("ref"), clean.url)
        report, _ = ingest(settings, folder)
    assert report.ok
    return contents_of(settings)


def ingest(settings: Settings, folder: Path) -> tuple[IngestReport, dict[str, float]]:
    """The report and the embedder's metrics (retries by kind) of one run."""
    with Index.open(settings) as index:
        report = index.ingest([folder])
        metrics: dict[str, float] = index.stats()["embedder"]
    return report, metrics


def contents_of(settings: Settings) -> dict[str, object]:
    """Documents and chunks of the index, and whether every chunk belongs to a document."""
    with Index.open(settings) as index:
        records = index.documents()
        chunks = index.stats()["chunks"]
    assert chunks == sum(record.chunks for record in records), "orphan or missing chunks"
    return {"sources": sorted(record.source for record in records), "chunks": chunks}


@pytest.mark.parametrize(
    ("faults", "overrides", "retried_as"),
    [
        # answers that come after the client's timeout
        (Faults(stall=0.15, stall_s=3.0), {"embed_timeout_s": 0.5}, "retries_timeout"),
        # one vector fewer than inputs: never matched up with the wrong chunks
        (Faults(wrong_count=0.2), {}, "retries_malformed"),
    ],
    ids=["stalls", "wrong-count"],
)
def test_transient_faults_are_retried_and_the_index_is_complete(
    tmp_path: Path,
    folder: Path,
    expected: dict[str, object],
    faults: Faults,
    overrides: dict[str, object],
    retried_as: str,
) -> None:
    with StandIn(faults=faults, seed=1) as faulty:
        settings = settings_for(tmp_path, faulty.url, **overrides)
        report, metrics = ingest(settings, folder)
    assert report.ok, report.failed
    assert contents_of(settings) == expected
    assert metrics[retried_as] > 0


def test_nan_vectors_are_refused_reported_and_redone_by_the_next_run(
    tmp_path: Path, folder: Path, expected: dict[str, object]
) -> None:
    with StandIn(faults=Faults(nan=0.2), seed=3) as broken:
        settings = settings_for(tmp_path, broken.url)
        report, _ = ingest(settings, folder)
    assert report.failed and not report.ok
    assert all("NaN" in reason for reason in report.failed.values()), report.failed
    # nothing of a refused document reached the index: no manifest record, no chunk
    assert not set(report.failed) & set(contents_of(settings)["sources"])  # type: ignore[arg-type]
    with StandIn() as healthy:
        again, _ = ingest(settings.model_copy(update={"embed_url": healthy.url}), folder)
    assert sorted(again.indexed) == sorted(report.failed)
    assert contents_of(settings) == expected


def test_a_server_that_dies_mid_run_and_comes_back(
    tmp_path: Path, folder: Path, expected: dict[str, object]
) -> None:
    server = StandIn(seed=4).start()
    port = server.port
    settings = settings_for(tmp_path, server.url)
    result: list[IngestReport] = []
    worker = threading.Thread(target=lambda: result.append(ingest(settings, folder)[0]))
    worker.start()
    deadline = time.monotonic() + 60
    while len(server.requests) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop()  # connections are refused from now on
    time.sleep(2.0)
    server.start(port)
    worker.join(120)
    server.stop()
    assert result, "the ingest did not finish"
    assert result[0].ok, result[0].failed
    assert contents_of(settings) == expected


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_qdrant_unreachable_at_start_is_a_clear_error(tmp_path: Path, folder: Path) -> None:
    env = {
        **os.environ,
        "RAGINDEX_QDRANT_URL": f"http://127.0.0.1:{_closed_port()}",
        "RAGINDEX_HOME": str(tmp_path / "home"),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ragindex.cli", "ingest", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Qdrant" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 60


def test_a_store_write_failing_mid_run_commits_nothing_of_it_and_the_next_run_redoes_it(
    tmp_path: Path, folder: Path, expected: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upsert = DocumentStore.upsert
    calls = 0

    async def failing_upsert(self: DocumentStore, documents: list[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            # the first document's mark and chunks are written, then the disk is full
            await real_upsert(self, documents[:1])
            raise StoreError("Qdrant Edge failed: No space left on device")
        await real_upsert(self, documents)

    with StandIn() as server:
        settings = settings_for(tmp_path, server.url)
        monkeypatch.setattr(DocumentStore, "upsert", failing_upsert)
        report, _ = ingest(settings, folder)
        assert report.failed and all(
            reason.startswith("not stored: ") for reason in report.failed.values()
        )
        monkeypatch.setattr(DocumentStore, "upsert", real_upsert)
        with Index.open(settings) as index:
            committed = {record.source for record in index.documents()}
        assert not set(report.failed) & committed
        again, _ = ingest(settings, folder)
    # the half-written document was cleaned up, then every failed one indexed
    assert again.recovered and set(again.recovered) <= set(report.failed)
    assert sorted(again.indexed) == sorted(report.failed)
    assert contents_of(settings) == expected
