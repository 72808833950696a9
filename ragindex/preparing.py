"""Turn a candidate file into chunks and sparse vectors: the CPU-bound stage of an ingest.

It runs in the reading workers (`workers.py`): processes for real ingests, threads for small
ones. Everything here is picklable and free of I/O but the file's own bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cache

from ragindex import sparse
from ragindex.chunking import CHUNKER_VERSION, Chunker, ChunkingPolicy
from ragindex.discovery import Candidate
from ragindex.errors import SourceError
from ragindex.language import language_identifier
from ragindex.preload import loaded, preload
from ragindex.readers import READER_VERSION, read_bytes, read_document
from ragindex.tokens import load_in_background, tokenizer_named
from ragindex.types import Chunk, ManifestRecord, SparseVector


@dataclass(frozen=True)
class PrepareSpec:
    """Everything a worker needs to prepare files; small and picklable."""

    tokenizer: str
    policy: ChunkingPolicy
    max_pdf_pages: int
    file_timeout_s: float
    max_unpacked_bytes: int  # what a zip-based document (docx, xlsx, epub…) may inflate to

    @property
    def recipe(self) -> str:
        """How a document is prepared, recorded in its manifest record: when any part changes
        (chunk size, tokenizer, a reader, the chunker, the sparse scheme) an unchanged file is
        prepared again, instead of staying indexed the old way."""
        return (
            f"chunks={self.policy.chunk_tokens}/{self.policy.overlap_tokens}"
            f";tokenizer={self.tokenizer};reader={READER_VERSION};chunker={CHUNKER_VERSION}"
            f";sparse={sparse.SCHEME}"
        )


@dataclass(frozen=True)
class PreparedFile:
    record: ManifestRecord
    chunks: list[Chunk]
    sparse: list[SparseVector]
    warnings: tuple[str, ...] = ()  # what could not be read of the file


def start_loading(tokenizer: str) -> None:
    """Begin loading what preparing any file needs, the tokenizer and the language identifier,
    in the background, while the run does its other start-up work."""
    load_in_background(tokenizer)
    preload(language_identifier)


def finish_loading(tokenizer: str) -> None:
    """Wait until that is loaded. Worker processes forked after this inherit it, instead of
    each spending ~1.3 s of CPU loading its own on its first file."""
    tokenizer_named(tokenizer)
    loaded(language_identifier)


@cache
def _chunker(tokenizer: str, policy: ChunkingPolicy) -> Chunker:
    return Chunker(tokenizer_named(tokenizer), policy)


def prepare_file(
    spec: PrepareSpec, candidate: Candidate, known: ManifestRecord | None
) -> PreparedFile | ManifestRecord:
    """Read and chunk one file. Returns only an updated manifest record when the bytes are
    those already indexed (a touched file). Raises `SourceError` with the reason it is skipped."""
    data = read_bytes(candidate)
    recipe = spec.recipe
    if (
        known is not None
        and known.recipe == recipe
        and known.sha256 == hashlib.sha256(data).hexdigest()
    ):
        return replace(known, mtime=candidate.mtime, size=len(data))
    document = read_document(
        candidate,
        data,
        max_pdf_pages=spec.max_pdf_pages,
        timeout_s=spec.file_timeout_s,
        max_unpacked_bytes=spec.max_unpacked_bytes,
    )
    chunks = _chunker(spec.tokenizer, spec.policy).chunk(document)
    if not chunks:
        raise SourceError("no text content")
    record = ManifestRecord(
        source=document.source,
        sha256=document.sha256,
        chunks=len(chunks),
        mtime=document.mtime,
        size=document.size,
        kind=document.kind,
        language=document.language,
        format=document.format,
        recipe=recipe,
    )
    # BM25's length normalisation follows the chunk size (a fixed figure was twice the real one)
    average_terms = sparse.average_terms_for(spec.policy.chunk_tokens)
    vectors = [sparse.document_vector(chunk.text, average_terms=average_terms) for chunk in chunks]
    return PreparedFile(record, chunks, vectors, document.warnings)
