"""`QdrantServerStore`: a Qdrant server or cluster through qdrant-client's `AsyncQdrantClient`.

Two collections per index: `<name>` holds the chunk points (named dense + sparse vectors with
Qdrant's IDF modifier, keyword payload indexes on the filter fields, shards and replicas from the
settings) and `<name>_manifest` one point per committed document plus the collection record.

Chunk upserts go out with `wait=false` (acknowledged once in Qdrant's write-ahead log, applied in
order per shard); the manifest record, which is what makes a document count as indexed, is
written with `wait=true` after them. Several processes may ingest and search side by side.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, models

from ragindex.config import Settings
from ragindex.errors import StoreError
from ragindex.store import schema
from ragindex.store.base import DocumentChunks
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
_UPSERT_BATCH = 256  # Qdrant's advice for bulk loads: 64-256 points a request
_SCROLL_PAGE = 1024
_FUSION_CANDIDATES = 100
_PENDING_ABANDONED_S = 3600.0  # a group of documents is committed within seconds of its marks


class QdrantServerStore:
    def __init__(
        self,
        client: AsyncQdrantClient,
        collection: str,
        *,
        location: str,
        shards: int = 1,
        replicas: int = 1,
        on_disk: bool = False,
        abandoned_after_s: float = _PENDING_ABANDONED_S,
    ) -> None:
        """`abandoned_after_s`: how old a pending mark must be before `recover` treats its run
        as dead; 0 when this process is known to be the collection's only writer."""
        self.client = client
        self.collection = collection
        self.manifest_collection = f"{collection}_manifest"
        self.location = f"{location} (collection {collection})"
        self.shards = shards
        self.replicas = replicas
        self.on_disk = on_disk
        self.abandoned_after_s = abandoned_after_s
        self._open = False

    @classmethod
    def from_settings(cls, settings: Settings) -> QdrantServerStore:
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

    # --- opening ----------------------------------------------------------------------------
    async def open(self, spec: CollectionSpec | None) -> CollectionSpec | None:
        exists = await self._call(self.client.collection_exists(self.manifest_collection))
        if not exists and spec is None:
            return None
        if not exists:
            await self._create(self.manifest_collection, self._manifest_config())
        recorded = await self._recorded_spec()
        if spec is not None and recorded is not None:
            schema.check_spec(recorded, spec, self.location)
        wanted = spec or recorded
        if wanted is None:
            return None
        if not await self._call(self.client.collection_exists(self.collection)):
            await self._create(self.collection, self._chunks_config(wanted.dimension))
            for field in schema.KEYWORD_FIELDS:
                await self._call(
                    self.client.create_payload_index(
                        self.collection, field, models.PayloadSchemaType.KEYWORD, wait=True
                    )
                )
        if recorded is None:
            await self._upsert_manifest(schema.COLLECTION_RECORD_ID, schema.spec_payload(wanted))
        self._open = True
        return wanted

    async def _create(self, name: str, config: dict[str, Any]) -> None:
        try:
            await self.client.create_collection(name, **config)
        except Exception as error:
            # another process may have created it a moment ago: that is what we wanted
            if await self._call(self.client.collection_exists(name)):
                return
            await self._call(_raise(error))

    def _chunks_config(self, dimension: int) -> dict[str, Any]:
        return {
            "vectors_config": {
                schema.DENSE: models.VectorParams(
                    size=dimension, distance=models.Distance.COSINE, on_disk=self.on_disk
                )
            },
            "sparse_vectors_config": {
                schema.SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
            },
            "shard_number": self.shards,
            "replication_factor": self.replicas,
        }

    def _manifest_config(self) -> dict[str, Any]:
        return {
            "vectors_config": {"marker": models.VectorParams(size=1, distance=models.Distance.DOT)},
            "shard_number": self.shards,
            "replication_factor": self.replicas,
        }

    async def _recorded_spec(self) -> CollectionSpec | None:
        records = await self._call(
            self.client.retrieve(
                self.manifest_collection, [str(schema.COLLECTION_RECORD_ID)], with_payload=True
            )
        )
        return schema.spec_from_payload(records[0].payload or {}) if records else None

    # --- the manifest -----------------------------------------------------------------------
    async def manifest(self) -> dict[str, ManifestRecord]:
        records = (
            schema.manifest_from_payload(payload)
            for payload in await self._scroll_manifest("document")
        )
        return {record.source: record for record in records}

    async def _scroll_manifest(self, kind: str) -> list[dict[str, Any]]:
        """The payloads of every manifest point of one kind ("document" or "pending")."""
        payloads: list[dict[str, Any]] = []
        if not self._open and not await self._call(
            self.client.collection_exists(self.manifest_collection)
        ):
            return payloads
        offset: Any = None
        while True:
            page, offset = await self._call(
                self.client.scroll(
                    self.manifest_collection,
                    scroll_filter=_must({"record": kind}),
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=True,
                )
            )
            payloads.extend(point.payload or {} for point in page)
            if offset is None:
                return payloads

    async def recover(self) -> list[str]:
        # Other processes may be ingesting into the same collection right now, their marks
        # fresh: only marks older than any commit takes are from runs that died.
        sources = [
            payload["source"]
            for payload in await self._scroll_manifest("pending")
            if schema.abandoned(payload, older_than_s=self.abandoned_after_s)
        ]
        if sources:
            await self.remove(sources)
            await self._call(
                self.client.delete(
                    self.manifest_collection,
                    models.PointIdsList(points=[str(schema.pending_id(s)) for s in sources]),
                    wait=True,
                )
            )
        return sources

    async def _upsert_manifest(self, point_id: Any, payload: dict[str, Any]) -> None:
        point = _marker(point_id, payload)
        await self._call(self.client.upsert(self.manifest_collection, [point], wait=True))

    # --- writing ----------------------------------------------------------------------------
    async def upsert(self, documents: Sequence[DocumentChunks]) -> None:
        marks = [
            _marker(schema.pending_id(record.source), schema.pending_payload(record.source))
            for record, _ in documents
        ]
        await self._call(self.client.upsert(self.manifest_collection, marks, wait=True))
        for batch in schema.point_batches(documents, _UPSERT_BATCH):
            points = [
                models.PointStruct(
                    id=point.id,
                    vector={
                        schema.DENSE: point.dense,
                        schema.SPARSE: models.SparseVector(
                            indices=point.sparse_indices, values=point.sparse_values
                        ),
                    },
                    payload=point.payload,
                )
                for point in batch
            ]
            await self._call(self.client.upsert(self.collection, points, wait=False))

    async def commit(self, records: Sequence[ManifestRecord]) -> None:
        if not records:
            return
        older_versions = models.Filter(
            should=[
                models.Filter(
                    must=[_match("source", record.source)],
                    must_not=[_match("sha256", record.sha256)],
                )
                for record in records
            ]
        )
        await self._call(
            self.client.delete(
                self.collection, models.FilterSelector(filter=older_versions), wait=True
            )
        )
        committed = [
            _marker(schema.manifest_id(record.source), schema.manifest_payload(record))
            for record in records
        ]
        done: list[models.ExtendedPointId] = [
            str(schema.pending_id(record.source)) for record in records
        ]
        await self._call(
            self.client.batch_update_points(
                self.manifest_collection,
                [
                    models.UpsertOperation(upsert=models.PointsList(points=committed)),
                    models.DeleteOperation(delete=models.PointIdsList(points=done)),
                ],
                wait=True,
            )
        )

    async def remove(self, sources: Sequence[str]) -> None:
        for source in sources:
            await self._call(
                self.client.delete(
                    self.collection,
                    models.FilterSelector(filter=_must({"source": source})),
                    wait=True,
                )
            )
            await self._call(
                self.client.delete(
                    self.manifest_collection,
                    models.PointIdsList(points=[str(schema.manifest_id(source))]),
                    wait=True,
                )
            )

    async def finish_ingest(self, points_written: int) -> None:
        """The server builds its indexes in the background: nothing to do."""

    async def optimize(self) -> bool:
        return False  # Qdrant's optimizers run on the server on their own

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
        if not self._open and not await self._call(self.client.collection_exists(self.collection)):
            return []
        query_filter = _filter_of(filters)
        dense_query = dense.tolist() if dense is not None else None
        sparse_query = (
            models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
            if sparse is not None and sparse.indices
            else None
        )
        if mode == "hybrid" and dense_query is not None and sparse_query is not None:
            candidates = max(limit * 4, _FUSION_CANDIDATES)
            response = await self._call(
                self.client.query_points(
                    self.collection,
                    prefetch=[
                        models.Prefetch(
                            query=dense_query,
                            using=schema.DENSE,
                            filter=query_filter,
                            limit=candidates,
                        ),
                        models.Prefetch(
                            query=sparse_query,
                            using=schema.SPARSE,
                            filter=query_filter,
                            limit=candidates,
                        ),
                    ],
                    # k=60 as in the RRF paper (Qdrant's default of 2 lets first ranks dominate)
                    query=models.RrfQuery(rrf=models.Rrf(k=60)),
                    limit=limit,
                    with_payload=True,
                )
            )
        else:
            use_sparse = (mode == "sparse" and sparse_query is not None) or dense_query is None
            query: Any = sparse_query if use_sparse else dense_query
            if query is None:
                raise StoreError("a search needs a dense or a sparse query vector")
            response = await self._call(
                self.client.query_points(
                    self.collection,
                    query=query,
                    using=schema.SPARSE if use_sparse else schema.DENSE,
                    query_filter=query_filter,
                    limit=limit,
                    with_payload=True,
                )
            )
        return [
            schema.hit_from_payload(point.score, point.payload or {}) for point in response.points
        ]

    async def stats(self) -> StoreStats:
        documents = chunks = 0
        if await self._call(self.client.collection_exists(self.manifest_collection)):
            counted = await self._call(
                self.client.count(
                    self.manifest_collection, count_filter=_must({"record": "document"}), exact=True
                )
            )
            documents = counted.count
        if await self._call(self.client.collection_exists(self.collection)):
            chunks = (await self._call(self.client.count(self.collection, exact=True))).count
        return StoreStats(
            documents=documents, chunks=chunks, location=self.location, size_bytes=None
        )

    async def close(self) -> None:
        await self._call(self.client.close())


async def _raise(error: Exception) -> None:
    raise error


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _must(conditions: dict[str, str]) -> models.Filter:
    return models.Filter(must=[_match(key, value) for key, value in conditions.items()])


def _filter_of(filters: Filters) -> models.Filter | None:
    conditions = schema.filter_conditions(filters)
    return _must(conditions) if conditions else None


def _marker(point_id: Any, payload: dict[str, Any]) -> models.PointStruct:
    return models.PointStruct(id=str(point_id), vector={"marker": [1.0]}, payload=payload)
