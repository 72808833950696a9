"""Read one file into a `Document`: decode text, HTML to its visible text (`htmltext.py`), PDF
pages (`pdftext.py`), office documents, spreadsheets, e-books and notebooks by labelled part
(`officetext.py`, `sheettext.py`, `ebooktext.py`, `notebooktext.py`).

Every failure becomes a `SourceError` whose message is the reason the user sees; the pipeline
reports it and goes on with the next file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from ragindex.archives import DEFAULT_MAX_UNPACKED_BYTES
from ragindex.discovery import Candidate
from ragindex.ebooktext import epub_text
from ragindex.errors import SourceError
from ragindex.htmltext import html_text
from ragindex.language import detect_language
from ragindex.notebooktext import ipynb_text
from ragindex.officetext import docx_text, odt_text, pptx_text
from ragindex.pdftext import pdf_text
from ragindex.sections import ReadResult
from ragindex.sheettext import xlsx_text
from ragindex.types import Document, Kind, Page

__all__ = [
    "READER_VERSION",
    "clean_text",
    "decode_text",
    "html_text",
    "read_bytes",
    "read_document",
]

# The reading recipe: bump it whenever the text a reader gives for the same bytes changes, so
# that documents indexed by an older reader are prepared again.
# 2: HTML through inscriptis (navigation, banners and asides left out), PDF partial-read warnings
# 3: .docx, .pptx, .xlsx, .odt, .epub and .ipynb, with the location of each part
READER_VERSION = "3"

_ANSI_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SINGLE_BYTE_LATIN = re.compile(r"^(cp125[0-8]|iso8859_(1|2|3|4|9|10|13|14|15|16)|latin_1|mac_)")
# FileType.reader -> the reader of a format made of labelled parts (slides, rows, cells...)
_PART_READERS: dict[str, Callable[..., ReadResult]] = {
    "docx": docx_text,
    "pptx": pptx_text,
    "xlsx": xlsx_text,
    "odt": odt_text,
    "epub": epub_text,
    "ipynb": ipynb_text,
}


def read_bytes(candidate: Candidate) -> bytes:
    try:
        return candidate.path.read_bytes()
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror or error}") from None


def read_document(
    candidate: Candidate,
    data: bytes,
    *,
    max_pdf_pages: int,
    timeout_s: float,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
) -> Document:
    """Decode one file's bytes into a `Document`. Raises `SourceError` with the reason it could
    not be read. `max_unpacked_bytes` bounds what a zip-based format may inflate to."""
    sha256 = hashlib.sha256(data).hexdigest()
    file_type = candidate.file_type
    pages: tuple[Page, ...] = ()
    warnings: tuple[str, ...] = ()
    kind: Kind
    if file_type.reader == "pdf":
        text, pages, warnings = pdf_text(data, max_pages=max_pdf_pages, timeout_s=timeout_s)
        kind = "pdf"
    elif file_type.reader in _PART_READERS:
        read = _PART_READERS[file_type.reader]
        text, pages, warnings = read(
            data, timeout_s=timeout_s, max_unpacked_bytes=max_unpacked_bytes
        )
        kind = "text"
    elif file_type.reader == "html":
        # control characters out first: the HTML parser refuses some of them outright
        text, kind = html_text(clean_text(decode_text(data))), "text"
    else:
        text = decode_text(data)
        kind = "code" if file_type.reader == "code" else "text"
    text = clean_text(text)
    if not text.strip():
        raise SourceError("no text content")
    language = file_type.format if kind == "code" else detect_language(text)
    return Document(
        source=candidate.source,
        kind=kind,
        format=file_type.format,
        language=language,
        text=text,
        sha256=sha256,
        mtime=candidate.mtime,
        size=len(data),
        pages=pages,
        warnings=warnings,
    )


def decode_text(data: bytes) -> str:
    """Bytes to text: byte-order marks, then UTF-8, then a charset guess; else a clear refusal."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise SourceError(f"invalid {codec.upper()} text") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        utf8_error = error
    from charset_normalizer import from_bytes

    guess = from_bytes(data[:1_000_000]).best()
    if guess is None or guess.encoding in ("utf_8", "ascii"):
        raise SourceError(f"not valid UTF-8 and no other encoding fits ({utf8_error.reason})")
    encoding = guess.encoding
    if _SINGLE_BYTE_LATIN.match(encoding):
        # short Western text gets guessed as any of the Latin code pages; Windows-1252 is by far
        # the most common of them, so it wins whenever it decodes the bytes at all
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise SourceError(f"not valid UTF-8 nor {encoding}") from None


def clean_text(text: str) -> str:
    """Drop terminal escape codes and control characters that carry no meaning for search."""
    return _CONTROL_CHARS.sub("", _ANSI_ESCAPES.sub("", text)).replace("\r\n", "\n")
