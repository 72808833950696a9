"""The search results: one bordered card per hit.

Everything a hit carries comes from an indexed document and is untrusted: it is shown with
`st.text` / `st.code` only, which render literally, never as Markdown or HTML.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import streamlit as st

from ragindex import Hit, Index, RagindexError

PREVIEW_CHARS = 700
# as the chunker reads a Markdown heading line
_MARKDOWN_HEADING = re.compile(r"#{1,6}\s+(.+?)\s*#*\s*")


def display_path(source: str) -> str:
    """Sources under the folder the page was started in are shown relative to it."""
    try:
        return Path(source).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return source


def location(hit: Hit) -> str:
    if hit.location:  # a slide, sheet rows, chapter, section or notebook cell
        return f"{display_path(hit.source)}  ({hit.location})"
    if hit.page is not None:
        return f"{display_path(hit.source)}  (page {hit.page})"
    return f"{display_path(hit.source)}  (lines {hit.line_start}-{hit.line_end})"


def breadcrumb(hit: Hit) -> str | None:
    """The heading path to show above the chunk, without the heading the chunk itself opens
    with (a Markdown chunk that starts at '## Setup' shows '§ Install', not '§ Install > Setup'
    above a '## Setup' line)."""
    if not hit.heading:
        return None
    first_line = hit.text.lstrip().split("\n", 1)[0].strip()
    opening = _MARKDOWN_HEADING.fullmatch(first_line)
    parts = hit.heading.split(" > ")
    if opening and opening.group(1).strip() == parts[-1].strip():
        parts = parts[:-1]
    return " > ".join(parts) or None


def preview(text: str, matched: tuple[str, ...]) -> str:
    """The part of a long chunk around its first matching term."""
    if len(text) <= PREVIEW_CHARS:
        return text
    lowered = text.lower()
    positions = [lowered.find(term.lower()) for term in matched]
    found = [position for position in positions if position >= 0]
    start = max(0, min(found) - PREVIEW_CHARS // 4) if found else 0
    start = text.rfind("\n", 0, start) + 1 if start else 0  # begin at a line
    excerpt = text[start : start + PREVIEW_CHARS]
    return ("… " if start else "") + excerpt + " …"


def similarity(hit: Hit) -> str:
    """How close in meaning, as a percentage of cosine similarity; a keyword search's BM25
    score when there is no dense side. Never a raw fusion score."""
    if hit.rerank_score is not None:
        return f"relevance {hit.rerank_score:.2f}"
    if hit.dense_score is not None:
        return f"{max(hit.dense_score, 0.0) * 100:.0f}% similar"
    if hit.sparse_score is not None:
        return f"keyword score {hit.sparse_score:.1f}"
    return ""


def show_hit(rank: int, hit: Hit) -> None:
    with st.container(border=True):
        header, badges = st.columns([4, 1])
        header.text(f"{hit.rank or rank}. {location(hit)}")
        badges.text(
            " · ".join(part for part in (hit.kind, hit.language or "?", similarity(hit)) if part)
        )
        path = breadcrumb(hit)
        if path:
            st.text(f"§ {path}")
        if hit.other_chunks:
            more = hit.other_chunks
            st.caption(f"+{more} more matching chunk{'s' if more > 1 else ''} in this document")
        shown = preview(hit.text, hit.matched_terms)
        if hit.kind == "code":
            st.code(shown, language=hit.language or None, line_numbers=False, wrap_lines=True)
        else:
            st.text(shown)
        if hit.matched_terms:
            st.text("matched terms: " + ", ".join(sorted(hit.matched_terms)))
        if shown != hit.text:
            with st.expander(f"show all {hit.text.count(chr(10)) + 1} lines"):
                if hit.kind == "code":
                    st.code(hit.text, language=hit.language or None, wrap_lines=True)
                else:
                    st.text(hit.text)


def results(index: Index, query: str, options: dict[str, Any]) -> None:
    every_chunk = st.toggle(
        "Every matching chunk",
        key="every-chunk",
        help="off: one result per document, its best chunk; on: each matching chunk",
    )
    rerank = None
    if index.reranks:
        rerank = st.toggle(
            "Rerank", value=True, key="rerank", help="a cross-encoder reorders the best results"
        )
    started = time.perf_counter()
    try:
        hits = index.search(
            query,
            k=options["k"],
            mode=options["mode"],
            filters=options["filters"],
            task=options["task"],
            group=not every_chunk,
            rerank=rerank,
        )
    except RagindexError as error:
        st.error("The search failed.")
        st.text(str(error))
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    if hits.warning:
        st.warning("Reranking was skipped; the results are in their fused order.")
        st.text(hits.warning)
    if not hits:
        st.info("No results. Try another mode, fewer filters, or other words.")
        return
    st.caption(f"{len(hits)} results in {elapsed_ms:.0f} ms")
    for rank, hit in enumerate(hits, start=1):
        show_hit(rank, hit)
