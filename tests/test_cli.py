"""The CLI as a user types it: ingest, search with filters, stats, JSON output, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragindex.cli import app

runner = CliRunner()


@pytest.fixture
def ingested(home: Path, corpus: Path) -> Path:
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 0, result.output
    return corpus


def search_json(*arguments: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["search", *arguments, "--json"])
    assert result.exit_code == 0, result.output
    hits: list[dict[str, object]] = json.loads(result.stdout)
    return hits


def sample_file_count(corpus: Path) -> int:
    """Files of the sample a user would expect indexed: all but hidden and .ragindexignore'd."""
    ignored = set((corpus / ".ragindexignore").read_text(encoding="utf-8").split())
    return sum(
        1
        for path in corpus.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.name not in ignored
    )


def test_ingest_prints_a_summary(home: Path, corpus: Path) -> None:
    files = sample_file_count(corpus)
    assert files >= 30
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 0
    assert f"indexed   │ {files} files" in result.stdout
    again = runner.invoke(app, ["ingest", str(corpus)])
    assert "0 files, 0 chunks" in again.stdout
    assert f"{files} files (nothing embedded)" in again.stdout


def test_ingest_json_lists_skipped_files_with_reasons(home: Path, corpus: Path) -> None:
    (corpus / "photo.png").write_bytes(b"\x89PNG\r\n")
    (corpus / "notes.txt").write_bytes(b"\x00\x00binary")
    result = runner.invoke(app, ["ingest", str(corpus), "--json"])
    report = json.loads(result.stdout)
    assert report["skipped"][str(corpus / "notes.txt")] == "binary content"
    assert report["skipped"][str(corpus / "photo.png")] == "unsupported file type (.png)"
    assert report["ok"] is True
    assert report["index"]["documents"] == sample_file_count(corpus) - 2


def test_exclude_option_leaves_files_out(home: Path, corpus: Path) -> None:
    result = runner.invoke(app, ["ingest", str(corpus), "--exclude", "code/", "--json"])
    indexed = json.loads(result.stdout)["indexed"]
    assert indexed and not any("/code/" in source for source in indexed)


def test_chinese_query_finds_the_cat_documents_first(ingested: Path) -> None:
    hits = search_json("猫坐在垫子上", "--k", "6")
    assert hits[0]["source"] == str(ingested / "prose" / "zh" / "猫.txt")
    cat_files = {"猫.txt", "猫.md", "katzen.md", "cats.md", "gatos.md", "chats.md"}
    assert {Path(str(hit["source"])).name for hit in hits} == cat_files


def test_code_query_finds_the_config_loaders(ingested: Path) -> None:
    hits = search_json("read a JSON config file", "--kind", "code", "--k", "3")
    assert {Path(str(hit["source"])).name for hit in hits} == {
        "config_loader.py",
        "config.rs",
        "config.js",
    }
    assert all(hit["kind"] == "code" for hit in hits)


def test_filters_by_language_kind_and_path(ingested: Path) -> None:
    german = search_json("cats", "--lang", "de")
    assert german and all(hit["language"] == "de" for hit in german)
    pdf = search_json("Wi-Fi channel", "--kind", "pdf", "--k", "1")
    assert pdf[0]["page"] == 2 and str(pdf[0]["source"]).endswith("home-network-handbook.pdf")
    rust_only = search_json("cache", "--path", str(ingested / "code" / "rust"))
    assert rust_only and all("/code/rust/" in str(hit["source"]) for hit in rust_only)


def test_relative_path_filter_means_relative_to_the_current_folder(
    ingested: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ingested)
    hits = search_json("configuration", "--path", "code/js")
    assert hits and all("/code/js/" in str(hit["source"]) for hit in hits)


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_every_search_mode_answers(ingested: Path, mode: str) -> None:
    hits = search_json("LruCache capacity", "--mode", mode, "--k", "1")
    assert Path(str(hits[0]["source"])).name == "lru_cache.rs"


def test_search_text_output_shows_location_and_text(ingested: Path) -> None:
    result = runner.invoke(app, ["search", "which Wi-Fi channel", "--k", "1"])
    assert "home-network-handbook.pdf (page 2)" in result.stdout
    assert "channels 1, 6 and 11" in result.stdout


def test_stats_json(ingested: Path) -> None:
    result = runner.invoke(app, ["stats", "--json"])
    stats = json.loads(result.stdout)
    assert stats["documents"] == sample_file_count(ingested) and stats["dimension"] == 512
    assert stats["model"] == "google/universal-sentence-encoder-multilingual-3"
    assert stats["store_bytes"] > 0


def test_search_on_an_empty_index_says_so(home: Path) -> None:
    result = runner.invoke(app, ["search", "anything"])
    assert result.exit_code == 0
    assert "no results" in result.stdout


def test_bad_option_value_is_an_error_not_a_traceback(home: Path) -> None:
    result = runner.invoke(app, ["search", "x", "--kind", "video"])
    assert result.exit_code == 2
    assert "--kind must be code, text or pdf" in result.output
    assert "Traceback" not in result.output


def test_exit_code_is_non_zero_only_when_something_failed(tmp_path: Path, corpus: Path) -> None:
    env = {**os.environ, "RAGINDEX_HOME": str(tmp_path / "cli-home")}
    command = [sys.executable, "-m", "ragindex.cli", "ingest"]
    ok = subprocess.run([*command, str(corpus / "prose")], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run(
        [*command, str(corpus / "missing")], env=env, capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert "missing: no such file or folder" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_invalid_setting_is_reported_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "RAGINDEX_HOME": str(tmp_path), "RAGINDEX_CHUNK_TOKENS": "three"}
    result = subprocess.run(
        [sys.executable, "-m", "ragindex.cli", "stats"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "invalid settings: chunk_tokens" in result.stderr
    assert "Traceback" not in result.stderr
