"""Sparse (BM25) terms and vectors: what a user's query meets in every script the model reads."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragindex import sparse
from ragindex.errors import CollectionMismatchError
from ragindex.store.schema import check_spec
from ragindex.types import CollectionSpec, SparseVector


def meets(query: str, document: str) -> bool:
    """Whether a sparse search for `query` scores `document` above zero."""
    return bool(
        set(sparse.query_vector(query).indices) & set(sparse.document_vector(document).indices)
    )


def weights(vector: SparseVector) -> dict[int, float]:
    return dict(zip(vector.indices, vector.values, strict=True))


# --- Chinese, Japanese, Korean ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("猫", "我家的猫很可爱，每天都睡觉。"),
        ("茶", "お茶を飲みながら本を読む。"),
        ("물", "아침에 물을 마신다"),
    ],
)
def test_a_one_character_query_finds_the_character_inside_a_longer_run(
    query: str, document: str
) -> None:
    assert meets(query, document)


def test_chinese_is_indexed_as_characters_and_pairs_in_order() -> None:
    assert sparse.terms("猫的颜色") == ["猫", "猫的", "的", "的颜", "颜", "颜色", "色"]
    assert meets("颜色", "这只猫的颜色很特别")
    assert not meets("颜色", "这只猫很特别")


def test_a_katakana_word_keeps_its_long_vowel_mark() -> None:
    assert "ラー" in sparse.terms("ラーメン")
    assert meets("ラーメン", "昨日ラーメンを食べた")


# --- accented words and identifiers -------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "term"), [("Häuser", "häuser"), ("Straße", "straße"), ("naïve", "naïve")]
)
def test_a_word_with_a_letter_outside_ascii_stays_whole(word: str, term: str) -> None:
    assert sparse.terms(word) == [term]


def test_a_piece_of_an_accented_word_does_not_match_it() -> None:
    assert not meets("user", "Die Häuser sind alt")
    assert meets("häuser", "Die Häuser sind alt")


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("loadConfig", ["loadconfig", "load", "config"]),
        ("load_config", ["load_config", "load", "config"]),
        ("HTTPServer", ["httpserver", "http", "server"]),
        ("__init__", ["init"]),
        ("utf8Decode", ["utf8decode", "utf", "8", "decode"]),
    ],
)
def test_ascii_identifiers_are_split_at_camel_case_and_snake_case(
    identifier: str, expected: list[str]
) -> None:
    assert sparse.terms(identifier) == expected


def test_code_and_prose_spellings_of_a_name_meet() -> None:
    assert meets("load config", "def loadConfig(path): ...")
    assert meets("loadConfig", "call load_config first")


def test_only_underscores_split_a_non_ascii_identifier() -> None:
    assert sparse.terms("größe_berechnen") == ["größe_berechnen", "größe", "berechnen"]
    assert sparse.terms("getÜbersicht") == ["getübersicht"]


def test_text_is_compared_after_nfkc_and_lower_casing() -> None:
    assert sparse.terms("ＡＢＣ ﬁle") == ["abc", "file"]
    assert meets("Café", unicodedata.normalize("NFD", "un café noir"))


# --- scripts with combining marks, and long runs --------------------------------------------


def test_a_devanagari_word_keeps_its_vowel_signs() -> None:
    assert sparse.terms("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]


def test_thai_is_cut_into_pairs_of_whole_characters_never_at_a_mark() -> None:
    found = sparse.terms("ภาษาไทยที่สวยงาม")
    assert "ที่" in "".join(found)  # the consonant keeps its vowel and tone marks
    assert all(not unicodedata.category(term[0]).startswith("M") for term in found)
    assert "ยที่" in found


def test_a_thai_word_finds_the_sentence_it_is_in() -> None:
    assert meets("ภาษา", "ภาษาไทยเป็นภาษาที่สวยงามมาก")
    assert not meets("ภาษา", "แมวนอนอยู่บนโต๊ะ")


def test_a_long_thai_run_is_indexed_not_dropped() -> None:
    run = "ประเทศไทยมีประวัติศาสตร์ยาวนานและวัฒนธรรมที่หลากหลายซึ่งได้รับอิทธิพลจากหลายประเทศ"
    assert len(run) > 64 and " " not in run
    assert meets("วัฒนธรรม", run)


def test_a_long_snake_case_name_is_split_not_dropped() -> None:
    name = "test_that_a_very_long_function_name_is_split_into_its_words_not_dropped"
    assert len(name) > 64
    assert meets("function name", name)


def test_a_long_blob_is_one_term_not_a_hundred_pieces() -> None:
    blob = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" * 2
    assert sparse.terms(blob) == [blob[:64]]


# --- BM25 length normalisation ------------------------------------------------------------


def test_the_average_length_follows_the_chunk_size() -> None:
    assert sparse.average_terms_for(512) == pytest.approx(2 * sparse.average_terms_for(256))
    assert 50 < sparse.average_terms_for(256) < 200  # terms are fewer than tokens


def test_a_chunk_shorter_than_the_average_weighs_its_terms_more() -> None:
    text = "qdrant stores sparse vectors " * 10  # 40 terms
    short_average = weights(sparse.document_vector(text, average_terms=20.0))
    long_average = weights(sparse.document_vector(text, average_terms=400.0))
    assert all(long_average[tid] > short_average[tid] for tid in short_average)


def test_weights_are_bm25_term_frequency_with_the_given_average() -> None:
    vector = sparse.document_vector("alpha alpha beta", average_terms=6.0)
    norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 6.0)
    assert weights(vector) == pytest.approx(
        {
            sparse.term_id("alpha"): 2 * 2.2 / (2 + norm),
            sparse.term_id("beta"): 1 * 2.2 / (1 + norm),
        }
    )


def test_without_an_average_the_packaged_model_chunk_size_is_assumed() -> None:
    text = "a sentence of several words about search"
    assert sparse.document_vector(text) == sparse.document_vector(
        text, average_terms=sparse.average_terms_for(256)
    )


# --- the scheme ---------------------------------------------------------------------------


def test_an_index_built_with_the_first_scheme_is_refused_with_a_way_out() -> None:
    assert sparse.SCHEME != "ragindex-bm25-v1"
    with pytest.raises(CollectionMismatchError) as refused:
        check_spec(
            CollectionSpec("model", 512, "ragindex-bm25-v1"),
            CollectionSpec("model", 512, sparse.SCHEME),
            "/tmp/index",
        )
    assert "ragindex-bm25-v1" in str(refused.value)
    assert "ingest again" in str(refused.value)


# --- matched terms as shown -------------------------------------------------------------------


def test_matched_terms_are_the_query_words_in_the_text_in_query_order() -> None:
    text = "Qdrant keeps dense and sparse vectors."
    assert sparse.matched_terms("sparse vectors in Qdrant", text) == ("sparse", "vectors", "qdrant")
    assert sparse.matched_terms("Sparse sparse SPARSE", text) == ("sparse",)
    assert sparse.matched_terms("graph", text) == ()


@pytest.mark.parametrize(
    ("query", "text", "shown"),
    [
        ("what is the cat doing", "the cat is sleeping", ("cat",)),
        ("die Häuser und der Garten", "die Häuser der Stadt", ("häuser",)),
        ("le chat et la souris", "le chat dort", ("chat",)),
        ("el gato y la casa", "el gato duerme", ("gato",)),
        ("o gato e a casa", "o gato dorme", ("gato",)),
        ("il gatto e la casa", "il gatto dorme", ("gatto",)),
        ("de kat en het huis", "de kat slaapt", ("kat",)),
        ("猫的颜色", "这只猫的颜色", ("猫", "颜色")),
        ("猫の色", "猫の色は白", ("猫", "色")),
    ],
)
def test_stopwords_are_not_shown_as_matched(query: str, text: str, shown: tuple[str, ...]) -> None:
    assert sparse.matched_terms(query, text) == shown


def test_stopwords_stay_in_the_vectors() -> None:
    # IDF gives them almost no weight; a search for "The Who" still needs "the"
    assert sparse.term_id("the") in sparse.document_vector("the cat").indices
    assert sparse.term_id("的") in sparse.query_vector("我的猫").indices


def test_a_matched_identifier_is_shown_whole_and_its_parts_when_only_they_match() -> None:
    assert sparse.matched_terms("loadConfig", "def loadConfig(): ...") == ("loadconfig",)
    assert sparse.matched_terms("loadConfig", "load the config") == ("load", "config")


# --- properties ---------------------------------------------------------------------------


def _has_letter_or_digit(text: str) -> bool:
    return any(unicodedata.category(character)[0] in "LN" for character in text)


# any text at all, and text of letters, marks, numbers and spaces only: the second reaches
# runs of one script and marks after letters, which the first rarely draws
_TEXTS = st.text() | st.text(st.characters(categories=("L", "M", "N", "Zs")), min_size=1)


@given(_TEXTS)
def test_any_text_gives_a_well_formed_vector(text: str) -> None:
    for vector in (sparse.document_vector(text), sparse.query_vector(text)):
        assert list(vector.indices) == sorted(set(vector.indices))
        assert len(vector.values) == len(vector.indices)
        assert all(math.isfinite(value) and value > 0 for value in vector.values)
        assert all(0 <= index < 2**32 for index in vector.indices)
    if _has_letter_or_digit(text):
        assert sparse.document_vector(text).indices
        assert sparse.query_vector(text).indices


@given(_TEXTS)
def test_a_text_searched_for_itself_meets_every_term(text: str) -> None:
    assert set(sparse.query_vector(text).indices) == set(sparse.document_vector(text).indices)
    assert sparse.document_vector(text) == sparse.document_vector(text)


_SAMPLES = ["loadConfig(path)", "我的猫很可爱", "ภาษาไทยที่สวยงาม", "Die Häuser", "नमस्ते"]
_IN_ANOTHER_PROCESS = """
import json, sys
from ragindex import sparse
texts = json.loads(sys.stdin.read())
print(json.dumps([[list(v.indices), list(v.values)] for v in map(sparse.document_vector, texts)]))
"""


def test_vectors_are_the_same_in_another_process() -> None:
    """Term ids come from a stable hash, not Python's per-process `hash()`: an index written by
    one run is searched by the next."""
    here = [[list(v.indices), list(v.values)] for v in map(sparse.document_vector, _SAMPLES)]
    other = subprocess.run(
        [sys.executable, "-c", _IN_ANOTHER_PROCESS],
        input=json.dumps(_SAMPLES),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(other.stdout) == here


def test_term_ids_do_not_change_between_versions() -> None:
    assert sparse.term_id("cat") == 2656977832
    assert sparse.term_id("猫") == 2245964304
