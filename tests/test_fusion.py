"""The fusion math by hand and against qdrant-client's own reference implementations, and the
fusion settings: defaults per embedder, overrides from the environment, refusals."""

from __future__ import annotations

import math
import random

import pytest
from qdrant_client.http import models
from qdrant_client.hybrid.fusion import (
    distribution_based_score_fusion,
    reciprocal_rank_fusion,
)

from ragindex import Settings
from ragindex.embedding.local import MODEL_NAME
from ragindex.errors import ConfigError
from ragindex.fusion import (
    FALLBACK_FUSION,
    PACKAGED_MODEL_FUSION,
    QWEN3_FUSION,
    FusionSettings,
    Scored,
    dbsf_scores,
    default_fusion,
    fuse,
    fusion_for,
    minmax_scores,
    query_weight,
    rrf_scores,
    standout,
)


def ranked(*pairs: tuple[str, float]) -> list[Scored]:
    return list(pairs)


def random_lists(seed: int) -> tuple[list[Scored], list[Scored]]:
    generator = random.Random(seed)
    points = [f"p{i}" for i in range(60)]
    dense = sorted(
        ((p, generator.uniform(0.1, 0.9)) for p in generator.sample(points, 40)),
        key=lambda item: -item[1],
    )
    sparse = sorted(
        ((p, generator.uniform(0.0, 25.0)) for p in generator.sample(points, 30)),
        key=lambda item: -item[1],
    )
    return dense, sparse


def qdrant_points(scored: list[Scored]) -> list[models.ScoredPoint]:
    return [models.ScoredPoint(id=p, version=0, score=s) for p, s in scored]


def test_rrf_by_hand() -> None:
    # Qdrant's form: 1 / (rank / weight + k - 1), rank from 1; k=60 is the paper's 1/(59 + rank)
    scores = rrf_scores(ranked(("a", 9.0), ("b", 5.0)), k=60)
    assert scores == {"a": pytest.approx(1 / 60), "b": pytest.approx(1 / 61)}
    halved = rrf_scores(ranked(("a", 9.0), ("b", 5.0)), k=60, weight=0.5)
    assert halved == {"a": pytest.approx(1 / 61), "b": pytest.approx(1 / 63)}
    assert rrf_scores(ranked(("a", 9.0)), k=60, weight=0.0) == {"a": 0.0}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("dense_weight", "k"), [(0.5, 60), (0.5, 2), (0.7, 10), (0.25, 60)])
def test_rrf_orders_as_qdrant_does(seed: int, dense_weight: float, k: int) -> None:
    dense, sparse = random_lists(seed)
    ours = fuse(dense, sparse, FusionSettings("rrf", k, dense_weight, 100))
    stronger = max(dense_weight, 1 - dense_weight)
    weights = [dense_weight / stronger, (1 - dense_weight) / stronger]
    theirs = reciprocal_rank_fusion(
        [qdrant_points(dense), qdrant_points(sparse)],
        limit=100,
        ranking_constant_k=k,
        weights=weights,
    )
    assert [score for _, score in ours] == pytest.approx([p.score for p in theirs])
    assert {p for p, _ in ours} == {str(p.id) for p in theirs}


@pytest.mark.parametrize("seed", range(5))
def test_dbsf_with_even_weights_is_qdrants_dbsf(seed: int) -> None:
    dense, sparse = random_lists(seed)
    ours = fuse(dense, sparse, FusionSettings("dbsf", dense_weight=0.5, candidates=1000))
    theirs = distribution_based_score_fusion([qdrant_points(dense), qdrant_points(sparse)], 100)
    # Qdrant sums the two normalised scores; an even split halves each
    assert [2 * score for _, score in ours] == pytest.approx([p.score for p in theirs])
    assert [p for p, _ in ours] == [str(p.id) for p in theirs]


def test_minmax_maps_the_window_to_zero_one_and_clips_below_it() -> None:
    scores = minmax_scores(ranked(("a", 10.0), ("b", 6.0), ("c", 2.0), ("d", 1.0)), window=3)
    assert scores == [("a", 1.0), ("b", 0.5), ("c", 0.0), ("d", 0.0)]
    assert minmax_scores(ranked(("a", 3.0), ("b", 3.0)), window=5) == [("a", 1.0), ("b", 1.0)]
    assert minmax_scores([], window=5) == []


def test_dbsf_by_hand() -> None:
    scores = dict(dbsf_scores(ranked(("a", 3.0), ("b", 2.0), ("c", 1.0)), window=3))
    # mean 2, sample deviation 1: [2 - 3, 2 + 3] mapped to [0, 1]
    assert scores == {"a": pytest.approx(4 / 6), "b": pytest.approx(0.5), "c": pytest.approx(2 / 6)}
    assert dbsf_scores(ranked(("a", 3.0)), window=3) == [("a", 0.5)]


def test_the_weight_moves_the_ranking_from_one_side_to_the_other() -> None:
    dense = ranked(("meaning", 0.8), ("both", 0.6), ("words", 0.1))
    sparse = ranked(("words", 12.0), ("both", 9.0), ("meaning", 0.5))
    for method in ("rrf", "dbsf", "weighted"):
        only_dense = fuse(dense, sparse, FusionSettings(method, dense_weight=1.0))  # type: ignore[arg-type]
        only_sparse = fuse(dense, sparse, FusionSettings(method, dense_weight=0.0))  # type: ignore[arg-type]
        assert only_dense[0][0] == "meaning", method
        assert only_sparse[0][0] == "words", method
    even = fuse(dense, sparse, FusionSettings("weighted", dense_weight=0.5))
    assert [point for point, _ in even] == ["both", "meaning", "words"]
    assert even[0][1] == pytest.approx(0.5 * (0.5 / 0.7) + 0.5 * (8.5 / 11.5))


def test_a_deeper_fetch_ranks_the_first_results_the_same() -> None:
    dense, sparse = random_lists(11)
    settings = FusionSettings("weighted", dense_weight=0.4, candidates=20)
    shallow = fuse(dense[:20], sparse[:20], settings)
    deep = fuse(dense, sparse, settings)
    assert [p for p, _ in deep[:10]] == [p for p, _ in shallow[:10]]


def test_the_side_that_stands_out_gets_more_of_the_weight() -> None:
    flat = [0.50, 0.49, 0.49, 0.48, 0.48, 0.47, 0.47, 0.46]
    peaked = [9.0, 2.0, 1.9, 1.8, 1.8, 1.7, 1.6, 1.5]
    assert standout(peaked, 100) > 5 * standout(flat, 100)
    assert standout([1.0, 0.5], 100) == 0.0  # too little to tell
    dense = [(f"d{i}", s) for i, s in enumerate(flat)]
    sparse = [(f"s{i}", s) for i, s in enumerate(peaked)]
    assert query_weight(dense, sparse, 0.5, 100) < 0.3
    assert query_weight(sparse, dense, 0.5, 100) > 0.7
    # a side with too few candidates to tell leaves the fixed share as it is
    assert query_weight(dense, sparse[:2], 0.5, 100) == 0.5
    assert query_weight([], [], 0.6, 100) == 0.6


@pytest.mark.parametrize(
    "values",
    [
        {"method": "linear"},
        {"k": 0},
        {"dense_weight": 1.5},
        {"dense_weight": math.nan},
        {"candidates": 0},
    ],
)
def test_bad_fusion_settings_are_config_errors(values: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="fusion"):
        FusionSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RAGINDEX_FUSION_METHOD", "linear"),
        ("RAGINDEX_FUSION_DENSE_WEIGHT", "2"),
        ("RAGINDEX_FUSION_K", "0"),
        ("RAGINDEX_FUSION_CANDIDATES", "lots"),
    ],
)
def test_bad_fusion_variables_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable.removeprefix("RAGINDEX_").lower()):
        Settings.load()


def test_one_default_per_embedder_and_the_settings_override_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert default_fusion(MODEL_NAME) == PACKAGED_MODEL_FUSION
    assert default_fusion("Qwen/Qwen3-Embedding-4B") == QWEN3_FUSION
    assert default_fusion("some/other-model") == FALLBACK_FUSION
    assert fusion_for(Settings.load(), MODEL_NAME) == PACKAGED_MODEL_FUSION
    monkeypatch.setenv("RAGINDEX_FUSION_METHOD", "rrf")
    monkeypatch.setenv("RAGINDEX_FUSION_DENSE_WEIGHT", "0")
    chosen = fusion_for(Settings.load(), MODEL_NAME)
    assert (chosen.method, chosen.dense_weight) == ("rrf", 0.0)
    assert chosen.candidates == PACKAGED_MODEL_FUSION.candidates
    for name, value in chosen.environment().items():
        monkeypatch.setenv(name, value)
    assert fusion_for(Settings.load(), "some/other-model") == chosen  # the variables apply it
