"""`StoreContract`: every guarantee ragindex relies on of a store, proven over your backend.
Subclass it and give it a `make_backend` fixture that opens your backend on one fresh place per
test (the same place on every call, so that a test can close and reopen it):

    class TestMyBackend(StoreContract):
        @pytest.fixture
        def make_backend(self, tmp_path: Path) -> BackendMaker:
            return lambda: MyBackend(tmp_path / "index")

Every test runs through `DocumentStore`, the code users run, over that backend; one wraps it in
`RecordingBackend` and proves the order of the writes, not only their result.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from ragindex import sparse
from ragindex.errors import CollectionMismatchError, StoreError
from ragindex.store import schema
from ragindex.store.backend import Backend
from ragindex.store.documents import DocumentStore
from ragindex.store.recording import RecordingBackend, check_commit_order
from ragindex.types import (
    Chunk,
    CollectionSpec,
    EmbeddedChunk,
    Filters,
    FloatArray,
    ManifestRecord,
    SearchMode,
)

DIMENSION = 16
SPEC = CollectionSpec(model="test-model", dimension=DIMENSION, sparse_scheme=sparse.SCHEME)
BackendMaker = Callable[[], Backend]
StoreMaker = Callable[..., DocumentStore]  # keyword options of DocumentStore
Indexed = tuple[ManifestRecord, list[EmbeddedChunk]]


def unit_vector(seed: str) -> FloatArray:
    generator = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16))
    vector = generator.standard_normal(DIMENSION).astype(np.float32)
    return vector / np.linalg.norm(vector)


def document(source: str, texts: list[str], *, version: str = "v1", **fields: Any) -> Indexed:
    """These chunks embedded (dense: a hash of the text); `fields` override the record's."""
    sha = hashlib.sha256(f"{source}{version}".encode()).hexdigest()
    record = ManifestRecord(source, sha, len(texts), 1.0, 10, "text", "en", "plain")
    record = replace(record, **fields)
    chunks = [
        EmbeddedChunk(
            chunk=Chunk(source, i, text, 0, len(text), len(text.split()), i + 1, i + 1),
            dense=unit_vector(text),
            sparse=sparse.document_vector(text),
        )
        for i, text in enumerate(texts)
    ]
    return record, chunks


async def index_document(store: DocumentStore, record: ManifestRecord, chunks: list[Any]) -> None:
    await store.upsert([(record, chunks)])
    await store.commit([record])


async def texts_of(store: DocumentStore, source: str) -> list[str]:
    where = Filters(path_prefix=source)
    hits = await store.search(
        dense=unit_vector("any"), sparse=None, mode="dense", filters=where, limit=5000
    )
    return sorted(hit.text for hit in hits)


class StoreContract:
    @pytest.fixture
    def make_backend(self) -> BackendMaker:
        raise NotImplementedError("a StoreContract subclass provides the make_backend fixture")

    @pytest.fixture
    async def make_store(self, make_backend: BackendMaker) -> AsyncIterator[StoreMaker]:
        opened: list[DocumentStore] = []

        def make(backend: Backend | None = None, **options: Any) -> DocumentStore:
            opened.append(DocumentStore(backend or make_backend(), **options))
            return opened[-1]

        yield make
        for store in opened:
            await store.close()  # a second close (after a test's own) must be harmless

    @pytest.fixture
    async def store(self, make_store: StoreMaker) -> DocumentStore:
        store = make_store()
        await store.create_or_check(SPEC)
        return store

    # --- the collection ---------------------------------------------------------------------
    async def test_a_new_store_has_no_collection_until_asked(
        self, make_store: StoreMaker, make_backend: BackendMaker
    ) -> None:
        store = make_store()
        assert await store.peek() is None
        assert await store.manifest() == {}
        assert (await store.stats()).documents == 0
        assert await texts_of(store, "/") == []
        assert await store.recover() == []
        await store.close()
        peeked = make_backend()  # the look created nothing
        assert await peeked.open_manifest(create=False) is False
        await peeked.close()

    async def test_the_collection_remembers_its_spec_and_refuses_another(
        self, make_store: StoreMaker
    ) -> None:
        store = make_store()
        await store.create_or_check(SPEC)
        await index_document(store, *document("/kept.txt", ["kept across a refusal"]))
        await store.close()
        for other in (
            CollectionSpec("other-model", DIMENSION, sparse.SCHEME),
            CollectionSpec("test-model", DIMENSION * 2, sparse.SCHEME),
            CollectionSpec("test-model", DIMENSION, "another-scheme"),
        ):
            refused = make_store()  # a run with other settings
            assert await refused.peek() == SPEC
            with pytest.raises(CollectionMismatchError, match="RAGINDEX_COLLECTION"):
                await refused.create_or_check(other)
            await refused.close()
        store = make_store()
        assert await store.peek() == SPEC  # the record is intact, and so is the data
        assert await texts_of(store, "/kept.txt") == ["kept across a refusal"]
        await store.create_or_check(SPEC)  # the same spec again: accepted

    # --- writing ----------------------------------------------------------------------------
    async def test_every_chunk_is_stored_exactly_once(self, store: DocumentStore) -> None:
        texts = [f"chunk number {i} of a long document" for i in range(1100)]  # several batches
        record, chunks = document("/docs/long.txt", texts)
        await index_document(store, record, chunks)
        await index_document(store, record, chunks)  # the same again: same ids, no duplicates
        assert (await store.stats()).chunks == 1100
        assert await texts_of(store, "/docs/long.txt") == sorted(texts)
        assert (await store.manifest())["/docs/long.txt"] == record
        # the id is the (source, chunk index) one, not a random one: a re-ingest overwrites it
        found = await store.backend.retrieve("chunks", [str(schema.chunk_id(record.source, 7))])
        assert [point.payload["chunk_index"] for point in found] == [7]

    async def test_a_new_version_replaces_the_old_one_completely(
        self, store: DocumentStore
    ) -> None:
        old = document("/a.md", ["old one", "old two", "old three", "old four"], version="v1")
        await index_document(store, *old)
        new = document("/a.md", ["new one", "new two"], version="v2")
        await store.upsert([new])
        # the old chunks are dropped only after the new ones are in
        assert await texts_of(store, "/a.md") == ["new one", "new two", "old four", "old three"]
        await store.commit([new[0]])
        assert await texts_of(store, "/a.md") == ["new one", "new two"]
        assert (await store.manifest())["/a.md"].sha256 == new[0].sha256
        assert (await store.stats()).chunks == 2

    async def test_an_interrupted_update_keeps_the_old_manifest_until_redone(
        self, store: DocumentStore
    ) -> None:
        old = document("/b.md", ["b old one", "b old two", "b old three"], version="v1")
        await index_document(store, *old)
        new = document("/b.md", ["b new one"], version="v2")
        await store.upsert([new])  # ... and the process dies before commit
        assert (await store.manifest())["/b.md"].sha256 == old[0].sha256  # so it will be redone
        await index_document(store, *new)  # the next run
        assert await texts_of(store, "/b.md") == ["b new one"]

    async def test_several_documents_commit_together(self, store: DocumentStore) -> None:
        first = [document(f"/g/{i}.txt", [f"g{i} a", f"g{i} b", f"g{i} c"]) for i in range(5)]
        await store.upsert(first)
        await store.commit([record for record, _ in first])
        second = [document(f"/g/{i}.txt", [f"g{i} new"], version="v2") for i in range(3)]
        await store.upsert(second)
        await store.commit([record for record, _ in second])
        assert await texts_of(store, "/g/0.txt") == ["g0 new"]
        assert await texts_of(store, "/g/4.txt") == ["g4 a", "g4 b", "g4 c"]
        assert (await store.stats()).chunks == 3 * 1 + 2 * 3
        assert {record.sha256 for record in (await store.manifest()).values()} == {
            record.sha256 for record, _ in [*second, *first[3:]]
        }

    async def test_the_writes_go_out_in_the_protocols_order(
        self, make_store: StoreMaker, make_backend: BackendMaker
    ) -> None:
        """Every committed document: mark acknowledged, then its chunks (several batches in
        flight at once), all acknowledged, older versions deleted, then its record."""
        recording = RecordingBackend(make_backend(), upserts_in_flight=4)
        store = make_store(recording, write_batch=16)
        await store.create_or_check(SPEC)
        for version, size in (("v1", 40), ("v2", 25)):  # a first ingest, then new versions
            recording.writes.clear()
            texts = [[f"{n} {version} {i}" for i in range(size)] for n in range(3)]
            docs = [document(f"/o/{n}.txt", texts[n], version=version) for n in range(3)]
            await store.upsert(docs)
            await store.commit([record for record, _ in docs])
            check_commit_order(recording.writes, {r.source: r.chunks for r, _ in docs})
            assert (await store.stats()).chunks == 3 * size
        recording.writes.clear()
        await store.remove(["/o/0.txt"])  # forgetting: the chunks first, then the record
        chunks_gone, record_gone = recording.writes
        assert (chunks_gone.collection, record_gone.collection) == ("chunks", "manifest")
        assert chunks_gone.acknowledged is not None
        assert chunks_gone.acknowledged < record_gone.sent

    async def test_removed_documents_leave_nothing_behind(self, store: DocumentStore) -> None:
        await index_document(store, *document("/keep.txt", ["keep me"]))
        await index_document(store, *document("/drop.txt", ["drop me", "and me"]))
        await store.remove(["/drop.txt"])
        assert set(await store.manifest()) == {"/keep.txt"}
        assert await texts_of(store, "/drop.txt") == []
        assert (await store.stats()).chunks == 1

    async def test_the_manifest_keeps_every_field_and_the_recipe(
        self, store: DocumentStore
    ) -> None:
        record, chunks = document("/r.py", ["def f(): pass"], kind="code", recipe="chunk=512;v3")
        await index_document(store, record, chunks)
        assert (await store.manifest())["/r.py"] == record
        # a record written before recipes existed reads back with an empty one
        legacy = {k: v for k, v in schema.manifest_payload(record).items() if k != "recipe"}
        await store.backend.upsert(
            "manifest", [schema.marker_point(schema.manifest_id("/r.py"), legacy)]
        )
        assert (await store.manifest())["/r.py"].recipe == ""

    # --- recovery ---------------------------------------------------------------------------
    async def test_a_run_that_died_between_upsert_and_commit_is_cleaned_up(
        self, make_store: StoreMaker
    ) -> None:
        store = make_store(abandoned_after_s=0)  # the only writer
        await store.create_or_check(SPEC)
        committed = document("/c.md", ["c old one", "c old two", "c old three"], version="v1")
        await index_document(store, *committed)
        assert await store.recover() == []  # a committed document leaves nothing to recover
        assert await texts_of(store, "/c.md") == ["c old one", "c old three", "c old two"]
        await store.upsert([document("/c.md", ["c new one"], version="v2")])  # overwrites chunk 0
        await store.upsert([document("/never-committed.md", ["orphan to be"])])
        # ... the process dies here; the next run starts with recover()
        assert sorted(await store.recover()) == ["/c.md", "/never-committed.md"]
        # the half-written document is gone entirely (that run indexes it again), no orphan
        assert await texts_of(store, "/c.md") == []
        assert await texts_of(store, "/never-committed.md") == []
        assert "/c.md" not in await store.manifest()
        assert (await store.stats()).chunks == 0
        assert await store.recover() == []  # the marks are gone too

    async def test_the_fresh_marks_of_another_live_writer_are_left_alone(
        self, make_store: StoreMaker
    ) -> None:
        """On a server another process may be between upsert and commit right now."""
        store = make_store(abandoned_after_s=3600)
        await store.create_or_check(SPEC)
        await store.upsert([document("/in-flight.md", ["being written by someone else"])])
        assert await store.recover() == []
        assert await texts_of(store, "/in-flight.md") == ["being written by someone else"]
        store.abandoned_after_s = 0  # ... until it is old enough to be from a dead run
        assert await store.recover() == ["/in-flight.md"]

    async def test_by_default_only_an_exclusive_backend_treats_every_mark_as_dead(
        self, make_store: StoreMaker
    ) -> None:
        store = make_store()
        await store.create_or_check(SPEC)
        await store.upsert([document("/half.md", ["half written"])])
        await store.close()  # the run ends without committing
        store = make_store()
        await store.create_or_check(SPEC)
        expected = ["/half.md"] if store.backend.exclusive else []
        assert await store.recover() == expected

    # --- reading ----------------------------------------------------------------------------
    async def test_dense_sparse_and_hybrid_search_with_filters(self, store: DocumentStore) -> None:
        code = "def load_config(path): return json.load(open(path))"
        await index_document(
            store, *document("/code/config.py", [code], kind="code", language="python")
        )
        await index_document(store, *document("/docs/cats.md", ["The cat sat on the mat"]))
        await index_document(
            store, *document("/docs/katzen.md", ["Die Katze sitzt auf der Matte"], language="de")
        )
        dense, query_sparse = unit_vector(code), sparse.query_vector("load_config json")
        modes: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")
        for mode in modes:
            hits = await store.search(
                dense=dense, sparse=query_sparse, mode=mode, filters=Filters(), limit=3
            )
            assert hits[0].source == "/code/config.py", mode
            assert hits[0].kind == "code" and hits[0].language == "python"
        # filters apply inside every branch of a hybrid query
        for filters, expected in (
            (Filters(language="de"), {"/docs/katzen.md"}),
            (Filters(kind="code"), {"/code/config.py"}),
            (Filters(path_prefix="/docs"), {"/docs/cats.md", "/docs/katzen.md"}),
            (Filters(path_prefix="/docs/cats.md"), {"/docs/cats.md"}),
            (Filters(language="en", path_prefix="/code"), set()),
        ):
            hits = await store.search(
                dense=dense, sparse=query_sparse, mode="hybrid", filters=filters, limit=10
            )
            assert {hit.source for hit in hits} == expected, filters
        with pytest.raises(StoreError, match="needs a dense or a sparse"):
            await store.search(dense=None, sparse=None, mode="hybrid", filters=Filters(), limit=3)

    async def test_sparse_search_finds_rare_identifiers(self, store: DocumentStore) -> None:
        for i in range(30):
            await index_document(
                store, *document(f"/f{i}.rs", [f"fn helper_{i}() -> u32 {{ {i} }}"])
            )
        await index_document(store, *document("/target.rs", ["fn parse_frobnicator_header() {}"]))
        query = sparse.query_vector("frobnicator")
        hits = await store.search(
            dense=None, sparse=query, mode="sparse", filters=Filters(), limit=1
        )
        assert hits[0].source == "/target.rs"

    async def test_stats_count_documents_and_chunks(self, store: DocumentStore) -> None:
        await index_document(store, *document("/s1.txt", ["one", "two", "three"]))
        await index_document(store, *document("/s2.txt", ["four"]))
        await store.finish_ingest(4)
        stats = await store.stats()
        assert (stats.documents, stats.chunks) == (2, 4)
        assert stats.location == store.location == store.backend.location
        assert stats.size_bytes is None or stats.size_bytes > 0
        assert isinstance(await store.optimize(), bool)
        assert await texts_of(store, "/s2.txt") == ["four"]  # still searchable after optimizing

    async def test_errors_reach_callers_as_store_errors_and_closing_twice_is_harmless(
        self, store: DocumentStore
    ) -> None:
        await index_document(store, *document("/e.txt", ["one chunk"]))
        wrong = np.ones(DIMENSION * 2, dtype=np.float32)  # the engine refuses this vector
        with pytest.raises(StoreError):  # translated by the backend, not the client's own type
            await store.search(dense=wrong, sparse=None, mode="dense", filters=Filters(), limit=3)
        await store.close()
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.manifest()
