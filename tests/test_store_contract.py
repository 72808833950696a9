"""One contract, every backend: `StoreContract` over Qdrant Edge and over qdrant-client.

No Qdrant server binary can be installed on the CI machines, so the qdrant-client backend runs
here on qdrant-client's local mode (the same `AsyncQdrantClient` API, in-process). Set
`RAGINDEX_TEST_QDRANT_URL=http://localhost:6333` to run the very same suite against a real
Qdrant server or cluster as well.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient, models

from ragindex import sparse
from ragindex.errors import StoreError, StoreLockedError
from ragindex.fusion import FusionSettings, fuse
from ragindex.store import queries, schema
from ragindex.store.backend import Backend
from ragindex.store.documents import DocumentStore
from ragindex.store.edge import EdgeBackend
from ragindex.store.points import Dbsf, Fusion, PointQuery, Prefetch, Rrf
from ragindex.store.queries import older_versions
from ragindex.store.recording import RecordingBackend, check_commit_order
from ragindex.store.server import QdrantClientBackend
from ragindex.testing.store import (
    SPEC,
    BackendMaker,
    StoreContract,
    document,
    index_document,
    unit_vector,
)
from ragindex.types import EmbeddedChunk, Filters

# qdrant-client's local mode warns that it ignores payload indexes: expected here
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


class TestEdge(StoreContract):
    @pytest.fixture
    def make_backend(self, tmp_path: Path) -> BackendMaker:
        return lambda: EdgeBackend(tmp_path / "home", "contract")

    async def test_a_look_leaves_no_folder_behind(self, tmp_path: Path) -> None:
        store = DocumentStore(EdgeBackend(tmp_path / "home", "contract"))
        assert await store.peek() is None
        await store.close()
        assert not (tmp_path / "home").exists()

    async def test_a_second_process_is_refused_with_a_clear_error(self, tmp_path: Path) -> None:
        first = DocumentStore(EdgeBackend(tmp_path, "held"))
        await first.create_or_check(SPEC)
        # a second engine on the same folder is what another process would open
        second = DocumentStore(EdgeBackend(tmp_path, "held"))
        with pytest.raises(StoreLockedError, match="open in another process"):
            await second.create_or_check(SPEC)
        await second.close()
        await first.close()


class TestQdrantClientLocal(StoreContract):
    @pytest.fixture
    def make_backend(self, tmp_path: Path) -> BackendMaker:
        path = str(tmp_path / "qdrant-local")
        return lambda: QdrantClientBackend(AsyncQdrantClient(path=path), "contract", location=path)


@pytest.mark.skipif(
    not os.environ.get("RAGINDEX_TEST_QDRANT_URL"), reason="RAGINDEX_TEST_QDRANT_URL not set"
)
class TestQdrantServer(StoreContract):
    @pytest.fixture
    def make_backend(self) -> BackendMaker:
        url = os.environ["RAGINDEX_TEST_QDRANT_URL"]
        collection = f"contract_{uuid.uuid4().hex[:8]}"
        return lambda: QdrantClientBackend(AsyncQdrantClient(url=url), collection, location=url)


class _SpyClient(AsyncQdrantClient):
    """qdrant-client's local mode, every write's keyword arguments noted."""

    writes: list[tuple[str, dict[str, Any]]]

    async def upsert(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.writes.append(("upsert", kwargs))
        return await super().upsert(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.writes.append(("delete", kwargs))
        return await super().delete(*args, **kwargs)


async def test_the_server_backend_waits_for_every_write_with_strong_ordering(
    tmp_path: Path,
) -> None:
    """On a replicated cluster only `wait=True` through the shard's leader proves a write is
    applied: the manifest must never vouch for chunks still on their way."""
    client = _SpyClient(path=str(tmp_path / "spy"))
    client.writes = []
    store = DocumentStore(QdrantClientBackend(client, "spy", location="spy"))
    await store.create_or_check(SPEC)
    texts = [f"spy chunk {i}" for i in range(600)]  # several batches, sent concurrently
    await index_document(store, *document("/spy.txt", texts))
    await store.remove(["/spy.txt"])
    await store.close()
    operations = [name for name, _ in client.writes]
    assert operations.count("upsert") >= 1 + 3 + 1 + 1  # spec, mark, chunk batches, record
    assert operations.count("delete") >= 4  # older versions, unmark, chunks, record
    for name, kwargs in client.writes:
        assert kwargs.get("wait") is True, name
        assert kwargs.get("ordering") == models.WriteOrdering.STRONG, name


async def test_an_unreachable_server_is_a_store_error_that_says_what_to_check() -> None:
    url = "http://127.0.0.1:9"  # the discard port: nothing listens there
    client = AsyncQdrantClient(url=url, check_compatibility=False)
    store = DocumentStore(QdrantClientBackend(client, "c", location=url))
    message = r"cannot reach Qdrant at http://127\.0\.0\.1:9 .*RAGINDEX_QDRANT_URL"
    with pytest.raises(StoreError, match=message):
        await store.create_or_check(SPEC)
    await store.close()


@pytest.fixture
async def recorded(tmp_path: Path) -> AsyncIterator[tuple[DocumentStore, RecordingBackend]]:
    recording = RecordingBackend(EdgeBackend(tmp_path, "order"))
    store = DocumentStore(recording)
    await store.create_or_check(SPEC)
    recording.writes.clear()
    yield store, recording
    await store.close()


async def test_the_order_check_catches_a_record_written_before_its_chunks_are_in(
    recorded: tuple[DocumentStore, RecordingBackend],
) -> None:
    """The proof is only worth something if it fails on the bug it is about: here a writer
    that sends the manifest record while a chunk batch is still in flight."""
    _, recording = recorded
    record, chunks = document("/early.txt", ["one", "two"])
    mark = schema.marker_point(schema.pending_id(record.source), {"record": "pending"})
    await recording.upsert("manifest", [mark])
    await recording.delete_where("chunks", older_versions([record]))
    in_flight = asyncio.ensure_future(
        recording.upsert("chunks", [schema.chunk_point(record, item) for item in chunks])
    )
    entry = schema.marker_point(schema.manifest_id(record.source), schema.manifest_payload(record))
    await recording.upsert("manifest", [entry])  # too early: the chunks are not acknowledged
    await in_flight
    await recording.delete("manifest", [str(schema.pending_id(record.source))])
    with pytest.raises(AssertionError, match="committed before"):
        check_commit_order(recording.writes, {record.source: 2})


async def test_the_order_check_catches_a_lost_chunk(
    recorded: tuple[DocumentStore, RecordingBackend],
) -> None:
    store, recording = recorded
    record, chunks = document("/lossy.txt", ["one", "two", "three"])
    await store.upsert([(record, chunks[:2])])  # the third chunk never written
    await store.commit([record])
    with pytest.raises(AssertionError, match="chunks lost"):
        check_commit_order(recording.writes, {record.source: 3})


async def test_a_failed_chunk_write_raises_a_store_error_and_commits_nothing(
    tmp_path: Path,
) -> None:
    """The engine refuses the third batch (a vector of the wrong size, as a full disk or a
    corrupt write would): the error is ours, nothing after it is written, nothing committed."""
    store = DocumentStore(EdgeBackend(tmp_path, "failing"), write_batch=8)
    await store.create_or_check(SPEC)
    record, chunks = document("/full.txt", [f"piece {i}" for i in range(200)])  # 25 batches
    broken = chunks[16]
    chunks[16] = EmbeddedChunk(broken.chunk, np.ones(SPEC.dimension + 1, np.float32), broken.sparse)
    with pytest.raises(StoreError, match="Qdrant Edge failed"):
        await store.upsert([(record, chunks)])
    # the batches before it stay (and the engine may have applied the refused batch's points
    # before the bad one); nothing after that batch was written
    later = [str(schema.chunk_id("/full.txt", index)) for index in range(24, 200)]
    assert await store.backend.retrieve("chunks", later) == []
    assert 16 <= (await store.stats()).chunks < 24
    assert await store.manifest() == {}
    assert await store.recover() == ["/full.txt"]  # the next run cleans up
    assert (await store.stats()).chunks == 0
    await store.close()


async def test_chunk_batches_go_out_several_at_a_time(
    recorded: tuple[DocumentStore, RecordingBackend],
) -> None:
    """Bulk speed on a server comes from batches in flight together, each acknowledged: a
    writer that awaited one batch before sending the next would pass every other test. (The
    recording applies a sequence as a server backend does.)"""
    store, recording = recorded
    store.write_batch = 8
    await store.upsert([document("/bulk.txt", [f"bulk {i}" for i in range(64)])])
    chunk_writes = [w for w in recording.writes if w.collection == "chunks"]
    assert len(chunk_writes) == 8
    most_at_once = max(
        sum(1 for other in chunk_writes if other.sent <= w.sent < (other.acknowledged or 0))
        for w in chunk_writes
    )
    assert most_at_once == recording.upserts_in_flight


@pytest.mark.parametrize("backend_kind", ["edge", "qdrant-client"])
async def test_client_side_fusion_scores_as_the_engine_does(
    tmp_path: Path, backend_kind: str
) -> None:
    """ragindex fuses on the client (it needs each side's list, for the hits' scores and for
    grouping); Qdrant's RRF (weighted too) and DBSF over the same two prefetches must give
    every point the same score."""
    backend: Backend = (
        EdgeBackend(tmp_path, "fusion")
        if backend_kind == "edge"
        else QdrantClientBackend(AsyncQdrantClient(path=str(tmp_path / "q")), "f", location="q")
    )
    store = DocumentStore(backend)
    await store.create_or_check(SPEC)
    words = ["harbour", "lantern", "keeper", "storm", "ship", "rope", "tide", "gull"]
    for i in range(40):
        text = " ".join(words[(i * j) % len(words)] for j in range(1, 2 + i % 6))
        await index_document(store, *document(f"/fuse/{i}.txt", [f"{text} {i}"]))
    dense, query_sparse = unit_vector("harbour"), sparse.query_vector("harbour lantern storm")
    lists = await store.candidates(dense=dense, sparse=query_sparse, filters=Filters(), limit=25)
    assert lists.dense is not None and lists.sparse is not None
    ours_dense = [(r.id, r.score) for r in lists.dense]
    ours_sparse = [(r.id, r.score) for r in lists.sparse]
    nearest = [n for n in queries.nearest_of(dense, query_sparse) if n is not None]
    cases: list[tuple[Fusion, FusionSettings]] = [
        (Rrf(k=60), FusionSettings("rrf", k=60, dense_weight=0.5, candidates=25)),
        (Rrf(k=10, weights=(1.0, 0.5)), FusionSettings("rrf", 10, 2 / 3, 25)),
        (Dbsf(), FusionSettings("dbsf", dense_weight=0.5, candidates=25)),
    ]
    for engine_fusion, settings in cases:
        prefetches = tuple(Prefetch(n, 25, None) for n in nearest)
        engine = await backend.query(
            PointQuery(limit=20, prefetches=prefetches, fusion=engine_fusion)
        )
        ours = dict(fuse(ours_dense, ours_sparse, settings))
        # an even split halves each normalised score where Qdrant adds them whole
        scale = 2.0 if isinstance(engine_fusion, Dbsf) else 1.0
        assert len(engine) == 20
        for point in engine:
            assert scale * ours[point.id] == pytest.approx(point.score, rel=1e-4), engine_fusion
    await store.close()
