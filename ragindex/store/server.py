"""`QdrantClientBackend`: a Qdrant server or cluster through qdrant-client's `AsyncQdrantClient`.

Two collections per index: `<name>` holds the chunk points (shards and replicas from the
settings) and `<name>_manifest` the marker points. Several processes may ingest and search side by
side.

Every write is sent with `wait=True` and strong ordering (through the shard's permanent leader):
it returns once applied, so that on a replicated cluster a manifest record is only written after
the chunks it vouches for are in. Bulk speed comes from several batches in flight at once (the
document store sends them), not from leaving writes unacknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, models

from ragindex.config import Settings
from ragindex.errors import StoreError
from ragindex.store import schema
from ragindex.store.backend import Collection, apply_in_order
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
    Prefetch,
    Record,
    ScoredRecord,
    WriteStep,
    dense_list,
)

T = TypeVar("T")
# a server applies batches in parallel: bulk loads go fastest with a few in flight
UPSERTS_IN_FLIGHT = 4
_ACKNOWLEDGED: dict[str, Any] = {"wait": True, "ordering": models.WriteOrdering.STRONG}


class QdrantClientBackend:
    exclusive = False

    def __init__(
        self,
        client: AsyncQdrantClient,
        collection: str,
        *,
        location: str,
        shards: int = 1,
        replicas: int = 1,
        on_disk: bool = False,
    ) -> None:
        self.client = client
        self.names: dict[Collection, str] = {
            "chunks": collection,
            "manifest": f"{collection}_manifest",
        }
        self.location = f"{location} (collection {collection})"
        self.shards = shards
        self.replicas = replicas
        self.on_disk = on_disk

    @classmethod
    def from_settings(cls, settings: Settings) -> QdrantClientBackend:
        url = settings.qdrant_url or ""
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client = AsyncQdrantClient(url=url, api_key=key, timeout=60)
        return cls(
            client,
            settings.collection,
            location=url,
            shards=settings.shards,
            replicas=settings.replicas,
            on_disk=settings.on_disk,
        )

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """Every qdrant-client call goes through here: its many exception types become ours."""
        try:
            return await awaitable
        except StoreError:
            raise
        except Exception as error:  # httpx, grpc, UnexpectedResponse, ValueError in local mode
            text = str(error) or type(error).__name__
            if "connect" in text.lower() or type(error).__name__ in (
                "ConnectError",
                "ConnectTimeout",
            ):
                raise StoreError(
                    f"cannot reach Qdrant at {self.location}: {text}; is it running, and is "
                    "RAGINDEX_QDRANT_URL right?"
                ) from None
            raise StoreError(f"Qdrant at {self.location} failed: {text}") from error

    # --- collections ------------------------------------------------------------------------
    async def open_manifest(self, *, create: bool) -> bool:
        marker = {schema.MARKER: models.VectorParams(size=1, distance=models.Distance.DOT)}
        return await self._open("manifest", {"vectors_config": marker}, create)

    async def open_chunks(self, dimension: int, *, create: bool) -> bool:
        dense = models.VectorParams(
            size=dimension, distance=models.Distance.COSINE, on_disk=self.on_disk
        )
        config = {
            "vectors_config": {schema.DENSE: dense},
            "sparse_vectors_config": {
                schema.SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
            },
        }
        return await self._open("chunks", config, create)

    async def _open(self, collection: Collection, config: dict[str, Any], create: bool) -> bool:
        name = self.names[collection]
        if await self._call(self.client.collection_exists(name)):
            return True
        if not create:
            return False
        try:
            await self._call(
                self.client.create_collection(
                    name, shard_number=self.shards, replication_factor=self.replicas, **config
                )
            )
        except StoreError:
            # another process may have created it a moment ago: that is what we wanted
            if not await self._call(self.client.collection_exists(name)):
                raise
        if collection == "chunks":
            for field in schema.KEYWORD_FIELDS:  # before any point: indexes built as they come
                await self._call(
                    self.client.create_payload_index(
                        name, field, models.PayloadSchemaType.KEYWORD, wait=True
                    )
                )
        return True

    # --- points -----------------------------------------------------------------------------
    async def upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        converted = [_point(point, collection) for point in points]
        await self._call(self.client.upsert(self.names[collection], converted, **_ACKNOWLEDGED))

    async def in_order(self, steps: Sequence[WriteStep]) -> None:
        await apply_in_order(self, steps, upserts_in_flight=UPSERTS_IN_FLIGHT)

    async def delete(self, collection: Collection, ids: Sequence[PointId]) -> None:
        selector = models.PointIdsList(points=list(ids))
        await self._call(self.client.delete(self.names[collection], selector, **_ACKNOWLEDGED))

    async def delete_where(self, collection: Collection, where: PointFilter) -> None:
        selector = models.FilterSelector(filter=_boolean(where))
        await self._call(self.client.delete(self.names[collection], selector, **_ACKNOWLEDGED))

    async def retrieve(self, collection: Collection, ids: Sequence[PointId]) -> list[Record]:
        found = await self._call(
            self.client.retrieve(self.names[collection], list(ids), with_payload=True)
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
        page, following = await self._call(
            self.client.scroll(
                self.names[collection],
                scroll_filter=_filter(where),
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=[schema.DENSE] if with_dense else False,
            )
        )
        records = [
            Record(str(p.id), p.payload or {}, _dense_of(p) if with_dense else None) for p in page
        ]
        return records, None if following is None else str(following)

    async def count(self, collection: Collection, where: PointFilter | None) -> int:
        counted = await self._call(
            self.client.count(self.names[collection], count_filter=_filter(where), exact=True)
        )
        return counted.count

    async def query(self, query: PointQuery) -> list[ScoredRecord]:
        prefetches = [_prefetch(prefetch) for prefetch in query.prefetches]
        if query.fusion is not None:
            scoring, using = _fusion(query.fusion), None
        else:
            scoring, using = _nearest(query.nearest)
        response = await self._call(
            self.client.query_points(
                self.names["chunks"],
                prefetch=prefetches or None,
                query=scoring,
                using=using,
                query_filter=_query_filter(query),
                limit=query.limit,
                with_payload=True,
            )
        )
        return [ScoredRecord(str(p.id), p.score, p.payload or {}) for p in response.points]

    # --- maintenance: the server persists and optimizes on its own ----------------------------
    async def flush(self) -> None:
        pass

    async def optimize(self) -> bool:
        return False

    async def size_on_disk(self) -> int | None:
        return None

    async def close(self) -> None:
        await self._call(self.client.close())


def _point(point: Point, collection: Collection) -> models.PointStruct:
    vector: dict[str, Any] = {}
    if collection == "manifest":
        vector[schema.MARKER] = [1.0]
    if point.dense is not None:
        vector[schema.DENSE] = dense_list(point.dense)
    if point.sparse is not None:
        vector[schema.SPARSE] = models.SparseVector(
            indices=point.sparse.indices, values=point.sparse.values
        )
    return models.PointStruct(id=point.id, vector=vector, payload=point.payload)


def _dense_of(record: models.Record) -> list[float] | None:
    vectors = record.vector
    return vectors.get(schema.DENSE) if isinstance(vectors, dict) else None  # type: ignore[return-value]


def _condition(condition: Condition) -> models.Condition:
    if isinstance(condition, Match):
        match = models.MatchValue(value=condition.value)
        return models.FieldCondition(key=condition.key, match=match)
    return _boolean(condition)


def _boolean(where: PointFilter) -> models.Filter:
    return models.Filter(
        must=[_condition(c) for c in where.must] or None,
        should=[_condition(c) for c in where.should] or None,
        must_not=[_condition(c) for c in where.must_not] or None,
    )


def _filter(where: PointFilter | None) -> models.Filter | None:
    return None if where is None else _boolean(where)


def _query_filter(query: PointQuery) -> models.Filter | None:
    where = _filter(query.filter)
    if not query.ids:
        return where
    only: list[models.Condition] = [models.HasIdCondition(has_id=list(query.ids))]
    return models.Filter(must=only + ([where] if where is not None else []))


def _nearest(nearest: Nearest | None) -> tuple[Any, str]:
    """The query and the named vector it searches."""
    if nearest is None:
        raise StoreError("a query needs a vector or a fusion of prefetches")
    if isinstance(nearest, DenseNearest):
        return nearest.vector, schema.DENSE
    sparse = models.SparseVector(indices=nearest.vector.indices, values=nearest.vector.values)
    return sparse, schema.SPARSE


def _prefetch(prefetch: Prefetch) -> models.Prefetch:
    vector, using = _nearest(prefetch.nearest)
    return models.Prefetch(
        query=vector, using=using, filter=_filter(prefetch.filter), limit=prefetch.limit
    )


def _fusion(fusion: Fusion) -> models.Query:
    if isinstance(fusion, Dbsf):
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    weights = list(fusion.weights) if fusion.weights else None
    return models.RrfQuery(rrf=models.Rrf(k=fusion.k, weights=weights))
