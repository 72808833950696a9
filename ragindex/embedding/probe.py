"""The start-up check of an embedding server: is it there, does it take our key, what does it
support (base64, `dimensions`), and are its vectors the size the index wants.

Each replica is probed on its own: one that answers is used, one that does not is left to the
replica pool's cool-off; a wrong key, a refused probe or a vector of the wrong size is an error
of the settings, raised at once, before a single document is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from ragindex.embedding.wire import (
    BadInput,
    Capability,
    Retryable,
    WireFormat,
    raw_vector,
    unreachable,
)
from ragindex.errors import ConfigError, EmbeddingError

PROBE_TEXT = "ragindex capability probe"


async def probe_replica(
    client: httpx.AsyncClient,
    wire: WireFormat,
    url: str,
    *,
    attempts: int,
    on_retry: Callable[[str], None],
) -> bool:
    """Probe one replica; a stumble (a 5xx, a cut connection) gets a few more tries, an
    unreachable server none. Returns whether it answered in base64 (the caller turns
    `wire.base64` on before probing: older handlers ignore the field and send floats, some refuse
    it). Raises `Retryable` when it does not answer, `EmbeddingError` or `ConfigError` when it
    answers in a way no retry will fix."""
    for attempt in range(1, attempts + 1):
        try:
            return await _probe_once(client, wire, url)
        except Retryable as error:
            if error.kind == "connect" or attempt == attempts:
                raise
            on_retry(error.kind)
            await asyncio.sleep(max(error.retry_after, 0.25 * 2**attempt))
    raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover


async def _probe_once(client: httpx.AsyncClient, wire: WireFormat, url: str) -> bool:
    try:
        response = await client.get(f"{url}/models")
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        raise unreachable(url, error) from None
    except httpx.TransportError as error:
        raise Retryable(
            "disconnect", f"the embedding server at {url} dropped the connection"
        ) from error
    if response.status_code in (401, 403):
        raise EmbeddingError(
            f"the embedding server at {url} refused the API key ({response.status_code}); "
            "check RAGINDEX_EMBED_API_KEY"
        )
    embedding = None
    try:
        while embedding is None:
            try:
                embedding = (await wire.post(client, url, [PROBE_TEXT]))[0]
            except Capability:
                continue  # the refused field is off now: the same probe again
    except Retryable as error:
        raise Retryable(
            error.kind,
            f"the embedding server at {url} is not answering embeddings: {error}",
            retry_after=error.retry_after,
        ) from None
    except BadInput as error:
        raise EmbeddingError(
            f"the embedding server at {url} refused a test embedding: {error}"
        ) from None
    vector = wire.decode(embedding)
    if isinstance(vector, str):
        check_dimension(_length(embedding), wire, url)
        raise EmbeddingError(f"the embedding server at {url} answered a test embedding: {vector}")
    return isinstance(embedding, str)


def check_dimension(returned: int | None, wire: WireFormat, url: str) -> None:
    """A clear error for vectors of the wrong size; nothing when they fit."""
    if returned is None or returned == wire.dimension:
        return
    if returned < wire.dimension:
        raise ConfigError(
            f"the embedding server at {url} returns {returned}-d vectors; RAGINDEX_DIM asks for "
            f"{wire.dimension}: set RAGINDEX_DIM to {returned} or less"
        )
    if not wire.truncate:
        raise ConfigError(
            f"the embedding server at {url} returns {returned}-d vectors; RAGINDEX_DIM asks for "
            f"{wire.dimension}. Cutting them is right only for a Matryoshka-trained model: set "
            f"RAGINDEX_EMBED_MATRYOSHKA=true if it is one, or RAGINDEX_DIM={returned}"
        )


def _length(embedding: object) -> int | None:
    vector = raw_vector(embedding)
    return None if isinstance(vector, str) or vector.ndim != 1 else int(vector.shape[0])
