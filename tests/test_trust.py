"""Nothing indexed is lost by mistake: missing, emptied or unreadable roots, several roots,
a changed recipe, two ingests at once. Each test is a user's story against a real index."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_notes
from typer.testing import CliRunner

from ragindex import AsyncIndex, Index, IngestBusyError, PathError, PruneRequiredError, Settings
from ragindex.cli import app

runner = CliRunner()


def sources(index: Index) -> set[str]:
    return {record.source for record in index.documents()}


def test_a_renamed_root_is_an_error_and_removes_nothing(index: Index, tmp_path: Path) -> None:
    docs = write_notes(tmp_path / "docs")
    index.ingest(docs)
    before = sources(index)
    docs.rename(tmp_path / "docs-renamed")
    with pytest.raises(PathError, match="no such file or folder"):
        index.ingest(docs)
    assert sources(index) == before and len(before) == 6


def test_the_cli_says_so_in_one_line_and_exits_2(home: Path, tmp_path: Path) -> None:
    docs = write_notes(tmp_path / "docs")
    assert runner.invoke(app, ["ingest", str(docs)]).exit_code == 0
    shutil.rmtree(docs)
    result = runner.invoke(app, ["ingest", str(docs)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "no such file or folder" in lines[0], result.output
    assert "Traceback" not in result.output
    with Index.open(Settings.load(home=home)) as index:
        assert index.stats()["documents"] == 6


def test_an_emptied_root_needs_prune(index: Index, tmp_path: Path) -> None:
    docs = write_notes(tmp_path / "docs")
    index.ingest(docs)
    for file in docs.iterdir():  # an unmounted share: the mount point is there, empty
        file.unlink()
    with pytest.raises(PruneRequiredError, match=r"6 of the 6 documents.*--prune"):
        index.ingest(docs)
    assert len(sources(index)) == 6
    report = index.ingest(docs, prune=True)
    assert len(report.removed) == 6 and sources(index) == set()


def test_deleting_a_few_files_needs_no_prune(index: Index, tmp_path: Path) -> None:
    docs = write_notes(tmp_path / "docs")
    index.ingest(docs)
    (docs / "note0.md").unlink()
    (docs / "note1.md").unlink()
    report = index.ingest(docs)
    assert sorted(report.removed) == sorted(
        (docs / name).as_posix() for name in ("note0.md", "note1.md")
    )
    assert len(sources(index)) == 4


def test_a_string_path_is_one_path(index: Index, tmp_path: Path) -> None:
    docs = write_notes(tmp_path / "docs", 2)
    report = index.ingest(str(docs))
    assert len(report.indexed) == 2


def test_portable_roots_never_collide_or_remove_each_other(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "docs", tmp_path / "b" / "notes"
    for root in (first, second):
        write_notes(root, 2)
        (root / "README.md").write_text(f"readme of {root.name}\n", encoding="utf-8")
    with Index.open(Settings.load(home=tmp_path / "home", portable_paths=True)) as index:
        index.ingest(first)
        report = index.ingest(second)
        assert report.removed == []
        found = sources(index)
    assert {"docs/README.md", "notes/README.md"} <= found and len(found) == 6


def test_a_new_recipe_prepares_unchanged_files_again(tmp_path: Path, corpus: Path) -> None:
    home = tmp_path / "home"
    with Index.open(Settings.load(home=home)) as index:
        first = index.ingest(corpus)
        assert index.ingest(corpus).unchanged == len(first.indexed)
    with Index.open(Settings.load(home=home, chunk_tokens=64)) as index:
        again = index.ingest(corpus)
        assert again.unchanged == 0 and len(again.indexed) == len(first.indexed)
        assert index.stats()["chunks"] > first.chunks  # smaller chunks, more of them
        assert index.ingest(corpus).unchanged == len(first.indexed)


async def test_one_ingest_at_a_time_and_any_caller_can_stop_it(
    settings: Settings, corpus: Path
) -> None:
    async with await AsyncIndex.open(settings) as index:
        running = asyncio.ensure_future(index.ingest(corpus))
        await asyncio.sleep(0)  # the run has started and holds the index
        activity = index.current_ingest
        assert activity is not None and activity.paths == (str(corpus),)
        with pytest.raises(IngestBusyError, match="already running"):
            await index.ingest(corpus)
        activity.stop()
        stopped = await running
        assert stopped.interrupted and index.current_ingest is None
        finished = await index.ingest(corpus)  # the index is free again, and nothing was lost
        assert finished.ok and index.current_ingest is None
        assert (await index.stats())["documents"] == len(stopped.indexed) + len(finished.indexed)


def test_an_unreadable_folder_keeps_what_was_indexed_from_it(tmp_path: Path) -> None:
    """A folder that cannot be listed this time (permissions) removes nothing indexed under it.
    Root reads any folder, so as root the ingest runs without the capabilities that let it."""
    docs = write_notes(tmp_path / "docs", 4)
    write_notes(docs / "private", 3)
    env = {**os.environ, "RAGINDEX_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "ragindex.cli", "ingest", str(docs)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without util-linux's setpriv to drop the capability")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]

    def ingest() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)

    first = ingest()
    assert first.returncode == 0, first.stderr
    (docs / "private").chmod(0o000)
    try:
        second = ingest()
    finally:
        (docs / "private").chmod(0o755)
    assert second.returncode == 0, second.stderr
    assert "kept" in second.stdout and "cannot read" in second.stdout, second.stdout
    with Index.open(Settings.load(home=tmp_path / "home")) as index:
        assert len(sources(index)) == 7  # the three under private/ are still there
