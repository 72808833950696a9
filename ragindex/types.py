"""The small frozen records that flow between the pipeline's stages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from ragindex.picklable import Picklable

Kind = Literal["code", "text", "pdf"]
SearchMode = Literal["hybrid", "dense", "sparse"]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a paged document (PDF): its number (1-based) and where it starts in the text.

    Other formats' parts carry a label that tells a user where to look ("slide 3", "Sales row
    12", "chapter 2: The Harbour", "cell 7"): a chunk may then span several parts."""

    number: int
    start: int
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """One file, read and decoded. `source` is the identifier stored in the index."""

    source: str
    kind: Kind
    format: str  # plain, markdown, rst, html, pdf, or the programming language
    language: str  # ISO 639-1 code for prose, the programming language for code, "" if unknown
    text: str
    sha256: str
    mtime: float
    size: int
    pages: tuple[Page, ...] = ()
    # what was read only in part, for the report ("3 of 40 pages unreadable")
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk(Picklable):
    """A piece of a document, measured in tokens of the embedding model's tokenizer."""

    source: str
    index: int
    text: str
    start: int  # character offsets into Document.text
    end: int
    tokens: int
    line_start: int
    line_end: int
    page: int | None = None
    heading: str | None = None
    # where the chunk is in a slide deck, workbook, e-book or notebook ("slides 3–4")
    location: str | None = None


@dataclass(frozen=True, slots=True)
class SparseVector(Picklable):
    """Term ids and their weights; Qdrant applies IDF on top."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class EmbeddedChunk:
    chunk: Chunk
    dense: FloatArray
    sparse: SparseVector


@dataclass(frozen=True, slots=True)
class ManifestRecord(Picklable):
    """Written last, after all of a document's chunks: the document counts as indexed from here."""

    source: str
    sha256: str
    chunks: int
    mtime: float
    size: int
    kind: str
    language: str
    format: str
    # how the document was prepared (chunk size, tokenizer, reader and sparse versions): a
    # different recipe prepares it again, even when its bytes did not change
    recipe: str = ""


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """What a collection's vectors mean; recorded once and checked on every open."""

    model: str
    dimension: int
    sparse_scheme: str


@dataclass(frozen=True, slots=True)
class Filters:
    """Search filters; every field narrows the result, None means no constraint."""

    language: str | None = None
    kind: str | None = None
    path_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a chunk with where it came from. By default a search returns one hit
    per document (its best chunk); `other_chunks` counts that document's other chunks among the
    candidates."""

    score: float  # the fused score (hybrid) or the one side's score
    source: str
    chunk_index: int
    text: str
    kind: str
    language: str
    format: str
    line_start: int
    line_end: int
    page: int | None = None
    heading: str | None = None
    location: str | None = None  # "slide 3", "Sales rows 2–40", "chapter 2: …", "cells 4–7"
    # the query's sparse terms found in this chunk's text (stopwords left out)
    matched_terms: tuple[str, ...] = ()
    rank: int = 0  # 1 for the best hit
    # this chunk's cosine similarity to the query, and its BM25 score (None: the mode has none)
    dense_score: float | None = None
    sparse_score: float | None = None
    other_chunks: int = 0
    # the reranker's relevance score; None: not reranked (no reranker, or past its candidates)
    rerank_score: float | None = None


class SearchResults(list[Hit]):
    """Hits best first, and a warning to show beside them (reranking skipped: fused order)."""

    def __init__(self, hits: Iterable[Hit] = (), *, warning: str | None = None) -> None:
        super().__init__(hits)
        self.warning = warning


@dataclass(frozen=True, slots=True)
class StoreStats:
    documents: int
    chunks: int
    location: str
    size_bytes: int | None


@dataclass
class IngestReport:
    """What one ingest run did; returned by the API and printed by the CLI."""

    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    # left half-written by a run that died; cleaned up and indexed again by this one
    recovered: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # source -> reason
    failed: dict[str, str] = field(default_factory=dict)  # source -> reason
    # indexed, but only in part: source -> what was left out ("3 of 40 pages unreadable")
    warnings: dict[str, str] = field(default_factory=dict)
    # indexed documents no longer seen but kept, because their folder could not be read
    kept: list[str] = field(default_factory=list)
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    # the most chunks and embedding windows held in memory at once (bounded by the limits)
    peak_chunks_in_flight: int = 0
    peak_windows_in_flight: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted
