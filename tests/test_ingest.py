"""Ingesting a folder, then changing it: only what changed is embedded, nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import index_held_by_another_process

from ragindex import Index, PathError, Settings, StoreLockedError
from ragindex.errors import CollectionMismatchError
from ragindex.store.documents import DocumentStore
from ragindex.store.edge import EdgeBackend
from ragindex.types import CollectionSpec


def chunks_of(index: Index, source: Path) -> list[str]:
    only_it = {"path": str(source)}
    # group=False: one hit per chunk (a search returns one per document by default)
    hits = index.search("anything", k=1000, mode="dense", filters=only_it, group=False)
    return sorted(hit.text for hit in hits)


def test_first_ingest_indexes_every_supported_file(index: Index, corpus: Path) -> None:
    report = index.ingest([corpus])
    assert report.ok
    assert not report.failed and not report.skipped
    sources = {Path(record.source).relative_to(corpus).as_posix() for record in index.documents()}
    assert "prose/zh/猫.txt" in sources
    assert "pdf/home-network-handbook.pdf" in sources
    assert "code/rust/config.rs" in sources
    assert "README.md" not in sources  # left out by corpora/.ragindexignore
    stats = index.stats()
    assert stats["documents"] == len(report.indexed) == len(sources)
    assert stats["chunks"] == report.chunks == sum(r.chunks for r in index.documents())
    assert stats["dimension"] == 512


def test_unchanged_folder_embeds_nothing(index: Index, corpus: Path) -> None:
    first = index.ingest([corpus])
    embedded_inputs = index.stats()["embedder"]["inputs"]
    again = index.ingest([corpus])
    assert again.indexed == [] and again.removed == []
    assert again.unchanged == len(first.indexed)
    assert index.stats()["embedder"]["inputs"] == embedded_inputs
    assert index.stats()["chunks"] == first.chunks


def test_touched_but_identical_file_is_not_embedded_again(index: Index, corpus: Path) -> None:
    index.ingest([corpus])
    before = index.stats()["embedder"]["inputs"]
    target = corpus / "prose" / "en" / "tea.md"
    target.write_bytes(target.read_bytes())  # new mtime, same bytes
    report = index.ingest([corpus])
    assert report.indexed == [] and report.unchanged >= 1
    assert index.stats()["embedder"]["inputs"] == before


def test_modified_file_is_reindexed_and_its_old_chunks_are_gone(index: Index, corpus: Path) -> None:
    target = corpus / "docs" / "long.md"
    target.write_text(
        "\n\n".join(f"## Part {i}\n\nOld paragraph {i} about pelicans. " * 3 for i in range(60)),
        encoding="utf-8",
    )
    index.ingest([corpus])
    old_chunks = chunks_of(index, target)
    assert len(old_chunks) > 3
    target.write_text("# Short\n\nNow it is only about herons.\n", encoding="utf-8")
    report = index.ingest([corpus])
    assert report.indexed == [target.as_posix()]
    new_chunks = chunks_of(index, target)
    assert new_chunks == ["# Short\n\nNow it is only about herons."]
    record = next(r for r in index.documents() if r.source == target.as_posix())
    assert record.chunks == 1
    assert index.stats()["chunks"] == sum(r.chunks for r in index.documents())


def test_deleted_file_leaves_the_index(index: Index, corpus: Path) -> None:
    index.ingest([corpus])
    victim = corpus / "prose" / "de" / "brot.md"
    victim.unlink()
    report = index.ingest([corpus])
    assert report.removed == [victim.as_posix()]
    assert victim.as_posix() not in {record.source for record in index.documents()}
    assert chunks_of(index, victim) == []
    assert index.stats()["chunks"] == sum(r.chunks for r in index.documents())


def test_ingesting_one_folder_does_not_remove_another(index: Index, corpus: Path) -> None:
    index.ingest([corpus / "prose"])
    index.ingest([corpus / "code"])
    sources = {record.source for record in index.documents()}
    assert any("/prose/" in source for source in sources)
    assert any("/code/" in source for source in sources)


def test_missing_path_is_an_error_about_that_path(index: Index, tmp_path: Path) -> None:
    with pytest.raises(PathError, match=f"{tmp_path / 'nope'}: no such file or folder"):
        index.ingest([tmp_path / "nope"])


async def test_collection_refuses_another_model_or_dimension(tmp_path: Path) -> None:
    use = CollectionSpec(model="use-m3", dimension=512, sparse_scheme="bm25-v1")
    store = DocumentStore(EdgeBackend(tmp_path, "c"))
    await store.create_or_check(use)
    await store.close()
    for other in (
        CollectionSpec(model="Qwen/Qwen3-Embedding-4B", dimension=512, sparse_scheme="bm25-v1"),
        CollectionSpec(model="use-m3", dimension=256, sparse_scheme="bm25-v1"),
    ):
        store = DocumentStore(EdgeBackend(tmp_path, "c"))
        with pytest.raises(
            CollectionMismatchError, match="was built with model 'use-m3'"
        ) as caught:
            await store.create_or_check(other)
        assert "RAGINDEX_COLLECTION" in str(caught.value)  # it says how to proceed
        await store.close()
    store = DocumentStore(EdgeBackend(tmp_path, "c"))
    assert await store.peek() == use  # the record is intact
    await store.close()


def test_second_process_gets_a_clear_message(settings: Settings, corpus: Path) -> None:
    with Index.open(settings) as index:
        index.ingest([corpus / "prose" / "en"])
    with index_held_by_another_process(settings.home):
        with pytest.raises(StoreLockedError) as caught:
            Index.open(settings)
        message = str(caught.value)
        assert "open in another process" in message and "RAGINDEX_QDRANT_URL" in message
        assert str(settings.home) in message

    with Index.open(settings) as index:  # usable again once the other process is gone
        assert index.stats()["documents"] == 4
