"""`EdgeStore`: the embedded default, Qdrant's engine in-process (qdrant-edge-py), on local disk.

Layout: `<home>/<collection>/chunks` holds the chunk points (named dense + sparse vectors),
`<home>/<collection>/manifest` one point per committed document plus the collection record
(model, dimension, sparse scheme). Edge has no collections, so the two shards play that role.

Every call into the engine runs on one dedicated thread: its updates hold the GIL and are not
meant to interleave, and the event loop must stay responsive meanwhile. Each `update()` is atomic
and durable once it returns (write-ahead log), which is what the commit order relies on.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import qdrant_edge as qe

from ragindex.errors import StoreError, StoreLockedError
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
_UPSERT_BATCH = 512  # Edge spends ~0.14 ms a point holding the GIL: keep each call short
_SCROLL_PAGE = 1024
# The WAL makes every commit durable; a flush also writes the segments, so that a crash
# replays less and the flush at the end of an ingest (while no request is in flight) is short
_FLUSH_EVERY_S = 5.0
_FUSION_CANDIDATES = 100  # each prefetch of a hybrid query brings at least this many


class EdgeStore:
    def __init__(self, home: Path, collection: str, *, on_disk: bool = False) -> None:
        self.folder = Path(os.path.abspath(home)) / collection
        self.location = str(self.folder)
        self.on_disk = on_disk
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragindex-edge")
        self._chunks: Any = None
        self._manifest: Any = None
        self._closed = False
        self._flushed_at = time.monotonic()

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _translated, function, self.location, *args
        )

    # --- opening ------------------------------------------------------------------------
    async def open(self, spec: CollectionSpec | None) -> CollectionSpec | None:
        return await self._call(self._open, spec)

    def _open(self, spec: CollectionSpec | None) -> CollectionSpec | None:
        chunks_path, manifest_path = self.folder / "chunks", self.folder / "manifest"
        exists = (manifest_path / "wal").exists()
        if not exists and spec is None:
            return None
        if self._manifest is None:
            self._manifest = _open_shard(
                manifest_path,
                qe.EdgeConfig(
                    vectors={"marker": qe.EdgeVectorParams(size=1, distance=qe.Distance.Dot)}
                ),
            )
        recorded = self._recorded_spec()
        if spec is None:
            wanted = recorded
        else:
            if recorded is not None:
                schema.check_spec(recorded, spec, self.location)
            wanted = spec
        if wanted is None:
            return None
        if self._chunks is None:
            self._chunks = _open_shard(chunks_path, self._chunks_config(wanted.dimension))
            for field in schema.KEYWORD_FIELDS:
                self._chunks.update(
                    qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword)
                )
        if recorded is None:
            # written last: a crash before this point leaves a folder that is simply re-created
            self._manifest.update(
                qe.UpdateOperation.upsert_points(
                    [_marker_point(schema.COLLECTION_RECORD_ID, schema.spec_payload(wanted))]
                )
            )
        return wanted

    def _chunks_config(self, dimension: int) -> Any:
        return qe.EdgeConfig(
            vectors={
                schema.DENSE: qe.EdgeVectorParams(
                    size=dimension, distance=qe.Distance.Cosine, on_disk=self.on_disk
                )
            },
            sparse_vectors={schema.SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )

    def _recorded_spec(self) -> CollectionSpec | None:
        records = self._manifest.retrieve(
            [str(schema.COLLECTION_RECORD_ID)], with_payload=True, with_vector=False
        )
        return schema.spec_from_payload(records[0].payload) if records else None

    # --- the manifest -----------------------------------------------------------------------
    async def manifest(self) -> dict[str, ManifestRecord]:
        return await self._call(self._read_manifest)

    def _read_manifest(self) -> dict[str, ManifestRecord]:
        records = (
            schema.manifest_from_payload(point.payload)
            for point in self._scroll_manifest("document")
        )
        return {record.source: record for record in records}

    def _scroll_manifest(self, kind: str) -> list[Any]:
        """Every manifest point of one kind ("document" or "pending")."""
        points: list[Any] = []
        if self._manifest is None:
            return points
        offset = None
        while True:
            page, offset = self._manifest.scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=_SCROLL_PAGE,
                    filter=_filter_must({"record": kind}),
                    with_payload=True,
                )
            )
            points.extend(page)
            if offset is None:
                return points

    async def recover(self) -> list[str]:
        return await self._call(self._recover)

    def _recover(self) -> list[str]:
        if self._manifest is None:
            return []
        # the engine is locked to this process: every pending mark is from a run that died
        sources = [point.payload["source"] for point in self._scroll_manifest("pending")]
        if sources:
            self._remove(sources)
            self._manifest.update(
                qe.UpdateOperation.delete_points(
                    [str(schema.pending_id(source)) for source in sources]
                )
            )
        return sources

    async def upsert(self, documents: Sequence[DocumentChunks]) -> None:
        marks = [
            _marker_point(schema.pending_id(record.source), schema.pending_payload(record.source))
            for record, _ in documents
        ]
        await self._call(self._require_manifest().update, qe.UpdateOperation.upsert_points(marks))
        for batch in schema.point_batches(documents, _UPSERT_BATCH):
            points = [
                qe.Point(
                    id=point.id,
                    vector={
                        schema.DENSE: point.dense,
                        schema.SPARSE: qe.SparseVector(
                            indices=point.sparse_indices, values=point.sparse_values
                        ),
                    },
                    payload=point.payload,
                )
                for point in batch
            ]
            await self._call(
                self._require_chunks().update, qe.UpdateOperation.upsert_points(points)
            )

    async def commit(self, records: Sequence[ManifestRecord]) -> None:
        if records:
            await self._call(self._commit, records)

    def _commit(self, records: Sequence[ManifestRecord]) -> None:
        older_versions = qe.Filter(
            should=[
                qe.Filter(
                    must=[_match("source", record.source)],
                    must_not=[_match("sha256", record.sha256)],
                )
                for record in records
            ]
        )
        self._require_chunks().update(qe.UpdateOperation.delete_points_by_filter(older_versions))
        self._manifest.update(
            qe.UpdateOperation.upsert_points(
                [
                    _marker_point(
                        schema.manifest_id(record.source), schema.manifest_payload(record)
                    )
                    for record in records
                ]
            )
        )
        self._manifest.update(
            qe.UpdateOperation.delete_points(
                [str(schema.pending_id(record.source)) for record in records]
            )
        )
        if time.monotonic() - self._flushed_at > _FLUSH_EVERY_S:
            self._flush()

    async def remove(self, sources: Sequence[str]) -> None:
        await self._call(self._remove, list(sources))

    def _remove(self, sources: list[str]) -> None:
        for source in sources:
            self._require_chunks().update(
                qe.UpdateOperation.delete_points_by_filter(_filter_must({"source": source}))
            )
            self._manifest.update(
                qe.UpdateOperation.delete_points([str(schema.manifest_id(source))])
            )

    async def finish_ingest(self, points_written: int) -> None:
        await self._call(self._flush)

    def _flush(self) -> None:
        for shard in (self._chunks, self._manifest):
            if shard is not None:
                shard.flush()
        self._flushed_at = time.monotonic()

    async def optimize(self) -> bool:
        """Merge segments and build the HNSW index. Blocks this process (and its GIL) for minutes
        on large collections: run it from a maintenance command, never from the UI."""
        return await self._call(self._require_chunks().optimize)

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
        if self._chunks is None:
            return []
        request = _query_request(dense, sparse, mode, _filter_of(filters), limit)
        points = await self._call(self._chunks.query, request)
        return [schema.hit_from_payload(point.score, point.payload) for point in points]

    async def stats(self) -> StoreStats:
        return await self._call(self._stats)

    def _stats(self) -> StoreStats:
        documents = chunks = 0
        if self._manifest is not None:
            documents = self._manifest.count(
                qe.CountRequest(exact=True, filter=_filter_must({"record": "document"}))
            )
        if self._chunks is not None:
            chunks = self._chunks.count(qe.CountRequest(exact=True))
        # blocks actually used: the engine preallocates sparse files far larger than their data
        size = sum(
            entry.stat().st_blocks * 512 for entry in self.folder.rglob("*") if entry.is_file()
        )
        return StoreStats(
            documents=documents, chunks=chunks, location=self.location, size_bytes=size
        )

    async def close(self) -> None:
        if self._closed:
            return  # closing twice is harmless
        self._closed = True
        try:
            await self._call(self._close)
        finally:
            self._executor.shutdown(wait=True)

    def _close(self) -> None:
        for shard in (self._chunks, self._manifest):
            if shard is not None:
                shard.flush()
                shard.close()
        self._chunks = self._manifest = None

    def _require_manifest(self) -> Any:
        if self._manifest is None:
            raise StoreError(f"the collection at {self.location} is not open")
        return self._manifest

    def _require_chunks(self) -> Any:
        if self._chunks is None:
            raise StoreError(f"the collection at {self.location} is not open")
        return self._chunks


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


def _open_shard(path: Path, config: Any) -> Any:
    if (path / "wal").exists():
        # the config too: a process killed while creating the shard leaves a WAL and no
        # segment, which the engine cannot load without being told the config again
        return qe.EdgeShard.load(str(path), config)
    path.mkdir(parents=True, exist_ok=True)
    return qe.EdgeShard.create(str(path), config)


def _marker_point(point_id: Any, payload: dict[str, Any]) -> Any:
    return qe.Point(id=str(point_id), vector={"marker": [1.0]}, payload=payload)


def _match(key: str, value: str) -> Any:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def _filter_must(conditions: dict[str, str]) -> Any:
    return qe.Filter(must=[_match(key, value) for key, value in conditions.items()])


def _filter_of(filters: Filters) -> Any:
    conditions = schema.filter_conditions(filters)
    return _filter_must(conditions) if conditions else None


def _query_request(
    dense: FloatArray | None,
    sparse: SparseVector | None,
    mode: SearchMode,
    query_filter: Any,
    limit: int,
) -> Any:
    dense_query = (
        qe.Query.Nearest(dense.tolist(), using=schema.DENSE) if dense is not None else None
    )
    sparse_query = (
        qe.Query.Nearest(
            qe.SparseVector(indices=list(sparse.indices), values=list(sparse.values)),
            using=schema.SPARSE,
        )
        if sparse is not None and sparse.indices
        else None
    )
    if mode == "hybrid" and dense_query is not None and sparse_query is not None:
        candidates = max(limit * 4, _FUSION_CANDIDATES)
        return qe.QueryRequest(
            limit=limit,
            prefetches=[
                qe.Prefetch(limit=candidates, query=dense_query, filter=query_filter),
                qe.Prefetch(limit=candidates, query=sparse_query, filter=query_filter),
            ],
            # k=60 as in the RRF paper; Qdrant's own default (2) lets the first ranks dominate
            query=cast(Any, qe.Fusion.Rrf(k=60)),  # the stub omits the nested class
            with_payload=True,
        )
    single = sparse_query if mode == "sparse" else dense_query
    if single is None:
        single = dense_query or sparse_query
    if single is None:
        raise StoreError("a search needs a dense or a sparse query vector")
    return qe.QueryRequest(limit=limit, query=single, filter=query_filter, with_payload=True)
