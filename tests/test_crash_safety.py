"""Kill `ragindex ingest` at random moments, resume, and compare with one clean run.

The ingest runs as a real `ragindex` process embedding through the SGLang stand-in (its vectors
are a hash of the text, so two runs give identical points). Kill points are spread over the run:
some while the process starts and opens the index, most after a random number of embedding
requests, so they land while files are read, embedded, written and committed. After every kill
the next run resumes; at the end the index must hold exactly what a single clean run writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_mixed_corpus
from sglang_standin import Profile, StandIn

from ragindex.store.backend import Collection
from ragindex.store.documents import DocumentStore
from ragindex.store.edge import EdgeBackend
from ragindex.store.points import Record

# slow enough that a run spans many requests, fast enough for CI
PROFILE = Profile(tokens_per_s=150_000, step_overhead_s=0.005, max_batch_tokens=4096)
KILL_POINTS = 12


@dataclass(frozen=True)
class IndexContent:
    chunks: dict[str, tuple[dict[str, object], tuple[float, ...]]]  # id -> payload, vector
    documents: dict[str, dict[str, object]]  # source -> manifest payload
    pending: set[str]


def read_index(home: Path) -> IndexContent:
    """Every point of the embedded store at `home`, read through its backend's public calls."""

    async def read() -> IndexContent:
        backend = EdgeBackend(home, "ragindex")
        store = DocumentStore(backend)
        try:
            if await store.peek() is None:
                return IndexContent({}, {}, set())  # killed before the collection was recorded
            chunks = {
                record.id: (record.payload, tuple(round(x, 5) for x in record.dense or ()))
                async for record in _every_point(backend, "chunks")
            }
            documents: dict[str, dict[str, object]] = {}
            pending: set[str] = set()
            async for record in _every_point(backend, "manifest"):
                if record.payload.get("record") == "document":
                    documents[record.payload["source"]] = record.payload
                elif record.payload.get("record") == "pending":
                    pending.add(record.payload["source"])
            return IndexContent(chunks, documents, pending)
        finally:
            await store.close()

    return asyncio.run(read())


async def _every_point(backend: EdgeBackend, collection: Collection) -> AsyncIterator[Record]:
    offset = None
    while True:
        page, offset = await backend.scroll(
            collection, None, limit=1000, offset=offset, with_dense=collection == "chunks"
        )
        for record in page:
            yield record
        if offset is None:
            return


@pytest.fixture(scope="module")
def server() -> Iterator[StandIn]:
    with StandIn(profile=PROFILE) as running:
        yield running


@pytest.fixture(scope="module")
def crash_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mixed_corpus(tmp_path_factory.mktemp("crash") / "corpus", 300, pdfs=12)


@dataclass(frozen=True)
class CleanRun:
    content: IndexContent
    requests: int  # embedding requests the whole run took


@pytest.fixture(scope="module")
def clean(
    server: StandIn, crash_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> CleanRun:
    """What one uninterrupted run writes."""
    home = tmp_path_factory.mktemp("clean")
    before = len(server.requests)
    done = subprocess.run(
        ingest_command(crash_corpus), env=environment(server, home), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return CleanRun(read_index(home), len(server.requests) - before)


def ingest_command(corpus: Path) -> list[str]:
    return [sys.executable, "-m", "ragindex.cli", "ingest", str(corpus), "--json"]


def environment(server: StandIn, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAGINDEX_HOME": str(home),
        "RAGINDEX_EMBED_URL": server.url,
        "RAGINDEX_DIM": "64",
        "RAGINDEX_CHUNK_TOKENS": "256",
        "RAGINDEX_EMBED_BATCH_TOKENS": "1024",
        "RAGINDEX_EMBED_MAX_CONCURRENCY": "4",
    }


def start(server: StandIn, corpus: Path, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ingest_command(corpus),
        env=environment(server, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )


def wait_for_requests(server: StandIn, process: subprocess.Popen[str], count: int) -> None:
    target = len(server.requests) + count
    deadline = time.monotonic() + 60
    while process.poll() is None and len(server.requests) < target:
        assert time.monotonic() < deadline, "the ingest made no progress"
        time.sleep(0.005)


def assert_same_index(resumed: IndexContent, clean: IndexContent) -> None:
    assert resumed.pending == set(), "a pending mark outlived its run"
    assert resumed.documents.keys() == clean.documents.keys()
    assert resumed.documents == clean.documents
    assert len(resumed.chunks) == len(clean.chunks)
    assert resumed.chunks.keys() == clean.chunks.keys(), "orphan or missing chunks"
    different = [key for key in clean.chunks if resumed.chunks[key] != clean.chunks[key]]
    assert not different, f"{len(different)} chunks differ from the clean run"


def kill_repeatedly(
    server: StandIn, corpus: Path, home: Path, kills: int, step: int, rng: random.Random
) -> list[int]:
    """Start `ragindex ingest` and SIGKILL it `kills` times: every fourth time at a random
    moment of start-up, otherwise after about `step` embedding requests. Returns how many
    documents were committed after each kill."""
    committed: list[int] = []
    for kill in range(kills):
        process = start(server, corpus, home)
        if kill % 4 == 0:
            time.sleep(rng.uniform(0.1, 2.0))  # while starting, opening, recovering
        else:
            wait_for_requests(server, process, rng.randint(max(1, step // 2), step * 3 // 2))
            time.sleep(rng.uniform(0, 0.05))
        assert process.poll() is None, f"the run ended before kill point {kill + 1}"
        os.killpg(process.pid, signal.SIGKILL)  # the reading workers die with it
        process.wait(10)
        committed.append(len(read_index(home).documents))
    return committed


@pytest.mark.timeout(600)
def test_sigkill_at_random_moments_then_resume_gives_the_clean_index(
    server: StandIn, crash_corpus: Path, clean: CleanRun, tmp_path: Path
) -> None:
    assert len(clean.content.documents) == 312
    # a run's worth of requests spread over the kill points: every kill lands further on
    step = clean.requests // KILL_POINTS

    home = tmp_path / "killed"
    committed_after_kill = kill_repeatedly(
        server, crash_corpus, home, KILL_POINTS, step, random.Random(20261125)
    )
    print(f"documents committed after each kill: {committed_after_kill}")
    assert len(set(committed_after_kill)) > KILL_POINTS // 2, "the kills did not spread"

    last = subprocess.run(
        ingest_command(crash_corpus), env=environment(server, home), capture_output=True, text=True
    )
    assert last.returncode == 0, last.stderr
    assert_same_index(read_index(home), clean.content)


@pytest.mark.timeout(300)
def test_ctrl_c_stops_within_seconds_says_how_far_it_got_and_resumes(
    server: StandIn, crash_corpus: Path, clean: CleanRun, tmp_path: Path
) -> None:
    home = tmp_path / "interrupted"
    # However the machine's load packs the requests, a request carries at most
    # RAGINDEX_EMBED_BATCH_TOKENS tokens (the server counts one more per input): the run needs at
    # least this many. The server answers a third of them, then holds the rest, so the run is
    # caught part-way, never finished, when Ctrl-C comes.
    tokens = sum(int(payload["tokens"]) + 1 for payload, _ in clean.content.chunks.values())
    fewest_requests = tokens // int(environment(server, home)["RAGINDEX_EMBED_BATCH_TOKENS"])
    with StandIn(profile=PROFILE, hold_after=fewest_requests // 3) as holding:
        process = start(holding, crash_corpus, home)
        deadline = time.monotonic() + 120
        while holding.held == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holding.held > 0 and process.poll() is None, "the run was not caught part-way"
        interrupted_at = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        stdout, stderr = process.communicate(timeout=30)
        stopped_after = time.monotonic() - interrupted_at
        holding.release()
    assert process.returncode == 130, stderr
    assert stopped_after < 5, f"took {stopped_after:.1f} s to stop"
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True
    assert 0 < len(report["indexed"]) < len(clean.content.documents)
    partial = read_index(home)
    assert set(report["indexed"]) <= partial.documents.keys()

    resumed = subprocess.run(
        ingest_command(crash_corpus), env=environment(server, home), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(json.loads(resumed.stdout)["indexed"]) == len(clean.content.documents) - len(
        partial.documents
    )
    assert_same_index(read_index(home), clean.content)


def assert_consistent(content: IndexContent) -> None:
    """Each committed document has exactly its recorded version's chunks; no chunk is orphaned."""
    by_source: dict[str, list[dict[str, object]]] = {}
    for payload, _ in content.chunks.values():
        by_source.setdefault(str(payload["source"]), []).append(payload)
    assert by_source.keys() <= content.documents.keys() | content.pending, "orphan chunks"
    for source, record in content.documents.items():
        if source in content.pending:
            continue  # being redone by the next run
        chunks = by_source.get(source, [])
        assert len(chunks) == record["chunks"], f"{source}: half a document"
        assert {chunk["sha256"] for chunk in chunks} == {record["sha256"]}, f"{source}: mixed"


@pytest.mark.timeout(300)
def test_files_changing_and_vanishing_during_an_ingest_are_never_half_indexed(
    server: StandIn, crash_corpus: Path, clean: CleanRun, tmp_path: Path
) -> None:
    folder = tmp_path / "changing"
    shutil.copytree(crash_corpus, folder)
    files = sorted(path for path in folder.rglob("*") if path.suffix in {".md", ".txt"})
    rng = random.Random(11)
    to_change, to_delete = rng.sample(files, 40), rng.sample(files, 20)
    home = tmp_path / "home"
    process = subprocess.Popen(
        ingest_command(folder),
        env=environment(server, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_requests(server, process, clean.requests // 5)
    for path in to_change:  # rewritten while the run reads, embeds and commits
        if path.exists():
            path.write_text(f"# Rewritten\n\n{path.name} now says something else entirely.\n")
        time.sleep(rng.uniform(0, 0.05))
    for path in to_delete:
        path.unlink(missing_ok=True)
        time.sleep(rng.uniform(0, 0.05))
    _, stderr = process.communicate(timeout=240)
    assert process.returncode in (0, 1), stderr
    assert "Traceback" not in stderr
    assert_consistent(read_index(home))

    again = subprocess.run(
        ingest_command(folder), env=environment(server, home), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    reference = subprocess.run(
        ingest_command(folder),
        env=environment(server, tmp_path / "reference"),
        capture_output=True,
        text=True,
    )
    assert reference.returncode == 0, reference.stderr
    assert_same_index(read_index(home), read_index(tmp_path / "reference"))
