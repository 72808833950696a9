"""The rerank stage over real HTTP against the SGLang stand-in: settings reach the server, the
server's order comes back, a second URL takes over from a dead one, faults are retried, and a
reranker that cannot help leaves the fused order with a warning instead of an error."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sglang_standin import Faults, StandIn

from ragindex import Settings
from ragindex.config import DEFAULT_CODE_QUERY_TASK
from ragindex.embedding.rerank import HttpReranker, Reranked, RerankError
from ragindex.embedding.rerank_wire import parse
from ragindex.embedding.wire import Retryable
from ragindex.errors import ConfigError
from ragindex.factory import make_reranker
from ragindex.types import Hit

KEY = "rr-key-0ddba11c0ffee"
MODEL = "BAAI/bge-reranker-v2-m3"
QUERY = "how do cats sleep on warm mats"
# in fused order; the stand-in scores the share of the query's words each one holds
FUSED = [
    "Dogs bark at the mail carrier.",  # none of the query's words
    "Cats purr.",  # cats: 1 of 7
    "How do cats sleep on warm mats? Curled up.",  # all 7
    "Cats sleep a lot on mats.",  # cats, sleep, on, mats: 4 of 7
]
RERANKED = [FUSED[2], FUSED[3], FUSED[1], FUSED[0]]


def hits(texts: Sequence[str]) -> list[Hit]:
    return [
        Hit(
            score=1.0 / (rank + 1),
            source=f"notes/{rank}.md",
            chunk_index=0,
            text=text,
            kind="text",
            language="en",
            format="markdown",
            line_start=1,
            line_end=1,
        )
        for rank, text in enumerate(texts)
    ]


def dead_url() -> str:
    """A loopback URL where nothing listens: connections are refused, as to a server that died."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def rerank(settings: Settings, texts: Sequence[str] = FUSED, **options: Any) -> Reranked:
    async def run() -> Reranked:
        reranker = make_reranker(settings)
        assert isinstance(reranker, HttpReranker)
        try:
            return await reranker.rerank(QUERY, hits(texts), **options)
        finally:
            await reranker.aclose()

    return asyncio.run(run())


def texts_of(result: Reranked) -> list[str]:
    return [hit.text for hit in result.hits]


@pytest.fixture
def server() -> Iterator[StandIn]:
    with StandIn(api_key=KEY) as running:
        yield running


def settings_for(*urls: str, **overrides: Any) -> Settings:
    return Settings.load(rerank_url=",".join(urls), **{"rerank_model": MODEL, **overrides})


# --- wiring and order ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["sglang", "cohere"])
def test_settings_reach_the_server_and_its_order_comes_back(shape: Any) -> None:
    with StandIn(api_key=KEY, rerank_format=shape) as server:
        result = rerank(settings_for(server.url, rerank_api_key=KEY))
    assert server.rerank_requests == [{"model": MODEL, "query": QUERY, "documents": FUSED}]
    assert result.warning is None
    assert texts_of(result) == RERANKED
    assert result.scores == pytest.approx([7 / 7, 4 / 7, 1 / 7, 0.0])
    # each hit keeps its fused score; the reranker's is beside it
    assert [hit.score for hit in result.hits] == [1 / 3, 1 / 4, 1 / 2, 1.0]


@pytest.mark.parametrize("model", ["Qwen/Qwen3-Reranker-4B", MODEL])
def test_the_query_task_goes_only_to_a_reranker_that_reads_one(server: StandIn, model: str) -> None:
    settings = settings_for(server.url, rerank_api_key=KEY, rerank_model=model)
    result = rerank(settings, instruction=DEFAULT_CODE_QUERY_TASK)
    assert texts_of(result) == RERANKED
    sent = server.rerank_requests[0]
    if "Qwen3" in model:  # SGLang hands it to Qwen3-Reranker's chat template as `instruct`
        assert sent["instruct"] == DEFAULT_CODE_QUERY_TASK
    else:  # Cohere, Jina and bge know no such field
        assert "instruct" not in sent


def test_no_url_means_no_rerank_stage() -> None:
    assert make_reranker(Settings.load()) is None


def test_only_the_candidates_are_reranked_and_the_rest_follow_in_fused_order(
    server: StandIn,
) -> None:
    result = rerank(settings_for(server.url, rerank_api_key=KEY, rerank_candidates=2))
    assert server.rerank_requests[0]["documents"] == FUSED[:2]
    # the two candidates swap; the two after them keep their place, however well they match
    assert texts_of(result) == [FUSED[1], FUSED[0], FUSED[2], FUSED[3]]
    assert result.scores == pytest.approx([1 / 7, 0.0, None, None])


def test_blank_candidates_are_not_sent_and_go_last(server: StandIn) -> None:
    texts = [FUSED[0], "   \n", FUSED[2]]
    result = rerank(settings_for(server.url, rerank_api_key=KEY), texts)
    assert server.rerank_requests[0]["documents"] == [FUSED[0], FUSED[2]]
    assert result.warning is None
    assert texts_of(result) == [FUSED[2], FUSED[0], "   \n"]
    assert result.scores[2] is None


# --- several URLs, faults -----------------------------------------------------------------------
def test_a_dead_url_is_left_for_the_next_one(server: StandIn) -> None:
    settings = settings_for(dead_url(), server.url, rerank_api_key=KEY)

    async def run() -> tuple[list[Reranked], dict[str, float]]:
        reranker = make_reranker(settings)
        assert isinstance(reranker, HttpReranker)
        try:
            results = [await reranker.rerank(QUERY, hits(FUSED)) for _ in range(2)]
            return results, reranker.metrics()
        finally:
            await reranker.aclose()

    results, metrics = asyncio.run(run())
    for result in results:
        assert result.warning is None and texts_of(result) == RERANKED
    assert len(server.rerank_requests) == 2
    # the dead URL was tried first (it is listed first) and then left out
    assert metrics["retries_connect"] >= 1 and metrics["replicas_up"] == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_are_retried(status: Any) -> None:
    faults = Faults(fail_first=2, fail_status=status, retry_after_s=0.01)
    with StandIn(faults=faults) as server:
        result = rerank(settings_for(server.url, rerank_max_attempts=3))
    assert result.warning is None and texts_of(result) == RERANKED
    assert len(server.rerank_requests) == 3


def test_a_dead_reranker_leaves_the_fused_order_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(dead_url(), dead_url(), rerank_api_key=KEY)
    with caplog.at_level(logging.WARNING):
        result = rerank(settings)
    assert texts_of(result) == FUSED and result.scores == [None] * len(FUSED)
    assert result.warning is not None
    assert "cannot reach the rerank server" in result.warning
    assert "RAGINDEX_RERANK_URL" in result.warning
    assert result.warning in caplog.text
    assert KEY not in result.warning + caplog.text
    # an evaluation asks to be told instead
    with pytest.raises(RerankError, match="cannot reach the rerank server"):
        rerank(settings, strict=True)


def test_a_server_that_keeps_failing_is_given_up_on_after_its_attempts() -> None:
    with StandIn(faults=Faults(error_503=1.0)) as server:
        result = rerank(settings_for(server.url, rerank_max_attempts=3))
    assert texts_of(result) == FUSED
    assert result.warning is not None and "gave up after 3 attempts: 503" in result.warning
    assert len(server.rerank_requests) == 3


def test_cut_connections_are_retried_then_given_up_on() -> None:
    with StandIn(faults=Faults(cut=1.0)) as server:
        result = rerank(settings_for(server.url, rerank_max_attempts=2))
    assert texts_of(result) == FUSED
    assert result.warning is not None and "gave up after 2 attempts" in result.warning
    assert len(server.rerank_requests) == 2


def test_a_stalled_server_is_not_waited_for_past_the_deadline() -> None:
    with StandIn(faults=Faults(stall=1.0, stall_s=30.0)) as server:
        result = rerank(settings_for(server.url, rerank_timeout_s=0.5))
    assert texts_of(result) == FUSED
    assert result.warning is not None and "did not answer within 0.5 s" in result.warning


def test_a_refused_request_is_not_retried_and_says_why() -> None:
    # a 400 depends on this query's candidates (one past the model's context here): the fused
    # order is still a right answer, so the search goes on, with the server's reason
    with StandIn(context_tokens=40) as server:
        texts = [*FUSED, "cats " * 60]
        result = rerank(settings_for(server.url), texts)
        with pytest.raises(RerankError, match="longer than the model's context length"):
            rerank(settings_for(server.url), texts, strict=True)
    assert texts_of(result) == texts
    assert result.warning is not None
    assert "refused the request: The input (" in result.warning
    assert len(server.rerank_requests) == 2  # one per call: no retry


def test_a_wrong_key_or_url_names_the_setting_and_never_the_key(server: StandIn) -> None:
    wrong = "rr-wrong-123456789"
    result = rerank(settings_for(server.url, rerank_api_key=wrong))
    assert result.warning is not None and "RAGINDEX_RERANK_API_KEY" in result.warning
    assert wrong not in result.warning
    result = rerank(settings_for(server.url + "/models", rerank_api_key=KEY))
    assert result.warning is not None and "is not a rerank endpoint (404)" in result.warning


def test_bad_rerank_settings_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="RAGINDEX_RERANK_URL"):
        make_reranker(Settings.load(rerank_url="localhost:30000"))
    # a rerank URL from a settings file is sent no key from elsewhere
    config = tmp_path / "config.toml"
    config.write_text('rerank_url = "http://elsewhere.example/v1"\n', encoding="utf-8")
    monkeypatch.setenv("RAGINDEX_RERANK_API_KEY", KEY)
    with pytest.raises(ConfigError, match="rerank_api_key") as refused:
        Settings.load(config)
    assert KEY not in str(refused.value)


# --- the wire -----------------------------------------------------------------------------------
def test_the_stand_in_checks_and_answers_as_sglang(server: StandIn) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    url = f"{server.url}/rerank"
    for body, message in [
        ({"query": " ", "documents": ["a"]}, "Query cannot be empty or whitespace only"),
        ({"query": "q", "documents": []}, "Documents cannot be empty"),
        ({"query": "q", "documents": ["a", " "]}, "Each document cannot be empty"),
        ({"query": "q"}, "Field required"),
        ({"query": "q", "documents": ["a"], "top_n": 0}, "top_n should be larger than 0"),
    ]:
        response = httpx.post(url, json=body, headers=headers)
        assert response.status_code == 400
        assert response.json()["object"] == "error" and message in response.json()["message"]
    body = {"query": "cats", "documents": ["dogs", "cats"], "top_n": 1, "return_documents": False}
    assert httpx.post(url, json=body, headers=headers).json() == [
        {"score": 1.0, "index": 1, "meta_info": {}}
    ]


@pytest.mark.parametrize(
    "answer",
    [
        [{"index": 1, "score": 0.9}, {"index": 0, "score": -2.5}],  # SGLang, TEI
        {"results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": -2.5}]},
        {"data": [{"index": 0, "relevance_score": -2.5}, {"index": 1, "relevance_score": 0.9}]},
    ],
)
def test_both_answer_shapes_give_scores_in_input_order(answer: Any) -> None:
    assert parse(httpx.Response(200, json=answer), 2) == [-2.5, 0.9]


@pytest.mark.parametrize(
    "answer",
    [
        [{"index": 0, "score": 0.9}],  # a document left unscored
        [{"index": 0, "score": 0.9}, {"index": 0, "score": 0.1}],  # one scored twice
        [{"index": 0, "score": 0.9}, {"index": 5, "score": 0.1}],
        [{"index": 0, "score": "NaN"}, {"index": 1, "score": 0.1}],
        {"answer": []},
    ],
)
def test_malformed_answers_are_retryable(answer: Any) -> None:
    with pytest.raises(Retryable, match="malformed"):
        parse(httpx.Response(200, json=answer), 2)
