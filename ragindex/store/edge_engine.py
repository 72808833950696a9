"""The embedded store's engine side: Qdrant Edge (qdrant-edge-py) in a process of its own.

`EdgeBackend` (edge.py) starts `python -m ragindex.store.edge_engine FD` and sends it calls over a
socket. The engine's calls hold the GIL for all their work: ~0.1 ms a point in `update()` and as
much again to build its points, and minutes in `optimize()`. In the ingesting or searching
process that time was taken from everything else (at 16 cores, 43% of the parent's GIL went to
this thread alone); here it has a core and a GIL of its own, and an `optimize()` no longer
freezes the page.

Layout: `<home>/<collection>/chunks` and `<home>/<collection>/manifest`, one shard each (Edge has
no collections, so the two shards play that role). The engine locks the folder to one process.
Each `update()` is durable once it returns (write-ahead log): that is the acknowledgement the
document store's commit order relies on, and the reply is sent only after it. A batch the engine
refuses part-way keeps the points before the refused one (tested): the document's pending mark
covers them until recovery removes them.

The process lives as long as its socket: it closes its shards and exits when told to, and exits
at once when the other end is gone (its owner died: what was acknowledged is in the log).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import qdrant_edge as qe

from ragindex.store import schema
from ragindex.store.points import (
    Collection,
    Condition,
    Dbsf,
    Delete,
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
    Upsert,
    WriteStep,
)

# a process that was just killed may still hold the folder's lock for a moment while it exits
LOCK_WAIT_S = 3.0


class EngineFailure(Exception):
    """What the engine raised, as text: the owner turns it into a `StoreError`."""

    def __init__(self, message: str, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked

    def __reduce__(self) -> tuple[Any, ...]:
        return (_failure, (str(self), self.locked))


def _failure(message: str, locked: bool) -> EngineFailure:
    return EngineFailure(message, locked=locked)


class EdgeEngine:
    """The two shards of one collection folder, and every operation the backend needs of them."""

    def __init__(self, folder: str, on_disk: bool) -> None:
        self.folder = Path(folder)
        self.on_disk = on_disk
        self._shards: dict[Collection, qe.EdgeShard] = {}

    def _shard(self, collection: Collection) -> qe.EdgeShard:
        if collection not in self._shards:
            raise EngineFailure(f"the collection at {self.folder} is not open")
        return self._shards[collection]

    # --- collections ------------------------------------------------------------------------
    def open_manifest(self, create: bool) -> bool:
        marker = qe.EdgeVectorParams(size=1, distance=qe.Distance.Dot)
        return self._open("manifest", qe.EdgeConfig(vectors={schema.MARKER: marker}), create)

    def open_chunks(self, dimension: int, create: bool) -> bool:
        config = qe.EdgeConfig(
            vectors={
                schema.DENSE: qe.EdgeVectorParams(
                    size=dimension, distance=qe.Distance.Cosine, on_disk=self.on_disk
                )
            },
            sparse_vectors={schema.SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        return self._open("chunks", config, create)

    def _open(self, collection: Collection, config: qe.EdgeConfig, create: bool) -> bool:
        if collection in self._shards:
            return True
        path = self.folder / collection
        if (path / "wal").exists():
            # the config too: a process killed while creating the shard leaves a WAL and no
            # segment, which the engine cannot load without being told the config again
            shard = _while_locked(lambda: qe.EdgeShard.load(str(path), config))
        elif create:
            path.mkdir(parents=True, exist_ok=True)
            shard = _while_locked(lambda: qe.EdgeShard.create(str(path), config))
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
    def upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        converted = [_point(point, collection) for point in points]
        self._shard(collection).update(qe.UpdateOperation.upsert_points(converted))

    def in_order(self, steps: Sequence[WriteStep]) -> None:
        for step in steps:  # each update() is durable when it returns: the next may rely on it
            if isinstance(step, Upsert):
                self.upsert(step.collection, step.points)
            elif isinstance(step, Delete):
                self.delete(step.collection, step.ids)
            else:
                self.delete_where(step.collection, step.where)

    def delete(self, collection: Collection, ids: Sequence[PointId]) -> None:
        self._shard(collection).update(qe.UpdateOperation.delete_points(list(ids)))

    def delete_where(self, collection: Collection, where: PointFilter) -> None:
        operation = qe.UpdateOperation.delete_points_by_filter(_boolean(where))
        self._shard(collection).update(operation)

    def retrieve(self, collection: Collection, ids: Sequence[PointId]) -> list[Record]:
        # Edge needs both said
        found = self._shard(collection).retrieve(list(ids), with_payload=True, with_vector=False)
        return [Record(id=str(point.id), payload=point.payload or {}) for point in found]

    def scroll(
        self,
        collection: Collection,
        where: PointFilter | None,
        limit: int,
        offset: PointId | None,
        with_dense: bool,
    ) -> tuple[list[Record], PointId | None]:
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=_filter(where),
            with_payload=True,
            with_vector=[schema.DENSE] if with_dense else False,
        )
        page, following = self._shard(collection).scroll(request)
        records = [
            Record(str(p.id), p.payload or {}, _dense_of(p) if with_dense else None) for p in page
        ]
        return records, None if following is None else str(following)

    def count(self, collection: Collection, where: PointFilter | None) -> int:
        return self._shard(collection).count(qe.CountRequest(exact=True, filter=_filter(where)))

    def query(self, query: PointQuery) -> list[ScoredRecord]:
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
        found = self._shard("chunks").query(request)
        return [ScoredRecord(str(p.id), p.score, p.payload or {}) for p in found]

    # --- maintenance ------------------------------------------------------------------------
    def flush(self) -> None:
        for shard in self._shards.values():
            shard.flush()

    def optimize(self) -> bool:
        return bool(self._shard("chunks").optimize())

    def size_on_disk(self) -> int:
        # blocks actually used: the engine preallocates sparse files far larger than their data
        return sum(
            entry.stat().st_blocks * 512 for entry in self.folder.rglob("*") if entry.is_file()
        )

    def close(self) -> None:
        shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            shard.flush()
            shard.close()


def _while_locked(opening: Callable[[], qe.EdgeShard]) -> qe.EdgeShard:
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return opening()
        except Exception as error:  # qdrant-edge raises bare Exception for everything
            if "WouldBlock" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_call(engine: EdgeEngine, name: str, args: tuple[Any, ...]) -> Any:
    """One call; the engine's untyped exceptions become an `EngineFailure` here, and only here."""
    try:
        return getattr(engine, name)(*args)
    except EngineFailure:
        raise
    except Exception as error:
        message = str(error)
        raise EngineFailure(message, locked="WouldBlock" in message) from None


def serve(connection: Connection, engine: EdgeEngine) -> None:
    """Answer calls until told to close or until the owner is gone."""
    while True:
        try:
            name, args = connection.recv()
        except (EOFError, OSError):
            os._exit(0)  # the owner died: acknowledged writes are in the log, nothing to save
        try:
            reply: tuple[str, Any] = ("ok", run_call(engine, name, args))
        except EngineFailure as failure:
            reply = ("failed", failure)
        connection.send(reply)
        if name == "close":
            return


def main() -> None:
    # Ctrl-C and a terminal's SIGTERM go to the whole process group: the owner decides when the
    # engine closes (it finishes the write it is in, then says so), so these are not ours
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd, folder, on_disk = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "on-disk"
    serve(Connection(fd), EdgeEngine(folder, on_disk))


def _point(point: Point, collection: Collection) -> qe.Point:
    if collection == "manifest":
        return qe.Point(id=point.id, vector={schema.MARKER: [1.0]}, payload=point.payload)
    vector: dict[str, qe.NamedVector] = {}
    if point.dense is not None:
        vector[schema.DENSE] = _dense_values(point.dense)
    if point.sparse is not None:
        vector[schema.SPARSE] = qe.SparseVector(point.sparse.indices, point.sparse.values)
    return qe.Point(id=point.id, vector=vector, payload=point.payload)


def _dense_values(dense: npt.NDArray[np.float32] | list[float]) -> list[float]:
    """What qdrant-edge reads fastest: a float32 array's memory, its items read in place.
    Building a point from 2,560 dimensions took ~35 us so, ~55 us from a list made first
    (`tolist()` makes a Python float per item), ~160 us from the array itself. (Its type
    stubs say list; it reads any sequence of floats.)"""
    if isinstance(dense, np.ndarray):
        return cast(list[float], np.ascontiguousarray(dense, dtype=np.float32).data)
    return dense


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
        raise EngineFailure("a query needs a vector or a fusion of prefetches")
    if isinstance(nearest, DenseNearest):
        return qe.Query.Nearest(nearest.vector, using=schema.DENSE)
    sparse = qe.SparseVector(nearest.vector.indices, nearest.vector.values)
    return qe.Query.Nearest(sparse, using=schema.SPARSE)


def _fusion(fusion: Fusion) -> Any:
    if isinstance(fusion, Dbsf):
        return qe.Fusion.Dbsf()
    return qe.Fusion.Rrf(k=fusion.k, weights=list(fusion.weights) if fusion.weights else None)


if __name__ == "__main__":
    # through the module's own name: what is sent back must unpickle in the owner as
    # `ragindex.store.edge_engine.…`, not as this `__main__`'s copies
    from ragindex.store.edge_engine import main as engine_main

    engine_main()
