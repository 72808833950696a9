"""`ragindex tune`: the fusion settings that serve every given set best, through the eval path.

Each set is ingested once (`evaluation.prepared`); each query's two candidate lists are fetched
once, at the depth an eval search fetches; then every fusion setting ranks those same lists with
the very `ranking.rank` a search uses, so a setting scores here exactly what `ragindex eval`
would give it, without ingesting or searching again per setting.

The best setting is the one whose worst margin over the best single mode (dense or sparse) on
any set is highest (hybrid must never lose to a mode the user could have picked), then the one
with the highest mean nDCG@10 among those within 0.005 of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragindex.config import Settings
from ragindex.errors import ConfigError
from ragindex.evaluation import PreparedSet, prepared, score
from ragindex.fusion import FusionMethod, FusionSettings, fusion_for
from ragindex.language import detect_language
from ragindex.ranking import depth_for, rank
from ragindex.search import Searcher
from ragindex.store.points import ScoredRecord, SideLists
from ragindex.types import Filters, SearchMode

EVAL_DEPTH = 100  # documents ranked per query, as `ragindex eval` ranks them
_MARGIN_TOLERANCE = 0.005


@dataclass(frozen=True)
class Grid:
    methods: tuple[FusionMethod, ...] = ("rrf", "dbsf", "weighted")
    dense_weights: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)
    rrf_ks: tuple[int, ...] = (10, 60)
    candidates: tuple[int, ...] = (100,)
    adaptive: tuple[bool, ...] = (False, True)
    cross_lingual: tuple[float | None, ...] = (None, 0.8)

    def settings(self) -> list[FusionSettings]:
        found: list[FusionSettings] = []
        for method, weight, candidates, adaptive, crossing in itertools.product(
            self.methods, self.dense_weights, self.candidates, self.adaptive, self.cross_lingual
        ):
            for k in self.rrf_ks if method == "rrf" else (60,):
                found.append(FusionSettings(method, k, weight, candidates, adaptive, crossing))
        return found


@dataclass
class SetLists:
    """One set's candidate lists, per judged query, kept light (the document id as payload)."""

    name: str
    lists: dict[str, SideLists]
    qrels: dict[str, dict[str, int]]
    languages: dict[str, str] = field(default_factory=dict)  # query id -> its language


@dataclass
class Scored:
    fusion: FusionSettings
    ndcg: dict[str, float]  # set -> nDCG@10
    margins: dict[str, float] = field(default_factory=dict)  # set -> over the best single mode

    @property
    def worst_margin(self) -> float:
        return min(self.margins.values())

    @property
    def mean_ndcg(self) -> float:
        return sum(self.ndcg.values()) / len(self.ndcg)


@dataclass
class TuneReport:
    single: dict[str, dict[str, float]]  # set -> dense/sparse -> nDCG@10
    default: Scored  # the settings in force (the model's built-in, or RAGINDEX_FUSION_*)
    ranked: list[Scored]  # every setting, best first

    @property
    def best(self) -> Scored:
        return self.ranked[0]


async def collect(ready: PreparedSet, deepest_window: int) -> SetLists:
    """Every judged query's dense and sparse candidates, as deep as an eval search fetches."""
    index, lists, languages = ready.index, {}, {}
    searcher = Searcher(  # the same vectors a search sends
        index.embedder,
        index.store,
        general_task=index.settings.query_task,
        code_task=index.settings.code_query_task,
    )
    widest = FusionSettings(candidates=deepest_window)
    depth = depth_for(EVAL_DEPTH, group=True, fusion=widest, mode="hybrid")
    for query_id, query in ready.dataset.queries.items():
        dense, sparse = await searcher.vectors(
            query, mode="hybrid", filters=Filters(), task="general"
        )
        found = await index.store.candidates(
            dense=dense, sparse=sparse, filters=Filters(), limit=depth
        )
        lists[query_id] = SideLists(_light(ready, found.dense), _light(ready, found.sparse))
        languages[query_id] = detect_language(query)
    return SetLists(ready.dataset.name, lists, ready.dataset.qrels, languages)


def _light(ready: PreparedSet, side: list[ScoredRecord] | None) -> list[ScoredRecord] | None:
    if side is None:
        return None
    return [
        ScoredRecord(
            r.id,
            r.score,
            {
                "source": ready.document_id(r.payload["source"]),
                "language": r.payload.get("language"),
                "kind": r.payload.get("kind"),
            },
        )
        for r in side
    ]


def ndcg(lists: SetLists, mode: SearchMode, fusion: FusionSettings) -> float:
    rankings = {
        query_id: [
            str(result.record.payload["source"])
            for result in rank(
                side,
                mode=mode,
                fusion=fusion,
                limit=EVAL_DEPTH,
                group=True,
                query_language=lists.languages.get(query_id, "") if mode == "hybrid" else "",
            )
        ]
        for query_id, side in lists.lists.items()
    }
    return score(rankings, lists.qrels)["ndcg@10"]


def judge(
    sets: Sequence[SetLists], grid: Sequence[FusionSettings], current: FusionSettings
) -> TuneReport:
    any_fusion = FusionSettings()
    single = {
        s.name: {mode: ndcg(s, mode, any_fusion) for mode in ("dense", "sparse")} for s in sets
    }

    def scored(fusion: FusionSettings) -> Scored:
        result = Scored(fusion, {s.name: ndcg(s, "hybrid", fusion) for s in sets})
        result.margins = {
            name: value - max(single[name].values()) for name, value in result.ndcg.items()
        }
        return result

    everything = [scored(fusion) for fusion in grid]
    top_margin = max(result.worst_margin for result in everything)
    everything.sort(key=lambda r: (r.worst_margin < top_margin - _MARGIN_TOLERANCE, -r.mean_ndcg))
    return TuneReport(single, scored(current), everything)


async def tune(folders: Sequence[Path], settings: Settings, grid: Grid) -> TuneReport:
    """Ingest each set once, fetch its candidates once, then score every setting of `grid`."""
    candidates = grid.settings()
    sets: list[SetLists] = []
    current = None
    for folder in folders:
        async with prepared(folder, settings) as ready:
            current = fusion_for(ready.index.settings, ready.index.embedder.model)
            window = max([current.candidates, *(f.candidates for f in candidates)])
            sets.append(await collect(ready, window))
    if current is None:
        raise ConfigError("tune needs at least one BEIR folder")
    return judge(sets, candidates, current)
