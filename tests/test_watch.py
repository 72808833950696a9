"""`watch` keeps the index in step with folders: files created, changed, moved and deleted show in
the index within seconds; a burst of changes is a few runs; a vanished or emptied folder removes
nothing; Ctrl-C ends the CLI's watch with 130, and a kill -9 while watching loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import write_mixed_corpus, write_notes
from sglang_standin import StandIn

from ragindex import AsyncIndex, Index, IngestBusyError, PathError, PruneRequiredError, Settings
from ragindex.watch import WatchRun

DEADLINE_S = 60  # generous: the machine may be busy; a healthy watcher answers in seconds


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, f"not seen within {DEADLINE_S} s: {what}"
        await asyncio.sleep(0.1)


class Watching:
    """An index being watched in the background of a test, and every run it reported."""

    def __init__(self, index: AsyncIndex) -> None:
        self.index = index
        self.runs: list[WatchRun] = []

    async def sources(self) -> dict[str, str]:
        return {record.source: record.sha256 for record in await self.index.documents()}

    async def until(self, check: Callable[[dict[str, str]], bool], what: str) -> None:
        async def seen() -> bool:
            return check(await self.sources())

        await eventually(seen, what)

    async def until_run(self, check: Callable[[WatchRun], bool], what: str) -> WatchRun:
        async def reported() -> bool:
            return any(check(run) for run in self.runs)

        await eventually(reported, what)
        return next(run for run in self.runs if check(run))


@asynccontextmanager
async def watching(settings: Settings, *paths: Path) -> AsyncIterator[Watching]:
    async with await AsyncIndex.open(settings) as index:
        state = Watching(index)
        stop = asyncio.Event()
        task = asyncio.ensure_future(index.watch(paths, stop=stop, on_report=state.runs.append))
        try:
            await state.until_run(lambda run: run.number == 1, "the first run")
            yield state
        finally:
            stop.set()
            await task
        assert index.watching is None


async def test_the_index_follows_files_created_changed_moved_and_deleted(
    settings: Settings, tmp_path: Path
) -> None:
    docs = write_notes(tmp_path / "docs")
    path = docs.as_posix()
    async with watching(settings, docs) as watched:
        assert len(await watched.sources()) == 6
        watching_now = watched.index.watching
        assert watching_now is not None and watching_now.paths == (path,)
        with pytest.raises(IngestBusyError, match="already watched"):
            await watched.index.watch(docs)

        (docs / "zeppelin.md").write_text("Zeppelins drift over the harbour.\n", encoding="utf-8")
        await watched.until(lambda found: f"{path}/zeppelin.md" in found, "a created file")
        hits = await watched.index.search("zeppelins", mode="sparse", k=1)
        assert hits and hits[0].source == f"{path}/zeppelin.md"

        before = (await watched.sources())[f"{path}/note0.md"]
        (docs / "note0.md").write_text("A xylophone in the lighthouse.\n", encoding="utf-8")
        await watched.until(lambda found: found[f"{path}/note0.md"] != before, "a changed file")
        hits = await watched.index.search("xylophone", mode="sparse", k=1)
        assert hits and hits[0].source == f"{path}/note0.md"

        (docs / "note1.md").rename(docs / "renamed.md")
        await watched.until(
            lambda found: f"{path}/renamed.md" in found and f"{path}/note1.md" not in found,
            "a renamed file",
        )
        (docs / "note2.md").unlink()
        await watched.until(lambda found: f"{path}/note2.md" not in found, "a deleted file")

        outside = write_notes(tmp_path / "elsewhere" / "more", 2)
        outside.rename(docs / "more")  # a folder moved in
        await watched.until(lambda found: f"{path}/more/note1.md" in found, "a moved-in folder")
        names = ["zeppelin", "note0", "renamed", "note3", "note4", "note5"]
        names += ["more/note0", "more/note1"]
        assert sorted(await watched.sources()) == sorted(f"{path}/{name}.md" for name in names)
    # a file renamed between a run's walk and its reading fails in that run (the next one,
    # which its rename starts, settles it): no run stops on an error
    outcomes = [(run.error, run.report and run.report.failed) for run in watched.runs]
    assert all(run.error is None for run in watched.runs), outcomes


async def test_a_single_file_saved_by_renaming_over_it_is_followed(
    settings: Settings, tmp_path: Path
) -> None:
    note = tmp_path / "note.md"
    note.write_text("The first draft.\n", encoding="utf-8")
    async with watching(settings, note) as watched:
        before = (await watched.sources())[note.as_posix()]
        saved = tmp_path / ".note.md.swp"  # as editors save: a new file renamed over the old
        saved.write_text("The second draft, with a zeppelin.\n", encoding="utf-8")
        saved.replace(note)
        await watched.until(lambda found: found[note.as_posix()] != before, "the saved file")
        hits = await watched.index.search("zeppelin", mode="sparse", k=1)
        assert hits and hits[0].source == note.as_posix()


async def test_a_burst_of_changes_is_folded_into_few_runs(
    settings: Settings, tmp_path: Path
) -> None:
    docs = write_notes(tmp_path / "docs")
    burst = 1000
    async with watching(settings, docs) as watched:
        for number in range(burst):
            (docs / f"burst{number}.txt").write_text(f"burst file {number}\n", encoding="utf-8")
        await watched.until(lambda found: len(found) == 6 + burst, "every file of the burst")

        async def all_reported() -> bool:
            return sum(run.changes for run in watched.runs) >= burst

        await eventually(all_reported, "the runs that indexed the burst")
        later = watched.runs[1:]
        assert all(run.ok for run in later)
        # each run folds in whatever came while the one before it ran: never a run per change
        assert 1 <= len(later) <= 10, [run.changes for run in later]


async def test_a_vanished_or_emptied_folder_removes_nothing_and_is_followed_again(
    settings: Settings, tmp_path: Path
) -> None:
    docs = write_notes(tmp_path / "docs")
    async with watching(settings, docs) as watched:
        docs.rename(tmp_path / "unmounted")  # as an unmounted share looks from here
        refused = await watched.until_run(
            lambda run: isinstance(run.error, PathError), "the missing folder reported"
        )
        assert "no such file or folder" in str(refused.error)
        assert len(await watched.sources()) == 6  # nothing removed

        (tmp_path / "unmounted").rename(docs)  # back again: followed as before
        (docs / "back.md").write_text("Back in the harbour.\n", encoding="utf-8")
        await watched.until(lambda found: f"{docs.as_posix()}/back.md" in found, "a file added")

        for file in docs.iterdir():  # emptied: the mount point is there, with nothing in it
            file.unlink()
        refused = await watched.until_run(
            lambda run: isinstance(run.error, PruneRequiredError), "an emptied folder reported"
        )
        assert "--prune" in str(refused.error) and refused.report is None
        assert len(await watched.sources()) == 7  # the watcher never prunes on its own


def test_a_missing_path_is_an_error_before_anything(index: Index, tmp_path: Path) -> None:
    with pytest.raises(PathError, match="no such file or folder"):
        index.watch(tmp_path / "missing")
    assert index.watching is None and index.documents() == []


def cli_watch(
    folder: Path, env: dict[str, str], logs: Path, *options: str
) -> subprocess.Popen[str]:
    logs.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "ragindex.cli", "watch", str(folder), *options],
        env=env,
        stdout=(logs / "stdout").open("w"),
        stderr=(logs / "stderr").open("w"),
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )


def wait_for_text(path: Path, text: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE_S * 2
    while text not in path.read_text(encoding="utf-8"):
        assert process.poll() is None, path.with_name("stderr").read_text(encoding="utf-8")
        assert time.monotonic() < deadline, f"{text!r} not in {path.name} within the deadline"
        time.sleep(0.1)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_ends_the_cli_watch_with_130_and_keeps_what_was_indexed(
    home: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    docs = write_notes(tmp_path / "docs", 3)
    write_notes(docs / "drafts", 2)
    logs = tmp_path / "logs"
    environment = {**os.environ, "RAGINDEX_HOME": str(home)}
    process = cli_watch(docs, environment, logs, "--exclude", "drafts/")
    try:
        wait_for_text(logs / "stderr", "Ctrl-C to stop", process)
        (docs / "late.md").write_text("A late note about lanterns.\n", encoding="utf-8")
        wait_for_text(logs / "stdout", f"+ {docs.as_posix()}/late.md", process)
        os.killpg(process.pid, stop_signal)  # Ctrl-C; or a service manager's stop
        assert process.wait(timeout=DEADLINE_S) == 130
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stderr = (logs / "stderr").read_text(encoding="utf-8")
    assert "Traceback" not in stderr and "stopped after " in stderr, stderr
    with Index.open(Settings.load(home=home)) as index:
        assert len(index.documents()) == 4  # the drafts left out


async def test_a_run_stopped_by_a_lost_server_is_retried_until_it_is_back(
    tmp_path: Path,
) -> None:
    docs = write_notes(tmp_path / "docs", 3)
    with StandIn() as server:
        settings = Settings.load(
            home=tmp_path / "home", embed_url=server.url, dim=64, embed_max_attempts=2
        )
        async with watching(settings, docs) as watched:
            server.stop()
            (docs / "during.md").write_text("Written while the server was down.\n", "utf-8")
            failed = await watched.until_run(
                lambda run: run.error is not None, "the failed run reported"
            )
            assert "during.md" not in str(failed.report)
            server.start(server.port)  # back: the watcher retries without a new change
            retried = await watched.until_run(
                lambda run: run.number > failed.number, "the run after the failed one"
            )
            assert retried.ok and retried.report is not None and failed.retry_s is not None
            assert retried.report.indexed == [f"{docs.as_posix()}/during.md"]
            assert len(await watched.sources()) == 4


def index_content(home: Path) -> tuple[dict[str, tuple[str, int]], int]:
    with Index.open(Settings.load(home=home)) as index:
        documents = {record.source: (record.sha256, record.chunks) for record in index.documents()}
        return documents, index.stats()["chunks"]


def test_a_kill_9_while_watching_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_mixed_corpus(tmp_path / "docs", 12, seed=5)
    with StandIn() as server:
        for name, value in {
            "RAGINDEX_EMBED_URL": server.url,
            "RAGINDEX_DIM": "64",
            "RAGINDEX_CHUNK_TOKENS": "128",
            "RAGINDEX_EMBED_BATCH_TOKENS": "512",
        }.items():
            monkeypatch.setenv(name, value)
        killed = tmp_path / "killed"
        logs = tmp_path / "logs"
        process = cli_watch(docs, {**os.environ, "RAGINDEX_HOME": str(killed)}, logs)
        try:
            wait_for_text(logs / "stdout", "(first run", process)
            # the next run is caught part-way: two more requests answered, the rest held
            server.hold_after = len(server.requests) + 2
            write_mixed_corpus(docs / "new", 40, seed=6)
            deadline = time.monotonic() + DEADLINE_S
            while server.held == 0:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            server.release()
        partial, _ = index_content(killed)
        assert 12 <= len(partial) < 52, "the kill did not land part-way"
        command = [sys.executable, "-m", "ragindex.cli", "ingest", str(docs)]
        for home in (killed, tmp_path / "clean"):
            done = subprocess.run(
                command, env={**os.environ, "RAGINDEX_HOME": str(home)}, capture_output=True
            )
            assert done.returncode == 0, done.stderr
        resumed, clean = index_content(killed), index_content(tmp_path / "clean")
    assert len(clean[0]) == 52
    assert resumed == clean  # the same documents, versions and chunks: none lost or doubled


def watcher_page_script(ui_folder: str, home: str, folder: str) -> None:
    """A page whose index is being watched: the ingest panel says so."""
    import sys
    import threading
    import time

    sys.path.insert(0, ui_folder)
    from ingest_panel import watcher_notice

    from ragindex import Index, Settings

    with Index.open(Settings.load(home=home)) as index:
        stop = threading.Event()
        watch = threading.Thread(target=index.watch, args=(folder,), kwargs={"stop": stop})
        watch.start()
        deadline = time.monotonic() + 120
        while (index.watching is None or not index.watching.runs) and time.monotonic() < deadline:
            time.sleep(0.1)
        watcher_notice(index)
        stop.set()
        watch.join()


def test_the_page_shows_a_watcher_holding_the_index(tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    docs = write_notes(tmp_path / "docs", 2)
    ui_folder = str(Path(__file__).resolve().parent.parent / "ui")
    page = AppTest.from_function(
        watcher_page_script,
        args=(ui_folder, str(tmp_path / "home"), str(docs)),
        default_timeout=180,
    )
    page.run()
    assert not page.exception, page.exception
    assert [info.value for info in page.info] == [
        "Watching: changes in these folders are indexed within seconds."
    ]
    texts = [text.value for text in page.text]
    assert str(docs) in texts and any(text.endswith(", 1 run") for text in texts), texts
    assert any("2 indexed, 0 unchanged, 0 removed" in text for text in texts), texts
