"""The neutral language between the document store and a backend: points, filters, queries.

Written once here as small frozen dataclasses; each backend only translates them into its client
library's types (a few lines each), so that a fusion method or a filter condition is added here
once and then translated, never rewritten per backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ragindex.picklable import Picklable

PointId = str  # a UUID in text form: Qdrant Edge refuses any other string
Collection = Literal["chunks", "manifest"]


@dataclass(frozen=True, slots=True)
class SparseValues(Picklable):
    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class Point(Picklable):
    """A point to write. Chunk points carry both vectors; manifest points carry neither (the
    backend gives them its one-dimensional marker vector)."""

    id: PointId
    payload: dict[str, Any]
    # an ndarray as the pipeline made it: it crosses to the engine process as bytes, and each
    # backend turns it into what its client library reads fastest (a list for qdrant-client:
    # `dense_list`; the array's memory for Qdrant Edge)
    dense: npt.NDArray[np.float32] | list[float] | None = None
    sparse: SparseValues | None = None


def dense_list(dense: npt.NDArray[np.float32] | list[float]) -> list[float]:
    return dense.tolist() if isinstance(dense, np.ndarray) else dense


@dataclass(frozen=True, slots=True)
class Record:
    """A point read back; `dense` only when asked for."""

    id: PointId
    payload: dict[str, Any]
    dense: list[float] | None = None


@dataclass(frozen=True, slots=True)
class ScoredRecord:
    id: PointId
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Match:
    """The keyword payload field `key` equals `value` (for a list field: one of its items)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class PointFilter:
    """Qdrant's boolean filter: every `must`, at least one `should` (when any), no `must_not`."""

    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()


Condition = Match | PointFilter


@dataclass(frozen=True, slots=True)
class DenseNearest:
    """Nearest neighbours of a vector in the chunks' dense vector (`schema.DENSE`)."""

    vector: list[float]


@dataclass(frozen=True, slots=True)
class SparseNearest:
    """Best matches of a sparse vector in the chunks' sparse vector (`schema.SPARSE`, IDF)."""

    vector: SparseValues


Nearest = DenseNearest | SparseNearest


@dataclass(frozen=True, slots=True)
class Rrf:
    """Reciprocal rank fusion. k=60 as in the RRF paper; Qdrant's own default (2) lets the first
    ranks of each list dominate. `weights`: one per prefetch (None: equal)."""

    k: int = 60
    weights: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Dbsf:
    """Qdrant's distribution-based score fusion (no weights)."""


# the fusion methods a backend translates; add one here (and a line per backend)
Fusion = Rrf | Dbsf


@dataclass(frozen=True, slots=True)
class Prefetch:
    nearest: Nearest
    limit: int
    filter: PointFilter | None


@dataclass(frozen=True, slots=True)
class PointQuery:
    """Either one `nearest` query, or `prefetches` fused by `fusion`. `filter` applies to the
    single query; a fused query filters inside each prefetch (where the candidates are chosen)."""

    limit: int
    nearest: Nearest | None = None
    filter: PointFilter | None = None
    prefetches: tuple[Prefetch, ...] = ()
    fusion: Fusion | None = None
    ids: tuple[PointId, ...] = ()  # only these points (empty: any); with `filter`, both apply


@dataclass(frozen=True, slots=True)
class SideLists:
    """A hybrid search's candidates before fusion: each side's best chunks, best first (None:
    that side was not asked)."""

    dense: list[ScoredRecord] | None
    sparse: list[ScoredRecord] | None


@dataclass(frozen=True, slots=True)
class Upsert:
    collection: Collection
    points: Sequence[Point]


@dataclass(frozen=True, slots=True)
class Delete:
    collection: Collection
    ids: Sequence[PointId]


@dataclass(frozen=True, slots=True)
class DeleteWhere:
    collection: Collection
    where: PointFilter


# one write of a sequence that `Backend.in_order` applies in order
WriteStep = Upsert | Delete | DeleteWhere
