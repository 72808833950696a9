"""ragindex's search page: `streamlit run ui/app.py` (settings: RAGINDEX_*, the settings file).

It uses the public `ragindex` API only. Indexed documents are untrusted: their text, file names
and paths are shown with `st.text` / `st.code`, which render literally, never as Markdown or
HTML. The page serves no files from disk, and indexes folders only under `ui_ingest_roots`.

The page's parts live beside it: `search_results.py` (the hits), `ingest_panel.py` (the
"Add documents" panel), `ingest_runner.py` (one shared ingest in the background) and
`ingest_roots.py` (which paths may be indexed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import streamlit as st

# `streamlit run` puts this folder on the import path; Streamlit's AppTest does not (and the
# script runs again on every rerun: once is enough)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_panel import ingest_panel
from ingest_runner import IngestRunner
from search_results import results

from ragindex import Index, RagindexError, Settings, StoreLockedError

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


def settings_key(settings: Settings) -> str:
    return f"{settings.home.resolve()}|{settings.collection}|{settings.qdrant_url}"


class WarmUpFailed(Exception):
    """The index opened, but its embedding model could not be loaded (or server reached)."""

    def __init__(self, error: RagindexError) -> None:
        super().__init__(str(error))
        self.error = error


@st.cache_resource(show_spinner="Opening the index and loading the embedding model…")
def open_index(key: str) -> Index:
    """One index per server process (and per settings): the store stays open across reruns.
    The embedding model is loaded (or its server reached) here, once, so the first search
    does not wait for it. A failure is not cached: the next run of the page tries again."""
    index = Index.open(Settings.load())
    try:
        index.warm_up()
    except RagindexError as error:
        index.close()  # the store is not left held by an index nobody can use
        raise WarmUpFailed(error) from error
    except BaseException:
        index.close()
        raise
    return index


@st.cache_resource
def ingest_runner(key: str) -> IngestRunner:
    """One runner per index, shared by every visitor: one ingest at a time."""
    return IngestRunner(open_index(key))


def current_index() -> tuple[Index, IngestRunner] | None:
    key = settings_key(Settings.load())
    try:
        return open_index(key), ingest_runner(key)
    except StoreLockedError as error:
        st.error("The index is held by another process.")
        st.text(str(error))
        st.info("Stop that process (an ingest from the command line?), then reload the page.")
    except WarmUpFailed as failed:
        st.error("The embedding model could not be loaded, or its server reached.")
        st.text(str(failed.error))
        st.info("Reload the page to try again.")
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


def sidebar(index: Index, runner: IngestRunner, stats: dict[str, Any]) -> dict[str, Any]:
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
        ingest_panel(index, runner)
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


def short_location(location: str) -> str:
    """A store folder under the server user's home as `~/…`; anything else as it is."""
    try:
        return "~/" + Path(location).relative_to(Path.home()).as_posix()
    except ValueError:
        return location


def index_panel(stats: dict[str, Any]) -> None:
    st.header("Index")
    left, right = st.columns(2)
    left.metric("Documents", f"{stats['documents']:,}")
    right.metric("Chunks", f"{stats['chunks']:,}")
    st.text(f"model: {stats['model']}\ndimension: {stats['dimension']}")
    location = str(stats["store"])
    st.text(f"store: {short_location(location)}", help=f"`{location}`")
    if stats.get("store_bytes"):
        st.text(f"size on disk: {stats['store_bytes'] / 1e6:,.1f} MB")
    embedder = stats.get("embedder", {})
    if embedder.get("requests"):
        st.text(
            f"embedder: p50 {embedder.get('latency_p50_ms', 0):.0f} ms, "
            f"p99 {embedder.get('latency_p99_ms', 0):.0f} ms, "
            f"{embedder['requests_per_s']:.2f} req/s, {embedder['failures']:.0f} failures"
        )


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


def main() -> None:
    st.set_page_config(page_title="ragindex", page_icon="🔎", layout="wide")
    st.title("ragindex")
    opened = current_index()
    if opened is None:
        return
    index, runner = opened
    try:
        stats = index.stats()
    except RagindexError as error:
        st.error("The index could not be read.")
        st.text(str(error))
        return
    options = sidebar(index, runner, stats)
    query = st.text_input(
        "Search",
        key="query",
        placeholder="Ask in any language, or search code…",
        label_visibility="collapsed",
    )
    example_buttons()
    if stats["chunks"] == 0:
        st.info(
            "The index is empty. "
            + (
                "Index a folder with the panel on the left, or run "
                if index.settings.ui_ingest_roots
                else "Run "
            )
            + "`ragindex ingest FOLDER` while this page is stopped."
        )
        return
    if query.strip():
        results(index, query, options)


main()
