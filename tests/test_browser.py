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


# a Word document of three sections and a deck of three slides, each long enough to be a chunk
# of its own: a hit in them says which section, which slide
SECTIONS = {
    "Routers": [
        "Reboot the router when the uplink light blinks amber for more than five minutes.",
        "The router in the network closet keeps its logs for a week; read them before a reboot, "
        "since a reboot clears them.",
        "If the light stays amber after the reboot, call the provider's support line and give "
        "them the circuit number printed on the grey box beside the router.",
        "Never press the reset button on the back: it wipes the configuration, the guest "
        "network and the port forwarding rules that the door cameras rely on.",
        "A spare router, already configured, waits on the top shelf in a labelled box.",
    ],
    "Firmware": [
        "Flash the router firmware only over a wired connection, never over Wi-Fi.",
        "Keep the previous firmware image on the closet laptop so that a failed update can be "
        "rolled back without waiting for the manufacturer's site.",
        "Read the release notes first: some updates reset the DNS servers to the provider's.",
        "Updates happen on the first Monday of the month, before the office opens, and the "
        "version installed is written in the closet binder with the date.",
        "Switches and access points are updated a week after the router, one at a time.",
        "If an update fails halfway, power the router off for a minute and load the old image.",
    ],
    "Switches": [
        "Label every patch cable at both ends, and note the switch port of each desk in the "
        "closet binder.",
        "Unused switch ports stay disabled, so that a visitor cannot plug into the office "
        "network from a meeting room.",
        "The phones are on their own network, tagged on the ports of the desks that have one.",
        "When a switch is replaced, copy its configuration from the binder's last backup and "
        "check each port's link light before the old one leaves the building.",
        "The uplink between the two switches uses the two fibre ports; do not unplug them.",
        "Spare patch cables, in three lengths, hang on the hooks to the left of the rack.",
    ],
}
SLIDES = {
    "Quarterly review": [
        "Revenue grew in every region this quarter, led by the northern ferry routes",
        "Freight on the island route doubled after the new pier opened in March",
        "Costs stayed flat: fuel cost more, and repairs cost less with the newer boats",
        "Customer complaints fell by a third, most of them about the booking site",
        "The summer timetable sold out two weeks earlier than last year",
    ],
    "Hiring": [
        "Two lighthouse keepers join in spring, one for each of the outer lights",
        "They train on the lamp and the fog signal for a month before a night watch alone",
        "The keepers' cottages need new roofs before they move in",
        "We keep looking for a second ferry engineer for the winter season",
        "The ticket office in the harbour needs one more person on weekends",
    ],
    "Risks": [
        "Storm season delays the ferry schedule; the harbour master may close the port",
        "The oldest boat is due for dry dock and leaves a gap in the timetable for six weeks",
        "Fuel prices follow the market and the contract ends in November",
        "The booking site's provider is being bought and may change its prices",
        "Two of the captains retire next year and their licences are hard to replace",
    ],
}
NOTES = {
    "Quarterly review": "Start with the pier: the board asked about it last time. The freight "
    "figures are in the appendix, by month and by route, with last year's beside them. Leave "
    "time for questions on the booking site: the new provider's contract is on the next agenda.",
    "Hiring": "Mention the relocation budget, and that both keepers come from the coast guard. "
    "The training plan was agreed with the union in January; the roofs are quoted, not ordered. "
    "The engineer's post has been open since October: say what the agency has sent us so far.",
    "Risks": "The dry dock dates may move by a week. Ask the board whether we renew the fuel "
    "contract now or wait for the autumn prices; finance prefers to wait. The captains' "
    "retirements are known to the crews already: the question is how we train their successors.",
}


def write_handbook_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    for heading, paragraphs in SECTIONS.items():
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def write_review_pptx(path: Path) -> Path:
    import pptx

    presentation = pptx.Presentation()
    for title, points in SLIDES.items():
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = "\n".join(points)
        slide.notes_slide.notes_text_frame.text = NOTES[title]
    presentation.save(str(path))
    return path


@pytest.fixture
def office_page_url(tmp_path: Path, corpus: Path, chromium: str) -> Iterator[str]:
    """The sample corpus with a Word document and a PowerPoint deck beside it."""
    office = corpus / "office"
    office.mkdir()
    write_handbook_docx(office / "network-closet.docx")
    write_review_pptx(office / "quarterly-review.pptx")
    home = tmp_path / "home"
    with Index.open(Settings.load(home=home)) as index:
        report = index.ingest([corpus])
        assert report.ok
        assert {str(office / "network-closet.docx"), str(office / "quarterly-review.pptx")} <= set(
            report.indexed
        )
    with streamlit_server({"RAGINDEX_HOME": str(home)}) as url:
        yield url


def test_office_documents_show_their_section_and_slide(office_page_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1250})
        page.goto(office_page_url)
        page.get_by_placeholder("Ask in any language, or search code…").wait_for(timeout=90_000)
        search_and_wait(page, "reboot the router, hire lighthouse keepers", "/office/")
        # each hit says where in its file it is: the Word section, the slide
        for name, where in (
            ("network-closet.docx", "Routers"),
            ("quarterly-review.pptx", "slide 2"),
        ):
            header = re.compile(rf"^\d+\. \S+/office/{re.escape(name)}  \({where}\)$")
            expect(page.get_by_text(header)).to_have_count(1, timeout=30_000)
        expect(page.get_by_text(re.compile(r"^text · en · \d+% similar$")).first).to_be_visible()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "office-results.png"), full_page=False)
        browser.close()
    if os.environ.get("RAGINDEX_UPDATE_SCREENSHOTS"):
        shutil.copy(ARTIFACTS / "office-results.png", REPO / "ui" / "screenshots")


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
