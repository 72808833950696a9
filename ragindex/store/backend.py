"""`Backend`: the point-level operations the document store needs of a vector store.

A backend owns two collections: "chunks" (a named dense vector `schema.DENSE` with cosine
distance, a sparse vector `schema.SPARSE` with Qdrant's IDF modifier, a keyword payload index on
each of `schema.KEYWORD_FIELDS`) and "manifest" (marker points: a payload, and the vector
`schema.MARKER` of one dimension where the engine needs a vector). It translates the neutral
points, filters and queries of `ragindex.store.points` into its client's types, and its client's
errors into `StoreError` (or `StoreLockedError`) in one place. It knows nothing of documents,
commits or recovery: that is `DocumentStore`, written once above every backend.

Every write returns only once it is acknowledged: applied and durable as far as the engine can
say (a server: `wait=True` with strong ordering, so that a replicated cluster has applied it
before the document store writes what depends on it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from ragindex.store.points import (
    Collection,
    Delete,
    DeleteWhere,
    Point,
    PointFilter,
    PointId,
    PointQuery,
    Record,
    ScoredRecord,
    Upsert,
    WriteStep,
)

__all__ = ["Backend", "Collection", "apply_in_order"]


class Backend(Protocol):
    @property
    def location(self) -> str:
        """Where the data lives, for messages: a folder, or a URL and a collection."""
        ...

    @property
    def exclusive(self) -> bool:
        """True when this process is the only possible writer (an embedded engine locks its
        folder): every pending mark found at recovery is then from a run that died."""
        ...

    async def open_manifest(self, *, create: bool) -> bool:
        """Open the manifest collection, creating it when missing and `create`; False when it
        does not exist (and `create` is False): then nothing was created."""
        ...

    async def open_chunks(self, dimension: int, *, create: bool) -> bool:
        """The same for the chunks collection, with its vectors and payload indexes."""
        ...

    async def upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        """Write points (a batch of a few hundred at most); acknowledged on return."""
        ...

    async def delete(self, collection: Collection, ids: Sequence[PointId]) -> None:
        """Delete points by id; acknowledged on return."""
        ...

    async def delete_where(self, collection: Collection, where: PointFilter) -> None:
        """Delete every point the filter matches; acknowledged on return."""
        ...

    async def in_order(self, steps: Sequence[WriteStep]) -> None:
        """Apply the writes one after another, each acknowledged before the next begins (only
        upserts in a row to one collection may overlap: none depends on another). At the first
        failure nothing more begins, and its error is raised; the writes before it stay. A
        backend that can sends the whole sequence at once: one round trip, not one a write."""
        ...

    async def retrieve(self, collection: Collection, ids: Sequence[PointId]) -> list[Record]:
        """The points of these ids that exist, with their payloads."""
        ...

    async def scroll(
        self,
        collection: Collection,
        where: PointFilter | None,
        *,
        limit: int,
        offset: PointId | None,
        with_dense: bool = False,
    ) -> tuple[list[Record], PointId | None]:
        """One page of the points the filter matches, and the offset of the next page (None
        after the last)."""
        ...

    async def count(self, collection: Collection, where: PointFilter | None) -> int:
        """How many points the filter matches, exactly."""
        ...

    async def query(self, query: PointQuery) -> list[ScoredRecord]:
        """Search the chunks collection; best first, with payloads."""
        ...

    async def flush(self) -> None:
        """Write buffered state to disk (an embedded engine); nothing for a server."""
        ...

    async def optimize(self) -> bool:
        """Build search indexes now; False when the engine does it on its own."""
        ...

    async def size_on_disk(self) -> int | None:
        """Bytes used on disk, None when the store cannot tell (a server)."""
        ...

    async def close(self) -> None:
        """Release the engine or the connection; called once."""
        ...


async def apply_in_order(
    backend: Backend, steps: Sequence[WriteStep], *, upserts_in_flight: int
) -> None:
    """`in_order` through the backend's single calls: what a backend that cannot send a
    sequence at once does. Upserts in a row to one collection go out up to `upserts_in_flight`
    at a time (a server applies them in parallel); once one fails nothing more is sent, those
    in flight are awaited, and the failure is raised."""
    in_flight: set[asyncio.Task[None]] = set()
    flowing: Collection | None = None  # the collection of the upserts in flight
    try:
        for step in steps:
            overlaps = isinstance(step, Upsert) and step.collection == flowing
            while in_flight and (not overlaps or len(in_flight) >= upserts_in_flight):
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                _raise_any(done)
            if isinstance(step, Upsert):
                flowing = step.collection
                in_flight.add(asyncio.ensure_future(backend.upsert(step.collection, step.points)))
                continue
            flowing = None
            if isinstance(step, Delete):
                await backend.delete(step.collection, step.ids)
            elif isinstance(step, DeleteWhere):
                await backend.delete_where(step.collection, step.where)
        while in_flight:
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            _raise_any(done)
    finally:
        # never return (or raise) with a write still running behind the caller's back
        await asyncio.gather(*in_flight, return_exceptions=True)


def _raise_any(done: set[asyncio.Task[None]]) -> None:
    for task in done:
        task.result()  # raises the write's error, if it failed
