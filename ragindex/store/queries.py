"""The filters and queries the document store asks for, built once in the neutral language."""

from __future__ import annotations

from collections.abc import Sequence

from ragindex.errors import StoreError
from ragindex.store.points import (
    DenseNearest,
    Match,
    Nearest,
    PointFilter,
    PointQuery,
    Prefetch,
    Rrf,
    SparseNearest,
    SparseValues,
)
from ragindex.types import Filters, FloatArray, ManifestRecord, SearchMode, SparseVector

FUSION_CANDIDATES = 100  # each prefetch of a hybrid query brings at least this many


def records_of_kind(kind: str) -> PointFilter:
    """Manifest points of one kind: "document", "pending" (or "collection")."""
    return PointFilter(must=(Match("record", kind),))


def of_sources(sources: Sequence[str]) -> PointFilter:
    """The chunks of any of these documents."""
    return PointFilter(should=tuple(Match("source", source) for source in sources))


def older_versions(records: Sequence[ManifestRecord]) -> PointFilter:
    """The chunks of these documents that belong to another version than the one recorded."""
    return PointFilter(
        should=tuple(
            PointFilter(must=(Match("source", r.source),), must_not=(Match("sha256", r.sha256),))
            for r in records
        )
    )


def search_filter(filters: Filters) -> PointFilter | None:
    """Every given field narrows the result; `path_prefix` matches any folder above a chunk's
    source, or the source itself (see `schema.path_prefixes`)."""
    conditions = tuple(
        Match(key, value)
        for key, value in (
            ("language", filters.language),
            ("kind", filters.kind),
            ("path_prefixes", filters.path_prefix),
        )
        if value
    )
    return PointFilter(must=conditions) if conditions else None


def search_query(
    *,
    dense: FloatArray | None,
    sparse: SparseVector | None,
    mode: SearchMode,
    filters: Filters,
    limit: int,
) -> PointQuery:
    """Hybrid: both vectors' candidates fused by RRF. Otherwise the vector the mode asks for, or
    the one there is (a query without any sparse term searches densely)."""
    where = search_filter(filters)
    dense_nearest, sparse_nearest = nearest_of(dense, sparse)
    if mode == "hybrid" and dense_nearest is not None and sparse_nearest is not None:
        candidates = max(limit * 4, FUSION_CANDIDATES)
        return PointQuery(
            limit=limit,
            prefetches=(
                Prefetch(dense_nearest, candidates, where),
                Prefetch(sparse_nearest, candidates, where),
            ),
            fusion=Rrf(),
        )
    preferred: Nearest | None = sparse_nearest if mode == "sparse" else dense_nearest
    single = preferred or dense_nearest or sparse_nearest
    if single is None:
        raise StoreError("a search needs a dense or a sparse query vector")
    return PointQuery(limit=limit, nearest=single, filter=where)


def nearest_of(
    dense: FloatArray | None, sparse: SparseVector | None
) -> tuple[DenseNearest | None, SparseNearest | None]:
    """The dense and the sparse nearest queries there are (a sparse vector without any term is
    none)."""
    dense_nearest = DenseNearest(dense.tolist()) if dense is not None else None
    sparse_nearest = (
        SparseNearest(SparseValues(list(sparse.indices), list(sparse.values)))
        if sparse is not None and sparse.indices
        else None
    )
    return dense_nearest, sparse_nearest


def side_query(nearest: Nearest, filters: Filters, limit: int) -> PointQuery:
    """One side of a hybrid search, fused on the client."""
    return PointQuery(limit=limit, nearest=nearest, filter=search_filter(filters))


def scores_query(nearest: Nearest, ids: Sequence[str]) -> PointQuery:
    """This side's scores of exactly these chunks (those it matches at all)."""
    return PointQuery(limit=len(ids), nearest=nearest, ids=tuple(ids))
