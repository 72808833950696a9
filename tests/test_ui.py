"""The search page, driven by Streamlit's AppTest: search, filters, examples, empty and error
states, and hostile documents shown as inert text."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, index_held_by_another_process
from streamlit.testing.v1 import AppTest

from ragindex import Index, Settings

APP = str(REPO / "ui" / "app.py")
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


def test_page_explains_when_another_process_holds_the_index(indexed: Path, home: Path) -> None:
    with index_held_by_another_process(home):
        page = run_page()
        assert any("held by another process" in error.value for error in page.error)
        assert any("open in another process" in text for text in shown_texts(page))
