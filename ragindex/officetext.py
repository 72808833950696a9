"""Word (.docx) and OpenDocument (.odt) text by section, PowerPoint (.pptx) text by slide.

python-docx, python-pptx and odfpy parse the files, after `archives.open_zip` has checked the
zip. A section runs from one heading to the next and is labelled with its heading path
("Install > From source"), so a result names where it is in the document; the text before the
first heading is "beginning". A slide is labelled "slide 3" and holds its title, its text
boxes, tables and grouped shapes, and its speaker notes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from ragindex.archives import open_zip
from ragindex.errors import SourceError
from ragindex.sections import Deadline, LabelledText, ReadResult, parsing

BEGINNING = "beginning"
# OpenDocument parts that are not the text as read: tracked deletions, generated indexes
_ODF_SKIPPED = {
    "tracked-changes",
    "table-of-content",
    "alphabetical-index",
    "illustration-index",
    "object-index",
    "user-index",
    "bibliography",
    "sequence-decls",
}


class _Outline:
    """Text gathered section by section under a heading path."""

    def __init__(self, deadline: Deadline, what: str) -> None:
        self.sections = LabelledText()
        self.deadline = deadline
        self.what = what
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []

    def heading(self, level: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            return
        self._flush()
        self._path = [(lvl, name) for lvl, name in self._path if lvl < level]
        self._path.append((level, title))
        self._lines.append(title)

    def line(self, text: str) -> None:
        if len(self._lines) % 200 == 0:
            self.deadline.check(self.what)
        self._lines.append(text)

    def _flush(self) -> None:
        label = " > ".join(name for _, name in self._path) or BEGINNING
        self.sections.add(label, "\n".join(self._lines))
        self._lines = []

    def result(self) -> ReadResult:
        self._flush()
        return self.sections.result()


def docx_text(data: bytes, *, timeout_s: float, max_unpacked_bytes: int) -> ReadResult:
    """A Word document's paragraphs and tables in order, in sections between headings."""
    open_zip(data, what="Word document", max_unpacked_bytes=max_unpacked_bytes)
    outline = _Outline(Deadline(timeout_s), "Word document")
    with parsing("Word document"):
        import docx
        from docx.table import Table

        document = docx.Document(io.BytesIO(data))
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in _docx_rows(block):
                    outline.line(row)
                continue
            level = _heading_level(block.style.name if block.style is not None else "")
            if level:
                outline.heading(level, block.text)
            else:
                outline.line(block.text)
    return outline.result()


def _heading_level(style: str) -> int:
    """Word's built-in heading styles: "Title" above all, then "Heading 1" to "Heading 9"."""
    if style == "Title":
        return 1
    name, _, number = style.partition(" ")
    return int(number) + 1 if name == "Heading" and number.isdigit() else 0


def _docx_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:  # a merged cell comes back once per grid column it spans
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            yield " | ".join(cells)


def pptx_text(data: bytes, *, timeout_s: float, max_unpacked_bytes: int) -> ReadResult:
    """Each slide's title, shapes' text and notes, labelled "slide N"."""
    open_zip(data, what="PowerPoint file", max_unpacked_bytes=max_unpacked_bytes)
    deadline = Deadline(timeout_s)
    slides = LabelledText()
    with parsing("PowerPoint file"):
        import pptx

        presentation = pptx.Presentation(io.BytesIO(data))
        for number, slide in enumerate(presentation.slides, start=1):
            deadline.check("PowerPoint file")
            title = slide.shapes.title
            parts = [title.text_frame.text] if title is not None and title.has_text_frame else []
            title_id = title.shape_id if title is not None else None
            parts += [
                text
                for shape in slide.shapes
                if shape.shape_id != title_id
                for text in _shape_text(shape)
            ]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                parts.append(slide.notes_slide.notes_text_frame.text)
            slides.add(f"slide {number}", "\n".join(part for part in parts if part.strip()))
    return slides.result()


def _shape_text(shape: Any) -> Iterator[str]:
    if getattr(shape, "shapes", None) is not None:  # a group: its shapes, in order
        for inner in shape.shapes:
            yield from _shape_text(inner)
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        yield shape.text_frame.text
    if getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = [" ".join(cell.text.split()) for cell in row.cells]
            if any(cells):
                yield " | ".join(cells)


def odt_text(data: bytes, *, timeout_s: float, max_unpacked_bytes: int) -> ReadResult:
    """An OpenDocument text's paragraphs, lists and tables in order, in sections."""
    archive = open_zip(data, what="OpenDocument file", max_unpacked_bytes=max_unpacked_bytes)
    try:
        manifest = archive.read("META-INF/manifest.xml")
    except KeyError:
        manifest = b""
    if b"encryption-data" in manifest:
        raise SourceError("encrypted OpenDocument file (a password is needed)")
    outline = _Outline(Deadline(timeout_s), "OpenDocument file")
    with parsing("OpenDocument file"):
        from odf.opendocument import load

        document = load(io.BytesIO(data))
        _odf_walk(document.text, outline)
    return outline.result()


def _odf_walk(node: Any, outline: _Outline) -> None:
    from odf.teletype import extractText

    for child in node.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        name = child.qname[1]
        if name in _ODF_SKIPPED:
            continue
        if name == "h":
            level = str(child.getAttribute("outlinelevel") or "1")
            outline.heading(int(level) if level.isdigit() else 1, extractText(child))
        elif name == "p":
            outline.line(extractText(child))
        elif name == "table-row":
            cells = [
                " ".join(extractText(cell).split())
                for cell in child.childNodes
                if cell.nodeType == cell.ELEMENT_NODE and cell.qname[1] == "table-cell"
            ]
            if any(cells):
                outline.line(" | ".join(cells))
        else:  # lists, sections, tables, frames: their paragraphs, in order
            _odf_walk(child, outline)
