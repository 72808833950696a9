"""What the document readers share: text assembled from labelled parts (a slide, a sheet's row,
a chapter, a notebook cell), a deadline, and the boundary where a parsing library's errors
become the reason a file was skipped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from ragindex.errors import SourceError
from ragindex.types import Page

# a reader's result: the text, where each labelled part starts, what was read only in part
ReadResult = tuple[str, tuple[Page, ...], tuple[str, ...]]


class LabelledText:
    """Parts of a document, each with the label that lets a user find it ("slide 3"), joined
    by blank lines; `Page.start` is where each part begins in the joined text."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pages: list[Page] = []
        self._offset = 0

    def add(self, label: str, text: str) -> None:
        # the readers' text is cleaned here, before offsets are taken, so that cleaning it again
        # later moves nothing; PowerPoint and Word write a line break inside a paragraph as a
        # vertical tab, which cleaning would drop, gluing two words together
        from ragindex.readers import clean_text

        text = clean_text(text.replace("\v", "\n").replace("\f", "\n")).strip()
        if not text:
            return
        self._pages.append(Page(number=len(self._pages) + 1, start=self._offset, label=label))
        self._parts.append(text)
        self._offset += len(text) + 2

    def __bool__(self) -> bool:
        return bool(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def result(self, warnings: tuple[str, ...] = ()) -> ReadResult:
        return "\n\n".join(self._parts), tuple(self._pages), warnings


class Deadline:
    """Readers in threads cannot be stopped from outside: they check the clock themselves."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s

    def check(self, what: str) -> None:
        if time.monotonic() > self._end:
            raise SourceError(f"{what} took longer than {self.timeout_s:g} s to read")


@contextmanager
def parsing(what: str) -> Iterator[None]:
    """Any error a parsing library raises on a damaged file is that file's problem: it becomes a
    `SourceError` naming the format and the library's reason. Libraries raise anything from
    malformed input (KeyError for a missing part, lxml's and expat's syntax errors, ValueError,
    RecursionError), so the boundary is wide; our own `SourceError`s pass through."""
    try:
        yield
    except SourceError:
        raise
    except Exception as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        detail = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
        raise SourceError(f"corrupt {what} ({detail})") from None
