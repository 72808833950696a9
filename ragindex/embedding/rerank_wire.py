"""The wire format of `POST <url>/rerank`, in the two shapes servers answer in.

Request (every server): `{"model", "query", "documents": [str]}`. SGLang's `V1RerankReqInput`
ignores `model` (one model per server) and also takes `instruct` (Qwen3-Reranker's task, sent
only to Qwen3-Reranker models: other APIs may refuse a field they do not know), `top_n` and
`return_documents`; Cohere, Jina, vLLM and Infinity need `model`. No `top_n` is sent: every
candidate's score is wanted.

Answers:
- SGLang (bge-reranker with `--is-embedding`, Qwen3-Reranker without it) and TEI: a bare list,
  most relevant first, `[{"index", "score", "document"?, "meta_info"?}]`.
- Cohere (v1, v2), Jina, vLLM, Infinity: `{"results": [{"index", "relevance_score",
  "document"?}], …}`; Voyage names the list `data`.
Scores only order the candidates: a cross-encoder's raw logit (bge) and a probability
(Qwen3-Reranker, Cohere) both do.

Errors arrive as SGLang's `{"object": "error", "message", "type", "code"}` (400 for an empty query
or document, an input past the context, a Qwen3-Reranker served with `--is-embedding`, or a body
that fails validation), Cohere's `{"message"}` or Jina's `{"detail"}`.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from ragindex.embedding.wire import (
    BadInput,
    Retryable,
    Server,
    describe,
    error_message,
    post_json,
    raise_if_retryable,
)
from ragindex.errors import RerankError

RERANK_SERVER = Server("rerank server", "RAGINDEX_RERANK_URL")


def body(
    model: str, query: str, documents: list[str], instruction: str | None = None
) -> dict[str, Any]:
    request: dict[str, Any] = {"model": model, "query": query, "documents": documents}
    if instruction:
        request["instruct"] = instruction
    return request


async def post(
    client: httpx.AsyncClient,
    url: str,
    model: str,
    query: str,
    documents: list[str],
    instruction: str | None = None,
) -> list[float]:
    """One request; the score of each document, in the documents' order. Raises `Retryable`
    (try again, maybe elsewhere), `BadInput` (the server refused what was sent) or
    `RerankError` (nothing a retry fixes)."""
    try:
        response = await post_json(
            client, url, "/rerank", body(model, query, documents, instruction), RERANK_SERVER
        )
    except httpx.RequestError as error:  # too many redirects, undecodable body: not transport
        raise RerankError(f"the rerank server at {url} failed: {describe(error)}") from None
    if response.status_code == 200:
        return parse(response, len(documents))
    raise_if_retryable(response)
    status = response.status_code
    message = error_message(response)
    if status in (400, 413, 422):
        raise BadInput(message)
    if status in (401, 403):
        raise RerankError(
            f"the rerank server at {url} refused the API key ({status}): {message}; "
            "check RAGINDEX_RERANK_API_KEY"
        )
    if status in (404, 405):
        raise RerankError(
            f"{url}/rerank is not a rerank endpoint ({status}): RAGINDEX_RERANK_URL is the "
            "base URL that `/rerank` is added to (SGLang: http://host:30000/v1)"
        )
    raise RerankError(f"the rerank server at {url} answered {status}: {message}")


def parse(response: httpx.Response, expected: int) -> list[float]:
    """The scores of either answer shape, in input order; every input scored exactly once."""
    try:
        answer = response.json()
        items = answer if isinstance(answer, list) else _result_list(answer)
        scores: list[float | None] = [None] * expected
        for item in items:
            index = item["index"]
            score = item["relevance_score"] if "relevance_score" in item else item["score"]
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError(f"index {index!r} is not an integer")
            if not 0 <= index < expected or scores[index] is not None:
                raise ValueError(f"index {index} out of range or repeated")
            value = float(score)
            if not math.isfinite(value):
                raise ValueError(f"score {value} of document {index} is not finite")
            scores[index] = value
    except (ValueError, KeyError, TypeError) as error:
        raise Retryable("malformed", f"malformed rerank response ({error})") from None
    missing = [index for index, score in enumerate(scores) if score is None]
    if missing:
        raise Retryable(
            "malformed",
            f"malformed rerank response: no score for {len(missing)} of {expected} documents",
        )
    return [score for score in scores if score is not None]


def _result_list(answer: Any) -> list[Any]:
    for key in ("results", "data"):
        if isinstance(answer, dict) and isinstance(answer.get(key), list):
            return list(answer[key])
    raise KeyError("results")
