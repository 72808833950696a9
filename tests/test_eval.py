"""`ragindex eval`: the metrics against hand-computed cases and a reference implementation
(ir-measures, on pytrec_eval), and a whole run on a small BEIR set."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import ir_measures
import pytest
from typer.testing import CliRunner

from ragindex.cli import app
from ragindex.evaluation import mrr_at, ndcg_at, recall_at, score


def test_ndcg_by_hand() -> None:
    relevant = {"d1": 2, "d3": 1}
    # d2 (not relevant), d1 (grade 2), d3 (grade 1)
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at(["d2", "d1", "d3"], relevant, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(["d1", "d3"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at(["d9"], relevant, 10) == 0.0
    assert ndcg_at(["d2", "d1"], relevant, 1) == 0.0  # the cut-off counts


def test_recall_and_mrr_by_hand() -> None:
    relevant = {"a": 1, "b": 1, "c": 0}  # grade 0 is judged, not relevant
    assert recall_at(["x", "a", "c"], relevant, 10) == 0.5
    assert recall_at(["x", "a", "b"], relevant, 2) == 0.5
    assert mrr_at(["x", "c", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x", "y"], relevant, 10) == 0.0


def test_metrics_agree_with_pytrec_eval_on_random_runs() -> None:
    generator = random.Random(3)
    qrels: dict[str, dict[str, int]] = {}
    rankings: dict[str, list[str]] = {}
    for q in range(60):
        documents = [f"d{i}" for i in range(150)]
        qrels[f"q{q}"] = {
            doc: generator.choice([0, 1, 1, 2, 3])
            for doc in generator.sample(documents, generator.randint(1, 8))
        }
        # at least one result each: pytrec_eval drops queries absent from the run from its
        # means, where ours counts them as 0 (a search that returns nothing failed that query)
        rankings[f"q{q}"] = generator.sample(documents, generator.randint(1, 120))
    ours = score(rankings, qrels)
    reference_qrels = [
        ir_measures.Qrel(q, doc, grade) for q, docs in qrels.items() for doc, grade in docs.items()
    ]
    reference_run = [
        ir_measures.ScoredDoc(q, doc, float(1000 - rank))
        for q, ranking in rankings.items()
        for rank, doc in enumerate(ranking)
    ]
    measures = [ir_measures.nDCG @ 10, ir_measures.R @ 10, ir_measures.R @ 100, ir_measures.RR @ 10]
    # a query whose judgements are all 0 counts, and scores 0, in both
    reference = ir_measures.calc_aggregate(measures, reference_qrels, reference_run)
    assert ours["ndcg@10"] == pytest.approx(reference[ir_measures.nDCG @ 10], abs=1e-9)
    assert ours["recall@10"] == pytest.approx(reference[ir_measures.R @ 10], abs=1e-9)
    assert ours["recall@100"] == pytest.approx(reference[ir_measures.R @ 100], abs=1e-9)
    assert ours["mrr@10"] == pytest.approx(reference[ir_measures.RR @ 10], abs=1e-9)


def write_beir(folder: Path) -> Path:
    documents = {
        "cat": ("Cats", "The cat sleeps on the warm mat by the window all afternoon."),
        "tea": ("Tea", "Green tea steeps for two minutes in water below boiling."),
        "train": ("Trains", "The night train from Vienna reaches Paris after breakfast."),
        "json": ("Config", "def load_config(path): return json.load(open(path))"),
        "tides": ("Tides", "The Moon's gravity pulls the oceans and causes the tides."),
    }
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, (title, text) in documents.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = {"q1": "where does the cat sleep", "q2": "load_config json", "q3": "ocean tides moon"}
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for query_id, text in queries.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tcat\t1\nq2\tjson\t1\nq3\ttides\t1\n", encoding="utf-8"
    )
    return folder


def test_eval_command_scores_every_mode(tmp_path: Path) -> None:
    dataset = write_beir(tmp_path / "tiny")
    result = CliRunner().invoke(app, ["eval", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["documents"] == 5 and report["queries"] == 3 and report["chunks"] == 5
    assert set(report["modes"]) == {"hybrid", "dense", "sparse"}
    for mode, metrics in report["modes"].items():
        assert metrics["recall@100"] == 1.0, mode  # five documents: all are ranked
        assert metrics["mrr@10"] == pytest.approx(1.0), mode  # each answer is obvious
    assert not (tmp_path / ".ragindex").exists()  # the user's own index is not touched


def test_eval_of_a_folder_that_is_not_beir_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a readable BEIR set" in result.output


def test_tune_ingests_each_set_once_and_prints_the_best_settings_and_how_to_apply_them(
    tmp_path: Path,
) -> None:
    first, second = write_beir(tmp_path / "one"), write_beir(tmp_path / "two")
    arguments = ["tune", str(first), str(second), "--methods", "rrf,weighted"]
    result = CliRunner().invoke(app, [*arguments, "--weights", "0.3,0.7", "--ks", "60", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["single_modes_ndcg@10"]) == {"one", "two"}
    # 2 methods x 2 weights x adaptive on/off x cross-lingual share on/off
    assert len(report["ranked"]) == 16
    best = report["best"]
    assert best == report["ranked"][0]
    top = max(row["worst_margin"] for row in report["ranked"])
    assert best["worst_margin"] >= top - 0.005  # the safest, then the best on average
    assert set(best["environment"]) >= {"RAGINDEX_FUSION_METHOD", "RAGINDEX_FUSION_DENSE_WEIGHT"}
    assert "weighted" in report["current"]["fusion"]  # the packaged model's default
    text = CliRunner().invoke(app, [*arguments, "--weights", "0.5", "--top", "3"])
    assert text.exit_code == 0, text.output
    assert "best: " in text.stdout and "export RAGINDEX_FUSION_METHOD=" in text.stdout
    assert "sets: 1=one, 2=two" in text.stdout
    rows = [line for line in text.stdout.splitlines() if line.startswith(("current", "#"))]
    assert len(rows) == 1 + 3 and all(" worst " in row and " mean " in row for row in rows)


def test_tune_refuses_a_method_it_does_not_know(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["tune", str(write_beir(tmp_path / "s")), "--methods", "x"])
    assert result.exit_code == 2
    assert "unknown fusion method" in result.output
