"""BM25-style sparse vectors computed on the client; Qdrant's IDF modifier supplies the IDF.

Terms, after NFKC and lower-casing:
- words of spaced scripts whole, combining marks included (Devanagari's vowel signs, Thai's
  tone marks: Python's `\\w` stops at them, cutting a word in two);
- Chinese, Japanese and Korean: each character and each overlapping pair of characters, so a
  one-character query (猫) and a two-character word (颜色) both meet, with no segmenter to
  download;
- Thai, Lao, Khmer and Burmese, which put no spaces between words: overlapping pairs of
  characters as the reader sees them (a consonant with its vowel and tone marks);
- code identifiers whole and split at camelCase and snake_case boundaries, so `loadConfig`,
  `load_config` and "load config" meet. Only ASCII is split at case changes: in other words a
  capital is a letter of the word, not a boundary (Häuser stays "häuser").
"""

from __future__ import annotations

import unicodedata
import zlib
from collections import Counter
from functools import lru_cache
from itertools import chain

import regex

from ragindex.stopwords import PARTICLES, STOPWORDS
from ragindex.types import SparseVector

SCHEME = "ragindex-bm25-v2"  # recorded with the collection: change it and old indexes are refused

_K1 = 1.2
_B = 0.75
# Index terms in an average chunk, per token of the chunk size: see `average_terms_for`
_TERMS_PER_CHUNK_TOKEN = 0.5
_DEFAULT_CHUNK_TOKENS = 256  # the packaged model's chunk size, for callers that do not say
_MAX_TERM_CHARS = 64

# letters, numbers, combining marks and connectors (the underscore): `regex` knows Unicode's
# properties, which the standard `re` does not, and is as fast on this pattern
_WORD = regex.compile(r"[\w\p{M}\p{N}]+")
_CJK = r"\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}"
_UNSPACED = r"\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
# a word in parts by how its script is indexed (a mark belongs to the part it follows)
_PARTS = regex.compile(
    rf"(?P<cjk>[{_CJK}][{_CJK}\p{{M}}]*)|(?P<unspaced>[{_UNSPACED}][{_UNSPACED}\p{{M}}]*)"
    rf"|(?P<spaced>[^{_CJK}{_UNSPACED}][^{_CJK}{_UNSPACED}]*)"
)
_CLUSTER = regex.compile(r"\X")  # a character as the reader sees it, marks included
_CAMEL_PARTS = regex.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def terms(text: str) -> list[str]:
    """The index terms of a text, in order, with repeats."""
    found: list[str] = []
    for word in _words(text):
        found.extend(_word_terms(word))
    return found


def average_terms_for(chunk_tokens: int) -> float:
    """BM25's average document length, in terms, for chunks cut at `chunk_tokens` tokens.

    Measured on the development corpus (code, Markdown and HTML docs in 9 languages, PDFs,
    prose; every chunk, the short last one of each file included): 0.52 terms per token of
    chunk size cut at 256 packaged-model tokens (51,556 chunks), 0.56 at 512 Qwen tokens
    (24,239 chunks). Code has fewer (~0.3: operators and punctuation are tokens, not terms),
    Latin-script text ~0.4, Chinese and Japanese ~1 (a character is a term and so is each
    pair). One figure for all: a collection mixes them, and BM25 moves little when its
    average is off by a quarter."""
    return _TERMS_PER_CHUNK_TOKEN * max(chunk_tokens, 1)


def document_vector(
    text: str, *, average_terms: float = average_terms_for(_DEFAULT_CHUNK_TOKENS)
) -> SparseVector:
    """Term-frequency part of BM25 with length normalisation; IDF comes from Qdrant.

    `average_terms` is the collection's typical chunk length (`average_terms_for` the chunk
    size): a chunk longer than it has its term counts discounted, a shorter one boosted."""
    counts = Counter(chain.from_iterable(map(_word_term_ids, _words(text))))
    length = sum(counts.values())
    norm = _K1 * (1 - _B + _B * length / average_terms)
    return _vector({tid: tf * (_K1 + 1) / (tf + norm) for tid, tf in counts.items()})


def query_vector(text: str) -> SparseVector:
    """Each distinct query term once, weight 1: Qdrant's IDF turns the sum into BM25."""
    return _vector(dict.fromkeys(chain.from_iterable(map(_word_term_ids, _words(text))), 1.0))


def matched_terms(query: str, text: str) -> tuple[str, ...]:
    """The query's terms found in `text`, as a user should see them: distinct, in the query's
    order, without stopwords (nor a Chinese, Japanese or Korean pair holding a particle), and
    without a piece of a longer matched term of the same query word (颜色 rather than 颜色, 颜,
    色; loadconfig rather than loadconfig, load, config)."""
    present = set(terms(text))
    shown: dict[str, None] = {}
    for word in _words(query):
        found = [
            term
            for term in dict.fromkeys(_word_terms(word))
            if term in present
            and term not in STOPWORDS
            and not (len(term) == 2 and PARTICLES.intersection(term))
        ]
        for term in found:
            if not any(term != other and term in other for other in found):
                shown[term] = None
    return tuple(shown)


def _straddles(term: str) -> bool:
    return len(term) == 2 and not PARTICLES.isdisjoint(term)


def term_id(term: str) -> int:
    # a stable 32-bit id: the same term gets the same id in every process and version
    return zlib.crc32(term.encode("utf-8"))


def _words(text: str) -> list[str]:
    if not text.isascii():  # NFKC changes nothing in ASCII, and most code is ASCII
        text = unicodedata.normalize("NFKC", text)
    found: list[str] = _WORD.findall(text)
    return found


@lru_cache(maxsize=1 << 18)
def _word_terms(word: str) -> tuple[str, ...]:
    """Terms of one word; words repeat a lot (identifiers, stop words), so this is cached."""
    if word.isascii():
        return tuple(_spaced_terms(word))
    found: list[str] = []
    for part in _PARTS.finditer(word):
        if part["cjk"]:
            found.extend(_ngrams(_CLUSTER.findall(part["cjk"]), unigrams=True))
        elif part["unspaced"]:
            found.extend(_ngrams(_CLUSTER.findall(part["unspaced"]), unigrams=False))
        else:
            found.extend(_spaced_terms(part["spaced"]))
    return tuple(found)


@lru_cache(maxsize=1 << 18)
def _word_term_ids(word: str) -> tuple[int, ...]:
    return tuple(term_id(term) for term in _word_terms(word))


def _spaced_terms(word: str) -> list[str]:
    word = word.strip("_")
    if not word:
        return []
    if len(word) > _MAX_TERM_CHARS and not word.isascii():
        # no word of a spaced script is this long: text of an unspaced script we do not name
        # (Javanese, Balinese...), indexed like Thai rather than dropped
        return _ngrams(_CLUSTER.findall(word.lower()), unigrams=False)
    whole = word.lower()[:_MAX_TERM_CHARS]
    if len(word) > _MAX_TERM_CHARS and any(character.isdigit() for character in word):
        return [whole]  # a hash or an encoded blob: its case and digit runs are noise, not parts
    parts: list[str] = []
    for piece in word.split("_"):  # an underscore is never part of a natural-language word
        if piece.isascii():
            parts.extend(found.lower()[:_MAX_TERM_CHARS] for found in _CAMEL_PARTS.findall(piece))
        elif piece:
            parts.append(piece.lower()[:_MAX_TERM_CHARS])
    if len(parts) > 1:
        return [whole, *parts]
    return [whole]


def _ngrams(characters: list[str], *, unigrams: bool) -> list[str]:
    """Overlapping pairs of characters, in order; with `unigrams`, each character before the
    pair it starts. A single character is always its own term."""
    if len(characters) == 1:
        return characters
    found: list[str] = []
    for index in range(len(characters) - 1):
        if unigrams:
            found.append(characters[index])
        found.append(characters[index] + characters[index + 1])
    if unigrams:
        found.append(characters[-1])
    return found


def _vector(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector(
        indices=tuple(index for index, _ in ordered), values=tuple(value for _, value in ordered)
    )
