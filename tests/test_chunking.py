"""Chunks are measured in the model's tokens, never exceed the context, and point back exactly
to where they came from (offsets, lines, page, heading)."""

from __future__ import annotations

import hashlib
import itertools
import unicodedata

import pytest

from ragindex.chunking import Chunker, ChunkingPolicy
from ragindex.tokens import qwen_tokenizer, use_tokenizer
from ragindex.types import Chunk, Document, Kind, Page


def document(
    text: str, *, fmt: str = "plain", kind: Kind = "text", pages: tuple[Page, ...] = ()
) -> Document:
    return Document(
        source="doc",
        kind=kind,
        format=fmt,
        language="",
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        mtime=0.0,
        size=len(text),
        pages=pages,
    )


PROSE = " ".join(
    f"Sentence number {i} talks about topic {i % 7} and then some more words follow it."
    for i in range(400)
)


@pytest.mark.parametrize("tokenizer", [use_tokenizer(), qwen_tokenizer()], ids=["use", "qwen"])
def test_chunks_stay_within_the_token_budget_and_cover_the_text(tokenizer) -> None:  # type: ignore[no-untyped-def]
    chunker = Chunker(
        tokenizer, ChunkingPolicy(chunk_tokens=128, overlap_tokens=16, max_tokens=512)
    )
    chunks = chunker.chunk(document(PROSE))
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.tokens == tokenizer.count(chunk.text)
        assert chunk.tokens <= 128
        assert PROSE[chunk.start : chunk.end] == chunk.text
    # consecutive chunks leave no gap except separator whitespace: nothing is lost
    for before, after in itertools.pairwise(chunks):
        assert after.start <= before.end + 1
    assert chunks[0].start == 0 and chunks[-1].end == len(PROSE)


def test_a_piece_without_any_separator_is_cut_to_the_context() -> None:
    tokenizer = qwen_tokenizer()
    blob = "x7Q" * 5000  # no space, no newline: nothing for a separator to split on
    chunker = Chunker(
        tokenizer, ChunkingPolicy(chunk_tokens=2000, overlap_tokens=0, max_tokens=300)
    )
    chunks = chunker.chunk(document(blob))
    assert all(chunk.tokens <= 300 for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks) == blob


def test_chunk_size_is_capped_by_the_model_context() -> None:
    policy = ChunkingPolicy(chunk_tokens=50_000, overlap_tokens=100, max_tokens=32_768)
    assert policy.chunk_tokens == 32_768


def test_code_splits_at_definitions_with_line_numbers() -> None:
    functions = [
        f"def function_{i}(value):\n"
        + "".join(f"    value = value * {j} + {i}  # step {j}\n" for j in range(12))
        + "    return value\n"
        for i in range(6)
    ]
    source = "\n\n".join(functions)
    tokenizer = qwen_tokenizer()
    assert all(tokenizer.count(function) < 400 for function in functions)
    chunker = Chunker(
        tokenizer, ChunkingPolicy(chunk_tokens=400, overlap_tokens=0, max_tokens=1024)
    )
    chunks = chunker.chunk(document(source, fmt="python", kind="code"))
    assert len(chunks) >= 3
    for chunk in chunks:
        assert chunk.text.startswith("def function_")
        first_line = source.splitlines()[chunk.line_start - 1]
        assert chunk.text.splitlines()[0] == first_line
        assert chunk.line_end - chunk.line_start + 1 == len(chunk.text.splitlines())


def test_markdown_chunks_know_their_heading_path() -> None:
    text = (
        "# Guide\n\nIntro text.\n\n## Install\n\n"
        + "Install words. " * 60
        + "\n\n### From source\n\n"
        + "Build words. " * 60
        + "\n\n## Usage\n\nRun it.\n"
    )
    chunker = Chunker(
        qwen_tokenizer(), ChunkingPolicy(chunk_tokens=100, overlap_tokens=0, max_tokens=1024)
    )
    chunks = chunker.chunk(document(text, fmt="markdown"))
    headings = {chunk.heading for chunk in chunks}
    assert "Guide > Install > From source" in headings
    assert "Guide > Usage" in headings
    build = next(chunk for chunk in chunks if "Build words" in chunk.text)
    assert build.heading == "Guide > Install > From source"


def test_pdf_chunks_never_span_pages_and_cite_their_page() -> None:
    page_texts = ["Routers and modems. " * 5, "Wi-Fi channels one six eleven. " * 5, "Backups."]
    starts, offset = [], 0
    for page_text in page_texts:
        starts.append(offset)
        offset += len(page_text) + 2
    text = "\n\n".join(page_texts)
    pages = tuple(Page(number=i + 1, start=start) for i, start in enumerate(starts))
    chunker = Chunker(
        qwen_tokenizer(), ChunkingPolicy(chunk_tokens=500, overlap_tokens=0, max_tokens=1024)
    )
    chunks = chunker.chunk(document(text, fmt="pdf", kind="pdf", pages=pages))
    assert [chunk.page for chunk in chunks] == [1, 2, 3]
    assert "Wi-Fi" in chunks[1].text and "Routers" not in chunks[1].text


def test_blank_text_gives_no_chunks() -> None:
    chunker = Chunker(
        use_tokenizer(), ChunkingPolicy(chunk_tokens=100, overlap_tokens=0, max_tokens=512)
    )
    assert chunker.chunk(document("   \n\n\t  \n")) == []


def test_literal_special_tokens_in_a_document_count_as_text() -> None:
    # a document quoting "<|endoftext|>" must not be cut short or rejected by the tokenizer
    assert qwen_tokenizer().count("before <|endoftext|> after") > 3


def test_qwen_token_ids_are_those_of_the_packaged_tokenizer() -> None:
    # ragindex builds the BPE from qwen-tokenizer's file itself, faster: the ids must not change
    from qwen_tokenizer import get_tokenizer

    packaged = get_tokenizer("Qwen/Qwen3-Embedding-4B")
    texts = [
        PROSE,
        "def load(path):\n    return json.loads(Path(path).read_text())\n",
        "猫が座った。Straße, niño, Съешь же ещё этих булок 🐍 <|endoftext|> \t\r\n",
        "café vs cafe\u0301",  # composed and decomposed: both NFC-normalised first
    ]
    ours = qwen_tokenizer()
    for text in texts:
        # a literal "<|endoftext|>" in a document is text to ragindex, not a control token
        expected = packaged.encode(text, allowed_special=set())
        assert ours.encoding.encode_ordinary(unicodedata.normalize("NFC", text)) == expected
        assert ours.count(text) == len(expected)


def markdown_chunks(text: str, chunk_tokens: int) -> list[Chunk]:
    chunker = Chunker(
        qwen_tokenizer(),
        ChunkingPolicy(chunk_tokens=chunk_tokens, overlap_tokens=0, max_tokens=4096),
    )
    return chunker.chunk(document(text, fmt="markdown"))


def test_a_hash_comment_inside_a_code_fence_is_not_a_heading() -> None:
    text = (
        "# Deploy\n\nRun these commands.\n\n```bash\n# install the package\npip install app\n"
        + "".join(f"app step{i}  # comment {i}\n" for i in range(40))
        + "```\n\n## Check\n\n"
        + "Look at the logs. " * 40
        + "\n"
    )
    chunks = markdown_chunks(text, 120)
    assert {chunk.heading for chunk in chunks} <= {"Deploy", "Deploy > Check"}
    code_chunks = [chunk for chunk in chunks if "pip install" in chunk.text]
    assert code_chunks and code_chunks[0].heading == "Deploy"
    logs = next(chunk for chunk in chunks if "Look at the logs" in chunk.text)
    assert logs.heading == "Deploy > Check"


def test_setext_headings_count_and_front_matter_does_not() -> None:
    text = (
        "---\ntitle: not a heading\n---\n\nUser guide\n==========\n\n"
        + "Welcome words. " * 50
        + "\n\nInstalling\n----------\n\n"
        + "Install words. " * 50
        + "\n"
    )
    chunks = markdown_chunks(text, 80)
    install = next(chunk for chunk in chunks if "Install words" in chunk.text)
    assert install.heading == "User guide > Installing"
    welcome = next(chunk for chunk in chunks if "Welcome words" in chunk.text)
    assert welcome.heading == "User guide"
    assert all("not a heading" not in (chunk.heading or "") for chunk in chunks)


def test_heading_attribute_lists_are_left_out_of_the_heading_path() -> None:
    text = "# Tutorial { #tutorial }\n\nIntro.\n\n## First steps { #first-steps }\n\nRun it.\n"
    chunks = markdown_chunks(text, 8)
    assert {chunk.heading for chunk in chunks} == {"Tutorial", "Tutorial > First steps"}


def test_a_code_block_that_fits_stays_in_one_chunk() -> None:
    code = (
        "```python\n"
        + "".join(f"def step_{i}(value):\n\n    return value + {i}\n\n" for i in range(8))
        + "```\n"
    )
    text = "# Steps\n\n" + "Some words before the code. " * 30 + "\n\n" + code + "\nAfter.\n"
    tokenizer = qwen_tokenizer()
    assert tokenizer.count(code) < 200
    chunks = markdown_chunks(text, 200)
    holding = [chunk for chunk in chunks if "def step_" in chunk.text]
    assert len(holding) == 1 and code.strip() in holding[0].text
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text


def test_a_section_starts_a_new_chunk_when_it_would_not_fit_in_the_current_one() -> None:
    text = "# A\n\n" + "Alpha words. " * 30 + "\n\n# B\n\n" + "Beta words. " * 30 + "\n"
    chunks = markdown_chunks(text, 100)
    assert [chunk.heading for chunk in chunks] == ["A", "B"]
    assert chunks[1].text.startswith("# B")
    # small sections share a chunk
    assert len(markdown_chunks(text, 1000)) == 1
