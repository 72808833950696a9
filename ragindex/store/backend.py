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

from collections.abc import Sequence
from typing import Literal, Protocol

from ragindex.store.points import Point, PointFilter, PointId, PointQuery, Record, ScoredRecord

Collection = Literal["chunks", "manifest"]


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
