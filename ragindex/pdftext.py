"""The text of a PDF, page by page, with what could be read only in part.

pypdf recovers from a damaged page by logging and returning no text, so a page's silence is
checked: a page whose content cannot be decoded, or that draws text pypdf could not extract,
is unreadable; one that only paints images has no text layer (a scan: OCR would read it); one
that draws neither is blank.
"""

from __future__ import annotations

import io
import logging
import re
import time
from typing import Any

from ragindex.errors import SourceError
from ragindex.types import Page

# pypdf logs every malformed object it recovers from; the user gets one reason per file instead
logging.getLogger("pypdf").setLevel(logging.ERROR)

# the operators that show text (Tj, TJ, ' and "), as separate tokens of a content stream
_SHOWS_TEXT = re.compile(rb"(?:\)|\]|>)\s*(?:Tj|TJ|'|\")(?![A-Za-z])")
# the operators that paint an image (or a form) and that begin an inline image
_PAINTS_IMAGE = re.compile(rb"(?<![A-Za-z])(?:Do|BI)(?![A-Za-z])")


def pdf_text(
    data: bytes, *, max_pages: int, timeout_s: float
) -> tuple[str, tuple[Page, ...], tuple[str, ...]]:
    """Text of a PDF page by page, where each page starts, and warnings about pages that could
    not be read. Refuses encrypted, corrupt and textless PDFs with a `SourceError`."""
    reader = _open(data)
    page_count = len(reader.pages)
    if page_count > max_pages:
        raise SourceError(f"PDF has {page_count} pages, more than the {max_pages}-page limit")
    deadline = time.monotonic() + timeout_s
    parts: list[str] = []
    pages: list[Page] = []
    offset = 0
    unreadable = image_only = 0
    for number in range(page_count):
        if time.monotonic() > deadline:
            raise SourceError(f"PDF took longer than {timeout_s:g} s to read")
        page = reader.pages[number]
        try:
            page_text = page.extract_text() or ""
        except Exception:  # pypdf raises anything from a damaged page; the others still count
            unreadable += 1
            continue
        if not page_text.strip():
            # an empty page is fine (blank pages between chapters); one that shows text or
            # paints an image is not
            content = _content(page)
            if content is None or _SHOWS_TEXT.search(content):
                unreadable += 1
            elif _PAINTS_IMAGE.search(content):
                image_only += 1
            continue
        pages.append(Page(number=number + 1, start=offset))
        parts.append(page_text)
        offset += len(page_text) + 2
    if not parts:
        if unreadable:
            raise SourceError(f"corrupt PDF (none of {page_count} pages could be read)")
        raise SourceError("PDF has no text layer (scanned images need OCR first)")
    warnings = []
    if unreadable:
        warnings.append(f"{unreadable} of {page_count} pages unreadable")
    if image_only:
        warnings.append(f"{image_only} of {page_count} pages are images without text (need OCR)")
    return "\n\n".join(parts), tuple(pages), tuple(warnings)


def _open(data: bytes) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceError("encrypted PDF (a password is needed)")
        len(reader.pages)  # reads the page tree: a broken one fails here, not later
    except SourceError:
        raise
    except (
        PyPdfError,
        PdfReadError,
        FileNotDecryptedError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        NotImplementedError,
    ) as error:
        raise SourceError(f"corrupt PDF ({type(error).__name__}: {error})") from None
    return reader


def _content(page: Any) -> bytes | None:
    """A page's decoded content streams; None when one is damaged: it cannot be looked at, or
    its encoded bytes decode to nothing (pypdf logs a broken stream and carries on)."""
    try:
        contents = page.get("/Contents")
        contents = contents.get_object() if contents is not None else None
        streams = list(contents) if isinstance(contents, list) else [contents]
        decoded = []
        for stream in streams:
            if stream is None:
                continue
            stream = stream.get_object()
            data = stream.get_data()
            encoded: bytes = getattr(stream, "_data", b"")  # pypdf's undecoded bytes
            if not data.strip() and encoded:
                return None
            decoded.append(data)
    except Exception:  # pypdf raises anything from a damaged object
        return None
    return b"\n".join(decoded)
