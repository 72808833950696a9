"""The CLI as a user types it: ingest, search with filters, stats, JSON output, exit codes, one
line for every error, and names that cannot take over the terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_mixed_corpus
from fpdf import FPDF
from PIL import Image
from sglang_standin import StandIn
from typer.testing import CliRunner

from ragindex import Index, IngestAborted, IngestReport, Settings
from ragindex.cli import app
from ragindex.cli_output import error_line, printable

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


def test_bad_option_value_is_one_line_not_a_traceback(home: Path) -> None:
    for arguments in (["search", "x", "--kind", "video"], ["search", "x", "--mode", "fuzzy"]):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: Invalid value")
        assert "Traceback" not in result.output


def help_text(*command: str) -> str:
    """`--help` of a command as one line of words (the help is wrapped to the terminal)."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.replace("│", " ").split())


def test_mode_and_kind_are_choices_shown_in_help() -> None:
    text = help_text("search")
    assert "hybrid|dense|sparse" in text and "code|text|pdf" in text
    assert "auto, general, code, or a custom instruction" in text
    assert "hybrid|dense|sparse" in help_text("eval")


@pytest.mark.parametrize("command", ["ingest", "search", "stats", "optimize"])
def test_home_collection_and_config_are_options_of_every_command(command: str) -> None:
    text = help_text(command)
    for option in ("--home", "--collection", "--config"):
        assert option in text, f"{command} has no {option}"


def test_home_and_collection_pick_the_index(tmp_path: Path) -> None:
    docs = write_mixed_corpus(tmp_path / "docs", 6, seed=1)
    elsewhere = tmp_path / "elsewhere"
    ingested = runner.invoke(
        app, ["ingest", str(docs), "--home", str(elsewhere), "--collection", "notes"]
    )
    assert ingested.exit_code == 0, ingested.output
    assert (elsewhere).is_dir() and not (tmp_path / ".ragindex").exists()

    def documents(*arguments: str) -> int:
        result = runner.invoke(app, [*arguments, "--json"])
        assert result.exit_code == 0, result.output
        count: int = json.loads(result.stdout)["documents"]
        return count

    assert documents("stats", "--home", str(elsewhere), "--collection", "notes") == 6
    # given before the command, they mean the same
    assert documents("--home", str(elsewhere), "--collection", "notes", "stats") == 6
    assert documents("stats", "--home", str(elsewhere)) == 0  # the default collection: empty
    hits = runner.invoke(
        app, ["--home", str(elsewhere), "search", "harbour", "--collection", "notes", "--json"]
    )
    assert hits.exit_code == 0 and json.loads(hits.stdout), hits.output


def test_stats_names_the_settings_file_it_read(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # the path on one line
    none = runner.invoke(app, ["stats", "--json"])
    assert json.loads(none.stdout)["settings_files"] == []
    user_file = Path(os.environ["XDG_CONFIG_HOME"]) / "ragindex" / "config.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("chunk_overlap = 16\n", encoding="utf-8")
    text = runner.invoke(app, ["stats"])
    assert text.exit_code == 0, text.output
    assert re.search(rf"settings file +│ {re.escape(str(user_file))} ", text.stdout), text.stdout
    assert json.loads(runner.invoke(app, ["stats", "--json"]).stdout)["settings_files"] == [
        str(user_file)
    ]


def test_exit_codes_failed_files_1_and_errors_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0: all indexed; 1: the run finished but files failed (listed); 2: it could not run."""
    docs = write_mixed_corpus(tmp_path / "docs", 4, seed=2)
    monkeypatch.setenv("RAGINDEX_HOME", str(tmp_path / "cli-home"))
    command = [sys.executable, "-m", "ragindex.cli", "ingest"]
    ok = subprocess.run([*command, str(docs)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run([*command, str(tmp_path / "missing")], capture_output=True, text=True)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    assert "missing" in missing.stderr and "no such file or folder" in missing.stderr
    # a server with a tiny context refuses every chunk: each document fails, the run finishes
    with StandIn(context_tokens=40) as broken:
        monkeypatch.setenv("RAGINDEX_HOME", str(tmp_path / "nan-home"))
        monkeypatch.setenv("RAGINDEX_EMBED_URL", broken.url)
        monkeypatch.setenv("RAGINDEX_DIM", "64")
        failed = subprocess.run([*command, str(docs)], capture_output=True, text=True)
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.count("failed: ") == 4 and "Traceback" not in failed.stderr


def test_invalid_setting_is_reported_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "RAGINDEX_HOME": str(tmp_path), "RAGINDEX_CHUNK_TOKENS": "three"}
    result = subprocess.run(
        [sys.executable, "-m", "ragindex.cli", "stats"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid settings: chunk_tokens")
    assert "RAGINDEX_CHUNK_TOKENS" in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_a_run_that_would_remove_most_of_a_folder_needs_prune(home: Path, tmp_path: Path) -> None:
    docs = write_mixed_corpus(tmp_path / "docs", 6, seed=3)
    assert runner.invoke(app, ["ingest", str(docs)]).exit_code == 0
    for path in sorted(docs.rglob("*.*"))[:5]:
        path.unlink()
    refused = runner.invoke(app, ["ingest", str(docs)])
    assert refused.exit_code == 2
    assert refused.stdout == "" and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: ") and "--prune" in refused.stderr
    with Index.open(Settings.load(home=home)) as index:
        assert index.stats()["documents"] == 6  # nothing was removed
    pruned = runner.invoke(app, ["ingest", str(docs), "--prune", "--json"])
    assert pruned.exit_code == 0, pruned.output
    report = json.loads(pruned.stdout)
    assert len(report["removed"]) == 5 and report["index"]["documents"] == 1


def test_a_lost_server_is_one_line_with_how_far_the_run_got(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_mixed_corpus(tmp_path / "docs", 30, seed=4)
    # the probe is the first request: the server vanishes for good during the run
    with StandIn(die_after=4) as dying:
        for name, value in {
            "EMBED_URL": dying.url,
            "EMBED_MAX_INPUTS": "4",
            "EMBED_MAX_ATTEMPTS": "2",
            "DIM": "64",
        }.items():
            monkeypatch.setenv(f"RAGINDEX_{name}", value)
        result = runner.invoke(app, ["ingest", str(docs)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "run the same command again" in result.stderr
    monkeypatch.delenv("RAGINDEX_EMBED_URL")  # the count is read without the server
    with Index.open(Settings.load(home=home, embed_url="http://127.0.0.1:9/v1")) as index:
        committed = index.stats()["documents"]
    assert f"{committed:,} documents were committed before the stop" in result.stderr


def test_an_aborted_run_says_what_failed_what_was_committed_and_how_to_resume() -> None:
    report = IngestReport(indexed=["a.md", "b.md", "c.md"])
    line = error_line(IngestAborted("cannot reach the embedding server\nat all", report))
    assert line == (
        "error: ingest stopped: cannot reach the embedding server\\nat all; 3 documents were "
        "committed before the stop and stay indexed; run the same command again to resume"
    )


def test_a_document_indexed_in_part_is_reported(home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "scans"
    docs.mkdir()
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 7, "Minutes of the harbour committee: the lantern is to be repaired.")
    pdf.add_page()
    pdf.image(Image.new("L", (40, 40)), x=20, y=20, w=100)  # a scanned page: no text layer
    pdf.output(str(docs / "minutes.pdf"))
    result = runner.invoke(app, ["ingest", str(docs)])
    assert result.exit_code == 0, result.output  # indexed, with a warning: not a failure
    assert "partly    │ 1 files indexed in part" in result.stdout
    assert result.stderr.startswith(f"partly indexed: {docs / 'minutes.pdf'}: 1 of 2 pages")
    assert result.stderr.count("\n") == 1
    again = json.loads(runner.invoke(app, ["ingest", str(docs), "--json"]).stdout)
    assert again["warnings"] == {} and again["unchanged"] == 1


# --- names someone else chose: they cannot take over the terminal ------------------------------
HOSTILE_NAMES = [
    "retitle\x1b]0;pwned\x07.txt",  # sets the terminal's title
    "clear\x1b[2J\x1b[H.md",  # clears the screen
    "forged\nfailed: everything.txt",  # a newline forges a line of the report
    "tab\there.txt",
    "csi\x9b31m.txt",  # C1: the one-byte CSI
    "del\x7f.txt",
    "bidi\u202eexe.txt",  # right-to-left override: reads as "bidi" then "txt.exe"
]


def raw_controls(text: str) -> set[str]:
    """Control characters in `text` other than the newlines that separate its lines."""
    return {char for char in text if char != "\n" and printable(char) != char}


def write_hostile_folder(root: Path) -> Path:
    root.mkdir()
    for name in HOSTILE_NAMES:
        # the name inside the text too, raw: whatever of it the reader keeps is printed escaped
        text = f"The lantern by the harbour, a note called {name}.\x1b[31m red\x1b[0m text.\n"
        text += "Boats sway in the evening tide while the keeper trims the wick. " * 4
        (root / name).write_text(text, encoding="utf-8")
    (root / "skip\x1b[2J.png").write_bytes(b"\x89PNG\r\n")  # skipped: its name is listed
    (root / "empty\x1b]0;x\x07.txt").write_bytes(b"")
    return root


def test_hostile_names_are_indexed_and_printed_escaped(home: Path, tmp_path: Path) -> None:
    docs = write_hostile_folder(tmp_path / "hostile")
    ingested = runner.invoke(app, ["ingest", str(docs)])
    assert ingested.exit_code == 0, ingested.output
    assert not raw_controls(ingested.output), ingested.output
    assert f"indexed   │ {len(HOSTILE_NAMES)} files" in ingested.stdout
    assert "skip\\x1b[2J.png: unsupported file type" in ingested.stdout
    assert "empty\\x1b]0;x\\x07.txt" in ingested.stdout

    found = runner.invoke(app, ["search", "lantern harbour", "--k", "20", "--full"])
    assert found.exit_code == 0, found.output
    assert not raw_controls(found.output), found.output
    for name in HOSTILE_NAMES:
        assert printable(name) in found.stdout
    assert "forged\\nfailed: everything.txt" in found.stdout

    # JSON: no raw control character either, and the names come back exact
    as_json = runner.invoke(app, ["search", "lantern harbour", "--k", "20", "--json"])
    assert not raw_controls(as_json.stdout)
    sources = {Path(str(hit["source"])).name for hit in json.loads(as_json.stdout)}
    assert sources == set(HOSTILE_NAMES)


def test_failed_hostile_names_are_escaped_too(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_hostile_folder(tmp_path / "hostile")
    with StandIn(context_tokens=40) as broken:  # every chunk is refused as too long
        monkeypatch.setenv("RAGINDEX_EMBED_URL", broken.url)
        monkeypatch.setenv("RAGINDEX_DIM", "64")
        result = runner.invoke(app, ["ingest", str(docs)])
    assert result.exit_code == 1, result.output
    assert not raw_controls(result.output), result.output
    # one line per file: the name with a newline in it forged no line of its own
    lines = result.stderr.splitlines()
    assert len(lines) == len(HOSTILE_NAMES) and all(line.startswith("failed: ") for line in lines)
    assert f"failed: {docs}/forged\\nfailed: everything.txt: " in result.stderr


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable("a\x1b[2Jb\x07\x00\x7f\x9b\u202e") == "a\\x1b[2Jb\\x07\\x00\\x7f\\x9b\\u202e"
    assert printable("line\nnext\tcell\r") == "line\\nnext\\tcell\\r"
    assert printable("line\nnext\tcell", layout=True) == "line\nnext\tcell"
    assert printable("猫.txt — café [bold]") == "猫.txt — café [bold]"
