"""ragindex's search page: `streamlit run ui/app.py` (settings from RAGINDEX_* / ragindex.toml).

It uses the public `ragindex` API only. Indexed documents are untrusted: their text, file names
and paths are shown with `st.text` / `st.code`, which render literally, never as Markdown or
HTML. The page serves no files from disk.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from ragindex import Hit, Index, Progress, RagindexError, Settings, StoreLockedError
from ragindex.sparse import terms

PREVIEW_CHARS = 700
EXAMPLES = [
    ("猫坐在垫子上", "zh"),
    ("Die Katze schläft auf der Matte", "de"),
    ("read a JSON config file", "code"),
    ("which Wi-Fi channel should I use", "pdf"),
    ("¿Cómo se producen las mareas?", "es"),
    ("LRU cache eviction", "code"),
]
LANGUAGE_NAMES = {
    "en": "English",
    "zh": "Chinese",
    "ja": "Japanese",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "python": "Python",
    "rust": "Rust",
    "javascript": "JavaScript",
}


@st.cache_resource(show_spinner="Opening the index…")
def open_index(settings_key: str) -> Index:
    """One index per server process (and per settings): the store stays open across reruns."""
    return Index.open(Settings.load())


def current_index() -> Index | None:
    settings = Settings.load()
    try:
        return open_index(f"{settings.home.resolve()}|{settings.collection}|{settings.qdrant_url}")
    except StoreLockedError as error:
        st.error("The index is held by another process.")
        st.text(str(error))
        st.info("Stop that process (an ingest from the command line?), then reload the page.")
    except RagindexError as error:
        st.error("The index could not be opened.")
        st.text(str(error))
    return None


@st.cache_data(ttl=10, show_spinner=False)
def index_facets(_index: Index, key: str) -> tuple[list[str], list[str]]:
    documents = _index.documents()
    return (
        sorted({record.language for record in documents if record.language}),
        sorted({record.kind for record in documents}),
    )


def sidebar(index: Index) -> dict[str, Any]:
    stats = index.stats()
    languages, kinds = index_facets(index, f"{stats['documents']}-{stats['chunks']}")
    with st.sidebar:
        st.header("Search options")
        mode = st.radio(
            "Mode",
            ["hybrid", "dense", "sparse"],
            horizontal=True,
            help="hybrid fuses meaning (dense) and exact terms (sparse)",
        )
        k = st.slider("Results", 1, 50, 10)
        language = st.selectbox(
            "Language",
            ["any", *languages],
            format_func=lambda code: LANGUAGE_NAMES.get(code, code),
        )
        kind = st.selectbox("Kind", ["any", *kinds])
        path = st.text_input("Path prefix", placeholder="a folder or a file")
        task = "auto"
        if stats.get("query_instructions"):
            task = st.selectbox(
                "Query task",
                ["auto", "general", "code"],
                help="the instruction the embedding model gets with the query",
            )
        index_panel(stats)
        ingest_panel(index)
    return {
        "mode": mode,
        "k": k,
        "task": task,
        "filters": {
            "language": None if language == "any" else language,
            "kind": None if kind == "any" else kind,
            "path": path.strip() or None,
        },
    }


def index_panel(stats: dict[str, Any]) -> None:
    st.header("Index")
    left, right = st.columns(2)
    left.metric("Documents", f"{stats['documents']:,}")
    right.metric("Chunks", f"{stats['chunks']:,}")
    st.text(f"model: {stats['model']}\ndimension: {stats['dimension']}\nstore: {stats['store']}")
    if stats.get("store_bytes"):
        st.text(f"size on disk: {stats['store_bytes'] / 1e6:,.1f} MB")
    embedder = stats.get("embedder", {})
    if embedder.get("requests"):
        st.text(
            f"embedder: p50 {embedder.get('latency_p50_ms', 0):.0f} ms, "
            f"p99 {embedder.get('latency_p99_ms', 0):.0f} ms, "
            f"{embedder['requests_per_s']:.2f} req/s, {embedder['failures']:.0f} failures"
        )


def ingest_panel(index: Index) -> None:
    st.header("Add documents")
    if not index.settings.qdrant_url:
        st.caption(
            "This page holds the embedded index open, so `ragindex ingest` from a terminal is "
            "refused while it runs: index folders from here, or use a Qdrant server."
        )
    folder = st.text_input("Folder or file to index", key="ingest_path")
    if st.button("Index it", disabled=not folder.strip()):
        run_ingest(index, folder.strip())


def run_ingest(index: Index, folder: str) -> None:
    """Ingest in a worker thread; this script thread polls its progress into the page."""
    latest: dict[str, Progress] = {}
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["report"] = index.ingest([folder], progress=lambda p: latest.update(last=p))
        except RagindexError as error:
            outcome["error"] = error

    bar = st.progress(0.0, text="starting…")
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.25)
        progress = latest.get("last")
        if progress and progress.files_total:
            bar.progress(
                min(1.0, progress.files_done / progress.files_total),
                text=f"{progress.files_done}/{progress.files_total} files, "
                f"{progress.chunks:,} chunks",
            )
    bar.empty()
    if "error" in outcome:
        st.error("Indexing failed.")
        st.text(str(outcome["error"]))
        return
    report = outcome["report"]
    st.success(
        f"{len(report.indexed)} indexed, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed, {len(report.skipped)} skipped, "
        f"{len(report.failed)} failed"
    )
    problems = {**report.skipped, **report.failed}
    if problems:
        with st.expander("Skipped and failed files"):
            st.text("\n".join(f"{source}: {reason}" for source, reason in problems.items()))
    index_facets.clear()


def set_query(query: str) -> None:
    st.session_state["query"] = query  # a callback runs before the widgets are drawn


def example_buttons() -> None:
    st.caption("Examples")
    columns = st.columns(len(EXAMPLES))
    for column, (query, _label) in zip(columns, EXAMPLES, strict=True):
        column.button(
            query,
            key=f"example-{query}",
            on_click=set_query,
            args=(query,),
            use_container_width=True,
        )


def display_path(source: str) -> str:
    """Sources under the folder the page was started in are shown relative to it."""
    try:
        return Path(source).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return source


def location(hit: Hit) -> str:
    if hit.page is not None:
        return f"{display_path(hit.source)}  (page {hit.page})"
    return f"{display_path(hit.source)}  (lines {hit.line_start}-{hit.line_end})"


def preview(text: str, query_terms: set[str]) -> tuple[str, list[str]]:
    """The part of a long chunk around its first matching term, and the terms that match."""
    matched = sorted(query_terms & set(terms(text)))
    if len(text) <= PREVIEW_CHARS:
        return text, matched
    lowered = text.lower()
    positions = [lowered.find(term) for term in matched if lowered.find(term) >= 0]
    start = max(0, min(positions) - PREVIEW_CHARS // 4) if positions else 0
    start = text.rfind("\n", 0, start) + 1 if start else 0  # begin at a line
    excerpt = text[start : start + PREVIEW_CHARS]
    return ("… " if start else "") + excerpt + " …", matched


def show_hit(rank: int, hit: Hit, query_terms: set[str]) -> None:
    with st.container(border=True):
        header, badges = st.columns([4, 1])
        header.text(f"{rank}. {location(hit)}")
        badges.text(f"{hit.kind} · {hit.language or '?'} · {hit.score:.4f}")
        if hit.heading:
            st.text(f"§ {hit.heading}")
        shown, matched = preview(hit.text, query_terms)
        if hit.kind == "code":
            st.code(shown, language=hit.language or None, line_numbers=False, wrap_lines=True)
        else:
            st.text(shown)
        if matched:
            st.text("matched terms: " + ", ".join(matched))
        if shown != hit.text:
            with st.expander(f"show all {hit.text.count(chr(10)) + 1} lines"):
                if hit.kind == "code":
                    st.code(hit.text, language=hit.language or None, wrap_lines=True)
                else:
                    st.text(hit.text)


def results(index: Index, query: str, options: dict[str, Any]) -> None:
    started = time.perf_counter()
    try:
        hits = index.search(
            query,
            k=options["k"],
            mode=options["mode"],
            filters=options["filters"],
            task=options["task"],
        )
    except RagindexError as error:
        st.error("The search failed.")
        st.text(str(error))
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    if not hits:
        st.info("No results. Try another mode, fewer filters, or other words.")
        return
    st.caption(f"{len(hits)} results in {elapsed_ms:.0f} ms")
    query_terms = set(terms(query))
    for rank, hit in enumerate(hits, start=1):
        show_hit(rank, hit, query_terms)


def main() -> None:
    st.set_page_config(page_title="ragindex", page_icon="🔎", layout="wide")
    st.title("ragindex")
    index = current_index()
    if index is None:
        return
    options = sidebar(index)
    query = st.text_input(
        "Search",
        key="query",
        placeholder="Ask in any language, or search code…",
        label_visibility="collapsed",
    )
    example_buttons()
    if index.stats()["chunks"] == 0:
        st.info(
            "The index is empty. Index a folder with the panel on the left, or run "
            "`ragindex ingest FOLDER` while this page is stopped."
        )
        return
    if query.strip():
        results(index, query, options)


main()
