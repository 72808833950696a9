"""The ingest pipeline under pressure: a slow store, a dead embedding server, a reader that
crashes its process, a parent killed under its workers. Real store, real model, real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import write_mixed_corpus, write_notes
from sglang_standin import StandIn

from ragindex import AsyncIndex, PruneRequiredError, Settings
from ragindex.discovery import Candidate, Discovery, Skipped
from ragindex.factory import make_chunker
from ragindex.limits import IngestLimits
from ragindex.pipeline import IngestPipeline
from ragindex.progress import Progress
from ragindex.store.base import DocumentChunks
from ragindex.store.documents import DocumentStore


class SlowStore:
    """A real store whose writes take a while, like a busy Qdrant server. At each write it
    notes how many chunks have been embedded but not yet written: what the run holds."""

    def __init__(self, inner: DocumentStore, embedded: Any, delay_s: float) -> None:
        self.inner = inner
        self.embedded = embedded  # () -> chunks embedded so far
        self.delay_s = delay_s
        self.written = 0
        self.held: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def upsert(self, documents: Sequence[DocumentChunks]) -> None:
        self.held.append(int(self.embedded()) - self.written)
        await asyncio.sleep(self.delay_s)
        await self.inner.upsert(documents)
        self.written += sum(len(chunks) for _, chunks in documents)


async def test_a_slow_store_slows_the_run_instead_of_filling_memory(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "small"
    folder.mkdir()
    for number in range(80):  # one chunk each
        (folder / f"n{number}.txt").write_text(f"lantern harbour {number}", encoding="utf-8")
    limits = IngestLimits(
        max_pdf_pages=10,
        max_unpacked_bytes=10**8,
        file_timeout_s=30,
        prepare_workers=2,
        window_chunks=4,
        window_tokens=10_000,
        windows_in_flight=1,
        write_group=2,
    )
    async with await AsyncIndex.open(settings) as index:
        await index.store.create_or_check(index.spec)
        store = SlowStore(index.store, lambda: index.embedder.metrics()["inputs"], 0.05)
        pipeline = IngestPipeline(
            store=store,  # type: ignore[arg-type]
            embedder=index.embedder,
            chunker=make_chunker(settings, index.embedder),
            discovery=Discovery(
                max_bytes=10**6, excludes=[], follow_symlinks=False, portable=False
            ),
            limits=limits,
        )
        report = await pipeline.run([folder])
    assert len(report.indexed) == 80 and report.chunks == 80
    assert max(store.held) <= limits.chunks_in_flight
    assert report.peak_chunks_in_flight <= limits.chunks_in_flight
    assert report.peak_windows_in_flight <= limits.windows_in_flight


class HeldWalk(Discovery):
    """A walk that, after its last file, waits until the run has embedded something (how a
    large tree looks: reading goes on while the walk does), then gives a write that was not
    held back a moment to happen, and only then ends."""

    def __init__(self, embedded: Any) -> None:
        super().__init__(max_bytes=10**6, excludes=[], follow_symlinks=False, portable=False)
        self.embedded = embedded  # () -> inputs embedded so far
        self.embedded_while_walking = False
        self.over = False
        self.written_while_walking = threading.Event()

    def walk(self, root: Path) -> Iterator[Candidate | Skipped]:
        yield from super().walk(root)
        deadline = time.monotonic() + 60
        while not self.embedded() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.embedded_while_walking = bool(self.embedded())
        self.written_while_walking.wait(1.0)  # set only by a commit that should have waited
        self.over = True


class WatchedStore:
    """A real store that notes every write made before the walk was over."""

    def __init__(self, inner: DocumentStore, walk: HeldWalk) -> None:
        self.inner, self.walk = inner, walk
        self.early_writes: list[str] = []
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _noted(self, call: str) -> None:
        self.writes += 1
        if not self.walk.over:
            self.early_writes.append(call)

    async def upsert(self, documents: Sequence[DocumentChunks]) -> None:
        self._noted("upsert")
        await self.inner.upsert(documents)

    async def commit(self, records: Sequence[Any]) -> None:
        self._noted("commit")
        await self.inner.commit(records)
        # the walk may end now: these documents are reported done before the loop hears of it
        self.walk.written_while_walking.set()

    async def remove(self, sources: Sequence[str]) -> None:
        self._noted("remove")
        await self.inner.remove(sources)


async def held_pipeline(
    index: AsyncIndex, settings: Settings
) -> tuple[IngestPipeline, WatchedStore]:
    await index.store.create_or_check(index.spec)
    walk = HeldWalk(lambda: index.embedder.metrics()["inputs"])
    store = WatchedStore(index.store, walk)
    pipeline = IngestPipeline(
        store=store,  # type: ignore[arg-type]
        embedder=index.embedder,
        chunker=make_chunker(settings, index.embedder),
        discovery=walk,
        limits=IngestLimits.from_settings(settings),
    )
    return pipeline, store


async def test_a_first_ingest_reads_embeds_and_writes_while_the_walk_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    """Nothing is indexed under the folder yet, so nothing could be removed and the run cannot
    be refused: files are written as they come, before the walk is over."""
    folder = write_notes(tmp_path / "notes", 70)  # enough for reading processes
    async with await AsyncIndex.open(settings) as index:
        pipeline, store = await held_pipeline(index, settings)
        snapshots: list[Progress] = []
        pipeline.progress = snapshots.append
        report = await pipeline.run([folder])
        assert pipeline.discovery.embedded_while_walking  # type: ignore[attr-defined]
        assert store.early_writes  # written while the walk was still going on
        assert len(report.indexed) == 70 and (await index.stats())["documents"] == 70
    # files were done while the total was still being counted; once counted, it is exact
    assert any(snapshot.counting for snapshot in snapshots)
    counted = [snapshot for snapshot in snapshots if not snapshot.counting]
    assert counted and all(snapshot.files_total == 70 for snapshot in counted)
    assert snapshots[-1].files_done == 70 and not snapshots[-1].counting


async def test_a_run_that_could_remove_documents_writes_only_after_the_whole_walk(
    settings: Settings, tmp_path: Path
) -> None:
    """Documents are indexed under the folder: whether the run removes too many of them is
    known only from the whole walk, so new files are read and embedded meanwhile, and written
    after it."""
    folder = write_notes(tmp_path / "notes", 6)
    async with await AsyncIndex.open(settings) as index:
        await index.ingest(folder)
        write_notes(folder, 64, name="new")
        pipeline, store = await held_pipeline(index, settings)
        report = await pipeline.run([folder])
        assert pipeline.discovery.embedded_while_walking  # type: ignore[attr-defined]
        assert store.early_writes == [] and store.writes > 0
        assert len(report.indexed) == 64 and report.unchanged == 6
        assert (await index.stats())["documents"] == 70


async def test_a_refused_run_writes_nothing_though_it_read_the_new_files(
    settings: Settings, tmp_path: Path
) -> None:
    """An emptied folder with new files: they are read and embedded while the walk goes on,
    the plan then refuses the run (all of what was indexed would go), and the index is as it
    was: nothing removed, no new file written."""
    folder = write_notes(tmp_path / "notes", 6)
    async with await AsyncIndex.open(settings) as index:
        await index.ingest(folder)
        for file in folder.iterdir():
            file.unlink()
        write_notes(folder, 64, name="new")  # enough to be read while the walk goes on
        pipeline, store = await held_pipeline(index, settings)
        with pytest.raises(PruneRequiredError, match="6 of the 6 documents"):
            await pipeline.run([folder])
        assert pipeline.discovery.embedded_while_walking  # type: ignore[attr-defined]
        assert store.writes == 0
        indexed = {record.source for record in await index.documents()}
        assert indexed == {(folder / f"note{number}.md").as_posix() for number in range(6)}


def test_a_lost_server_ends_the_run_with_one_error_saying_how_far_it_got(
    tmp_path: Path, home: Path
) -> None:
    """The server goes away for good mid-run: one `IngestAborted`, what was committed stays,
    no request is left running, and the next run against a live server finishes the rest."""
    folder = write_mixed_corpus(tmp_path / "corpus", 40, seed=11)
    options: dict[str, Any] = {"embed_max_inputs": 4, "dim": 64, "embed_max_attempts": 2}
    server = StandIn().start()
    script = tmp_path / "run.py"
    script.write_text(
        "import asyncio, sys, warnings\n"
        "from ragindex import AsyncIndex, Settings, IngestAborted\n"
        "async def main():\n"
        f"    settings = Settings.load(home={str(home)!r}, embed_url=sys.argv[1], **{options!r})\n"
        "    async with await AsyncIndex.open(settings) as index:\n"
        "        def progress(p):\n"
        "            if p.files_done == 3: print('stop-server', flush=True); sys.stdin.readline()\n"
        "        try:\n"
        f"            await index.ingest({str(folder)!r}, progress=progress)\n"
        "        except IngestAborted as error:\n"
        "            print('aborted:', error, len(error.report.indexed), flush=True)\n"
        "        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]\n"
        "        print('pending tasks:', len(others), flush=True)\n"
        "asyncio.run(main())\n",
        encoding="utf-8",
    )
    run = subprocess.Popen(
        [sys.executable, str(script), server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None and run.stdin is not None
    assert run.stdout.readline().strip() == "stop-server"
    server.stop()
    out, err = run.communicate("\n", timeout=240)
    assert "aborted:" in out and "run the same command again" in out, out + err
    assert "pending tasks: 0" in out, out
    assert "Traceback" not in err and "Task was destroyed" not in err, err
    committed = int(out.split("aborted:")[1].split("\n")[0].rsplit(" ", 1)[1])
    with StandIn() as again:
        settings = Settings.load(home=home, embed_url=again.url, **options)

        async def finish() -> tuple[int, int]:
            async with await AsyncIndex.open(settings) as index:
                report = await index.ingest(folder)
                return len(report.indexed), (await index.stats())["documents"]

        indexed, documents = asyncio.run(finish())
    assert documents == 40 and indexed == 40 - committed


def test_a_reader_that_crashes_its_process_fails_only_its_file(
    tmp_path: Path, settings: Settings
) -> None:
    folder = write_mixed_corpus(tmp_path / "corpus", 70, seed=5)  # enough for worker processes
    victim = next(folder.rglob("*.md"))
    script = (
        "import os, sys\n"
        "import ragindex.preparing as preparing\n"
        "from ragindex import Index, Settings\n"
        "real = preparing.read_document\n"
        "def crashing(candidate, data, **options):\n"
        f"    if candidate.path.name == {victim.name!r}: os._exit(3)\n"
        "    return real(candidate, data, **options)\n"
        "preparing.read_document = crashing  # forked workers inherit it\n"
        f"with Index.open(Settings.load(home={str(settings.home)!r})) as index:\n"
        f"    report = index.ingest({str(folder)!r})\n"
        "print(len(report.indexed), report.skipped, report.failed)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("69 "), done.stdout
    assert "the reader process crashed on this file (exit code 3)" in done.stdout
    assert victim.name in done.stdout


def test_workers_do_not_outlive_a_killed_ingest(tmp_path: Path, home: Path) -> None:
    """`kill -9` of the ingest process alone (as the OOM killer does): its reading workers
    exit too, within seconds, instead of idling for good."""
    folder = write_mixed_corpus(tmp_path / "corpus", 300, seed=9)
    errors = (tmp_path / "stderr").open("w")
    ingest = subprocess.Popen(
        [sys.executable, "-m", "ragindex.cli", "ingest", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    parent = psutil.Process(ingest.pid)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while len(workers) < 2 and time.monotonic() < deadline and ingest.poll() is None:
        workers = parent.children(recursive=True)
        time.sleep(0.1)
    errors.close()
    assert len(workers) >= 2, (tmp_path / "stderr").read_text()
    os.kill(ingest.pid, signal.SIGKILL)
    ingest.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers still alive after their parent was killed: {alive}"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("Settings(chunk_tokens=1)", "ConfigError"),
        ("Settings.load(dim='many')", "ConfigError"),
        ("index.search('q', mode='fuzzy')", "ConfigError"),
        ("index.search('q', filters={'colour': 'red'})", "ConfigError"),
        ("index.ingest(home / 'missing')", "PathError"),
        ("Index.open(Settings.load(home=home / 'file.txt')).ingest(home)", "StoreError"),
        (
            "Index.open(Settings.load(home=home / 'h', embed_url='http://127.0.0.1:9', dim=64))"
            ".ingest(home)",
            "EmbeddingServerUnavailable",
        ),
    ],
)
def test_every_public_entry_point_raises_our_errors(
    call: str, error: str, home: Path, index: Any
) -> None:
    import ragindex
    from ragindex import Index, RagindexError

    home.mkdir(parents=True, exist_ok=True)
    (home / "file.txt").write_text("not a folder", encoding="utf-8")
    namespace = {"Settings": ragindex.Settings, "Index": Index, "index": index, "home": home}
    with pytest.raises(RagindexError) as raised:
        eval(call, namespace)
    assert type(raised.value).__name__ == error or error in {
        base.__name__ for base in type(raised.value).__mro__
    }, repr(raised.value)
