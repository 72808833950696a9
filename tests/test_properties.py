"""Property-based tests (hypothesis): whatever the input, the readers either give text or refuse
with a reason, and the chunker's chunks stay within the token budget, point exactly into the
text and together cover all of it.

The suite runs a fixed set of examples (the "default" profile in conftest), so that CI is
reproducible; `pytest tests/test_properties.py --hypothesis-profile=explore` searches afresh
with many more, and every case it finds becomes a fixed example here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragindex.chunking import Chunker, ChunkingPolicy
from ragindex.discovery import Candidate, file_type_of
from ragindex.errors import SourceError
from ragindex.readers import read_document
from ragindex.tokens import qwen_tokenizer
from ragindex.types import Document

POLICY = ChunkingPolicy(chunk_tokens=48, overlap_tokens=8, max_tokens=512)
CHUNKER = Chunker(qwen_tokenizer(), POLICY)

# text that looks like what people index: words in several scripts, code punctuation,
# blank lines and Markdown headings, plus anything else Unicode holds
words = st.sampled_from(
    [
        "the",
        "river",
        "def",
        "load_config(path):",
        "猫が",
        "座った",
        "Straße",
        "niño",
        "{",
        "}",
        "return",
        "x = 1",
        "# Heading",
        "## Sub",
        "- item",
        "```",
        "\t",
        "  ",
        "\n",
        "\n\n",
    ]
)
texts = st.one_of(
    st.lists(words, max_size=400).map(" ".join),
    st.text(max_size=3000),
    st.lists(st.text(alphabet="abc xyz\n猫", min_size=1, max_size=80), max_size=60).map("".join),
)


def as_document(text: str, fmt: str) -> Document:
    return Document(
        source="generated",
        kind="code" if fmt == "code" else "text",
        format=fmt,
        language="python" if fmt == "code" else "",
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        mtime=0.0,
        size=len(text),
    )


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, fmt=st.sampled_from(["plain", "markdown", "code"]))
def test_chunks_are_bounded_exact_and_cover_the_text(text: str, fmt: str) -> None:
    chunks = CHUNKER.chunk(as_document(text, fmt))
    tokenizer = CHUNKER.tokenizer
    covered = bytearray(len(text))
    for index, chunk in enumerate(chunks):
        assert chunk.index == index
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip()
        assert chunk.tokens == tokenizer.count(chunk.text)
        assert chunk.tokens <= POLICY.chunk_tokens
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    # minus overlap and the whitespace the splitter drops between pieces, nothing is lost
    lost = [char for char, hit in zip(text, covered, strict=True) if not hit and not char.isspace()]
    assert not lost, f"characters not in any chunk: {lost[:20]}"
    starts = [chunk.start for chunk in chunks]
    assert starts == sorted(starts)


@pytest.mark.parametrize("name", ["file.txt", "notes.md", "page.html", "module.py", "doc.rst"])
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=4000), st.text(max_size=2000).map(str.encode)))
def test_any_bytes_give_a_document_or_a_reason(name: str, data: bytes) -> None:
    path = Path(name)
    file_type = file_type_of(path)
    assert file_type is not None
    candidate = Candidate(path, name, file_type, len(data), 0.0)
    try:
        document = read_document(candidate, data, max_pdf_pages=10, timeout_s=10)
    except SourceError as refused:
        assert str(refused), "a refusal must say why"
        return
    assert isinstance(document.text, str)
    document.text.encode("utf-8")  # valid text: no lone surrogates reach the store
    assert "\x00" not in document.text
    for chunk in CHUNKER.chunk(document):
        assert chunk.tokens <= POLICY.chunk_tokens


# found by hypothesis: the last piece also occurs inside the overlap, earlier in the text
@pytest.mark.parametrize("text", ["0" * 36 + "\x810\x81" + "0" * 5 + "\x810", "0" * 50, "ab" * 300])
def test_repetitive_text_keeps_its_tail(text: str) -> None:
    chunks = CHUNKER.chunk(as_document(text, "plain"))
    assert chunks[-1].end == len(text)
    assert all(text[chunk.start : chunk.end] == chunk.text for chunk in chunks)
