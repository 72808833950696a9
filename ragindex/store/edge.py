"""`EdgeBackend`: the embedded default, Qdrant's engine in-process (qdrant-edge-py), on local disk.

Layout: `<home>/<collection>/chunks` and `<home>/<collection>/manifest`, one shard each (Edge has
no collections, so the two shards play that role). The folder is locked to one process.

Every call into the engine runs on one dedicated thread: its updates hold the GIL and are not
meant to interleave, and the event loop must stay responsive meanwhile. Each `update()` is atomic
and durable once it returns (write-ahead log): that is the acknowledgement the document store's
commit order relies on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe

from ragindex.errors import StoreError, StoreLockedError
from ragindex.store import schema
from ragindex.store.backend import Collection
from ragindex.store.points import (
    Condition,
    Dbsf,
    DenseNearest,
    Fusion,
    Match,
    Nearest,
    Point,
    PointFilter,
    PointId,
    PointQuery,
    Record,
    ScoredRecord,
)

T = TypeVar("T")


class EdgeBackend:
    exclusive = True

    def __init__(self, home: Path, collection: str, *, on_disk: bool = False) -> None:
        self.folder = Path(os.path.abspath(home)) / collection
        self.location = str(self.folder)
        self.on_disk = on_disk
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragindex-edge")
        self._shards: dict[Collection, qe.EdgeShard] = {}

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _translated, function, self.location, *args
        )

    def _shard(self, collection: Collection) -> qe.EdgeShard:
        if collection not in self._shards:
            raise StoreError(f"the collection at {self.location} is not open")
        return self._shards[collection]

    # --- collections ------------------------------------------------------------------------
    async def open_manifest(self, *, create: bool) -> bool:
        marker = qe.EdgeVectorParams(size=1, distance=qe.Distance.Dot)
        config = qe.EdgeConfig(vectors={schema.MARKER: marker})
        return await self._call(self._open, "manifest", config, create)

    async def open_chunks(self, dimension: int, *, create: bool) -> bool:
        config = qe.EdgeConfig(
            vectors={
                schema.DENSE: qe.EdgeVectorParams(
                    size=dimension, distance=qe.Distance.Cosine, on_disk=self.on_disk
                )
            },
            sparse_vectors={schema.SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        return await self._call(self._open, "chunks", config, create)

    def _open(self, collection: Collection, config: qe.EdgeConfig, create: bool) -> bool:
        if collection in self._shards:
            return True
        path = self.folder / collection
        if (path / "wal").exists():
            # the config too: a process killed while creating the shard leaves a WAL and no
            # segment, which the engine cannot load without being told the config again
            shard = qe.EdgeShard.load(str(path), config)
        elif create:
            path.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(path), config)
        else:
            return False
        if collection == "chunks":
            # on every open (it is idempotent): a process may have died before the indexes
            for field in schema.KEYWORD_FIELDS:
                shard.update(
                    qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword)
                )
        self._shards[collection] = shard
        return True

    # --- points -----------------------------------------------------------------------------
    async def upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        # the engine's points are built on its thread: the event loop only hands the batch over
        await self._call(self._upsert, collection, points)

    def _upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        converted = [_point(point, collection) for point in points]
        self._shard(collection).update(qe.UpdateOperation.upsert_points(converted))

    async def delete(self, collection: Collection, ids: Sequence[PointId]) -> None:
        operation = qe.UpdateOperation.delete_points(list(ids))
        await self._call(lambda: self._shard(collection).update(operation))

    async def delete_where(self, collection: Collection, where: PointFilter) -> None:
        operation = qe.UpdateOperation.delete_points_by_filter(_boolean(where))
        await self._call(lambda: self._shard(collection).update(operation))

    async def retrieve(self, collection: Collection, ids: Sequence[PointId]) -> list[Record]:
        found = await self._call(
            lambda: self._shard(collection).retrieve(
                list(ids),
                with_payload=True,
                with_vector=False,  # Edge needs both said
            )
        )
        return [Record(id=str(point.id), payload=point.payload or {}) for point in found]

    async def scroll(
        self,
        collection: Collection,
        where: PointFilter | None,
        *,
        limit: int,
        offset: PointId | None,
        with_dense: bool = False,
    ) -> tuple[list[Record], PointId | None]:
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=_filter(where),
            with_payload=True,
            with_vector=[schema.DENSE] if with_dense else False,
        )
        page, following = await self._call(lambda: self._shard(collection).scroll(request))
        records = [
            Record(str(p.id), p.payload or {}, _dense_of(p) if with_dense else None) for p in page
        ]
        return records, None if following is None else str(following)

    async def count(self, collection: Collection, where: PointFilter | None) -> int:
        request = qe.CountRequest(exact=True, filter=_filter(where))
        return await self._call(lambda: self._shard(collection).count(request))

    async def query(self, query: PointQuery) -> list[ScoredRecord]:
        request = qe.QueryRequest(
            limit=query.limit,
            prefetches=[
                qe.Prefetch(limit=p.limit, query=_nearest(p.nearest), filter=_filter(p.filter))
                for p in query.prefetches
            ],
            query=_fusion(query.fusion) if query.fusion else _nearest(query.nearest),
            filter=_query_filter(query),
            with_payload=True,
        )
        found = await self._call(lambda: self._shard("chunks").query(request))
        return [ScoredRecord(str(p.id), p.score, p.payload or {}) for p in found]

    # --- maintenance ------------------------------------------------------------------------
    async def flush(self) -> None:
        await self._call(self._flush)

    def _flush(self) -> None:
        for shard in self._shards.values():
            shard.flush()

    async def optimize(self) -> bool:
        """Merge segments and build the HNSW index: blocks the process (and its GIL) for minutes
        on large collections."""
        return await self._call(lambda: self._shard("chunks").optimize())

    async def size_on_disk(self) -> int | None:
        # blocks actually used: the engine preallocates sparse files far larger than their data
        return await self._call(
            lambda: sum(
                entry.stat().st_blocks * 512 for entry in self.folder.rglob("*") if entry.is_file()
            )
        )

    async def close(self) -> None:
        try:
            await self._call(self._close)
        finally:
            self._executor.shutdown(wait=True)

    def _close(self) -> None:
        shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            shard.flush()
            shard.close()


def _translated(function: Callable[..., T], location: str, *args: Any) -> T:
    """Run an engine call; its untyped exceptions become ours here, and only here."""
    try:
        return function(*args)
    except StoreError:
        raise
    except Exception as error:  # qdrant-edge raises bare Exception for everything
        message = str(error)
        if "WouldBlock" in message:
            raise StoreLockedError(
                f"the index at {location} is open in another process (the UI or another ingest); "
                "stop that process, or point RAGINDEX_QDRANT_URL at a Qdrant server so that "
                "several processes can share the index"
            ) from None
        raise StoreError(f"Qdrant Edge failed on {location}: {message}") from error


def _point(point: Point, collection: Collection) -> qe.Point:
    if collection == "manifest":
        return qe.Point(id=point.id, vector={schema.MARKER: [1.0]}, payload=point.payload)
    vector: dict[str, qe.NamedVector] = {}
    if point.dense is not None:
        vector[schema.DENSE] = point.dense
    if point.sparse is not None:
        vector[schema.SPARSE] = qe.SparseVector(point.sparse.indices, point.sparse.values)
    return qe.Point(id=point.id, vector=vector, payload=point.payload)


def _dense_of(record: qe.Record) -> list[float] | None:
    vectors = record.vector
    return vectors.get(schema.DENSE) if isinstance(vectors, dict) else None  # type: ignore[return-value]


def _condition(condition: Condition) -> qe.FieldCondition | qe.Filter:
    if isinstance(condition, Match):
        return qe.FieldCondition(key=condition.key, match=qe.MatchValue(condition.value))
    return _boolean(condition)


def _boolean(where: PointFilter) -> qe.Filter:
    return qe.Filter(
        must=[_condition(c) for c in where.must] or None,
        should=[_condition(c) for c in where.should] or None,
        must_not=[_condition(c) for c in where.must_not] or None,
    )


def _filter(where: PointFilter | None) -> qe.Filter | None:
    return None if where is None else _boolean(where)


def _query_filter(query: PointQuery) -> qe.Filter | None:
    where = _filter(query.filter)
    if not query.ids:
        return where
    only: list[Any] = [qe.HasIdCondition(set(query.ids))]
    return qe.Filter(must=only + ([where] if where is not None else []))


def _nearest(nearest: Nearest | None) -> Any:
    if nearest is None:
        raise StoreError("a query needs a vector or a fusion of prefetches")
    if isinstance(nearest, DenseNearest):
        return qe.Query.Nearest(nearest.vector, using=schema.DENSE)
    sparse = qe.SparseVector(nearest.vector.indices, nearest.vector.values)
    return qe.Query.Nearest(sparse, using=schema.SPARSE)


def _fusion(fusion: Fusion) -> Any:
    if isinstance(fusion, Dbsf):
        return qe.Fusion.Dbsf()
    return qe.Fusion.Rrf(k=fusion.k, weights=list(fusion.weights) if fusion.weights else None)
