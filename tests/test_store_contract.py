"""One contract, every `Store`: the embedded Edge store and the qdrant-client store.

No Qdrant server binary can be installed on the CI machines, so the qdrant-client store runs
here on qdrant-client's local mode (the same `AsyncQdrantClient` API, in-process). Set
`RAGINDEX_TEST_QDRANT_URL=http://localhost:6333` to run the very same suite against a real
Qdrant server or cluster as well.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient

from ragindex import sparse
from ragindex.errors import CollectionMismatchError
from ragindex.store.base import Store
from ragindex.store.edge import EdgeStore
from ragindex.store.server import QdrantServerStore
from ragindex.types import (
    Chunk,
    CollectionSpec,
    EmbeddedChunk,
    Filters,
    ManifestRecord,
)

# qdrant-client's local mode warns that it ignores payload indexes: expected here
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
DIMENSION = 16
SPEC = CollectionSpec(model="test-model", dimension=DIMENSION, sparse_scheme=sparse.SCHEME)
StoreMaker = Callable[[], Awaitable[Store]]
BACKENDS = ["edge", "qdrant-client"] + (
    ["qdrant-server"] if os.environ.get("RAGINDEX_TEST_QDRANT_URL") else []
)


@pytest.fixture(params=BACKENDS)
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreMaker]:
    """Opens a store on the same data each call (so a test can close and reopen it)."""
    collection = f"contract_{uuid.uuid4().hex[:8]}"
    opened: list[Store] = []

    async def make() -> Store:
        store: Store
        if request.param == "edge":
            store = EdgeStore(tmp_path, collection)
        elif request.param == "qdrant-client":
            path = str(tmp_path / "qdrant-local")
            # the only writer: pending marks of a run that died need not age first
            store = QdrantServerStore(
                AsyncQdrantClient(path=path), collection, location=path, abandoned_after_s=0
            )
        else:
            url = os.environ["RAGINDEX_TEST_QDRANT_URL"]
            store = QdrantServerStore(
                AsyncQdrantClient(url=url), collection, location=url, abandoned_after_s=0
            )
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()  # a second close (after a test's own) must be harmless


def unit_vector(seed: str) -> np.ndarray:
    generator = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16))
    vector = generator.standard_normal(DIMENSION).astype(np.float32)
    return vector / np.linalg.norm(vector)


def document(
    source: str, texts: list[str], *, version: str = "v1", kind: str = "text", language: str = "en"
) -> tuple[ManifestRecord, list[EmbeddedChunk]]:
    sha = hashlib.sha256(f"{source}{version}".encode()).hexdigest()
    record = ManifestRecord(
        source=source,
        sha256=sha,
        chunks=len(texts),
        mtime=1.0,
        size=10,
        kind=kind,
        language=language,
        format="plain",
    )
    chunks = [
        EmbeddedChunk(
            chunk=Chunk(
                source=source,
                index=i,
                text=text,
                start=0,
                end=len(text),
                tokens=len(text.split()),
                line_start=i + 1,
                line_end=i + 1,
            ),
            dense=unit_vector(text),
            sparse=sparse.document_vector(text),
        )
        for i, text in enumerate(texts)
    ]
    return record, chunks


async def index_document(store: Store, record: ManifestRecord, chunks: list[EmbeddedChunk]) -> None:
    await store.upsert([(record, chunks)])
    await store.commit([record])


async def texts_of(store: Store, source: str) -> list[str]:
    hits = await store.search(
        dense=unit_vector("anything"),
        sparse=None,
        mode="dense",
        filters=Filters(path_prefix=source),
        limit=5000,
    )
    return sorted(hit.text for hit in hits)


async def test_a_new_store_has_no_collection_until_asked(make_store: StoreMaker) -> None:
    store = await make_store()
    assert await store.open(None) is None
    assert await store.manifest() == {}
    assert (await store.stats()).documents == 0


async def test_the_collection_remembers_its_spec_and_refuses_another(
    make_store: StoreMaker,
) -> None:
    store = await make_store()
    assert await store.open(SPEC) == SPEC
    await store.close()
    store = await make_store()
    assert await store.open(None) == SPEC
    with pytest.raises(CollectionMismatchError):
        await store.open(CollectionSpec("other-model", DIMENSION, sparse.SCHEME))
    with pytest.raises(CollectionMismatchError):
        await store.open(CollectionSpec("test-model", DIMENSION * 2, sparse.SCHEME))


async def test_every_chunk_is_stored_exactly_once(make_store: StoreMaker) -> None:
    store = await make_store()
    await store.open(SPEC)
    texts = [f"chunk number {i} of a long document" for i in range(1100)]  # several batches
    record, chunks = document("/docs/long.txt", texts)
    await index_document(store, record, chunks)
    await index_document(store, record, chunks)  # the same again: same ids, no duplicates
    assert (await store.stats()).chunks == 1100
    assert await texts_of(store, "/docs/long.txt") == sorted(texts)
    assert (await store.manifest())["/docs/long.txt"] == record


async def test_a_new_version_replaces_the_old_one_completely(make_store: StoreMaker) -> None:
    store = await make_store()
    await store.open(SPEC)
    old = document("/a.md", ["old one", "old two", "old three", "old four"], version="v1")
    await index_document(store, *old)
    new = document("/a.md", ["new one", "new two"], version="v2")
    await index_document(store, *new)
    assert await texts_of(store, "/a.md") == ["new one", "new two"]
    assert (await store.manifest())["/a.md"].sha256 == new[0].sha256
    assert (await store.stats()).chunks == 2


async def test_an_interrupted_update_keeps_the_old_manifest_until_redone(
    make_store: StoreMaker,
) -> None:
    store = await make_store()
    await store.open(SPEC)
    old = document("/b.md", ["b old one", "b old two", "b old three"], version="v1")
    await index_document(store, *old)
    new = document("/b.md", ["b new one"], version="v2")
    await store.upsert([new])  # ... and the process dies before commit
    assert (await store.manifest())["/b.md"].sha256 == old[0].sha256  # so it will be redone
    await index_document(store, *new)  # the next run
    assert await texts_of(store, "/b.md") == ["b new one"]


async def test_several_documents_commit_together(make_store: StoreMaker) -> None:
    store = await make_store()
    await store.open(SPEC)
    first_versions = [document(f"/g/{i}.txt", [f"g{i} a", f"g{i} b", f"g{i} c"]) for i in range(5)]
    await store.upsert(first_versions)
    await store.commit([record for record, _ in first_versions])
    second_versions = [document(f"/g/{i}.txt", [f"g{i} new"], version="v2") for i in range(3)]
    await store.upsert(second_versions)
    await store.commit([record for record, _ in second_versions])
    assert await texts_of(store, "/g/0.txt") == ["g0 new"]
    assert await texts_of(store, "/g/4.txt") == ["g4 a", "g4 b", "g4 c"]
    assert (await store.stats()).chunks == 3 * 1 + 2 * 3
    assert {record.sha256 for record in (await store.manifest()).values()} == {
        record.sha256 for record, _ in [*second_versions, *first_versions[3:]]
    }


async def test_removed_documents_leave_nothing_behind(make_store: StoreMaker) -> None:
    store = await make_store()
    await store.open(SPEC)
    await index_document(store, *document("/keep.txt", ["keep me"]))
    await index_document(store, *document("/drop.txt", ["drop me", "and me"]))
    await store.remove(["/drop.txt"])
    assert set(await store.manifest()) == {"/keep.txt"}
    assert await texts_of(store, "/drop.txt") == []
    assert (await store.stats()).chunks == 1


async def test_dense_sparse_and_hybrid_search_with_filters(make_store: StoreMaker) -> None:
    store = await make_store()
    await store.open(SPEC)
    await index_document(
        store,
        *document(
            "/code/config.py",
            ["def load_config(path): return json.load(open(path))"],
            kind="code",
            language="python",
        ),
    )
    await index_document(
        store, *document("/docs/cats.md", ["The cat sat on the mat"], language="en")
    )
    await index_document(
        store, *document("/docs/katzen.md", ["Die Katze sitzt auf der Matte"], language="de")
    )
    query_text = "load_config json"
    dense = unit_vector("def load_config(path): return json.load(open(path))")
    query_sparse = sparse.query_vector(query_text)
    for mode in ("dense", "sparse", "hybrid"):
        hits = await store.search(
            dense=dense,
            sparse=query_sparse,
            mode=mode,
            filters=Filters(),
            limit=3,  # type: ignore[arg-type]
        )
        assert hits[0].source == "/code/config.py", mode
        assert hits[0].kind == "code" and hits[0].language == "python"
    # filters apply inside every branch of a hybrid query
    for filters, expected in (
        (Filters(language="de"), {"/docs/katzen.md"}),
        (Filters(kind="code"), {"/code/config.py"}),
        (Filters(path_prefix="/docs"), {"/docs/cats.md", "/docs/katzen.md"}),
        (Filters(path_prefix="/docs/cats.md"), {"/docs/cats.md"}),
    ):
        hits = await store.search(
            dense=dense, sparse=query_sparse, mode="hybrid", filters=filters, limit=10
        )
        assert {hit.source for hit in hits} == expected, filters


async def test_sparse_search_finds_rare_identifiers(make_store: StoreMaker) -> None:
    store = await make_store()
    await store.open(SPEC)
    for i in range(30):
        await index_document(store, *document(f"/f{i}.rs", [f"fn helper_{i}() -> u32 {{ {i} }}"]))
    await index_document(store, *document("/target.rs", ["fn parse_frobnicator_header() {}"]))
    hits = await store.search(
        dense=None,
        sparse=sparse.query_vector("frobnicator"),
        mode="sparse",
        filters=Filters(),
        limit=1,
    )
    assert hits[0].source == "/target.rs"


async def test_a_run_that_died_between_upsert_and_commit_is_cleaned_up(
    make_store: StoreMaker,
) -> None:
    store = await make_store()
    await store.open(SPEC)
    committed = document("/c.md", ["c old one", "c old two", "c old three"], version="v1")
    await index_document(store, *committed)
    await store.upsert([document("/c.md", ["c new one"], version="v2")])  # overwrites chunk 0
    await store.upsert([document("/never-committed.md", ["orphan to be"])])
    # ... the process dies here; the next run starts with recover()
    assert sorted(await store.recover()) == ["/c.md", "/never-committed.md"]
    # the half-written document is gone entirely (it is indexed again by that run), no orphan
    assert await texts_of(store, "/c.md") == []
    assert await texts_of(store, "/never-committed.md") == []
    assert "/c.md" not in await store.manifest()
    assert (await store.stats()).chunks == 0
    assert await store.recover() == []  # the marks are gone too


async def test_committed_documents_leave_nothing_to_recover(make_store: StoreMaker) -> None:
    store = await make_store()
    await store.open(SPEC)
    await index_document(store, *document("/d.md", ["d one", "d two"]))
    assert await store.recover() == []
    assert await texts_of(store, "/d.md") == ["d one", "d two"]


async def test_a_server_leaves_the_fresh_marks_of_another_live_ingest_alone(
    tmp_path: Path,
) -> None:
    """On a server, another process may be between upsert and commit right now."""
    path = str(tmp_path / "qdrant-local")
    store = QdrantServerStore(AsyncQdrantClient(path=path), "shared", location=path)
    await store.open(SPEC)
    await store.upsert([document("/in-flight.md", ["being written by someone else"])])
    assert await store.recover() == []
    assert await texts_of(store, "/in-flight.md") == ["being written by someone else"]
    await store.close()
