"""`DocumentStore`: the document-level write protocol, written once above every `Backend`.

A document counts as indexed only once its manifest record is written, and the record is written
only after every one of its chunks is acknowledged:

1. `upsert`: a pending mark per document (acknowledged), then its chunk points (acknowledged);
2. `commit`: the chunks of older versions deleted (acknowledged), then the manifest records, then
   the pending marks cleared.

A run that dies in between leaves pending marks; `recover` removes those documents entirely (their
chunks may mix two versions) so that the next run indexes them afresh. An embedded engine is held
by one process, so every mark it finds is from a dead run; on a server another process may be
between the two steps right now, so only marks older than `abandoned_after_s` count as abandoned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

from ragindex.errors import StoreError
from ragindex.store import queries, schema
from ragindex.store.backend import Backend
from ragindex.store.base import DocumentChunks
from ragindex.store.points import Delete, DeleteWhere, SideLists, Upsert, WriteStep
from ragindex.types import (
    CollectionSpec,
    Filters,
    FloatArray,
    Hit,
    ManifestRecord,
    SearchMode,
    SparseVector,
    StoreStats,
)

T = TypeVar("T")
# Qdrant's advice for bulk loads is 64-256 points a request
WRITE_BATCH = 256
PENDING_ABANDONED_S = 3600.0  # a group of documents is committed within seconds of its marks
# every write is durable once acknowledged (write-ahead log); a flush also writes the segments,
# so that a crash replays less and the flush at the end of an ingest is short
FLUSH_EVERY_S = 5.0
_SCROLL_PAGE = 1024


class DocumentStore:
    def __init__(
        self,
        backend: Backend,
        *,
        abandoned_after_s: float | None = None,
        write_batch: int = WRITE_BATCH,
    ) -> None:
        """`abandoned_after_s`: how old a pending mark must be before `recover` treats its run as
        dead; by default 0 for a backend only this process can write to, else an hour."""
        self.backend = backend
        self.location = backend.location
        if abandoned_after_s is None:
            abandoned_after_s = 0.0 if backend.exclusive else PENDING_ABANDONED_S
        self.abandoned_after_s = abandoned_after_s
        self.write_batch = write_batch
        self._spec: CollectionSpec | None = None  # known once both collections are open
        self._closed = False
        self._flushed_at = time.monotonic()

    # --- opening ----------------------------------------------------------------------------
    async def create_or_check(self, spec: CollectionSpec) -> None:
        """Create the collection if missing; refuse one built with another model, dimension or
        sparse scheme (`CollectionMismatchError`)."""
        self._check_not_closed()
        await self.backend.open_manifest(create=True)
        recorded = await self._recorded_spec()
        if recorded is not None:
            schema.check_spec(recorded, spec, self.location)
        await self.backend.open_chunks(spec.dimension, create=True)
        if recorded is None:
            # written last: a crash before it leaves collections that the next run opens again
            record = schema.marker_point(schema.COLLECTION_RECORD_ID, schema.spec_payload(spec))
            await self.backend.upsert("manifest", [record])
        self._spec = spec

    async def peek(self) -> CollectionSpec | None:
        """The recorded spec, or None if there is no collection yet. Creates nothing."""
        self._check_not_closed()
        if self._spec is not None:
            return self._spec
        if not await self.backend.open_manifest(create=False):
            return None
        recorded = await self._recorded_spec()
        if recorded is not None and await self.backend.open_chunks(
            recorded.dimension, create=False
        ):
            self._spec = recorded
        return recorded

    async def _recorded_spec(self) -> CollectionSpec | None:
        found = await self.backend.retrieve("manifest", [str(schema.COLLECTION_RECORD_ID)])
        return schema.spec_from_payload(found[0].payload) if found else None

    async def _opened(self) -> bool:
        """Whether the collections exist, opening them if need be: reading an index that was
        never created finds nothing there, and creates nothing."""
        if self._spec is None:
            await self.peek()
        return self._spec is not None

    def _require_open(self) -> None:
        self._check_not_closed()
        if self._spec is None:
            raise StoreError(f"the collection at {self.location} is not open")

    def _check_not_closed(self) -> None:
        if self._closed:
            raise StoreError(f"the store at {self.location} is closed")

    # --- the manifest -----------------------------------------------------------------------
    async def manifest(self) -> dict[str, ManifestRecord]:
        """Every committed document, by source."""
        if not await self._opened():
            return {}
        records = map(schema.manifest_from_payload, await self._manifest_payloads("document"))
        return {record.source: record for record in records}

    async def _manifest_payloads(self, kind: str) -> list[dict[str, Any]]:
        payloads: list[dict[str, Any]] = []
        offset = None
        while True:
            page, offset = await self.backend.scroll(
                "manifest", queries.records_of_kind(kind), limit=_SCROLL_PAGE, offset=offset
            )
            payloads.extend(record.payload for record in page)
            if offset is None:
                return payloads

    async def abandoned(self) -> list[str]:
        """The documents a dead run left between `upsert` and `commit` (read only)."""
        if not await self._opened():
            return []
        return [
            payload["source"]
            for payload in await self._manifest_payloads("pending")
            if schema.abandoned(payload, older_than_s=self.abandoned_after_s)
        ]

    async def recover(self, sources: Sequence[str] | None = None) -> list[str]:
        """Remove the documents a dead run left between `upsert` and `commit` (`sources`: those
        `abandoned()` found, when the caller asked first); their sources."""
        sources = list(await self.abandoned() if sources is None else sources)
        for group in _batched(sources, self.write_batch):
            await self.remove(group)
            await self.backend.delete("manifest", [str(schema.pending_id(s)) for s in group])
        return sources

    # --- writing ----------------------------------------------------------------------------
    async def upsert(self, documents: Sequence[DocumentChunks]) -> None:
        """Mark the documents pending, then write their chunks; both acknowledged."""
        if not documents:
            return
        self._require_open()
        marks = [
            schema.marker_point(schema.pending_id(r.source), schema.pending_payload(r.source))
            for r, _ in documents
        ]
        points = (
            schema.chunk_point(record, item) for record, chunks in documents for item in chunks
        )
        await self.backend.in_order(
            [Upsert("manifest", batch) for batch in _batched(marks, self.write_batch)]
            + [Upsert("chunks", batch) for batch in _batched(points, self.write_batch)]
        )

    async def commit(self, records: Sequence[ManifestRecord]) -> None:
        """After all chunks of these documents are acknowledged: drop the chunks of their older
        versions, then write their manifest records and clear their pending marks. Only now are
        they indexed. Per document the order is always the same, however many commit at once."""
        if not records:
            return
        self._require_open()
        steps: list[WriteStep] = []
        for group in _batched(records, self.write_batch):
            committed = [
                schema.marker_point(schema.manifest_id(r.source), schema.manifest_payload(r))
                for r in group
            ]
            steps += [
                DeleteWhere("chunks", queries.older_versions(group)),
                Upsert("manifest", committed),
                Delete("manifest", [str(schema.pending_id(r.source)) for r in group]),
            ]
        await self.backend.in_order(steps)
        if time.monotonic() - self._flushed_at > FLUSH_EVERY_S:
            await self._flush()

    async def remove(self, sources: Sequence[str]) -> None:
        """Forget documents: their chunks, then their manifest records."""
        if not sources or not await self._opened():
            return
        for group in _batched(sources, self.write_batch):
            await self.backend.delete_where("chunks", queries.of_sources(group))
            await self.backend.delete("manifest", [str(schema.manifest_id(s)) for s in group])

    async def finish_ingest(self, points_written: int) -> None:
        """Called once at the end of an ingest."""
        if await self._opened():
            await self._flush()

    async def _flush(self) -> None:
        await self.backend.flush()
        self._flushed_at = time.monotonic()

    async def optimize(self) -> bool:
        """Build search indexes now; False when there was nothing to do. On Qdrant Edge this
        blocks the process (and its GIL) for minutes on large collections: never from the UI."""
        return await self._opened() and await self.backend.optimize()

    # --- reading ----------------------------------------------------------------------------
    async def search(
        self,
        *,
        dense: FloatArray | None,
        sparse: SparseVector | None,
        mode: SearchMode,
        filters: Filters,
        limit: int,
    ) -> list[Hit]:
        if not await self._opened():
            return []
        query = queries.search_query(
            dense=dense, sparse=sparse, mode=mode, filters=filters, limit=limit
        )
        found = await self.backend.query(query)
        return [schema.hit_from_payload(point.score, point.payload) for point in found]

    async def candidates(
        self,
        *,
        dense: FloatArray | None,
        sparse: SparseVector | None,
        filters: Filters,
        limit: int,
    ) -> SideLists:
        """Each given vector's best `limit` chunks, queried separately, for fusion and grouping
        on the client (a sparse vector without any term asks nothing)."""
        if not await self._opened():
            return SideLists(dense=[] if dense is not None else None, sparse=None)
        dense_nearest, sparse_nearest = queries.nearest_of(dense, sparse)
        asked = [nearest for nearest in (dense_nearest, sparse_nearest) if nearest is not None]
        found = await asyncio.gather(
            *(self.backend.query(queries.side_query(n, filters, limit)) for n in asked)
        )
        lists = iter(found)
        return SideLists(
            dense=next(lists) if dense_nearest is not None else None,
            sparse=next(lists) if sparse_nearest is not None else None,
        )

    async def scores_of(
        self,
        ids: Sequence[str],
        *,
        dense: FloatArray | None = None,
        sparse: SparseVector | None = None,
    ) -> dict[str, float]:
        """The given vector's scores of these chunks: cosine for a dense one, BM25 for a sparse
        one (a chunk that shares no term with it is left out)."""
        dense_nearest, sparse_nearest = queries.nearest_of(dense, sparse)
        nearest = dense_nearest or sparse_nearest
        if not ids or nearest is None or not await self._opened():
            return {}
        found = await self.backend.query(queries.scores_query(nearest, ids))
        return {point.id: point.score for point in found}

    async def stats(self) -> StoreStats:
        documents = chunks = 0
        if await self._opened():
            documents = await self.backend.count("manifest", queries.records_of_kind("document"))
            chunks = await self.backend.count("chunks", None)
        return StoreStats(
            documents=documents,
            chunks=chunks,
            location=self.location,
            size_bytes=await self.backend.size_on_disk(),
        )

    async def close(self) -> None:
        if self._closed:
            return  # closing twice is harmless
        self._closed = True
        self._spec = None
        await self.backend.close()


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
