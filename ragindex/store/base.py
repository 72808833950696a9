"""The `Store` protocol: everything the pipeline and the searcher ask of a vector store.

`DocumentStore` (ragindex/store/documents.py) is the one implementation, written once over a
point-level `Backend` (ragindex/store/backend.py): Qdrant Edge in-process, or qdrant-client
against a server or cluster. `ragindex.testing.store.StoreContract` proves it over each backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ragindex.types import (
    CollectionSpec,
    EmbeddedChunk,
    Filters,
    FloatArray,
    Hit,
    ManifestRecord,
    SearchMode,
    SparseVector,
    StoreStats,
)

DocumentChunks = tuple[ManifestRecord, Sequence[EmbeddedChunk]]


class Store(Protocol):
    location: str

    async def create_or_check(self, spec: CollectionSpec) -> None:
        """Create the collection if missing; refuse it if it was built with another model,
        dimension or sparse scheme (`CollectionMismatchError`)."""
        ...

    async def peek(self) -> CollectionSpec | None:
        """A read-only look: the recorded spec, or None if there is no collection yet."""
        ...

    async def open(self, spec: CollectionSpec | None) -> CollectionSpec | None:
        """Deprecated: `create_or_check(spec)` with a spec, `peek()` without; removed once the
        callers have switched."""
        ...

    async def manifest(self) -> dict[str, ManifestRecord]:
        """Every committed document, by source."""
        ...

    async def recover(self) -> list[str]:
        """Clean up after a run that died between `upsert` and `commit`: documents whose
        chunks were being written are removed entirely (their chunks may mix two versions),
        so that this run indexes them afresh. Returns their sources."""
        ...

    async def upsert(self, documents: Sequence[DocumentChunks]) -> None:
        """Mark the documents as pending (acknowledged), then write their chunks (ids derived
        from source and chunk index)."""
        ...

    async def commit(self, records: Sequence[ManifestRecord]) -> None:
        """After all chunks of these documents are written: drop chunks of their older
        versions, then write their manifest records and clear their pending marks,
        acknowledged. Only now are they indexed. (Committing several documents at once saves
        round trips; the order per document is the same.)"""
        ...

    async def remove(self, sources: Sequence[str]) -> None:
        """Forget documents: their chunks, then their manifest records."""
        ...

    async def search(
        self,
        *,
        dense: FloatArray | None,
        sparse: SparseVector | None,
        mode: SearchMode,
        filters: Filters,
        limit: int,
    ) -> list[Hit]: ...

    async def stats(self) -> StoreStats: ...

    async def finish_ingest(self, points_written: int) -> None:
        """Called once at the end of an ingest: a chance to flush or build indexes."""
        ...

    async def optimize(self) -> bool:
        """Build search indexes now; False when there was nothing to do."""
        ...

    async def close(self) -> None: ...
