"""The wire format of `/v1/embeddings` (SGLang, vLLM, TEI, Infinity, OpenAI): the request body,
the response, the error bodies, and what each HTTP outcome means for the caller.

Outcomes are sorted into the few kinds a caller acts on differently: `Retryable` (try again,
maybe elsewhere), `BadInput` (split the request to find the culprit), `Capability` (an optional
field was refused: it is off now, send again) and `EmbeddingError` (nothing to retry: a wrong key,
an unexpected status).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson
import pybase64

from ragindex.embedding.base import failed_rows, l2_normalise
from ragindex.errors import EmbeddingError
from ragindex.types import FloatArray


@dataclass(frozen=True)
class Server:
    """What a kind of server is called in messages, and the setting that names its URL."""

    name: str
    url_variable: str


EMBEDDING_SERVER = Server("embedding server", "RAGINDEX_EMBED_URL")
_JSON_CONTENT = {"Content-Type": "application/json"}


class Retryable(Exception):
    """A failure worth another attempt: overload, server error, timeout, cut connection, or a
    replica that cannot be reached (`kind == "connect"`: another replica may take the request)."""

    def __init__(
        self, kind: str, message: str, *, retry_after: float = 0.0, overload: bool = False
    ):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.overload = overload


class BadInput(Exception):
    """The server refused something inside the request: split it to find the culprit."""


class Capability(Exception):
    """The server refused an optional field (dimensions, encoding_format): drop it, try again."""


@dataclass
class WireFormat:
    """How requests are written and answers read; the optional fields switch off for good the
    first time a server refuses them."""

    model: str
    dimension: int
    send_dimensions: bool
    # whether vectors longer than `dimension` may be cut to it (Matryoshka-trained models only:
    # a prefix of any other model's vector is not an embedding)
    truncate: bool
    base64: bool = False

    def body(self, texts: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "input": texts}
        if self.send_dimensions:
            body["dimensions"] = self.dimension
        if self.base64:
            body["encoding_format"] = "base64"
        return body

    async def post(self, client: httpx.AsyncClient, url: str, texts: list[str]) -> list[Any]:
        """One request; the raw embeddings (base64 strings or float lists) in input order."""
        response = await post_json(client, url, "/embeddings", self.body(texts))
        if response.status_code == 200:
            return parse(response, len(texts))
        self._raise_for(response, url)
        raise AssertionError("unreachable: every status raises")  # pragma: no cover

    def _raise_for(self, response: httpx.Response, url: str) -> None:
        raise_if_retryable(response)
        message = error_message(response)
        status = response.status_code
        if status in (400, 413, 422):
            lowered = message.lower()
            if self.send_dimensions and ("dimension" in lowered or "matryoshka" in lowered):
                self.send_dimensions = False  # the vectors come back whole: cut on our side
                raise Capability(message)
            if self.base64 and "encoding_format" in lowered:
                self.base64 = False
                raise Capability(message)
            raise BadInput(message)
        if status in (401, 403):
            raise EmbeddingError(
                f"the embedding server at {url} refused the API key ({status}): {message}; "
                "check RAGINDEX_EMBED_API_KEY"
            )
        raise EmbeddingError(f"the embedding server at {url} answered {status}: {message}")

    def decode(self, embedding: Any) -> FloatArray | str:
        """One embedding as a unit float32 vector of `dimension`; a string return is the reason
        it was refused."""
        vector = raw_vector(embedding)
        if isinstance(vector, str):
            return vector
        if vector.ndim != 1 or not np.isfinite(vector).all():
            return "the server returned a vector with NaN or infinite values"
        if vector.shape[0] < self.dimension or (
            vector.shape[0] > self.dimension and not self.truncate
        ):
            return f"the server returned {vector.shape[0]} dimensions, {self.dimension} expected"
        # a Matryoshka model's prefix, renormalised, is a valid embedding of that size
        normalised: FloatArray = l2_normalise(vector[None, : self.dimension])[0]
        return normalised

    def decode_all(self, embeddings: list[Any]) -> tuple[FloatArray, dict[int, str]]:
        """A response's embeddings as one matrix of unit float32 rows of `dimension`, and the
        reasons of the rows refused (their rows are left NaN). Same-sized base64 vectors, what
        servers send, are decoded and checked as one array: per-vector NumPy calls cost the
        event loop's thread more than the decoding itself."""
        matrix = _same_sized_base64(embeddings)
        if matrix is None:
            return self._decode_each(embeddings)
        width = matrix.shape[1]
        if width < self.dimension or (width > self.dimension and not self.truncate):
            reason = f"the server returned {width} dimensions, {self.dimension} expected"
            return failed_rows(len(embeddings), self.dimension), dict.fromkeys(
                range(len(embeddings)), reason
            )
        finite = np.isfinite(matrix).all(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # the rows refused just below
            vectors = l2_normalise(matrix[:, : self.dimension])
        if finite.all():
            return vectors, {}
        vectors[~finite] = np.nan
        reason = "the server returned a vector with NaN or infinite values"
        return vectors, {int(row): reason for row in np.flatnonzero(~finite)}

    def _decode_each(self, embeddings: list[Any]) -> tuple[FloatArray, dict[int, str]]:
        vectors = failed_rows(len(embeddings), self.dimension)
        failed: dict[int, str] = {}
        for row, embedding in enumerate(embeddings):
            decoded = self.decode(embedding)
            if isinstance(decoded, str):
                failed[row] = decoded
            else:
                vectors[row] = decoded
        return vectors, failed


def _same_sized_base64(embeddings: list[Any]) -> FloatArray | None:
    """The base64 vectors as one float32 matrix; None unless all are base64 of one size."""
    if not embeddings or not all(isinstance(embedding, str) for embedding in embeddings):
        return None
    try:
        raw = [pybase64.b64decode(embedding, validate=True) for embedding in embeddings]
    except ValueError:  # binascii.Error: one of them is not base64; each is reported alone
        return None
    size = len(raw[0])
    if size == 0 or size % 4 or any(len(vector) != size for vector in raw):
        return None
    matrix: FloatArray = np.frombuffer(b"".join(raw), dtype="<f4").reshape(len(raw), size // 4)
    return matrix.astype(np.float32, copy=False)


def raw_vector(embedding: Any) -> FloatArray | str:
    try:
        if isinstance(embedding, str):
            return np.frombuffer(base64.b64decode(embedding), dtype="<f4").astype(np.float32)
        return np.asarray(embedding, dtype=np.float32)
    except (ValueError, TypeError) as error:
        return f"undecodable vector ({error})"


def parse(response: httpx.Response, expected: int) -> list[Any]:
    """The embeddings of an OpenAI-style list answer, checked to match the inputs one to one."""
    try:
        data = _json(response.content)["data"]
        ordered = sorted(data, key=lambda item: item["index"])
        embeddings = [item["embedding"] for item in ordered]
    except (ValueError, KeyError, TypeError) as error:
        raise Retryable("malformed", f"malformed response ({error})") from None
    if len(embeddings) != expected or [item["index"] for item in ordered] != list(range(expected)):
        raise Retryable(
            "malformed", f"malformed response: {len(embeddings)} vectors for {expected} inputs"
        )
    return embeddings


def _json(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        # Python servers may write a NaN vector as NaN, which is not JSON: read it anyway, so
        # that the vector is refused alone (`decode`) instead of the whole answer
        return json.loads(content)


def retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0  # an HTTP date instead of seconds: fall back to our own backoff


def error_message(response: httpx.Response) -> str:
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


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    path: str,
    body: dict[str, Any],
    server: Server = EMBEDDING_SERVER,
) -> httpx.Response:
    """POST `body` to `url + path`; transport failures as `Retryable`, any status returned."""
    try:
        content = orjson.dumps(body)
    except TypeError as error:  # a lone surrogate: no server can read it, whoever sends it
        raise BadInput(f"a text is not valid Unicode ({error})") from None
    try:
        return await client.post(f"{url}{path}", content=content, headers=_JSON_CONTENT)
    # a connect timeout is an unreachable host, not a slow server: it must take the replica
    # out like a refused connection, so it is caught before the other timeouts
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        raise unreachable(url, error, server) from None
    except httpx.TimeoutException as error:
        raise Retryable("timeout", describe(error), overload=True) from None
    except httpx.TransportError as error:  # cut connections, protocol errors
        raise Retryable("disconnect", describe(error)) from None


def raise_if_retryable(response: httpx.Response) -> None:
    """429 and 503 (overload, with the server's Retry-After) and other 5xx as `Retryable`."""
    status = response.status_code
    if status in (429, 503):
        raise Retryable(
            str(status),
            f"{status}: {error_message(response)}",
            retry_after=retry_after(response),
            overload=True,
        )
    if status >= 500:
        raise Retryable(str(status), f"{status}: {error_message(response)}")


def http_client(*, api_key: str | None, timeout_s: float, connections: int) -> httpx.AsyncClient:
    """The client of a set of servers: the key as a bearer token, a short connect timeout (an
    unreachable host is known fast), and as many kept-alive connections as requests in flight."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def unreachable(url: str, error: httpx.HTTPError, server: Server = EMBEDDING_SERVER) -> Retryable:
    """A refused connection or a connect timeout: the host is not there (the replica is out)."""
    return Retryable(
        "connect",
        f"cannot reach the {server.name} at {url} ({describe(error)}); is it running, and is "
        f"{server.url_variable} right?",
    )


def describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
