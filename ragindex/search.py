"""`Searcher`: a query → its embedding and sparse vector → a store query → `Hit`s."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from ragindex import sparse
from ragindex.embedding.base import Embedder
from ragindex.errors import ConfigError
from ragindex.store.documents import DocumentStore
from ragindex.types import Filters, Hit, SearchMode

QueryTask = Literal["auto", "general", "code"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "dense", "sparse")


class Searcher:
    def __init__(
        self, embedder: Embedder, store: DocumentStore, *, general_task: str, code_task: str
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.general_task = general_task
        self.code_task = code_task

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
    ) -> list[Hit]:
        if mode not in SEARCH_MODES:
            raise ConfigError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        if not query.strip() or limit < 1:
            return []
        dense = (
            await self.embedder.embed_query(query, task=self.task_text(task, filters))
            if mode != "sparse"
            else None
        )
        sparse_query = sparse.query_vector(query) if mode != "dense" else None
        if mode == "sparse" and sparse_query is not None and not sparse_query.indices:
            # a query with no indexable term (only punctuation, say) falls back to meaning
            dense = await self.embedder.embed_query(query, task=self.task_text(task, filters))
        hits = await self.store.search(
            dense=dense, sparse=sparse_query, mode=mode, filters=filters, limit=limit
        )
        return with_matched_terms(hits, query)


def with_matched_terms(hits: list[Hit], query: str) -> list[Hit]:
    """Each hit with the query's terms that occur in its text, in the query's order."""
    query_terms = list(dict.fromkeys(sparse.terms(query)))
    matched: list[Hit] = []
    for hit in hits:
        present = set(sparse.terms(hit.text))
        matched.append(
            replace(hit, matched_terms=tuple(term for term in query_terms if term in present))
        )
    return matched
