"""How `ragindex search` shows its hits: rank, location, how similar in meaning (a percentage of
cosine similarity), the query terms found, and the text. No raw fusion numbers: an RRF score
means nothing to a reader.

Names and document text come from files someone else may have written: every one goes through
`printable`, and rich prints them with markup off."""

from __future__ import annotations

from rich.console import Console

from ragindex import Hit
from ragindex.cli_output import printable


def similarity(hit: Hit) -> str:
    """`83% similar` (cosine), `keyword score 7.2` (BM25) for a sparse search, or both."""
    parts = []
    if hit.dense_score is not None:
        parts.append(f"{max(hit.dense_score, 0.0) * 100:.0f}% similar")
    if hit.sparse_score is not None and hit.dense_score is None:
        parts.append(f"keyword score {hit.sparse_score:.1f}")
    return ", ".join(parts)


def location(hit: Hit) -> str:
    """`path:12-40` for text and code, `path (page 3)` for PDFs, `path (slide 3)` for the
    formats with their own places (slides, sheet rows, chapters, sections, notebook cells)."""
    if hit.location:
        return f"{hit.source} ({hit.location})"
    if hit.page is not None:
        return f"{hit.source} (page {hit.page})"
    return f"{hit.source}:{hit.line_start}-{hit.line_end}"


def describe(hit: Hit) -> str:
    """The line under a hit's header: what matched, and what else of its document did."""
    parts = [similarity(hit)] if similarity(hit) else []
    if hit.rerank_score is not None:
        parts.insert(0, f"relevance {hit.rerank_score:.2f} (reranked)")
    if hit.matched_terms:
        parts.append("terms: " + ", ".join(hit.matched_terms))
    elif hit.sparse_score is not None:
        parts.append("no query term")
    if hit.other_chunks:
        more = hit.other_chunks
        parts.append(f"+{more} more matching chunk{'s' if more > 1 else ''} in this document")
    return " · ".join(parts)


def print_hits(hits: list[Hit], *, full: bool, out: Console) -> None:
    for number, hit in enumerate(hits, start=1):
        out.print(
            f"{hit.rank or number:>2}. {printable(location(hit))}  "
            f"[{printable(hit.kind)}, {printable(hit.language) or '?'}]",
            markup=False,
            style="bold",
        )
        out.print("    " + printable(describe(hit)), markup=False)
        text = printable(hit.text if full else _preview(hit.text), layout=True)
        out.print("    " + text.replace("\n", "\n    "), markup=False)


def _preview(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"
