"""What every backend stores, in the same form: point ids, payloads, the recorded collection spec.

Only data lives here; each backend turns it into its client library's types.
"""

from __future__ import annotations

import posixpath
import time
import uuid
from typing import Any

from ragindex.errors import CollectionMismatchError
from ragindex.store.points import Point, SparseValues
from ragindex.types import Chunk, CollectionSpec, EmbeddedChunk, Hit, ManifestRecord

DENSE = "dense"
SPARSE = "sparse"
# manifest points carry a one-dimensional vector of this name (a shard or collection needs one)
MARKER = "marker"
# payload fields that filters and maintenance use: each gets a keyword index
KEYWORD_FIELDS = ("source", "path_prefixes", "language", "kind", "format", "sha256", "record")
_NAMESPACE = uuid.UUID("6c5b9d8e-3f0a-4c55-9a53-8c1f0e7d2b11")
COLLECTION_RECORD_ID = uuid.uuid5(_NAMESPACE, "collection")


def chunk_id(source: str, index: int) -> uuid.UUID:
    """The same (source, chunk index) always gets the same id: re-ingesting never duplicates."""
    return uuid.uuid5(_NAMESPACE, f"chunk\x00{source}\x00{index}")


def manifest_id(source: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"document\x00{source}")


def pending_id(source: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"pending\x00{source}")


def pending_payload(source: str) -> dict[str, Any]:
    """Written before a document's chunks and deleted by its commit: a marker still there at
    the next run means a run died between the two, leaving chunks no manifest record covers."""
    return {"record": "pending", "source": source, "at": time.time()}


def abandoned(payload: dict[str, Any], older_than_s: float) -> bool:
    return bool(time.time() - float(payload.get("at", 0.0)) >= older_than_s)


def path_prefixes(source: str) -> list[str]:
    """Every folder above a source, and the source itself: `--path` matches any one of them."""
    prefixes = [source]
    parent = posixpath.dirname(source)
    while parent and parent not in prefixes:
        prefixes.append(parent)
        if parent in ("/", "."):
            break
        parent = posixpath.dirname(parent)
    return prefixes


def chunk_payload(record: ManifestRecord, chunk: Chunk) -> dict[str, Any]:
    return {
        "source": record.source,
        "path_prefixes": path_prefixes(record.source),
        "sha256": record.sha256,
        "kind": record.kind,
        "language": record.language,
        "format": record.format,
        "chunk_index": chunk.index,
        "text": chunk.text,
        "start": chunk.start,
        "end": chunk.end,
        "tokens": chunk.tokens,
        "line_start": chunk.line_start,
        "line_end": chunk.line_end,
        "page": chunk.page,
        "heading": chunk.heading,
        "location": chunk.location,
    }


def chunk_point(record: ManifestRecord, item: EmbeddedChunk) -> Point:
    """One chunk as a point: its id derived from (source, chunk index), both vectors, payload."""
    return Point(
        id=str(chunk_id(record.source, item.chunk.index)),
        payload=chunk_payload(record, item.chunk),
        dense=item.dense,
        sparse=SparseValues(indices=list(item.sparse.indices), values=list(item.sparse.values)),
    )


def marker_point(point_id: uuid.UUID, payload: dict[str, Any]) -> Point:
    return Point(id=str(point_id), payload=payload)


def hit_from_payload(score: float, payload: dict[str, Any]) -> Hit:
    return Hit(
        score=float(score),
        source=payload["source"],
        chunk_index=int(payload["chunk_index"]),
        text=payload["text"],
        kind=payload["kind"],
        language=payload["language"],
        format=payload.get("format", ""),
        line_start=int(payload.get("line_start", 0)),
        line_end=int(payload.get("line_end", 0)),
        page=payload.get("page"),
        heading=payload.get("heading"),
        location=payload.get("location"),  # absent in chunks written before locations
    )


def manifest_payload(record: ManifestRecord) -> dict[str, Any]:
    return {
        "record": "document",
        "source": record.source,
        "sha256": record.sha256,
        "chunks": record.chunks,
        "mtime": record.mtime,
        "size": record.size,
        "kind": record.kind,
        "language": record.language,
        "format": record.format,
        "recipe": record.recipe,
    }


def manifest_from_payload(payload: dict[str, Any]) -> ManifestRecord:
    return ManifestRecord(
        source=payload["source"],
        sha256=payload["sha256"],
        chunks=int(payload["chunks"]),
        mtime=float(payload["mtime"]),
        size=int(payload["size"]),
        kind=payload["kind"],
        language=payload["language"],
        format=payload.get("format", ""),
        recipe=payload.get("recipe", ""),  # absent in records written before recipes
    )


def spec_payload(spec: CollectionSpec) -> dict[str, Any]:
    return {
        "record": "collection",
        "model": spec.model,
        "dimension": spec.dimension,
        "sparse_scheme": spec.sparse_scheme,
    }


def spec_from_payload(payload: dict[str, Any]) -> CollectionSpec:
    return CollectionSpec(
        model=payload["model"],
        dimension=int(payload["dimension"]),
        sparse_scheme=payload["sparse_scheme"],
    )


def check_spec(recorded: CollectionSpec, wanted: CollectionSpec, location: str) -> None:
    """Refuse to mix vectors of different models or dimensions in one collection."""
    if recorded == wanted:
        return
    if (recorded.model, recorded.dimension) == (wanted.model, wanted.dimension):
        raise CollectionMismatchError(
            f"the index at {location} was built by an older ragindex (sparse scheme "
            f"{recorded.sparse_scheme!r}; this version writes {wanted.sparse_scheme!r}), so its "
            "keyword vectors cannot be mixed with new ones. Rebuild it: delete that collection "
            "(for the embedded store, the folder above) and ingest again, or set "
            "RAGINDEX_COLLECTION to a new name and ingest into that."
        )
    raise CollectionMismatchError(
        f"the index at {location} was built with model {recorded.model!r}, "
        f"dimension {recorded.dimension}, sparse scheme {recorded.sparse_scheme!r}; "
        f"the current settings ask for model {wanted.model!r}, dimension {wanted.dimension}, "
        f"sparse scheme {wanted.sparse_scheme!r}. Vectors of different models cannot be "
        "compared: set the settings back to match, choose another RAGINDEX_COLLECTION, "
        "or delete the collection and ingest again."
    )
