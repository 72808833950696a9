"""BM25-style sparse vectors computed on the client; Qdrant's IDF modifier supplies the IDF.

Terms: words for alphabetic scripts, overlapping character bigrams for Chinese, Japanese and
Korean (no segmenter download needed), and code identifiers both whole and split at camelCase
and snake_case boundaries, so `loadConfig`, `load_config` and "load config" meet.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from functools import lru_cache
from itertools import chain

from ragindex.types import SparseVector

SCHEME = "ragindex-bm25-v1"  # recorded with the collection: change it and old indexes are refused

_K1 = 1.2
_B = 0.75
_AVERAGE_CHUNK_TERMS = 200.0
_WORD = re.compile(r"\w+")  # underscores at the ends are stripped per word (cached)
_CJK = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\u31f0-\u31ff]+"
)
_CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_MAX_TERM_CHARS = 64


def terms(text: str) -> list[str]:
    """The index terms of a text, in order, with repeats."""
    found: list[str] = []
    for word in _words(text):
        found.extend(_word_terms(word))
    return found


def _words(text: str) -> list[str]:
    if not text.isascii():  # NFKC changes nothing in ASCII, and most code is ASCII
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text)


@lru_cache(maxsize=1 << 18)
def _word_terms(word: str) -> tuple[str, ...]:
    """Terms of one word; words repeat a lot (identifiers, stop words), so this is cached."""
    if not _CJK.search(word):
        return tuple(_identifier_terms(word))
    found: list[str] = []
    for run in _CJK.split(word):
        if run:
            found.extend(_identifier_terms(run))
    for run in _CJK.findall(word):
        found.extend(_cjk_terms(run))
    return tuple(found)


@lru_cache(maxsize=1 << 18)
def _word_term_ids(word: str) -> tuple[int, ...]:
    return tuple(term_id(term) for term in _word_terms(word))


def _identifier_terms(word: str) -> list[str]:
    word = word.strip("_")
    if not word or len(word) > _MAX_TERM_CHARS:
        return []
    lowered = word.lower()
    parts = [part.lower() for piece in word.split("_") for part in _CAMEL_PARTS.findall(piece)]
    if len(parts) > 1:
        return [lowered, *parts]
    return [lowered]


def _cjk_terms(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def term_id(term: str) -> int:
    # a stable 32-bit id: the same term gets the same id in every process and version
    return zlib.crc32(term.encode("utf-8"))


def _vector(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector(
        indices=tuple(index for index, _ in ordered), values=tuple(value for _, value in ordered)
    )


def document_vector(text: str) -> SparseVector:
    """Term-frequency part of BM25 with length normalisation; IDF comes from Qdrant."""
    counts = Counter(chain.from_iterable(map(_word_term_ids, _words(text))))
    length = sum(counts.values())
    norm = _K1 * (1 - _B + _B * length / _AVERAGE_CHUNK_TERMS)
    return _vector({tid: tf * (_K1 + 1) / (tf + norm) for tid, tf in counts.items()})


def query_vector(text: str) -> SparseVector:
    """Each distinct query term once, weight 1: Qdrant's IDF turns the sum into BM25."""
    return _vector(dict.fromkeys(chain.from_iterable(map(_word_term_ids, _words(text))), 1.0))
