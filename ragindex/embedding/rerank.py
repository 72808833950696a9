"""`HttpReranker`: the optional rerank stage. A cross-encoder (bge-reranker, Qwen3-Reranker on
SGLang; or any Cohere/Jina-style `/rerank` API) reads the query with each fused candidate and
scores it; the candidates come back most relevant first.

It sends the way the embedder does (`sending.py`): under each replica's adaptive concurrency
limit, retried on 429 (after its Retry-After), 5xx, timeouts and cut connections, moved to another
URL at once when one cannot be reached. What differs is a query waiting for an answer: a replica
that is out is not waited for, one query's reranking has a deadline (`timeout_s`, retries
included), and when reranking fails the hits come back in their fused order with a warning the
caller shows: a reranker that is down makes results less sharp, never an error page.
The request and answer formats live in `rerank_wire.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ragindex.config import Settings
from ragindex.embedding.replicas import Replica, ReplicaPool
from ragindex.embedding.rerank_wire import post
from ragindex.embedding.sending import limited, send_with_retries
from ragindex.embedding.tasks import run_all
from ragindex.embedding.wire import BadInput, Retryable, http_client
from ragindex.errors import ConfigError, RerankError
from ragindex.metrics import Metrics
from ragindex.types import Hit

__all__ = ["HttpReranker", "RerankError", "Reranked", "Reranker"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reranked:
    """Hits most relevant first, each with the reranker's score at the same position in `scores`
    (None for a hit that was not reranked: past the candidates, or blank). The hits' own `score`
    stays the fused one. With a `warning`, reranking was skipped and the hits are in their fused
    order: show the warning beside them."""

    hits: list[Hit]
    scores: list[float | None]
    warning: str | None = None


class Reranker(Protocol):
    candidates: int

    async def rerank(
        self,
        query: str,
        hits: Sequence[Hit],
        *,
        instruction: str | None = None,
        strict: bool = False,
    ) -> Reranked:
        """The hits reordered by relevance to the query; see `HttpReranker.rerank`."""
        ...

    def metrics(self) -> dict[str, float]: ...

    async def aclose(self) -> None: ...


class HttpReranker:
    def __init__(
        self,
        *,
        urls: Sequence[str],
        model: str,
        api_key: str | None = None,
        candidates: int = 50,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
        max_concurrency: int = 16,
        max_inputs: int = 64,
    ) -> None:
        if not urls:
            raise ConfigError("RAGINDEX_RERANK_URL is empty")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"RAGINDEX_RERANK_URL: {url!r} is not an http:// or https:// URL")
        self.urls = [url.rstrip("/") for url in urls]
        self.model = model
        # Qwen3-Reranker reads a task instruction, as Qwen3-Embedding's queries do
        self.uses_instructions = "qwen3-reranker" in model.lower()
        self.candidates = candidates
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        # SGLang scores a request's documents as one batch of that many requests: keep it
        # below its --max-running-requests (a longer list can hang it, sgl-project/sglang#22518)
        self.max_inputs = max_inputs
        self._client = http_client(
            api_key=api_key, timeout_s=timeout_s, connections=max_concurrency * len(self.urls)
        )
        self._pool = ReplicaPool(self.urls, max_concurrency=max_concurrency)
        self._metrics = Metrics()

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpReranker:
        key = settings.rerank_api_key.get_secret_value() if settings.rerank_api_key else None
        return cls(
            urls=settings.rerank_urls,
            model=settings.rerank_model,
            api_key=key,
            candidates=settings.rerank_candidates,
            timeout_s=settings.rerank_timeout_s,
            max_attempts=settings.rerank_max_attempts,
            max_concurrency=settings.rerank_max_concurrency,
        )

    async def rerank(
        self,
        query: str,
        hits: Sequence[Hit],
        *,
        instruction: str | None = None,
        strict: bool = False,
    ) -> Reranked:
        """The first `candidates` hits ordered by the reranker's score (ties keep their fused
        order), then the others in fused order. `instruction` (the query's task) is sent to
        models that read one (Qwen3-Reranker). On any failure of the rerank stage: the hits in
        fused order with a warning (logged too), or, with `strict` (an evaluation that must not
        measure the fused order under the reranker's name), `RerankError`."""
        head, tail = list(hits[: self.candidates]), list(hits[self.candidates :])
        try:
            scores = await self.scores(query, [hit.text for hit in head], instruction)
        except RerankError as error:
            if strict:
                raise
            self._metrics.failure("degraded")
            warning = f"reranking skipped, results in fused order: {error}"
            _log.warning("%s", warning)
            return Reranked(list(hits), [None] * len(hits), warning)
        order = sorted(
            range(len(head)),
            key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i),
        )
        return Reranked(
            [head[i] for i in order] + tail,
            [scores[i] for i in order] + [None] * len(tail),
        )

    async def scores(
        self, query: str, texts: Sequence[str], instruction: str | None = None
    ) -> list[float | None]:
        """The reranker's score of each text for the query (None for a blank text, which
        servers refuse and which nothing would match). Raises `RerankError`."""
        scores: list[float | None] = [None] * len(texts)
        sent = [index for index, text in enumerate(texts) if text.strip()]
        if not query.strip() or not sent:
            return scores
        batches = [sent[i : i + self.max_inputs] for i in range(0, len(sent), self.max_inputs)]

        instruction = instruction if self.uses_instructions else None

        async def score(batch: list[int]) -> None:
            batch_scores = await self._send([texts[i] for i in batch], query, instruction)
            for index, value in zip(batch, batch_scores, strict=True):
                scores[index] = value

        try:
            async with asyncio.timeout(self.timeout_s):
                await run_all(score(batch) for batch in batches)
        except TimeoutError:
            raise RerankError(
                f"the rerank server did not answer within {self.timeout_s:g} s "
                "(RAGINDEX_RERANK_TIMEOUT_S)"
            ) from None
        return scores

    def metrics(self) -> dict[str, float]:
        self._metrics.concurrency = self._pool.in_flight
        figures = self._metrics.snapshot()
        figures["concurrency_limit"] = float(self._pool.limit)
        figures["replicas_up"] = float(len(self._pool.up()))
        return figures

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(self, documents: list[str], query: str, instruction: str | None) -> list[float]:
        """One batch, retried and failed over; every failure as `RerankError`. A replica that is
        out is not waited for: the query goes on without reranking, and the replica is tried
        again by a later query once its cool-off ends."""
        try:
            return await send_with_retries(
                self._pool,
                lambda replica: self._send_once(replica, query, documents, instruction),
                max_attempts=self.max_attempts,
                on_retry=self._metrics.retry,
                all_down=lambda reasons: RerankError(f"no rerank server answers: {reasons}"),
                wait_for_replicas=False,
            )
        except Retryable as error:
            self._metrics.failure(error.kind)
            raise RerankError(f"gave up after {self.max_attempts} attempts: {error}") from None
        except BadInput as error:
            self._metrics.failure("refused")
            raise RerankError(f"the rerank server refused the request: {error}") from None

    async def _send_once(
        self, replica: Replica, query: str, documents: list[str], instruction: str | None
    ) -> list[float]:
        scores, latency = await limited(
            replica.limiter,
            lambda: post(self._client, replica.url, self.model, query, documents, instruction),
        )
        self._metrics.request(latency, inputs=len(documents))
        return scores
