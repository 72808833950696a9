"""The commands people expect: `ragindex documents` lists what is indexed, `ragindex remove` forgets
files and folders, `ragindex watch` of a missing path is one line; and `ragindex eval` against a
Qdrant server leaves no collection behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import write_notes
from qdrant_client import AsyncQdrantClient
from test_eval import write_beir
from typer.testing import CliRunner

from ragindex import AsyncIndex, Index, IngestBusyError, PathError, Settings
from ragindex.cli import app
from ragindex.store.server import QdrantClientBackend

runner = CliRunner()


@pytest.fixture
def docs(home: Path, tmp_path: Path) -> Path:
    docs = write_notes(tmp_path / "docs", 3)
    write_notes(docs / "archive", 2)
    assert runner.invoke(app, ["ingest", str(docs)]).exit_code == 0
    return docs


def listed() -> list[dict[str, object]]:
    result = runner.invoke(app, ["documents", "--json"])
    assert result.exit_code == 0, result.output
    documents: list[dict[str, object]] = json.loads(result.stdout)
    return documents


def test_documents_lists_source_chunks_size_and_modification_time(docs: Path) -> None:
    documents = listed()
    note = docs / "note0.md"
    assert [entry["source"] for entry in documents] == sorted(
        path.as_posix() for path in docs.rglob("*.md")
    )
    first = next(entry for entry in documents if entry["source"] == note.as_posix())
    assert first["chunks"] == 1 and first["size"] == note.stat().st_size
    # the store's float payloads may come back a unit in the last place off
    assert first["mtime"] == pytest.approx(note.stat().st_mtime, abs=1e-6)
    assert str(first["modified"]).endswith("+00:00")
    text = runner.invoke(app, ["documents"])
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["modified", "(UTC)", "size", "chunks", "source"]
    assert any(line.endswith(f"  {note.as_posix()}") and " 1 " in line for line in lines)
    assert "5 documents, 5 chunks; modified: the file's time when it was indexed" in lines[-1]


def test_documents_of_an_empty_index_says_how_to_fill_it(home: Path) -> None:
    result = runner.invoke(app, ["documents"])
    assert result.exit_code == 0 and "no documents" in result.stdout


def test_documents_prints_hostile_names_escaped(home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "evil\x1b]0;owned\x07.md").write_text("A note.\n", encoding="utf-8")
    assert runner.invoke(app, ["ingest", str(docs)]).exit_code == 0
    result = runner.invoke(app, ["documents"])
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil\\x1b]0;owned\\x07.md" in result.stdout


def test_remove_a_file_and_a_folder(docs: Path) -> None:
    result = runner.invoke(app, ["remove", str(docs / "note0.md"), str(docs / "archive")])
    assert result.exit_code == 0, result.output
    gone = [(docs / "note0.md").as_posix()] + [
        (docs / "archive" / f"note{number}.md").as_posix() for number in range(2)
    ]
    assert result.stdout.splitlines()[0] == "removed 3 documents"
    assert all(f"  - {source}" in result.stdout for source in gone)
    assert "index: 2 documents, 2 chunks" in result.stdout
    assert {entry["source"] for entry in listed()} == {
        (docs / "note1.md").as_posix(),
        (docs / "note2.md").as_posix(),
    }
    search = runner.invoke(app, ["search", "lanterns", "--path", str(docs / "archive"), "--json"])
    assert search.exit_code == 0 and json.loads(search.stdout) == []
    assert docs.joinpath("archive", "note0.md").is_file()  # the files stay on disk


def test_removing_what_is_not_indexed_is_one_line_and_removes_nothing(docs: Path) -> None:
    result = runner.invoke(app, ["remove", str(docs / "note0.md"), str(docs / "typo")])
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: nothing is indexed at {(docs / 'typo').as_posix()}")
    assert "nothing was removed" in result.stderr
    assert len(listed()) == 5


def test_a_relative_path_means_from_the_current_folder(
    docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(docs)
    result = runner.invoke(app, ["remove", "archive/", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["removed"] == [(docs / "archive" / f"note{n}.md").as_posix() for n in range(2)]
    assert report["index"]["documents"] == 3


def test_with_portable_paths_remove_takes_sources_as_listed(tmp_path: Path) -> None:
    docs = write_notes(tmp_path / "docs", 3)
    write_notes(docs / "archive", 2)
    with Index.open(Settings.load(home=tmp_path / "home", portable_paths=True)) as index:
        index.ingest(docs)
        assert index.remove(["docs/archive", "/docs/note0.md"]) == [
            "docs/archive/note0.md",
            "docs/archive/note1.md",
            "docs/note0.md",
        ]
        with pytest.raises(PathError, match="nothing is indexed at docs/archive"):
            index.remove("docs/archive")
        assert [record.source for record in index.documents()] == ["docs/note1.md", "docs/note2.md"]


async def test_remove_waits_for_no_ingest(settings: Settings, corpus: Path) -> None:
    async with await AsyncIndex.open(settings) as index:
        first = await index.ingest(corpus)
        running = asyncio.ensure_future(index.ingest(corpus / "prose"))
        await asyncio.sleep(0)  # the run has started and holds the index
        with pytest.raises(IngestBusyError, match="already running"):
            await index.remove(corpus / "code")
        await running
        removed = await index.remove(corpus / "code")
        assert removed and all("/code/" in source for source in removed)
        assert (await index.stats())["documents"] == len(first.indexed) - len(removed)


@pytest.mark.parametrize("command", ["watch", "documents", "remove"])
def test_home_collection_and_config_are_options_of_the_new_commands(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    for option in ("--home", "--collection", "--config", "--json"):
        assert option in result.stdout, f"{command} has no {option}"


def test_watch_of_a_missing_path_is_one_line_and_exit_2(home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["watch", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and "no such file or folder" in result.stderr


def test_eval_on_a_qdrant_server_drops_its_temporary_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """qdrant-client's local mode stands in for the server (same client, same calls)."""
    storage = str(tmp_path / "qdrant")
    created: list[str] = []

    def local_backend(settings: Settings) -> QdrantClientBackend:
        created.append(settings.collection)
        client = AsyncQdrantClient(path=storage)
        return QdrantClientBackend(client, settings.collection, location=storage)

    monkeypatch.setattr(QdrantClientBackend, "from_settings", staticmethod(local_backend))
    monkeypatch.setenv("RAGINDEX_QDRANT_URL", "http://127.0.0.1:6333")

    async def collections() -> set[str]:
        client = AsyncQdrantClient(path=storage)
        try:
            return {found.name for found in (await client.get_collections()).collections}
        finally:
            await client.close()

    async def a_user_collection() -> None:
        client = AsyncQdrantClient(path=storage)
        await client.create_collection("mine", vectors_config={})
        await client.close()

    asyncio.run(a_user_collection())
    dataset = write_beir(tmp_path / "tiny")
    for _ in range(2):  # each run gets a fresh collection, and drops it
        result = runner.invoke(app, ["eval", str(dataset), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["chunks"] == 5  # nothing left from the run before
    assert len(created) == 2 and created[0] != created[1]
    assert all(name.startswith("eval_tiny_") for name in created)
    assert asyncio.run(collections()) == {"mine"}


def test_watch_json_prints_one_escaped_json_object_per_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ragindex import IngestReport, PruneRequiredError
    from ragindex.cli_commands import _print_json_line
    from ragindex.watch import WatchRun

    indexed = WatchRun(1, ("/docs",), 0, 1.0, 2.0, IngestReport(indexed=["/docs/\x1b[2Jx.md"]))
    refused = WatchRun(2, ("/docs",), 3, 3.0, 4.0, error=PruneRequiredError("use --prune"))
    _print_json_line(indexed)
    _print_json_line(refused)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "\x1b" not in lines[0]
    first, second = (json.loads(line) for line in lines)
    assert first["report"]["indexed"] == ["/docs/\x1b[2Jx.md"] and first["report"]["ok"] is True
    assert second["report"] is None and second["error"] == "use --prune"
    assert second["changes"] == 3 and second["retry_s"] is None
