"""The page in a real browser: Debian's headless Chromium, driven by Playwright, against
`streamlit run ui/app.py` on a loopback port. Screenshots go to tests/artifacts/ (and, with
RAGINDEX_UPDATE_SCREENSHOTS=1, to ui/screenshots/ for the README)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import REPO, write_mixed_corpus
from test_ui import HELD_SERVER_SETTINGS, HOSTILE, GatedStandIn

from ragindex import Index, Settings

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
# the flags this machine's closed network needs (env notes): no background connections
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def streamlit_server(env: dict[str, str]) -> Iterator[str]:
    """`streamlit run ui/app.py` on a free loopback port with `env`; yields its URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "ui" / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--client.toolbarMode",
            "minimal",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(20)


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("RAGINDEX_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here (apt-get install chromium)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def page_url(tmp_path: Path, corpus: Path, chromium: str) -> Iterator[str]:
    (corpus / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    home = tmp_path / "home"
    with Index.open(Settings.load(home=home)) as index:
        assert index.ingest([corpus]).ok
    with streamlit_server({"RAGINDEX_HOME": str(home)}) as url:
        yield url


def search_and_wait(page: Page, query: str, first_result: str) -> None:
    """Type a query, then wait until the page has finished re-rendering (Streamlit keeps the
    previous run's elements on screen, marked stale, until each is replaced) and the top
    result is the expected one."""
    from playwright.sync_api import expect

    box = page.get_by_placeholder("Ask in any language, or search code…")
    box.fill(query)
    box.press("Enter")
    expect(page.get_by_text(re.compile(r"^1\. ")).first).to_contain_text(
        first_result, timeout=60_000
    )
    page.wait_for_function(
        "() => document.querySelectorAll('[data-stale=\"true\"]').length === 0",
        timeout=30_000,
    )
    expect(page.get_by_text(re.compile(r"^1\. ")).first).to_contain_text(first_result)


def test_search_in_a_real_browser(page_url: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(page_url)
        box = page.get_by_placeholder("Ask in any language, or search code…")
        box.wait_for(timeout=90_000)

        search_and_wait(page, "猫坐在垫子上", "prose/zh/猫.txt")
        page.get_by_text("katzen.md", exact=False).first.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "multilingual-query.png"), full_page=False)

        search_and_wait(page, "read a JSON config file", "code/rust/config.rs")
        page.get_by_text("config_loader.py", exact=False).first.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "code-query.png"), full_page=False)

        search_and_wait(page, "pelican report", "hostile.md")
        # the document's markup is on the page as text, and none of it ran
        page.get_by_text('<script>window.__pwned = 1; alert("pwned")</script>').first.wait_for(
            timeout=10_000
        )
        assert page.evaluate("() => window.__pwned") is None
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator('a[href^="javascript:"]').count() == 0
        page.screenshot(path=str(ARTIFACTS / "hostile-document.png"), full_page=False)
        browser.close()
    assert dialogs == []
    if os.environ.get("RAGINDEX_UPDATE_SCREENSHOTS"):
        target = REPO / "ui" / "screenshots"
        target.mkdir(exist_ok=True)
        for name in ("multilingual-query.png", "code-query.png"):
            shutil.copy(ARTIFACTS / name, target / name)


@pytest.fixture
def gated_server() -> Iterator[GatedStandIn]:
    with GatedStandIn() as server:
        try:
            yield server
        finally:
            server.gate.set()


@pytest.fixture
def ingest_page_url(tmp_path: Path, chromium: str, gated_server: GatedStandIn) -> Iterator[str]:
    """A page that may index under `shared/`: `shared/notes/` holds two short notes,
    `shared/archive/` many files, most of which the embedding server holds back until the test
    lets them go."""
    root = tmp_path / "shared"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "otters.md").write_text("# Otters\n\nOtters sleep holding hands.\n")
    (root / "notes" / "tea.txt").write_text("Green tea wants water below boiling.\n")
    write_mixed_corpus(root / "archive", 120, seed=11)
    gated_server.hold_after = 40  # the notes' requests, and some of the archive's, go through
    env = {
        "RAGINDEX_HOME": str(tmp_path / "home"),
        "RAGINDEX_UI_INGEST_ROOTS": str(root),
        "RAGINDEX_EMBED_URL": gated_server.url,
        **HELD_SERVER_SETTINGS,
    }
    with streamlit_server(env) as url:
        yield url


def wait_until_drawn(page: Page) -> None:
    page.wait_for_function(
        "() => document.querySelectorAll('[data-stale=\"true\"]').length === 0",
        timeout=30_000,
    )


def index_folder(page: Page, typed: str) -> None:
    from playwright.sync_api import expect

    box = page.get_by_role("textbox", name="Folder or file to index")
    box.wait_for(timeout=90_000)
    box.fill(typed)
    box.press("Enter")
    start = page.get_by_role("button", name="Index it")
    expect(start).to_be_enabled(timeout=30_000)
    start.click()


def test_the_ingest_panel_polls_on_every_visitors_page(
    ingest_page_url: str, gated_server: GatedStandIn
) -> None:
    """What AppTest cannot show: in a real browser the panel follows a run by itself, on every
    visitor's page, and the page redraws its counts once the run ends, without a reload."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    viewport = {"width": 1400, "height": 1000}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        starter = browser.new_context(viewport=viewport).new_page()
        starter.goto(ingest_page_url)
        documents = starter.get_by_test_id("stMetricValue").first
        expect(documents).to_have_text("0", timeout=90_000)

        # a short run: its end shows up by itself, and the index's counts with it
        index_folder(starter, "notes")
        expect(starter.get_by_text("Last run")).to_be_visible(timeout=120_000)
        expect(starter.get_by_text("2 indexed, 0 unchanged, 0 removed")).to_be_visible()
        expect(documents).to_have_text("2", timeout=30_000)

        # a run held at the embedding server: running, for every visitor
        index_folder(starter, "archive")
        expect(starter.get_by_text("Indexing…")).to_be_visible(timeout=60_000)
        expect(starter.get_by_role("button", name="Index it")).to_be_disabled(timeout=30_000)
        deadline = time.monotonic() + 300
        while not gated_server.held:
            assert time.monotonic() < deadline, "the ingest never reached the embedding server"
            time.sleep(0.2)
        other = browser.new_context(viewport=viewport).new_page()  # a session of its own
        other.goto(ingest_page_url)
        expect(other.get_by_text("Indexing…")).to_be_visible(timeout=90_000)
        expect(other.get_by_role("button", name="Index it")).to_be_disabled()
        other.get_by_role("button", name="Stop").scroll_into_view_if_needed()
        wait_until_drawn(other)
        other.screenshot(path=str(ARTIFACTS / "ingest-running.png"), full_page=False)

        other.get_by_role("button", name="Stop").click()
        expect(other.get_by_text("Stopping…").first).to_be_visible(timeout=30_000)
        gated_server.gate.set()  # the files in flight may finish; no new one starts
        for page in (starter, other):
            expect(page.get_by_text(re.compile(r"^Stopped: \d+ indexed"))).to_be_visible(
                timeout=120_000
            )
            expect(page.get_by_text("Indexing…")).to_have_count(0)
        expect(starter.get_by_role("button", name="Index it")).to_be_enabled()
        browser.close()
    if os.environ.get("RAGINDEX_UPDATE_SCREENSHOTS"):
        shutil.copy(ARTIFACTS / "ingest-running.png", REPO / "ui" / "screenshots")
