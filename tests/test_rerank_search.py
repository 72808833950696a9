"""Reranking through the whole search path: a real index, the searcher, the CLI and `eval`,
with the SGLang stand-in serving `/v1/rerank` over real HTTP (its scorer ranks by the share of
the query's words a text holds, so the reranked order is known in advance)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sglang_standin import StandIn
from typer.testing import CliRunner

from ragindex import ConfigError, Index, RerankError, Settings
from ragindex.cli import app
from ragindex.evaluation import evaluate

QUERY = "how do cats sleep on warm mats"
NOTES = {
    "dogs.md": "Dogs bark at the mail carrier and sleep on warm mats by the door.",
    "purr.md": "Cats purr when they are content.",
    "answer.md": "How do cats sleep on warm mats? Curled up, nose under the tail.",
    "mats.md": "Cats sleep a lot, often on mats.",
}


@pytest.fixture(scope="module")
def server() -> Iterator[StandIn]:
    with StandIn() as running:
        yield running


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    return folder


def test_the_reranker_orders_the_results_and_says_how_relevant(
    tmp_path: Path, notes: Path, server: StandIn
) -> None:
    settings = Settings.load(home=tmp_path / "home", rerank_url=server.url)
    with Index.open(settings) as index:
        index.ingest(notes)
        fused = index.search(QUERY, k=4, rerank=False)
        reranked = index.search(QUERY, k=4)  # on by default once a reranker is set
    assert reranked.warning is None
    assert Path(reranked[0].source).name == "answer.md"
    scores = [hit.rerank_score for hit in reranked]
    assert all(score is not None for score in scores) and scores == sorted(scores, reverse=True)
    assert [hit.rank for hit in reranked] == [1, 2, 3, 4]
    assert all(hit.rerank_score is None for hit in fused)
    assert {hit.source for hit in fused} == {hit.source for hit in reranked}


def test_a_dead_reranker_leaves_the_fused_order_with_a_warning(tmp_path: Path, notes: Path) -> None:
    dead = dead_url()
    settings = Settings.load(home=tmp_path / "home", rerank_url=dead, rerank_max_attempts=1)
    with Index.open(settings) as index:
        index.ingest(notes)
        fused = index.search(QUERY, k=4, rerank=False)
        degraded = index.search(QUERY, k=4)
    assert degraded.warning and "fused order" in degraded.warning
    assert [hit.source for hit in degraded] == [hit.source for hit in fused]
    result = CliRunner().invoke(
        app,
        ["search", QUERY, "--home", str(tmp_path / "home")],
        env={"RAGINDEX_RERANK_URL": dead, "RAGINDEX_RERANK_MAX_ATTEMPTS": "1"},
    )
    # a warning on stderr, the fused results on stdout: never an error
    assert result.exit_code == 0, result.output
    assert "warning: reranking skipped" in result.stderr
    assert "answer.md" in result.stdout


def test_asking_for_reranking_without_a_reranker_is_a_clear_error(
    tmp_path: Path, notes: Path
) -> None:
    with Index.open(Settings.load(home=tmp_path / "home")) as index:
        index.ingest(notes)
        assert not index.reranks
        with pytest.raises(ConfigError, match="RAGINDEX_RERANK_URL"):
            index.search(QUERY, rerank=True)


async def test_eval_scores_the_reranked_order_and_never_passes_off_the_fused_one(
    tmp_path: Path, server: StandIn
) -> None:
    dataset = tmp_path / "set"
    (dataset / "qrels").mkdir(parents=True)
    corpus = [{"_id": name, "title": "", "text": text} for name, text in NOTES.items()]
    (dataset / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus) + "\n")
    (dataset / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": QUERY}) + "\n")
    (dataset / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tanswer.md\t1\n")
    settings = Settings.load(home=tmp_path / "home", rerank_url=server.url)
    report = await evaluate(dataset, settings, ["rerank"], depth=10)
    assert report.modes[0].mode == "rerank" and report.modes[0].metrics["mrr@10"] == 1.0
    dead = Settings.load(home=tmp_path / "home2", rerank_url=dead_url(), rerank_max_attempts=1)
    with pytest.raises(RerankError, match="eval --mode rerank"):
        await evaluate(dataset, dead, ["rerank"], depth=10)
    with pytest.raises(ConfigError, match="RAGINDEX_RERANK_URL"):
        await evaluate(dataset, Settings.load(home=tmp_path / "home3"), ["rerank"], depth=10)
