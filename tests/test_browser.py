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
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import REPO
from test_ui import HOSTILE

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


@pytest.fixture
def page_url(tmp_path: Path, corpus: Path) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("RAGINDEX_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here (apt-get install chromium)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    (corpus / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    home = tmp_path / "home"
    with Index.open(Settings.load(home=home)) as index:
        assert index.ingest([corpus]).ok
    port = free_port()
    env = {**os.environ, "RAGINDEX_HOME": str(home)}
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
        env=env,
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
