"""From a search's candidate lists to ranked results: one mode's order, or the two sides fused,
then (by default) one result per document. Pure: no I/O.

Grouping by document is done here, from the candidates, rather than by Qdrant's
`query_points_groups`: Qdrant Edge has no grouping, the server's grouping runs after the
engine's own fusion (not ours), and one code path gives both backends the same results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragindex.fusion import FusionSettings, Scored, fuse
from ragindex.store.points import ScoredRecord, SideLists
from ragindex.types import SearchMode

CHUNKS_PER_DOCUMENT = 3  # candidates fetched per wanted document, so that enough survive
LANGUAGE_EVIDENCE = 10  # the dense side's first candidates that tell the documents' language


@dataclass(frozen=True, slots=True)
class Ranked:
    """One result: the chunk, its score in the ranking, each side's score (None: that side's
    candidates did not include it) and the document's other chunks among the candidates."""

    record: ScoredRecord
    score: float
    dense_score: float | None
    sparse_score: float | None
    other_chunks: int = 0


def depth_for(limit: int, *, group: bool, fusion: FusionSettings, mode: SearchMode) -> int:
    """Candidates to fetch per side for `limit` results."""
    wanted = limit * CHUNKS_PER_DOCUMENT if group else limit
    return max(wanted, fusion.candidates) if mode == "hybrid" else wanted


def rank(
    lists: SideLists,
    *,
    mode: SearchMode,
    fusion: FusionSettings,
    limit: int,
    group: bool,
    query_language: str = "",
) -> list[Ranked]:
    """The best `limit` results, best first. A mode whose side is missing (a query without any
    sparse term) ranks by the side there is."""
    dense, sparse = lists.dense, lists.sparse
    order: Sequence[Scored]
    if dense is not None and (sparse is None or mode == "dense"):
        order = _scored(dense)
    elif sparse is not None and (dense is None or mode == "sparse"):
        order = _scored(sparse)
    elif dense is not None and sparse is not None:
        crossing = cross_lingual(query_language, dense)
        order = fuse(_scored(dense), _scored(sparse), fusion, cross_lingual=crossing)
    else:
        order = []
    records = {record.id: record for side in (sparse or [], dense or []) for record in side}
    kept, others = by_document(order, records, limit) if group else (order[:limit], {})
    dense_scores = {record.id: record.score for record in dense or []}
    sparse_scores = {record.id: record.score for record in sparse or []}
    return [
        Ranked(
            records[point],
            score,
            dense_scores.get(point),
            sparse_scores.get(point),
            others.get(point, 0),
        )
        for point, score in kept
    ]


def by_document(
    order: Sequence[Scored], records: dict[str, ScoredRecord], limit: int
) -> tuple[list[Scored], dict[str, int]]:
    """Each document's best chunk, in the order of those best chunks (the first `limit`), and
    for each kept chunk how many more of its document's chunks are among the candidates."""
    best: dict[str, Scored] = {}
    more: dict[str, int] = {}
    for scored in order:
        source = str(records[scored[0]].payload.get("source", scored[0]))
        if source in best:
            more[source] += 1
        else:
            best[source], more[source] = scored, 0
    kept = list(best.items())[:limit]
    return [scored for _, scored in kept], {scored[0]: more[source] for source, scored in kept}


def cross_lingual(query_language: str, dense: Sequence[ScoredRecord]) -> bool:
    """Whether most of the prose the query's meaning finds first is in another language than
    the query (code is left out: its "language" is a programming language)."""
    if not query_language:
        return False
    languages = [
        record.payload.get("language")
        for record in dense[:LANGUAGE_EVIDENCE]
        if record.payload.get("kind") != "code" and record.payload.get("language")
    ]
    same = sum(language == query_language for language in languages)
    return bool(languages) and 2 * same < len(languages)


def _scored(side: Sequence[ScoredRecord]) -> list[Scored]:
    return [(record.id, record.score) for record in side]
