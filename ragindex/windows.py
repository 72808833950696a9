"""Documents in flight, and the token windows their chunks are embedded in. No I/O here.

The embedder is fed windows of chunks from consecutive documents (a window fills up to a chunk
count or a token budget, whichever comes first), so that many small files make one full request
and one large file several. A document is ready to write once every window holding one of its
chunks has come back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ragindex.embedding.base import EmbedResult
from ragindex.preparing import PreparedFile
from ragindex.types import Chunk, EmbeddedChunk, FloatArray, ManifestRecord, SparseVector


@dataclass(eq=False)
class PendingDocument:
    """A prepared document whose vectors are being filled in, window by window."""

    record: ManifestRecord
    chunks: list[Chunk]
    sparse: list[SparseVector]
    dense: FloatArray
    warnings: tuple[str, ...] = ()
    remaining: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, prepared: PreparedFile, dimension: int) -> PendingDocument:
        return cls(
            record=prepared.record,
            chunks=prepared.chunks,
            sparse=prepared.sparse,
            dense=np.empty((len(prepared.chunks), dimension), dtype=np.float32),
            warnings=prepared.warnings,
            remaining=len(prepared.chunks),
        )

    @property
    def source(self) -> str:
        return self.record.source

    def embedded(self) -> list[EmbeddedChunk]:
        return [
            EmbeddedChunk(chunk=chunk, dense=self.dense[index], sparse=vector)
            for index, (chunk, vector) in enumerate(zip(self.chunks, self.sparse, strict=True))
        ]

    def failure(self) -> str | None:
        """Why the document cannot be committed, if any chunk failed to embed."""
        if not self.errors:
            return None
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return f"not embedded: {self.errors[0]}{more}"


@dataclass
class Window:
    """Chunks of one or more documents, embedded in one call."""

    items: list[tuple[PendingDocument, int]] = field(default_factory=list)
    tokens: int = 0

    def texts(self) -> list[str]:
        return [document.chunks[index].text for document, index in self.items]

    def token_counts(self) -> list[int]:
        return [document.chunks[index].tokens for document, index in self.items]

    def apply(self, result: EmbedResult) -> list[PendingDocument]:
        """Put the vectors (or the reasons they failed) where they belong; returns the
        documents this window completed."""
        completed: list[PendingDocument] = []
        for position, (document, index) in enumerate(self.items):
            if position in result.failed:
                chunk = document.chunks[index]
                document.errors.append(
                    f"chunk {index} (lines {chunk.line_start}-{chunk.line_end}): "
                    f"{result.failed[position]}"
                )
            else:
                document.dense[index] = result.vectors[position]
            document.remaining -= 1
            if document.remaining == 0:
                completed.append(document)
        return completed


class TokenWindows:
    """Packs the chunks of the documents added, in order, into windows of at most
    `max_chunks` chunks and `max_tokens` tokens (a lone chunk over the budget gets its own)."""

    def __init__(self, *, max_chunks: int, max_tokens: int) -> None:
        self.max_chunks = max_chunks
        self.max_tokens = max_tokens
        self._current = Window()

    def add(self, document: PendingDocument) -> list[Window]:
        """Take a document's chunks; returns the windows that are full now."""
        full: list[Window] = []
        for index, chunk in enumerate(document.chunks):
            self._current.items.append((document, index))
            self._current.tokens += chunk.tokens
            if (
                len(self._current.items) >= self.max_chunks
                or self._current.tokens >= self.max_tokens
            ):
                full.append(self._current)
                self._current = Window()
        return full

    @property
    def partial(self) -> bool:
        return bool(self._current.items)

    def take_partial(self) -> Window | None:
        """The window being filled, sent before it is full (the embedder would sit idle)."""
        if not self._current.items:
            return None
        window, self._current = self._current, Window()
        return window
