"""API keys are sent only to their servers and appear nowhere else: not in output, errors,
logs, `ragindex stats`, settings dumps or the UI."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from sglang_standin import StandIn
from streamlit.testing.v1 import AppTest

from ragindex import Index, Settings

EMBED_KEY = "sk-embed-5f1c0ffee0ddba11"
QDRANT_KEY = "qd-key-8badf00d1337c0de"


@pytest.fixture
def server() -> Iterator[StandIn]:
    with StandIn(api_key=EMBED_KEY) as running:
        yield running


def run_cli(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragindex.cli", *arguments],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_no_key(*outputs: str) -> None:
    for output in outputs:
        assert EMBED_KEY not in output and QDRANT_KEY not in output


def test_keys_reach_the_server_and_no_output(server: StandIn, tmp_path: Path, corpus: Path) -> None:
    env = {
        "RAGINDEX_HOME": str(tmp_path / "home"),
        "RAGINDEX_EMBED_URL": server.url,
        "RAGINDEX_EMBED_API_KEY": EMBED_KEY,
        "RAGINDEX_DIM": "64",
    }
    runs = [
        run_cli("ingest", str(corpus), env=env),
        run_cli("ingest", str(corpus), "--json", env=env),
        run_cli("search", "cats on mats", env=env),
        run_cli("stats", env=env),
        run_cli("stats", "--json", env=env),
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert_no_key(run.stdout, run.stderr)
    assert server.requests, "the server answered only requests that carried its key"


def test_a_refused_key_is_reported_without_showing_it(
    server: StandIn, tmp_path: Path, corpus: Path
) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    run = run_cli(
        "ingest",
        str(corpus),
        env={
            "RAGINDEX_HOME": str(tmp_path / "home"),
            "RAGINDEX_EMBED_URL": server.url,
            "RAGINDEX_EMBED_API_KEY": wrong,
        },
    )
    assert run.returncode == 2
    assert "API key" in run.stderr and "Traceback" not in run.stderr
    assert wrong not in run.stdout + run.stderr


def test_an_unreachable_qdrant_error_does_not_show_its_key(tmp_path: Path, corpus: Path) -> None:
    run = run_cli(
        "ingest",
        str(corpus),
        env={
            "RAGINDEX_HOME": str(tmp_path / "home"),
            "RAGINDEX_QDRANT_URL": "http://127.0.0.1:9",
            "RAGINDEX_QDRANT_API_KEY": QDRANT_KEY,
        },
    )
    assert run.returncode == 2
    assert_no_key(run.stdout, run.stderr)


def test_debug_logs_and_settings_dumps_hold_no_key(
    server: StandIn, tmp_path: Path, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.load(
        home=tmp_path / "home",
        embed_url=server.url,
        embed_api_key=EMBED_KEY,
        qdrant_api_key=QDRANT_KEY,
        dim=64,
    )
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at this level
    with Index.open(settings) as index:
        index.ingest([corpus])
        index.search("a JSON config loader", k=3)
        stats = index.stats()
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert_no_key(
        caplog.text, repr(settings), str(settings), settings.model_dump_json(), str(stats)
    )


def _page_text(page: AppTest) -> str:
    """Everything the page sends to the browser, as text."""
    parts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(page._tree)
    return "\n".join(parts)


def test_the_ui_shows_no_key(
    server: StandIn, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "RAGINDEX_HOME": str(tmp_path / "home"),
        "RAGINDEX_EMBED_URL": server.url,
        "RAGINDEX_EMBED_API_KEY": EMBED_KEY,
        "RAGINDEX_DIM": "64",
    }.items():
        monkeypatch.setenv(name, value)
    with Index.open(Settings.load()) as index:
        assert index.ingest([corpus]).ok
    page = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=120)
    page.run()
    page.text_input(key="query").input("read a JSON config file").run()
    assert not page.exception, page.exception
    shown = _page_text(page)
    assert "config" in shown  # results are on the page: the check looks at a full page
    assert server.url.removesuffix("/v1") in shown or "Qwen" in shown
    assert_no_key(shown)
