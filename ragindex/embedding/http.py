"""`HttpEmbedder`: embeddings from SGLang, or any OpenAI-compatible `/v1/embeddings` server
(vLLM, TEI, Infinity, OpenAI), on one or several replicas.

What keeps the GPU busy from a two-core client: inputs sorted by length and packed into
requests by token budget (never one request per text), many requests in flight with a
concurrency limit that adapts to each replica (`limiter.py`), base64 responses decoded by NumPy.
What keeps a run alive: retries with capped exponential backoff and full jitter on 429 (honouring
Retry-After), 5xx, timeouts and cut connections; a replica that cannot be reached is left out for
a while and its requests go to the others (`replicas.py`); inputs the server refuses (too long,
empty) are isolated by splitting the request and reported one by one while the rest is embedded.
The request and answer formats live in `wire.py`, the start-up check in `probe.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ragindex.config import Settings
from ragindex.embedding.base import EmbedResult, failed_rows
from ragindex.embedding.probe import probe_replica
from ragindex.embedding.replicas import Replica, ReplicaPool
from ragindex.embedding.sending import limited, send_with_retries
from ragindex.embedding.tasks import run_all
from ragindex.embedding.wire import BadInput, Capability, Retryable, WireFormat, http_client
from ragindex.errors import ConfigError, EmbeddingError, EmbeddingServerUnavailable
from ragindex.metrics import Metrics
from ragindex.tokens import Preloading, QwenTokenizer, Tokenizer
from ragindex.types import FloatArray

# native dimension and context of models we know; others need RAGINDEX_DIM
KNOWN_MODELS: dict[str, tuple[int, int]] = {
    "qwen3-embedding-0.6b": (1024, 32768),
    "qwen3-embedding-4b": (2560, 32768),
    "qwen3-embedding-8b": (4096, 32768),
}
# models trained so that a prefix of their vector, renormalised, is an embedding (Matryoshka)
MATRYOSHKA_FAMILIES = ("qwen3-embedding",)
QWEN_QUERY_FORMAT = "Instruct: {task}\nQuery:{query}"
_DEFAULT_CONTEXT = 8192
_PROBE_ATTEMPTS = 4  # the start-up check: a refused connection fails at once, hiccups get these


@dataclass
class _Batch:
    indices: list[int]
    tokens: int


class HttpEmbedder:
    default_chunk_tokens = 512

    def __init__(
        self,
        *,
        urls: Sequence[str],
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        matryoshka: bool | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 64,
        batch_tokens: int = 8192,
        max_inputs: int = 128,
        max_attempts: int = 6,
        context_tokens: int | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        if not urls:
            raise ConfigError("RAGINDEX_EMBED_URL is empty")
        known = KNOWN_MODELS.get(model.rsplit("/", 1)[-1].lower())
        native = known[0] if known else None
        if dimension is None and native is None:
            raise ConfigError(
                f"the output dimension of {model!r} is not known to ragindex: set RAGINDEX_DIM"
            )
        self.urls = [url.rstrip("/") for url in urls]
        self.model = model
        self.dimension = dimension or native or 0
        self.native_dimension = native
        self.max_input_tokens = context_tokens or (known[1] if known else _DEFAULT_CONTEXT)
        self.uses_instructions = "qwen3-embedding" in model.lower()
        if matryoshka is None:
            matryoshka = any(family in model.lower() for family in MATRYOSHKA_FAMILIES)
        # Qwen's BPE loads (0.3 s) while the server is checked and the store opened
        self.tokenizer: Tokenizer = tokenizer or Preloading(QwenTokenizer.name)
        self.batch_tokens = batch_tokens
        self.max_inputs = max_inputs
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self._client = http_client(
            api_key=api_key, timeout_s=timeout_s, connections=max_concurrency * len(self.urls)
        )
        # a request of the full token budget is one unit of a replica's limit
        self._pool = ReplicaPool(
            self.urls, max_concurrency=max_concurrency, unit_cost=float(batch_tokens)
        )
        self._wire = WireFormat(
            model=model,
            dimension=self.dimension,
            send_dimensions=dimension is not None and dimension != native,
            truncate=matryoshka,
        )
        self._checked = False
        self._check_lock = asyncio.Lock()
        self._metrics = Metrics()

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpEmbedder:
        key = settings.embed_api_key.get_secret_value() if settings.embed_api_key else None
        return cls(
            urls=settings.embed_urls,
            model=settings.embed_model,
            api_key=key,
            dimension=settings.dim,
            matryoshka=settings.embed_matryoshka,
            timeout_s=settings.embed_timeout_s,
            max_concurrency=settings.embed_max_concurrency,
            batch_tokens=settings.embed_batch_tokens,
            max_inputs=settings.embed_max_inputs,
            max_attempts=settings.embed_max_attempts,
        )

    # --- the Embedder protocol ------------------------------------------------------------
    async def check(self) -> None:
        """Probe every replica once: learn what the servers support (base64, dimensions) and
        check the size of their vectors.

        Replicas that answer are used and the others left to cool off; only when none answers
        does this raise `EmbeddingServerUnavailable` (at once for refused connections: an ingest
        fails fast instead of marking every document failed). A wrong key, a refused probe or
        vectors of the wrong size raise `EmbeddingError` / `ConfigError`."""
        async with self._check_lock:
            if self._checked:
                return
            self._wire.base64 = True
            answered: dict[str, bool] = {}  # url -> whether it answered in base64

            async def probe(replica: Replica) -> None:
                try:
                    answered[replica.url] = await probe_replica(
                        self._client,
                        self._wire,
                        replica.url,
                        attempts=_PROBE_ATTEMPTS,
                        on_retry=self._metrics.retry,
                    )
                except Retryable as error:
                    self._pool.mark_down(replica, str(error))

            await run_all(probe(replica) for replica in self._pool)
            if not answered:
                raise EmbeddingServerUnavailable(self._pool.describe_down())
            self._wire.base64 = all(answered.values())
            self._checked = True

    async def embed_documents(
        self, texts: Sequence[str], token_counts: Sequence[int] | None = None
    ) -> EmbedResult:
        await self.check()
        vectors = failed_rows(len(texts), self.dimension)
        failed: dict[int, str] = {}
        if token_counts is None:
            token_counts = [self.tokenizer.count(text) for text in texts]
        # the server appends an end token to every input: count it so the context check holds
        counts = [count + 1 for count in token_counts]
        valid: list[int] = []
        for index, (text, count) in enumerate(zip(texts, counts, strict=True)):
            if not text.strip():
                failed[index] = "empty input"
            elif count > self.max_input_tokens:
                failed[index] = (
                    f"{count} tokens, longer than the model's context ({self.max_input_tokens})"
                )
            else:
                valid.append(index)
        batches = self._pack(sorted(valid, key=counts.__getitem__), counts)
        await run_all(self._embed_batch(texts, batch, counts, vectors, failed) for batch in batches)
        return EmbedResult(vectors, failed)

    async def embed_query(self, text: str, *, task: str | None = None) -> FloatArray:
        await self.check()
        if self.uses_instructions and task:
            text = QWEN_QUERY_FORMAT.format(task=task, query=text)
        result = await self.embed_documents([text])
        if result.failed:
            raise EmbeddingError(f"the query could not be embedded: {result.failed[0]}")
        vector: FloatArray = result.vectors[0]
        return vector

    def metrics(self) -> dict[str, float]:
        self._metrics.concurrency = self._pool.in_flight
        figures = self._metrics.snapshot()
        figures["concurrency_limit"] = float(self._pool.limit)
        figures["replicas_up"] = float(len(self._pool.up()))
        return figures

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- batching ---------------------------------------------------------------------------
    def _pack(self, ordered: list[int], counts: list[int]) -> list[_Batch]:
        """Consecutive inputs of similar length, up to the token budget and the input cap."""
        batches: list[_Batch] = []
        current = _Batch([], 0)
        for index in ordered:
            if current.indices and (
                current.tokens + counts[index] > self.batch_tokens
                or len(current.indices) >= self.max_inputs
            ):
                batches.append(current)
                current = _Batch([], 0)
            current.indices.append(index)
            current.tokens += counts[index]
        if current.indices:
            batches.append(current)
        return batches

    async def _embed_batch(
        self,
        texts: Sequence[str],
        batch: _Batch,
        counts: list[int],
        vectors: FloatArray,
        failed: dict[int, str],
    ) -> None:
        try:
            rows = await self._send_with_retries([texts[i] for i in batch.indices], batch.tokens)
        except BadInput as error:
            if len(batch.indices) == 1:
                failed[batch.indices[0]] = f"refused by the server: {error}"
                return
            # halve the request until the input the server refuses stands alone
            middle = len(batch.indices) // 2
            halves = [batch.indices[:middle], batch.indices[middle:]]
            await run_all(
                self._embed_batch(
                    texts, _Batch(half, sum(counts[i] for i in half)), counts, vectors, failed
                )
                for half in halves
            )
            return
        except Retryable as error:
            reason = f"gave up after {self.max_attempts} attempts: {error}"
            for index in batch.indices:
                failed[index] = reason
            self._metrics.failure(error.kind)
            return
        matrix, refused = rows
        vectors[batch.indices] = matrix
        for row, reason in refused.items():
            failed[batch.indices[row]] = reason

    async def _send_with_retries(
        self, texts: list[str], tokens: int
    ) -> tuple[FloatArray, dict[int, str]]:
        """Send until a replica answers (`sending.py`). When every replica is gone and stayed
        gone, every other document would fail the same way: the run stops there, clearly, with
        what was committed kept."""
        return await send_with_retries(
            self._pool,
            lambda replica: self._send_once(replica, texts, tokens),
            max_attempts=self.max_attempts,
            on_retry=self._metrics.retry,
            all_down=lambda reasons: EmbeddingServerUnavailable(
                f"lost every embedding server: {reasons}"
            ),
            cost=tokens,
        )

    async def _send_once(
        self, replica: Replica, texts: list[str], tokens: int
    ) -> tuple[FloatArray, dict[int, str]]:
        async def post() -> list[object]:
            while True:
                try:
                    return await self._wire.post(self._client, replica.url, texts)
                except Capability:
                    continue  # the optional field is off now: the same request again

        embeddings, latency = await limited(replica.limiter, post, cost=tokens)
        self._metrics.request(latency, inputs=len(texts), tokens=tokens)
        return self._wire.decode_all(embeddings)
