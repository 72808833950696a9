"""The `Embedder` protocol: what the pipeline and the searcher need from an embedding model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ragindex.tokens import Tokenizer
from ragindex.types import FloatArray


@dataclass(frozen=True)
class EmbedResult:
    """Vectors for a list of texts; `failed` maps the index of each text that was not embedded to
    the reason. Their rows are NaN, so they can never be mistaken for vectors."""

    vectors: FloatArray
    failed: dict[int, str] = field(default_factory=dict)


class Embedder(Protocol):
    model: str
    dimension: int
    max_input_tokens: int  # the model's context: chunks never exceed it
    default_chunk_tokens: int
    tokenizer: Tokenizer
    uses_instructions: bool  # whether queries are prefixed with a task instruction

    async def check(self) -> None:
        """Make sure the model can be used (a server reached, its features learnt); raises
        `EmbeddingServerUnavailable` when it cannot. Cheap after the first call."""
        ...

    async def embed_documents(
        self, texts: Sequence[str], token_counts: Sequence[int] | None = None
    ) -> EmbedResult:
        """Embed document chunks (no instruction). Never raises for one bad input: see `failed`.
        `token_counts`, when the caller has them (chunks do), spares counting the texts again."""
        ...

    async def embed_query(self, text: str, *, task: str | None = None) -> FloatArray:
        """Embed one search query, with the task instruction where the model uses one."""
        ...

    def metrics(self) -> dict[str, float]:
        """Live figures of the embedder (latency, throughput, failures) for stats and the UI."""
        ...

    async def aclose(self) -> None: ...


def l2_normalise(vectors: FloatArray) -> FloatArray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: FloatArray = (vectors / norms).astype(np.float32, copy=False)
    return normalised


def failed_rows(count: int, dimension: int) -> FloatArray:
    return np.full((count, dimension), np.nan, dtype=np.float32)
