"""Search on a small real index (the packaged model, Qdrant Edge): one result per document with
its best chunk, every chunk on request, and on each hit its rank and the scores a reader can
check against each mode alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragindex import Hit, Index, Settings
from ragindex.cli import app
from ragindex.errors import ConfigError
from ragindex.fusion import FusionSettings

LIGHTHOUSE = [
    "The lighthouse keeper climbed the tower every evening to light the lamp.",
    "A lighthouse keeper wrote the weather in the log book twice a night.",
    "Storms broke the windows of the lighthouse, and the keeper mended them.",
    "The keeper of the lighthouse retired when the lamp became automatic.",
]
DOCUMENTS = {
    "lighthouse.md": "\n\n".join(LIGHTHOUSE),
    "harbour.txt": "Fishing boats leave the harbour before dawn and return with the tide.",
    "tea.txt": "Green tea steeps for two minutes in water just below boiling.",
    "kitten.txt": "A small feline purrs and naps on the warm windowsill all afternoon.",
    "unix.txt": "Run cat file.txt to print a file; cat concatenates files to standard output.",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search")
    documents = root / "documents"
    documents.mkdir()
    for name, text in DOCUMENTS.items():
        (documents / name).write_text(text, encoding="utf-8")
    # small chunks: the lighthouse document is several chunks
    with Index.open(settings_for(root)) as index:
        assert index.ingest([documents]).ok
        assert index.stats()["chunks"] > len(DOCUMENTS)
    return root


def settings_for(root: Path) -> Settings:
    return Settings(home=root / "home", chunk_tokens=24, chunk_overlap=0)


@pytest.fixture
def index(folder: Path) -> Iterator[Index]:
    with Index.open(settings_for(folder)) as opened:
        yield opened


def by_chunk(hits: list[Hit]) -> dict[tuple[str, int], Hit]:
    return {(hit.source, hit.chunk_index): hit for hit in hits}


def test_ten_results_are_ten_documents_each_its_best_chunk(index: Index) -> None:
    documents = index.search("lighthouse keeper", k=3)
    assert len({hit.source for hit in documents}) == len(documents) == 3
    assert [hit.rank for hit in documents] == [1, 2, 3]
    lighthouse = documents[0]
    assert lighthouse.source.endswith("lighthouse.md")
    chunks = index.search("lighthouse keeper", k=50, group=False)
    of_lighthouse = [hit for hit in chunks if hit.source == lighthouse.source]
    assert len(of_lighthouse) == len(LIGHTHOUSE) > 1  # every chunk, when asked
    assert lighthouse.chunk_index == of_lighthouse[0].chunk_index  # the best one stands for it
    assert lighthouse.other_chunks == len(of_lighthouse) - 1
    assert all(hit.other_chunks == 0 for hit in chunks)
    assert [hit.rank for hit in chunks] == list(range(1, len(chunks) + 1))


@pytest.mark.parametrize("query", ["lighthouse keeper", "cat", "boats at dawn", "feline"])
def test_each_hit_carries_the_scores_of_both_sides(index: Index, query: str) -> None:
    dense = by_chunk(index.search(query, k=50, mode="dense", group=False))
    sparse = by_chunk(index.search(query, k=50, mode="sparse", group=False))
    hits = index.search(query, k=50, group=False)
    assert len(hits) == len(dense)  # every chunk is a candidate of the dense side here
    for hit in hits:
        key = (hit.source, hit.chunk_index)
        assert hit.dense_score is not None and -1.0 <= hit.dense_score <= 1.0  # a cosine
        assert hit.dense_score == pytest.approx(dense[key].score, abs=1e-5)
        expected = sparse[key].score if key in sparse else 0.0  # no query term: 0
        assert hit.sparse_score == pytest.approx(expected, abs=1e-5)
        assert bool(hit.matched_terms) == (key in sparse)
    assert all(hit.sparse_score is None for hit in dense.values())
    assert all(hit.dense_score is None for hit in sparse.values())
    fused = [hit.score for hit in hits]
    assert fused == sorted(fused, reverse=True) and 0.0 <= fused[-1] <= fused[0] <= 1.0


def test_scores_missing_from_a_sides_candidates_are_looked_up(index: Index) -> None:
    """With one candidate per side, the fused best lacks the other side's score until the
    searcher asks the store for it."""
    dense_best = index.search("cat", k=1, mode="dense", group=False)[0]
    sparse_best = index.search("cat", k=1, mode="sparse", group=False)[0]
    assert (dense_best.source, dense_best.chunk_index) != (
        sparse_best.source,
        sparse_best.chunk_index,
    )  # the two sides disagree, so the winner was among one side's candidates only
    narrow = FusionSettings("weighted", dense_weight=0.5, candidates=1)
    (hit,) = index.search("cat", k=1, group=False, fusion=narrow)
    key = (hit.source, hit.chunk_index)
    dense = by_chunk(index.search("cat", k=50, mode="dense", group=False))
    sparse = by_chunk(index.search("cat", k=50, mode="sparse", group=False))
    assert hit.dense_score == pytest.approx(dense[key].score, abs=1e-5)
    assert hit.sparse_score == pytest.approx(sparse[key].score if key in sparse else 0.0)


def test_fusion_settings_change_the_ranking_and_bad_ones_are_refused(index: Index) -> None:
    words_only = FusionSettings("weighted", dense_weight=0.0)
    meaning_only = FusionSettings("weighted", dense_weight=1.0)
    assert index.search("cat", k=1, fusion=words_only)[0].source.endswith("unix.txt")
    assert index.search("cat", k=1, fusion=meaning_only)[0].source == (
        index.search("cat", k=1, mode="dense")[0].source
    )
    with pytest.raises(ConfigError, match="unknown search mode"):
        index.search("cat", mode="fuzzy")  # type: ignore[arg-type]


def test_the_cli_shows_rank_similarity_and_terms_not_fusion_numbers(folder: Path) -> None:
    home = str(folder / "home")
    runner = CliRunner()
    shown = runner.invoke(app, ["search", "lighthouse keeper", "--home", home, "--k", "2"])
    assert shown.exit_code == 0, shown.output
    first = shown.stdout.splitlines()[:2]
    assert first[0].startswith(" 1. ") and "lighthouse.md" in first[0]
    assert "% similar" in first[1] and "terms: lighthouse, keeper" in first[1]
    assert f"+{len(LIGHTHOUSE) - 1} more matching chunks in this document" in first[1]
    chunks = runner.invoke(app, ["search", "lighthouse keeper", "--home", home, "--chunks"])
    assert chunks.stdout.count("lighthouse.md") == len(LIGHTHOUSE)
    assert "more matching chunk" not in chunks.stdout
