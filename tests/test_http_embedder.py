"""Embedding through an SGLang-compatible server over real HTTP: the requests it receives, the
faults it throws, and what the index looks like afterwards."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sglang_standin import CEILING, H100, Faults, StandIn

from ragindex import Index, Settings
from ragindex.config import DEFAULT_CODE_QUERY_TASK, DEFAULT_QUERY_TASK
from ragindex.embedding.http import HttpEmbedder
from ragindex.errors import ConfigError, EmbeddingError, EmbeddingServerUnavailable


@pytest.fixture
def server() -> Iterator[StandIn]:
    # USE vectors behind a Qwen3 name: requests look like production, results stay meaningful
    with StandIn(vectors="use", native_dimension=512) as running:
        yield running


def http_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    return Settings.load(home=tmp_path / "home", embed_url=url, dim=512, **overrides)


def many_files(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"note_{i:03}.md").write_text(
            f"# Note {i}\n\n" + " ".join(f"word{i}_{j}" for j in range(120 + i % 50)) + "\n",
            encoding="utf-8",
        )
    return folder


def test_ingest_and_search_through_the_server(
    server: StandIn, tmp_path: Path, corpus: Path
) -> None:
    with Index.open(http_settings(tmp_path, server.url)) as index:
        report = index.ingest([corpus])
        assert report.ok and report.chunks > 0
        stats = index.stats()
        assert stats["model"] == "Qwen/Qwen3-Embedding-4B" and stats["dimension"] == 512
        assert stats["embedder"]["inputs"] >= report.chunks
        hits = index.search("猫坐在垫子上", k=3)
        assert Path(hits[0].source).name == "猫.txt"
    embedded = [text for body in server.requests for text in body["input"]]
    # documents go out bare, batched: far fewer requests than chunks
    assert not any(text.startswith("Instruct:") for text in embedded[:-1])
    assert len(server.requests) < report.chunks / 3
    assert all(body["dimensions"] == 512 for body in server.requests)


def test_queries_carry_the_instruction_and_documents_do_not(
    server: StandIn, tmp_path: Path, corpus: Path
) -> None:
    with Index.open(http_settings(tmp_path, server.url)) as index:
        index.ingest([corpus / "code"])
        server.reset_counters()
        index.search("read a JSON config file", k=2, filters={"kind": "code"})
        index.search("where do cats sleep", k=2)
    code_query, general_query = (body["input"][0] for body in server.requests)
    assert code_query == f"Instruct: {DEFAULT_CODE_QUERY_TASK}\nQuery:read a JSON config file"
    assert general_query == f"Instruct: {DEFAULT_QUERY_TASK}\nQuery:where do cats sleep"


def test_cli_search_sends_the_instruction(server: StandIn, tmp_path: Path, corpus: Path) -> None:
    env = {
        **os.environ,
        "RAGINDEX_HOME": str(tmp_path / "home"),
        "RAGINDEX_EMBED_URL": server.url,
        "RAGINDEX_DIM": "512",
    }
    command = [sys.executable, "-m", "ragindex.cli"]
    subprocess.run(
        [*command, "ingest", str(corpus / "prose")], env=env, check=True, capture_output=True
    )
    server.reset_counters()
    result = subprocess.run(
        [*command, "search", "猫坐在垫子上", "--k", "1"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "猫.txt" in result.stdout
    assert server.requests[-1]["input"] == [f"Instruct: {DEFAULT_QUERY_TASK}\nQuery:猫坐在垫子上"]


def test_faults_are_retried_and_every_chunk_lands_exactly_once(
    tmp_path: Path, corpus: Path
) -> None:
    folder = many_files(corpus / "generated", 120)
    faults = Faults(error_500=0.10, error_429=0.05, cut=0.02, retry_after_s=0.01)
    with StandIn(faults=faults, seed=7) as flaky, StandIn(seed=7) as clean:
        settings = http_settings(tmp_path, flaky.url, embed_max_inputs=8, embed_max_attempts=12)
        with Index.open(settings) as index:
            report = index.ingest([folder])
            stats = index.stats()
            documents = index.documents()
        with Index.open(http_settings(tmp_path / "clean", clean.url, embed_max_inputs=8)) as ref:
            reference = ref.ingest([folder])
    assert report.ok, report.failed
    assert len(report.indexed) == 120 and report.chunks == reference.chunks
    assert stats["chunks"] == reference.chunks == sum(record.chunks for record in documents)
    retries = stats["embedder"]
    assert retries["retries"] > 0 and retries.get("retries_500", 0) > 0
    assert retries.get("retries_429", 0) > 0 and retries.get("retries_disconnect", 0) > 0


def test_server_down_fails_fast_and_leaves_the_index_as_it_was(
    server: StandIn, tmp_path: Path, corpus: Path
) -> None:
    env = {
        **os.environ,
        "RAGINDEX_HOME": str(tmp_path / "home"),
        "RAGINDEX_EMBED_URL": server.url,
        "RAGINDEX_DIM": "512",
    }
    command = [sys.executable, "-m", "ragindex.cli"]
    subprocess.run([*command, "ingest", str(corpus)], env=env, check=True, capture_output=True)
    with Index.open(Settings.load(home=tmp_path / "home", embed_url=server.url, dim=512)) as index:
        before = (index.stats()["chunks"], index.documents())
    server.stop()
    (corpus / "prose" / "en" / "tea.md").write_text("# Changed\n\nCoffee now.\n", encoding="utf-8")
    started = time.monotonic()
    result = subprocess.run(
        [*command, "ingest", str(corpus)], env=env, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "cannot reach the embedding server" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 60  # no retrying for minutes against a server that is not there
    with Index.open(Settings.load(home=tmp_path / "home", embed_url=server.url, dim=512)) as index:
        after = (index.stats()["chunks"], index.documents())
    assert after == before  # same chunks, same manifest: tea.md still at its old version


async def test_inputs_the_server_refuses_are_isolated_and_the_rest_embedded() -> None:
    with StandIn(context_tokens=64) as small:
        embedder = HttpEmbedder(urls=[small.url], model="Qwen/Qwen3-Embedding-4B", dimension=64)
        texts = ["short text one", "word " * 200, "short text two", "short text three"]
        result = await embedder.embed_documents(texts)
        await embedder.aclose()
    assert set(result.failed) == {1}
    assert "longer than the model's context length (64 tokens)" in result.failed[1]
    assert np.isnan(result.vectors[1]).all()
    assert np.isfinite(result.vectors[[0, 2, 3]]).all()


async def test_old_server_that_ignores_dimensions_gets_truncated_vectors() -> None:
    with StandIn(dimensions_mode="ignore") as old:
        embedder = HttpEmbedder(urls=[old.url], model="Qwen/Qwen3-Embedding-4B", dimension=256)
        result = await embedder.embed_documents(["a text", "another text"])
        await embedder.aclose()
    assert result.vectors.shape == (2, 256)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    assert all(len(body["input"]) for body in old.requests)


async def test_server_refusing_dimensions_is_handled_on_the_client() -> None:
    with StandIn(dimensions_mode="reject") as strict:
        embedder = HttpEmbedder(urls=[strict.url], model="Qwen/Qwen3-Embedding-4B", dimension=128)
        result = await embedder.embed_documents(["some text"])
        await embedder.aclose()
    assert not result.failed and result.vectors.shape == (1, 128)
    assert "dimensions" not in strict.requests[-1]


async def test_base64_is_used_only_where_the_server_supports_it() -> None:
    for supported in (True, False):
        with StandIn(base64_supported=supported) as running:
            embedder = HttpEmbedder(urls=[running.url], model="Qwen/Qwen3-Embedding-4B")
            result = await embedder.embed_documents(["one", "two"])
            await embedder.aclose()
        assert result.vectors.shape == (2, 2560) and not result.failed
        sent_base64 = running.requests[-1].get("encoding_format") == "base64"
        assert sent_base64 is supported


async def test_retry_after_is_honoured() -> None:
    with StandIn(faults=Faults(error_429=1.0, retry_after_s=0.4)) as limited:
        embedder = HttpEmbedder(urls=[limited.url], model="Qwen/Qwen3-Embedding-4B", max_attempts=3)
        embedder._checked = True  # skip the probe: every request of this server is refused
        result = await embedder.embed_documents(["a"])
        await embedder.aclose()
    assert "gave up after 3 attempts: 429" in result.failed[0]
    gaps = np.diff(limited.request_times)
    assert len(gaps) == 2 and (gaps >= 0.4).all()


async def test_inputs_per_request_stay_below_the_servers_running_requests() -> None:
    # a request with more inputs than --max-running-requests hangs SGLang (#22518)
    with StandIn(max_running_requests=16) as capped:
        embedder = HttpEmbedder(
            urls=[capped.url], model="Qwen/Qwen3-Embedding-4B", max_inputs=8, timeout_s=20
        )
        result = await embedder.embed_documents([f"text {i}" for i in range(100)])
        await embedder.aclose()
    assert not result.failed
    assert max(len(body["input"]) for body in capped.requests) <= 8


async def test_several_replicas_share_the_load() -> None:
    with StandIn() as first, StandIn() as second:
        embedder = HttpEmbedder(
            urls=[first.url, second.url], model="Qwen/Qwen3-Embedding-4B", max_inputs=4
        )
        result = await embedder.embed_documents([f"text {i}" for i in range(64)])
        await embedder.aclose()
    assert not result.failed
    assert len(first.requests) >= 4 and len(second.requests) >= 4


async def test_a_gpu_server_gets_more_concurrency_than_the_start() -> None:
    with StandIn(profile=H100) as gpu:
        embedder = HttpEmbedder(
            urls=[gpu.url], model="Qwen/Qwen3-Embedding-4B", batch_tokens=2048, max_inputs=64
        )
        texts = [f"passage {i} " + "lorem ipsum dolor " * 40 for i in range(600)]
        result = await embedder.embed_documents(texts)
        limit = embedder.metrics()["concurrency_limit"]
        await embedder.aclose()
    assert not result.failed
    assert limit > 4  # it started at 4 and grew while latency stayed low


def test_ceiling_profile_exists_for_benchmarks() -> None:
    assert CEILING.tokens_per_s is None and H100.tokens_per_s == 60_000


async def test_the_start_up_check_rides_out_a_flaky_server() -> None:
    # a cut connection or a 500 on the very first request must not abort the whole ingest
    with StandIn(faults=Faults(error_500=0.5, cut=0.3), seed=1) as flaky:
        embedder = HttpEmbedder(urls=[flaky.url], model="Qwen/Qwen3-Embedding-4B")
        await embedder.check()
        retries = embedder.metrics()["retries"]
        await embedder.aclose()
    assert retries >= 1


# --- the start-up check: what the server returns must fit what the index wants ------------------
@pytest.mark.parametrize("mode", ["ignore", "matryoshka"])
async def test_the_check_refuses_fewer_dimensions_than_asked(mode: str) -> None:
    # a 2560-d model and RAGINDEX_DIM=4096: an older server ignores `dimensions`, a newer one
    # refuses a size it cannot cut to; either way one clear error before any document
    with StandIn(dimensions_mode=mode) as running:  # type: ignore[arg-type]
        embedder = HttpEmbedder(urls=[running.url], model="Qwen/Qwen3-Embedding-4B", dimension=4096)
        with pytest.raises(ConfigError) as raised:
            await embedder.check()
        await embedder.aclose()
    assert "returns 2560-d vectors; RAGINDEX_DIM asks for 4096" in str(raised.value)


async def test_longer_vectors_are_cut_only_for_a_matryoshka_model() -> None:
    # a model ragindex does not know, which refuses `dimensions` and answers 768-d vectors
    with StandIn(model="acme/embed-base", native_dimension=768, dimensions_mode="reject") as acme:
        plain = HttpEmbedder(urls=[acme.url], model="acme/embed-base", dimension=512)
        with pytest.raises(ConfigError) as raised:
            await plain.check()
        await plain.aclose()
        settings = Settings.load(
            embed_url=acme.url, embed_model="acme/embed-base", dim=512, embed_matryoshka=True
        )
        told = HttpEmbedder.from_settings(settings)
        result = await told.embed_documents(["one text", "another text"])
        await told.aclose()
    assert "RAGINDEX_EMBED_MATRYOSHKA=true" in str(raised.value)
    assert "RAGINDEX_DIM=768" in str(raised.value)
    assert not result.failed and result.vectors.shape == (2, 512)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)


async def test_a_qwen3_model_is_cut_on_the_client_without_being_told() -> None:
    with StandIn(dimensions_mode="ignore") as old:
        embedder = HttpEmbedder(urls=[old.url], model="Qwen/Qwen3-Embedding-4B", dimension=1024)
        await embedder.check()
        vector = await embedder.embed_query("a query")
        await embedder.aclose()
    assert vector.shape == (1024,)


async def test_a_check_the_server_refuses_is_an_embedding_error_with_its_message() -> None:
    # a context too small for even the probe (a misconfigured server) answers 400
    with StandIn(context_tokens=2) as tiny:
        embedder = HttpEmbedder(urls=[tiny.url], model="Qwen/Qwen3-Embedding-4B")
        with pytest.raises(EmbeddingError) as raised:
            await embedder.check()
        await embedder.aclose()
    assert "longer than the model's context length (2 tokens)" in str(raised.value)


async def test_the_api_key_never_appears_in_an_error() -> None:
    secret = "sk-never-print-this-0123456789"
    with StandIn(api_key="the-right-key") as guarded:
        embedder = HttpEmbedder(urls=[guarded.url], model="Qwen/Qwen3-Embedding-4B", api_key=secret)
        with pytest.raises(EmbeddingError) as refused:
            await embedder.check()
        await embedder.aclose()
    guarded.stop()
    gone = HttpEmbedder(urls=[guarded.url], model="Qwen/Qwen3-Embedding-4B", api_key=secret)
    with pytest.raises(EmbeddingServerUnavailable) as unreachable:
        await gone.check()
    await gone.aclose()
    assert "RAGINDEX_EMBED_API_KEY" in str(refused.value)
    for error in (refused.value, unreachable.value):
        assert secret not in str(error) and secret not in repr(error)


# --- a server that dies for good in the middle of a call ---------------------------------------
async def test_a_server_dying_mid_call_raises_one_error_and_leaves_no_request_behind() -> None:
    # it vanishes on its third embeddings request (the probe is the first), with requests of
    # the same call in flight and more waiting
    with StandIn(die_after=3) as dying:
        embedder = HttpEmbedder(
            urls=[dying.url], model="Qwen/Qwen3-Embedding-4B", max_inputs=2, max_attempts=3
        )
        with pytest.raises(EmbeddingServerUnavailable) as raised:
            await embedder.embed_documents([f"text number {i}" for i in range(60)])
        left_behind = asyncio.all_tasks() - {asyncio.current_task()}
        in_flight = embedder.metrics()["concurrency"]
        await embedder.aclose()
    assert type(raised.value) is EmbeddingServerUnavailable  # not an ExceptionGroup
    assert "cannot reach the embedding server" in str(raised.value)
    assert not left_behind, left_behind
    assert in_flight == 0


def test_a_response_is_decoded_whole_and_each_bad_vector_reported_alone() -> None:
    """Base64 vectors of one size are decoded as one array; a response the fast path cannot
    take (a broken string, mixed sizes, float lists) is decoded vector by vector, with the
    same results and the same reasons."""
    import base64

    from ragindex.embedding.wire import WireFormat

    def encoded(vector: list[float]) -> str:
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()

    wire = WireFormat(model="m", dimension=2, send_dimensions=False, truncate=True, base64=True)
    whole, refused = wire.decode_all([encoded([3, 4, 9]), encoded([0, 2, 1])])
    assert refused == {} and np.allclose(whole, [[0.6, 0.8], [0.0, 1.0]])  # cut, renormalised
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an infinite row is refused without NumPy warning
        _, refused = wire.decode_all([encoded([3, 4]), encoded([np.nan, 1]), encoded([np.inf, 1])])
    assert list(refused) == [1, 2] and "NaN" in refused[1]
    vectors, refused = wire.decode_all([encoded([3, 4]), "not base64!", encoded([1, 0, 0])])
    assert list(refused) == [1] and "undecodable" in refused[1]
    assert np.allclose(vectors[[0, 2]], [[0.6, 0.8], [1.0, 0.0]]) and np.isnan(vectors[1]).all()
    lists, refused = wire.decode_all([[3.0, 4.0], [0.0, 5.0]])
    assert refused == {} and np.allclose(lists, [[0.6, 0.8], [0.0, 1.0]])
    narrow = WireFormat(model="m", dimension=4, send_dimensions=False, truncate=True)
    _, refused = narrow.decode_all([encoded([3, 4]), encoded([0, 1])])
    assert set(refused) == {0, 1} and "2 dimensions, 4 expected" in refused[0]


async def test_a_text_that_is_not_valid_unicode_fails_alone() -> None:
    with StandIn(native_dimension=64) as server:
        embedder = HttpEmbedder(urls=[server.url], model="Qwen/Qwen3-Embedding-0.6B", dimension=64)
        try:
            result = await embedder.embed_documents(["fine", "broken \udc80 text", "also fine"])
        finally:
            await embedder.aclose()
    assert list(result.failed) == [1] and "not valid Unicode" in result.failed[1]
    assert np.isfinite(result.vectors[[0, 2]]).all()


async def test_a_nan_written_as_nan_in_a_float_list_answer_fails_only_its_vector() -> None:
    """A Python server without base64 writes a NaN vector as `NaN`, which is not JSON: the
    answer is still read, and only that vector is refused."""
    with StandIn(native_dimension=64, base64_supported=False) as server:
        embedder = HttpEmbedder(urls=[server.url], model="Qwen/Qwen3-Embedding-0.6B", dimension=64)
        try:
            await embedder.check()  # its test embedding is fine; the next answer is not
            server.faults = Faults(nan=1.0)
            result = await embedder.embed_documents(["first text", "second text"])
        finally:
            await embedder.aclose()
    assert len(result.failed) == 1 and "NaN" in next(iter(result.failed.values()))
    assert np.isfinite(result.vectors[1 - next(iter(result.failed))]).all()
