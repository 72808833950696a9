"""`EmbedderContract`: what the ingest pipeline and the searcher rely on from an embedder.

Subclass it in a test module and provide an `embedder` fixture (async is fine); pytest then runs
every check below on your embedder::

    class TestMyEmbedder(EmbedderContract):
        @pytest.fixture
        async def embedder(self) -> AsyncIterator[Embedder]:
            embedder = MyEmbedder(...)
            yield embedder
            await embedder.aclose()

The checks: vectors are float32 of shape (n, dimension), unit length and finite; the same text
gives the same vector whatever it is batched with; an empty list gives (0, dimension); one bad
input (blank, longer than `max_input_tokens`) is reported in `failed` alone while the others are
embedded; queries embed with and without a task; `metrics()` is a dict of floats; `aclose()` may
be called twice.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragindex.embedding.base import Embedder
from ragindex.types import FloatArray

GOOD_TEXTS = [
    "The cat sat on the mat and watched the rain.",
    "def read_config(path): return json.loads(path.read_text())",
    "猫坐在垫子上，看着窗外的雨。",
    "Qdrant stores dense and sparse vectors with a payload.",
]


def over_long_text(embedder: Embedder) -> str:
    """A text longer than the embedder's limit, by its own tokenizer."""
    words = max(64, embedder.max_input_tokens)
    while True:
        text = " ".join(f"word{index}" for index in range(words))
        if embedder.tokenizer.count(text) > embedder.max_input_tokens:
            return text
        words *= 2


def assert_unit_vectors(vectors: FloatArray, rows: int, dimension: int) -> None:
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (rows, dimension)
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


class EmbedderContract:
    """Test class to subclass; the subclass provides the `embedder` fixture."""

    @pytest.fixture
    def embedder(self) -> Embedder:
        raise NotImplementedError("provide an `embedder` fixture in the subclass")

    async def test_vectors_are_unit_float32_rows_of_the_dimension(self, embedder: Embedder) -> None:
        await embedder.check()
        result = await embedder.embed_documents(GOOD_TEXTS)
        assert result.failed == {}
        assert_unit_vectors(result.vectors, len(GOOD_TEXTS), embedder.dimension)
        # different texts, different vectors: not one constant answer
        assert len({row.tobytes() for row in result.vectors}) == len(GOOD_TEXTS)

    async def test_the_same_text_gives_the_same_vector(self, embedder: Embedder) -> None:
        together = await embedder.embed_documents(GOOD_TEXTS)
        alone = await embedder.embed_documents(GOOD_TEXTS[2:3])
        again = await embedder.embed_documents(list(reversed(GOOD_TEXTS)))
        assert np.allclose(together.vectors[2], alone.vectors[0], atol=1e-5)
        assert np.allclose(together.vectors, again.vectors[::-1], atol=1e-5)

    async def test_an_empty_list_gives_no_rows(self, embedder: Embedder) -> None:
        result = await embedder.embed_documents([])
        assert result.vectors.shape == (0, embedder.dimension)
        assert result.vectors.dtype == np.float32
        assert result.failed == {}

    @pytest.mark.parametrize("blank", ["", "   ", "\n\t \n"])
    async def test_a_blank_input_fails_alone(self, embedder: Embedder, blank: str) -> None:
        texts = [GOOD_TEXTS[0], blank, GOOD_TEXTS[1], GOOD_TEXTS[2]]
        result = await embedder.embed_documents(texts)
        self._assert_only_failed(result.vectors, result.failed, bad=1, count=len(texts))
        assert result.failed[1]

    async def test_an_over_long_input_fails_alone(self, embedder: Embedder) -> None:
        texts = [GOOD_TEXTS[0], GOOD_TEXTS[1], over_long_text(embedder), GOOD_TEXTS[3]]
        result = await embedder.embed_documents(texts)
        self._assert_only_failed(result.vectors, result.failed, bad=2, count=len(texts))
        assert result.failed[2]

    async def test_token_counts_given_by_the_caller_are_used(self, embedder: Embedder) -> None:
        # the pipeline passes the chunks' counts; they decide what is too long
        texts = GOOD_TEXTS[:3]
        counts = [embedder.tokenizer.count(text) for text in texts]
        counts[1] = embedder.max_input_tokens + 10
        result = await embedder.embed_documents(texts, counts)
        self._assert_only_failed(result.vectors, result.failed, bad=1, count=len(texts))

    async def test_queries_embed_with_and_without_a_task(self, embedder: Embedder) -> None:
        plain = await embedder.embed_query("where do cats sleep")
        tasked = await embedder.embed_query(
            "where do cats sleep", task="Given a question, retrieve passages that answer it"
        )
        for vector in (plain, tasked):
            assert_unit_vectors(vector[None, :], 1, embedder.dimension)
        if not embedder.uses_instructions:
            # a model without instructions ignores the task: the same query, the same vector
            assert np.allclose(plain, tasked, atol=1e-5)

    async def test_metrics_are_a_dict_of_floats(self, embedder: Embedder) -> None:
        await embedder.embed_documents(GOOD_TEXTS[:2])
        figures = embedder.metrics()
        assert isinstance(figures, dict) and figures
        assert all(isinstance(name, str) for name in figures)
        assert all(
            isinstance(value, (int, float)) and not isinstance(value, bool)
            for value in figures.values()
        ), figures

    async def test_closing_twice_is_harmless(self, embedder: Embedder) -> None:
        await embedder.embed_documents(GOOD_TEXTS[:1])
        await embedder.aclose()
        await embedder.aclose()

    @staticmethod
    def _assert_only_failed(
        vectors: FloatArray, failed: dict[int, str], *, bad: int, count: int
    ) -> None:
        assert set(failed) == {bad}, failed
        assert np.isnan(vectors[bad]).all()  # a failed row can never pass for a vector
        good = [index for index in range(count) if index != bad]
        assert_unit_vectors(vectors[good], len(good), vectors.shape[1])
