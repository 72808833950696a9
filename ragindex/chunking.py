"""`Document` → `Chunk`s: token-measured, language-aware splitting with langchain-text-splitters.

Code splits at its language's definitions, Markdown at its headings, prose at paragraphs and
sentences; every size is counted in tokens of the embedding model's tokenizer, and no chunk is
ever longer than the model's context.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from ragindex.markdown_structure import MarkdownStructure, markdown_structure
from ragindex.tokens import Tokenizer, truncate_to_tokens
from ragindex.types import Chunk, Document

# The chunking recipe: bump it whenever the same document would be cut differently.
# 2: Markdown cut at the blocks and headings markdown-it-py finds (setext headings count, `#`
#    lines in code do not; a code block stays whole when it fits)
CHUNKER_VERSION = "2"

# Document.format -> the splitter's separators; formats not listed split as prose
_SPLITTER_LANGUAGES: dict[str, Language] = {
    "python": Language.PYTHON,
    "rust": Language.RUST,
    "javascript": Language.JS,
    "typescript": Language.TS,
    "go": Language.GO,
    "java": Language.JAVA,
    "kotlin": Language.KOTLIN,
    "c": Language.C,
    "cpp": Language.CPP,
    "csharp": Language.CSHARP,
    "php": Language.PHP,
    "ruby": Language.RUBY,
    "scala": Language.SCALA,
    "swift": Language.SWIFT,
    "lua": Language.LUA,
    "perl": Language.PERL,
    "haskell": Language.HASKELL,
    "elixir": Language.ELIXIR,
    "r": Language.R,
    "powershell": Language.POWERSHELL,
    "proto": Language.PROTO,
    "solidity": Language.SOL,
    "rst": Language.RST,
    "latex": Language.LATEX,
}
# prose: paragraphs, lines, then sentence ends of Latin and CJK scripts, then words
_PROSE_SEPARATORS = [
    "\n\n",
    "\n",
    "。",
    "！",
    "？",
    ". ",
    "! ",
    "? ",
    "；",
    "; ",
    "，",
    ", ",
    " ",
    "",
]


# a numbered part's label: "slide 3", "Sales row 12", "chapter 2: The Harbour" (the title is
# left out of a run: "chapters 2–3")
_NUMBERED = re.compile(r"^(.*[^\W\d]) (\d+)(?:: .*)?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ChunkingPolicy:
    chunk_tokens: int
    overlap_tokens: int
    max_tokens: int  # the model's context: a hard ceiling no chunk may exceed

    def __post_init__(self) -> None:
        if self.chunk_tokens > self.max_tokens:
            object.__setattr__(self, "chunk_tokens", self.max_tokens)
        if self.overlap_tokens >= self.chunk_tokens:
            object.__setattr__(self, "overlap_tokens", self.chunk_tokens // 4)


class Chunker:
    """Splits documents into chunks; one instance per index (splitters are built once)."""

    def __init__(self, tokenizer: Tokenizer, policy: ChunkingPolicy) -> None:
        self.tokenizer = tokenizer
        self.policy = policy
        self._splitters: dict[str, RecursiveCharacterTextSplitter] = {}
        self._counts = threading.local()  # per thread: chunk() runs in several reader threads

    def _count(self, text: str) -> int:
        memo: dict[str, int] = self._counts.memo
        count = memo.get(text)
        if count is None:
            count = memo[text] = self.tokenizer.count(text)
        return count

    def _splitter(self, document_format: str) -> RecursiveCharacterTextSplitter:
        language = _SPLITTER_LANGUAGES.get(document_format)
        key = language.value if language else "prose"
        if key not in self._splitters:
            # langchain measures every piece twice (to split, then to merge): remember counts
            # of the document being split instead of tokenizing the same text again
            separators = (
                RecursiveCharacterTextSplitter.get_separators_for_language(language)
                if language
                else _PROSE_SEPARATORS
            )
            self._splitters[key] = RecursiveCharacterTextSplitter(
                separators=separators,
                is_separator_regex=language is not None,
                keep_separator="start",
                chunk_size=self.policy.chunk_tokens,
                chunk_overlap=self.policy.overlap_tokens,
                length_function=self._count,
            )
        return self._splitters[key]

    def chunk(self, document: Document) -> list[Chunk]:
        text = document.text
        newline_offsets = [match.start() for match in re.finditer("\n", text)]
        page_starts = [page.start for page in document.pages]
        labelled = any(page.label for page in document.pages)
        structure = markdown_structure(text) if document.format == "markdown" else None
        headings = _heading_index(structure) if structure else None
        chunks: list[Chunk] = []
        self._counts.memo = {}
        try:
            pieces = list(self._pieces(document, structure))
        finally:
            self._counts.memo = {}  # drop the document's text from memory
        for piece, start, tokens in pieces:
            if not piece.strip():
                continue  # embedding servers reject blank inputs, and they carry nothing
            end = start + len(piece)
            chunks.append(
                Chunk(
                    source=document.source,
                    index=len(chunks),
                    text=piece,
                    start=start,
                    end=end,
                    tokens=tokens,
                    line_start=bisect.bisect_right(newline_offsets, start - 1) + 1,
                    line_end=bisect.bisect_right(newline_offsets, max(start, end - 1) - 1) + 1,
                    page=(
                        document.pages[bisect.bisect_right(page_starts, start) - 1].number
                        if document.pages and not labelled
                        else None
                    ),
                    heading=_heading_at(headings, start) if headings else None,
                    location=_location(document, page_starts, start, end) if labelled else None,
                )
            )
        return chunks

    def _pieces(
        self, document: Document, structure: MarkdownStructure | None
    ) -> Iterator[tuple[str, int, int]]:
        """Split text with its character offset; over-long pieces are cut to the context.

        A PDF is split page by page, so that every chunk cites exactly one page; Markdown into
        runs of whole blocks (`_markdown_segments`); labelled parts (slides, rows, cells) into
        runs of whole parts (`_labelled_segments`)."""
        text = document.text
        if structure is not None:
            bounds = self._markdown_segments(text, structure)
        elif any(page.label for page in document.pages):
            bounds = self._labelled_segments(document)
        else:
            bounds = [page.start for page in document.pages] or [0]
        for segment_start, segment_end in zip(bounds, [*bounds[1:], len(text)], strict=True):
            segment = text[segment_start:segment_end]
            pieces = self._splitter(document.format).split_text(segment)
            for piece, start in zip(pieces, _place(segment, pieces), strict=True):
                yield from self._within_context(piece, segment_start + start)

    def _markdown_segments(self, text: str, structure: MarkdownStructure) -> list[int]:
        """Where Markdown is cut before splitting: between whole blocks (a code block, a table,
        a list stay in one piece when they fit), and at a heading whenever its section would
        not fit in what is left of the current chunk, so that a chunk starts at its heading.
        A block longer than a chunk is split further, as prose."""
        budget = self.policy.chunk_tokens
        starts = list(structure.block_starts)
        ends = [*starts[1:], len(text)]
        sizes = [self._count(text[start:end]) for start, end in zip(starts, ends, strict=True)]
        section_size: dict[int, int] = {}  # heading offset -> tokens up to the next heading
        heading_starts = {heading.start for heading in structure.headings}
        current_heading: int | None = None
        for start, size in zip(starts, sizes, strict=True):
            if start in heading_starts:
                current_heading = start
                section_size[start] = 0
            if current_heading is not None:
                section_size[current_heading] += size
        bounds = [0]
        filled = 0
        for start, size in zip(starts, sizes, strict=True):
            needed = section_size.get(start, size)
            if filled and filled + needed > budget:
                bounds.append(start)
                filled = 0
            filled += size
        return bounds

    def _labelled_segments(self, document: Document) -> list[int]:
        """Where a document of labelled parts is cut: a slide, a row or a notebook cell is
        mostly far smaller than a chunk, so whole parts are packed together until the next one
        would not fit, or until the next part is in another series (a sheet's rows after
        another sheet's); a part longer than a chunk is split further, as prose."""
        text, pages = document.text, document.pages
        ends = [*(page.start for page in pages[1:]), len(text)]
        bounds = [0]
        filled = 0
        series: str | None = None
        for page, end in zip(pages, ends, strict=True):
            size = self._count(text[page.start : end])
            numbered = _NUMBERED.match(page.label or "")
            new_series = filled and numbered is not None and numbered[1] != series
            if filled and (new_series or filled + size > self.policy.chunk_tokens):
                bounds.append(page.start)
                filled = 0
            filled += size
            series = numbered[1] if numbered else None
        return bounds

    def _within_context(self, piece: str, offset: int) -> Iterator[tuple[str, int, int]]:
        """Pieces with their token counts; a piece with no separator left to split on may still
        exceed the model's context, and is cut."""
        tokens = self._count(piece)
        if tokens <= self.policy.max_tokens:
            yield piece, offset, tokens
            return
        while piece:
            head = truncate_to_tokens(self.tokenizer, piece, self.policy.max_tokens) or piece[:1]
            yield head, offset, self.tokenizer.count(head)
            offset += len(head)
            piece = piece[len(head) :]


def _place(segment: str, pieces: list[str]) -> list[int]:
    """Where each of the splitter's pieces starts in the segment it was split from.

    langchain gives only the pieces' text. Each starts after the previous one's start and no
    later than its end plus the whitespace the splitter dropped there, and the last one ends
    where the segment's text does. In ordinary text a piece occurs once near there; in
    repetitive text it occurs at many places, and a forward search alone either runs ahead of
    the text or falls behind and loses its tail. So a backward pass first finds the latest
    start each piece can take with the pieces after it still fitting, and the forward pass
    takes the latest start within both bounds."""
    latest = [0] * len(pieces)
    bound = len(segment.rstrip())  # the last piece ends here
    for index in range(len(pieces) - 1, -1, -1):
        found = segment.rfind(pieces[index], 0, bound)
        latest[index] = found if found >= 0 else len(segment)
        bound = latest[index] - 1 + len(pieces[index - 1]) if index else 0
    starts: list[int] = []
    previous_start, previous_end = -1, 0
    for piece, latest_start in zip(pieces, latest, strict=True):
        reach = previous_end
        while reach < len(segment) and segment[reach].isspace():
            reach += 1
        start = segment.rfind(piece, previous_start + 1, min(reach, latest_start) + len(piece))
        if start < 0:
            start = segment.find(piece, previous_start + 1)
        if start < 0:
            start = segment.find(piece)
        if start < 0:  # the splitter never rewrites text; guard so offsets can't lie
            raise AssertionError("chunk text not found in its document")
        starts.append(start)
        previous_start, previous_end = start, start + len(piece)
    return starts


def _location(document: Document, page_starts: list[int], start: int, end: int) -> str | None:
    """The labels of the parts a chunk spans: "slide 3", or "slides 3–4" for a run."""
    first = document.pages[max(bisect.bisect_right(page_starts, start) - 1, 0)].label
    last = document.pages[max(bisect.bisect_right(page_starts, max(start, end - 1)) - 1, 0)].label
    if first is None or last is None or first == last:
        return first or last
    numbered_first, numbered_last = _NUMBERED.match(first), _NUMBERED.match(last)
    if numbered_first and numbered_last and numbered_first[1] == numbered_last[1]:
        return f"{numbered_first[1]}s {numbered_first[2]}–{numbered_last[2]}"
    return f"{first} – {last}"


def _heading_index(structure: MarkdownStructure) -> tuple[list[int], list[str]]:
    """Offsets and heading paths (e.g. 'Install > From source') of every Markdown heading."""
    path: list[tuple[int, str]] = []
    starts: list[int] = []
    names: list[str] = []
    for heading in structure.headings:
        path = [(lvl, name) for lvl, name in path if lvl < heading.level]
        path.append((heading.level, heading.title))
        starts.append(heading.start)
        names.append(" > ".join(name for _, name in path))
    return starts, names


def _heading_at(index: tuple[list[int], list[str]], offset: int) -> str | None:
    """The heading a chunk belongs to: the last one starting at or before the chunk's start."""
    starts, names = index
    position = bisect.bisect_right(starts, offset) - 1
    return names[position] if position >= 0 else None
