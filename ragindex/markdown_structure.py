"""Where a Markdown document's headings and blocks are, as a CommonMark parser sees them.

markdown-it-py parses the text, so a `# comment` inside a code fence is code, a setext heading
(`Title` over `=====`) is a heading, and a heading quoted or inside a list item does not start
a section. Only the parser's line map is used: offsets point into the text as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# YAML front matter (Jekyll, Hugo, MkDocs): its closing `---` would otherwise make the lines
# above it a setext heading
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?:.*\n)*?(?:---|\.\.\.)[ \t]*(?:\n|\Z)")
# attribute lists of MkDocs / Pandoc after a title: "Install { #install }"
_ATTRIBUTES = re.compile(r"\s*\{\s*[#.][^}]*\}\s*$")


@dataclass(frozen=True, slots=True)
class Heading:
    start: int  # offset of the heading's first line
    level: int
    title: str


@dataclass(frozen=True, slots=True)
class MarkdownStructure:
    headings: tuple[Heading, ...]
    block_starts: tuple[int, ...]  # offsets where each top-level block begins (headings too)


def markdown_structure(text: str) -> MarkdownStructure:
    front = _FRONT_MATTER.match(text)
    skipped_lines = text.count("\n", 0, front.end()) if front else 0
    # the front matter's lines become blank, so the parser's line numbers stay the text's own
    source = "\n" * skipped_lines + text[front.end() :] if front else text
    line_starts = [0, *(match.end() for match in re.finditer("\n", text))]
    headings: list[Heading] = []
    block_starts: list[int] = [0]
    tokens = _parser().parse(source)
    for position, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue  # inside a list, a quote or a table: part of the block around it
        offset = line_starts[min(token.map[0], len(line_starts) - 1)]
        if offset > block_starts[-1]:
            block_starts.append(offset)
        if token.type == "heading_open":
            title = _ATTRIBUTES.sub("", tokens[position + 1].content).strip()
            headings.append(Heading(offset, int(token.tag[1:]), title))
    return MarkdownStructure(tuple(headings), tuple(block_starts))


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    # GitHub-flavoured tables parse as one block; "commonmark" alone would see their rows as
    # a paragraph each
    parser = MarkdownIt("commonmark").enable("table")
    # only blocks are needed (a heading's raw text comes with its block): parsing the inline
    # markup of every paragraph would triple the time
    parser.core.ruler.disable(["inline", "text_join"])
    return parser
