"""`HttpEmbedder`: embeddings from SGLang, or any OpenAI-compatible `/v1/embeddings` server
(vLLM, TEI, Infinity, OpenAI).

What keeps the GPU busy from a two-core client: inputs sorted by length and packed into
requests by token budget (never one request per text), many requests in flight with a
concurrency limit that adapts to the server (`limiter.py`), base64 responses decoded by NumPy.
What keeps a run alive: retries with capped exponential backoff and full jitter on 429 (honouring
Retry-After), 5xx, timeouts and cut connections; inputs the server refuses (too long, empty) are
isolated by splitting the request and reported one by one while the rest is embedded.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ragindex.config import Settings
from ragindex.embedding.base import EmbedResult, failed_rows, l2_normalise
from ragindex.embedding.limiter import AdaptiveLimiter
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
QWEN_QUERY_FORMAT = "Instruct: {task}\nQuery:{query}"
_DEFAULT_CONTEXT = 8192
_MAX_BACKOFF_S = 30.0
_PROBE_ATTEMPTS = 4  # the start-up check: a refused connection fails at once, hiccups get these


class _Retryable(Exception):
    """A failure worth another attempt: overload, server error, timeout, cut connection."""

    def __init__(
        self, kind: str, message: str, *, retry_after: float = 0.0, overload: bool = False
    ):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.overload = overload


class _BadInput(Exception):
    """The server refused something inside the request: split it to find the culprit."""


class _Capability(Exception):
    """The server refused an optional field (dimensions, encoding_format): drop it, try again."""


@dataclass
class _Batch:
    indices: list[int]
    tokens: int
    errors: list[str] = field(default_factory=list)


class HttpEmbedder:
    default_chunk_tokens = 512

    def __init__(
        self,
        *,
        urls: Sequence[str],
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
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
        # Qwen's BPE loads (0.3 s) while the server is checked and the store opened
        self.tokenizer: Tokenizer = tokenizer or Preloading(QwenTokenizer.name)
        self.batch_tokens = batch_tokens
        self.max_inputs = max_inputs
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            limits=httpx.Limits(
                max_connections=max_concurrency * len(self.urls),
                max_keepalive_connections=max_concurrency * len(self.urls),
            ),
        )
        self._limiters = [AdaptiveLimiter(maximum=max_concurrency) for _ in self.urls]
        self._next_url = 0
        self._send_dimensions = dimension is not None and dimension != native
        self._base64 = False
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
            timeout_s=settings.embed_timeout_s,
            max_concurrency=settings.embed_max_concurrency,
            batch_tokens=settings.embed_batch_tokens,
            max_inputs=settings.embed_max_inputs,
            max_attempts=settings.embed_max_attempts,
        )

    # --- the Embedder protocol ------------------------------------------------------------
    async def check(self) -> None:
        """Reach every server once, and learn what it supports (base64, dimensions).

        Raises `EmbeddingServerUnavailable` at once when a server cannot be reached: an ingest
        fails fast instead of marking every document failed. A server that answers but
        stumbles (a 5xx, a cut connection) gets a few more tries, as any request would."""
        async with self._check_lock:
            if self._checked:
                return
            for attempt in range(1, _PROBE_ATTEMPTS + 1):
                try:
                    await self._probe()
                    self._checked = True
                    return
                except _Retryable as error:
                    if error.kind == "connect" or attempt == _PROBE_ATTEMPTS:
                        raise EmbeddingServerUnavailable(str(error)) from None
                    self._metrics.retry(error.kind)
                    await asyncio.sleep(max(error.retry_after, 0.25 * 2**attempt))

    async def _probe(self) -> None:
        for url in self.urls:
            try:
                response = await self._client.get(f"{url}/models")
            except httpx.ConnectError as error:
                raise _Retryable(
                    "connect",
                    f"cannot reach the embedding server at {url} ({_describe(error)}); is it "
                    "running, and is RAGINDEX_EMBED_URL right?",
                ) from None
            except httpx.TransportError as error:
                raise _Retryable(
                    "disconnect", f"the embedding server at {url} dropped the connection"
                ) from error
            if response.status_code in (401, 403):
                raise EmbeddingError(
                    f"the embedding server at {url} refused the API key "
                    f"({response.status_code}); check RAGINDEX_EMBED_API_KEY"
                )
        # base64 halves the bytes and skips JSON float parsing; older handlers ignore the
        # field and send floats anyway, some refuse it: ask once and see
        self._base64 = True
        try:
            try:
                probe = await self._post(self.urls[0], ["ragindex capability probe"])
            except _Capability:
                self._base64 = False
                probe = await self._post(self.urls[0], ["ragindex capability probe"])
        except _Retryable as error:
            raise _Retryable(
                error.kind,
                f"the embedding server at {self.urls[0]} is not answering embeddings: {error}",
                retry_after=error.retry_after,
            ) from None
        self._base64 = isinstance(probe[0], str)

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
        await asyncio.gather(
            *(self._embed_batch(texts, batch, counts, vectors, failed) for batch in batches)
        )
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
        self._metrics.concurrency = sum(limiter.in_flight for limiter in self._limiters)
        figures = self._metrics.snapshot()
        figures["concurrency_limit"] = sum(limiter.limit for limiter in self._limiters)
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
        except _BadInput as error:
            if len(batch.indices) == 1:
                failed[batch.indices[0]] = f"refused by the server: {error}"
                return
            # halve the request until the input the server refuses stands alone
            middle = len(batch.indices) // 2
            halves = [batch.indices[:middle], batch.indices[middle:]]
            await asyncio.gather(
                *(
                    self._embed_batch(
                        texts, _Batch(half, sum(counts[i] for i in half)), counts, vectors, failed
                    )
                    for half in halves
                )
            )
            return
        except _Retryable as error:
            if error.kind == "connect":
                # still unreachable after every retry: every other document would fail the
                # same way, so the run stops here, clearly, with what was committed kept
                raise EmbeddingServerUnavailable(
                    f"lost the embedding server(s) {', '.join(self.urls)}: {error}"
                ) from None
            reason = f"gave up after {self.max_attempts} attempts: {error}"
            for index in batch.indices:
                failed[index] = reason
            self._metrics.failure(error.kind)
            return
        for index, row in zip(batch.indices, rows, strict=True):
            if isinstance(row, str):
                failed[index] = row
            else:
                vectors[index] = row

    async def _send_with_retries(self, texts: list[str], tokens: int) -> list[FloatArray | str]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=_backoff,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=lambda state: self._metrics.retry(_kind_of(state)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                url_index = self._next_url
                self._next_url = (self._next_url + 1) % len(self.urls)
                return await self._send_once(url_index, texts, tokens)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _send_once(
        self, url_index: int, texts: list[str], tokens: int
    ) -> list[FloatArray | str]:
        limiter = self._limiters[url_index]
        await limiter.acquire()
        started = time.perf_counter()
        try:
            while True:
                try:
                    embeddings = await self._post(self.urls[url_index], texts)
                    break
                except _Capability:
                    continue  # the optional field is off now: the same request again
        except _Retryable as error:
            await limiter.release(latency=None, overloaded=error.overload)
            raise
        except BaseException:
            await limiter.release(latency=None)
            raise
        latency = time.perf_counter() - started
        await limiter.release(latency=latency)
        self._metrics.request(latency, inputs=len(texts), tokens=tokens)
        return [self._vector(embedding) for embedding in embeddings]

    # --- one HTTP request -------------------------------------------------------------------
    async def _post(self, url: str, texts: list[str]) -> list[Any]:
        body: dict[str, Any] = {"model": self.model, "input": texts}
        if self._send_dimensions:
            body["dimensions"] = self.dimension
        if self._base64:
            body["encoding_format"] = "base64"
        try:
            response = await self._client.post(f"{url}/embeddings", json=body)
        except httpx.TimeoutException as error:
            raise _Retryable("timeout", _describe(error), overload=True) from None
        except httpx.ConnectError as error:
            raise _Retryable("connect", _describe(error)) from None
        except httpx.TransportError as error:  # cut connections, protocol errors
            raise _Retryable("disconnect", _describe(error)) from None
        if response.status_code == 200:
            return self._parse(response, len(texts))
        message = _error_message(response)
        status = response.status_code
        if status == 429 or status == 503:
            raise _Retryable(
                str(status),
                f"{status}: {message}",
                retry_after=_retry_after(response),
                overload=True,
            )
        if status >= 500:
            raise _Retryable(str(status), f"{status}: {message}")
        if status in (400, 413, 422):
            lowered = message.lower()
            if self._send_dimensions and ("dimension" in lowered or "matryoshka" in lowered):
                self._send_dimensions = False  # truncate on our side from now on
                raise _Capability(message)
            if self._base64 and "encoding_format" in lowered:
                self._base64 = False
                raise _Capability(message)
            raise _BadInput(message)
        if status in (401, 403):
            raise EmbeddingError(
                f"the embedding server at {url} refused the API key ({status}): {message}; "
                "check RAGINDEX_EMBED_API_KEY"
            )
        raise EmbeddingError(f"the embedding server at {url} answered {status}: {message}")

    def _parse(self, response: httpx.Response, expected: int) -> list[Any]:
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: item["index"])
            embeddings = [item["embedding"] for item in ordered]
        except (ValueError, KeyError, TypeError) as error:
            raise _Retryable("malformed", f"malformed response ({error})") from None
        if len(embeddings) != expected or [item["index"] for item in ordered] != list(
            range(expected)
        ):
            raise _Retryable(
                "malformed", f"malformed response: {len(embeddings)} vectors for {expected} inputs"
            )
        return embeddings

    def _vector(self, embedding: Any) -> FloatArray | str:
        """Decode one embedding; a string return is the reason it was refused."""
        try:
            if isinstance(embedding, str):
                vector = np.frombuffer(base64.b64decode(embedding), dtype="<f4").astype(np.float32)
            else:
                vector = np.asarray(embedding, dtype=np.float32)
        except (ValueError, TypeError) as error:
            return f"undecodable vector ({error})"
        if vector.ndim != 1 or not np.isfinite(vector).all():
            return "the server returned a vector with NaN or infinite values"
        if vector.shape[0] < self.dimension:
            return f"the server returned {vector.shape[0]} dimensions, {self.dimension} expected"
        if vector.shape[0] > self.dimension:
            # Qwen3-Embedding is Matryoshka-trained: a prefix, renormalised, is a valid embedding
            vector = vector[: self.dimension]
        normalised: FloatArray = l2_normalise(vector[None, :])[0]
        return normalised


def _backoff(state: RetryCallState) -> float:
    """Full-jitter exponential backoff, but never sooner than the server's Retry-After."""
    jitter = wait_random_exponential(multiplier=0.5, max=_MAX_BACKOFF_S)(state)
    error = state.outcome.exception() if state.outcome else None
    retry_after = error.retry_after if isinstance(error, _Retryable) else 0.0
    return max(jitter, min(retry_after, _MAX_BACKOFF_S))


def _kind_of(state: RetryCallState) -> str:
    error = state.outcome.exception() if state.outcome else None
    return error.kind if isinstance(error, _Retryable) else "unknown"


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0  # an HTTP date instead of seconds: fall back to our own backoff


def _error_message(response: httpx.Response) -> str:
    """The message of SGLang/vLLM (`{"message": …}`) and OpenAI (`{"error": {"message": …}}`)
    error bodies, or the start of a plain-text body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict) and "message" in body["error"]:
            return str(body["error"]["message"])
        for key in ("message", "detail", "error"):
            if key in body:
                return str(body[key])
    return str(body)[:300]


def _describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
