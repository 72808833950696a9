"""`RecordingBackend`: a real backend underneath, every write recorded when sent and when
acknowledged; and `check_commit_order`, which proves the write protocol from such a record.

The contract tests wrap each backend in it, so that the order of the writes (not only their end
result) is checked on the code users run.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragindex.store import schema
from ragindex.store.backend import Backend, Collection, apply_in_order
from ragindex.store.points import (
    Match,
    Point,
    PointFilter,
    PointId,
    PointQuery,
    Record,
    ScoredRecord,
    WriteStep,
)


@dataclass
class Write:
    operation: str  # "upsert", "delete" or "delete_where"
    collection: Collection
    ids: frozenset[PointId]  # the points written or deleted by id
    where: PointFilter | None  # what a delete_where matched
    sent: int  # when the call was made, on one clock shared by every write
    acknowledged: int | None = None  # when it returned normally; None if it failed or is running


@dataclass
class RecordingBackend:
    """Sequences (`in_order`) are applied one recorded write at a time, upserts in a row up to
    `upserts_in_flight` at once, as a server backend does; the inner backend's own `in_order`
    (one round trip) is checked by the store contract instead."""

    inner: Backend
    upserts_in_flight: int = 4
    writes: list[Write] = field(default_factory=list)
    _clock: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def location(self) -> str:
        return self.inner.location

    @property
    def exclusive(self) -> bool:
        return self.inner.exclusive

    def _sent(self, operation: str, collection: Collection, ids: Sequence[PointId]) -> Write:
        write = Write(operation, collection, frozenset(ids), None, next(self._clock))
        self.writes.append(write)
        return write

    def _acknowledge(self, write: Write) -> None:
        write.acknowledged = next(self._clock)

    async def upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        write = self._sent("upsert", collection, [point.id for point in points])
        await self.inner.upsert(collection, points)
        self._acknowledge(write)

    async def delete(self, collection: Collection, ids: Sequence[PointId]) -> None:
        write = self._sent("delete", collection, ids)
        await self.inner.delete(collection, ids)
        self._acknowledge(write)

    async def delete_where(self, collection: Collection, where: PointFilter) -> None:
        write = self._sent("delete_where", collection, ())
        write.where = where
        await self.inner.delete_where(collection, where)
        self._acknowledge(write)

    async def in_order(self, steps: Sequence[WriteStep]) -> None:
        await apply_in_order(self, steps, upserts_in_flight=self.upserts_in_flight)

    # --- passed through unrecorded ------------------------------------------------------------
    async def open_manifest(self, *, create: bool) -> bool:
        return await self.inner.open_manifest(create=create)

    async def open_chunks(self, dimension: int, *, create: bool) -> bool:
        return await self.inner.open_chunks(dimension, create=create)

    async def retrieve(self, collection: Collection, ids: Sequence[PointId]) -> list[Record]:
        return await self.inner.retrieve(collection, ids)

    async def scroll(
        self,
        collection: Collection,
        where: PointFilter | None,
        *,
        limit: int,
        offset: PointId | None,
        with_dense: bool = False,
    ) -> tuple[list[Record], PointId | None]:
        return await self.inner.scroll(
            collection, where, limit=limit, offset=offset, with_dense=with_dense
        )

    async def count(self, collection: Collection, where: PointFilter | None) -> int:
        return await self.inner.count(collection, where)

    async def query(self, query: PointQuery) -> list[ScoredRecord]:
        return await self.inner.query(query)

    async def flush(self) -> None:
        await self.inner.flush()

    async def optimize(self) -> bool:
        return await self.inner.optimize()

    async def size_on_disk(self) -> int | None:
        return await self.inner.size_on_disk()

    async def close(self) -> None:
        await self.inner.close()


def check_commit_order(writes: Sequence[Write], documents: dict[str, int]) -> None:
    """Assert, for each committed document (source -> its chunk count), that its pending mark
    was acknowledged before any of its chunks was sent; every one of its chunks was written, and
    acknowledged before its manifest record was sent; its older versions' chunks were deleted,
    acknowledged, before that too; its mark cleared only after the record was acknowledged."""
    for source, chunks in documents.items():
        mark = _only(writes, "upsert", "manifest", str(schema.pending_id(source)))
        record = _only(writes, "upsert", "manifest", str(schema.manifest_id(source)))
        unmark = _only(writes, "delete", "manifest", str(schema.pending_id(source)))
        ids = {str(schema.chunk_id(source, index)) for index in range(chunks)}
        chunk_writes = [w for w in writes if w.collection == "chunks" and w.ids & ids]
        assert set().union(*(w.ids & ids for w in chunk_writes)) == ids, f"{source}: chunks lost"
        stale = [w for w in writes if w.operation == "delete_where" and _names(w.where, source)]
        assert stale, f"{source}: its older versions were never deleted"
        assert mark.acknowledged is not None and record.acknowledged is not None
        for write in chunk_writes:
            assert write.sent > mark.acknowledged, f"{source}: a chunk sent before its mark"
        for write in [*chunk_writes, *stale]:
            assert write.acknowledged is not None, f"{source}: a write never acknowledged"
            assert write.acknowledged < record.sent, f"{source}: committed before {write}"
        assert unmark.sent > record.acknowledged, f"{source}: unmarked before its record"


def _only(writes: Sequence[Write], operation: str, collection: Collection, point: str) -> Write:
    found = [
        w
        for w in writes
        if w.operation == operation and w.collection == collection and point in w.ids
    ]
    assert len(found) == 1, f"expected one {operation} of {point} in {collection}, got {found}"
    return found[0]


def _names(where: PointFilter | None, source: str) -> bool:
    """Whether a filter matches on this source anywhere in it."""
    if where is None:
        return False
    conditions = (*where.must, *where.should, *where.must_not)
    return any(
        c == Match("source", source) if isinstance(c, Match) else _names(c, source)
        for c in conditions
    )
