"""The stand-in's `POST /v1/rerank`: SGLang's request checks and messages, a deterministic
scorer, and the two answer shapes (SGLang's bare list, Cohere/Jina's `{"results": …}`).

As SGLang (`serving_rerank.py`, `protocol.py`'s `V1RerankReqInput`): the body is validated first
(a 400 with pydantic's complaint, not FastAPI's 422: SGLang's handler turns validation errors into
400s), then `_validate_request`'s checks with its messages; `model` is ignored; the answer is
`[{"score", "document", "index", "meta_info"}]` sorted by score, highest first, cut to `top_n`,
`document` left out when `return_documents` is false.

The score of a document is the share of the query's words it contains, so that a test can
predict the order: a document with more of the query's words ranks higher; ties keep the
documents' order (the sort is stable).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

RerankFormat = Literal["sglang", "cohere"]
_WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def overlap_score(query: str, document: str) -> float:
    """The share of the query's distinct words found in the document (0 to 1)."""
    wanted = words(query)
    return len(wanted & words(document)) / len(wanted) if wanted else 0.0


def problem(request: Any) -> str | None:
    """SGLang's complaint about a rerank body, or None when it is accepted."""
    if not isinstance(request, dict):
        return "1 validation error for V1RerankReqInput: Input should be a valid dictionary"
    for name in ("query", "documents"):
        if name not in request:
            return f"1 validation error for V1RerankReqInput\n{name}\n  Field required"
    query, documents = request["query"], request["documents"]
    if not isinstance(query, str):
        return "1 validation error for V1RerankReqInput\nquery\n  Input should be a valid string"
    if not isinstance(documents, list) or not all(isinstance(doc, str) for doc in documents):
        return (
            "1 validation error for V1RerankReqInput\ndocuments\n"
            "  Input should be a valid list of strings"
        )
    top_n = request.get("top_n")
    if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
        return (
            "1 validation error for V1RerankReqInput\ntop_n\n"
            "  Value error, parameter top_n should be larger than 0."
        )
    # `_validate_request`, word for word
    if not query:
        return "Query cannot be empty"
    if not query.strip():
        return "Query cannot be empty or whitespace only"
    if not documents:
        return "Documents cannot be empty"
    for document in documents:
        if not document:
            return "Each document must be a non-empty string"
        if not document.strip():
            return "Each document cannot be empty or whitespace only"
    return None


def answer(request: dict[str, Any], scores: list[float], shape: RerankFormat, model: str) -> bytes:
    """The answer body: documents most relevant first, cut to `top_n`."""
    documents: list[str] = request["documents"]
    ranked = sorted(range(len(documents)), key=lambda index: -scores[index])
    top_n = request.get("top_n")
    if top_n is not None:
        ranked = ranked[:top_n]
    with_documents = request.get("return_documents", True)
    if shape == "cohere":
        results: list[dict[str, Any]] = []
        for index in ranked:
            result: dict[str, Any] = {"index": index, "relevance_score": scores[index]}
            if with_documents:
                result["document"] = {"text": documents[index]}
            results.append(result)
        return json.dumps(
            {"id": "rerank-standin", "model": model, "results": results, "usage": {}}
        ).encode()
    items: list[dict[str, Any]] = []
    for index in ranked:
        item: dict[str, Any] = {"score": scores[index], "index": index, "meta_info": {}}
        if with_documents:
            item["document"] = documents[index]
        items.append(item)
    return json.dumps(items).encode()
