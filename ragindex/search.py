"""`Searcher`: a query → its embedding and sparse vector → each side's candidates → fused (the
embedder's fusion settings) → one result per document → `Hit`s with readable scores."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from ragindex import sparse
from ragindex.embedding.base import Embedder
from ragindex.embedding.rerank import Reranker
from ragindex.errors import ConfigError
from ragindex.fusion import FusionSettings, default_fusion
from ragindex.language import detect_language
from ragindex.ranking import Ranked, depth_for, rank
from ragindex.store import schema
from ragindex.store.documents import DocumentStore
from ragindex.store.points import SideLists
from ragindex.types import Filters, FloatArray, Hit, SearchMode, SearchResults, SparseVector

QueryTask = Literal["auto", "general", "code"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "dense", "sparse")
_DEEPEST = 20_000  # candidates per side at most, when grouping needs more to fill `limit`


class Searcher:
    def __init__(
        self,
        embedder: Embedder,
        store: DocumentStore,
        *,
        general_task: str,
        code_task: str,
        fusion: FusionSettings | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.reranker = reranker
        self.general_task = general_task
        self.code_task = code_task
        self.fusion = fusion or default_fusion(embedder.model)

    def task_text(self, task: QueryTask | str, filters: Filters) -> str:
        """The instruction for the query: code search when asked or when filtering on code."""
        if task == "code" or (task == "auto" and filters.kind == "code"):
            return self.code_task
        if task in ("auto", "general"):
            return self.general_task
        return task  # a custom instruction

    async def search(
        self,
        query: str,
        *,
        limit: int,
        mode: SearchMode,
        filters: Filters,
        task: QueryTask | str = "auto",
        group: bool = True,
        fusion: FusionSettings | None = None,
        rerank: bool | None = None,
        strict_rerank: bool = False,
    ) -> SearchResults:
        """The best `limit` documents (each its best chunk), or chunks when not `group`;
        reordered by the reranker when there is one (`rerank=None`) or when asked."""
        check_mode(mode)
        if rerank and self.reranker is None:
            raise ConfigError("reranking needs a rerank server: set RAGINDEX_RERANK_URL")
        if not query.strip() or limit < 1:
            return SearchResults()
        reranker = self.reranker if rerank is not False else None
        wanted = max(limit, reranker.candidates) if reranker is not None else limit
        limit, shown = wanted, limit
        fusion = fusion or self.fusion
        dense, sparse_query = await self.vectors(query, mode=mode, filters=filters, task=task)
        language = detect_language(query) if mode == "hybrid" else ""
        depth = depth_for(limit, group=group, fusion=fusion, mode=mode)
        while True:
            lists = await self.store.candidates(
                dense=dense, sparse=sparse_query, filters=filters, limit=depth
            )
            ranked = rank(
                lists,
                mode=mode,
                fusion=fusion,
                limit=limit,
                group=group,
                query_language=language,
            )
            # grouping may leave fewer documents than asked while a side had more to give
            if len(ranked) >= limit or depth >= _DEEPEST or not _full(lists, depth):
                break
            depth = min(depth * 4, _DEEPEST)
        if mode == "hybrid":
            ranked = await self._with_both_scores(ranked, dense, sparse_query)
        hits = [_hit(number, result) for number, result in enumerate(ranked, start=1)]
        warning = None
        if reranker is not None:
            reranked = await reranker.rerank(
                query, hits, instruction=self.task_text(task, filters), strict=strict_rerank
            )
            hits = [
                replace(hit, rank=number, rerank_score=score)
                for number, (hit, score) in enumerate(
                    zip(reranked.hits, reranked.scores, strict=True), start=1
                )
            ]
            warning = reranked.warning
        return SearchResults(with_matched_terms(hits[:shown], query), warning=warning)

    async def vectors(
        self, query: str, *, mode: SearchMode, filters: Filters, task: QueryTask | str = "auto"
    ) -> tuple[FloatArray | None, SparseVector | None]:
        """The query's dense vector and sparse vector, each when the mode uses it; a query with
        no indexable term (only punctuation, say) falls back to meaning."""
        sparse_query = sparse.query_vector(query) if mode != "dense" else None
        needs_dense = mode != "sparse" or sparse_query is None or not sparse_query.indices
        dense = (
            await self.embedder.embed_query(query, task=self.task_text(task, filters))
            if needs_dense
            else None
        )
        return dense, sparse_query

    async def _with_both_scores(
        self, ranked: list[Ranked], dense: FloatArray | None, sparse_query: SparseVector | None
    ) -> list[Ranked]:
        """Fill in the side scores a result's chunk lacks (it was not among that side's
        candidates): a chunk with no query term in common has sparse score 0."""
        lacking_dense = [r.record.id for r in ranked if r.dense_score is None]
        lacking_sparse = [r.record.id for r in ranked if r.sparse_score is None]
        dense_scores = await self.store.scores_of(lacking_dense, dense=dense)
        sparse_scores = await self.store.scores_of(lacking_sparse, sparse=sparse_query)
        has_sparse = sparse_query is not None and bool(sparse_query.indices)
        return [
            replace(
                r,
                dense_score=r.dense_score
                if r.dense_score is not None
                else dense_scores.get(r.record.id),
                sparse_score=r.sparse_score
                if r.sparse_score is not None or not has_sparse
                else sparse_scores.get(r.record.id, 0.0),
            )
            for r in ranked
        ]


def check_mode(mode: str) -> None:
    if mode not in SEARCH_MODES:
        raise ConfigError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")


def _full(lists: SideLists, depth: int) -> bool:
    return any(side is not None and len(side) >= depth for side in (lists.dense, lists.sparse))


def _hit(number: int, result: Ranked) -> Hit:
    hit = schema.hit_from_payload(result.score, result.record.payload)
    return replace(
        hit,
        rank=number,
        dense_score=result.dense_score,
        sparse_score=result.sparse_score,
        other_chunks=result.other_chunks,
    )


def with_matched_terms(hits: list[Hit], query: str) -> list[Hit]:
    """Each hit with the query's terms that occur in its text (stopwords left out)."""
    return [replace(hit, matched_terms=sparse.matched_terms(query, hit.text)) for hit in hits]
