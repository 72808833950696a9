"""Read one file into a `Document`: decode text, strip HTML to visible text, extract PDF pages.

Every failure becomes a `SourceError` whose message is the reason the user sees; the pipeline
reports it and goes on with the next file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time

from ragindex.discovery import Candidate
from ragindex.errors import SourceError
from ragindex.language import detect_language
from ragindex.types import Document, Kind, Page

# The reading recipe: bump it whenever the text a reader gives for the same bytes changes, so
# that documents indexed by an older reader are prepared again.
# 2: HTML through inscriptis (navigation, banners and asides left out), PDF partial-read warnings
READER_VERSION = "2"

# pypdf logs every malformed object it recovers from; the user gets one reason per file instead
logging.getLogger("pypdf").setLevel(logging.ERROR)

_ANSI_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML_DROP = ("script", "style", "noscript", "template", "svg", "head", "iframe", "object")
_HTML_BLOCK = re.compile(
    r"<(/?(?:p|div|h[1-6]|li|tr|pre|section|article|table|ul|ol|dd|dt|dl|blockquote|br|hr|"
    r"header|footer|main|nav|td|th|caption|figure|figcaption|title)\b[^>]*)>",
    re.IGNORECASE,
)
_SINGLE_BYTE_LATIN = re.compile(r"^(cp125[0-8]|iso8859_(1|2|3|4|9|10|13|14|15|16)|latin_1|mac_)")


def read_bytes(candidate: Candidate) -> bytes:
    try:
        return candidate.path.read_bytes()
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror or error}") from None


def read_document(
    candidate: Candidate, data: bytes, *, max_pdf_pages: int, timeout_s: float
) -> Document:
    """Decode one file's bytes into a `Document`. Raises `SourceError` with the reason it could
    not be read."""
    sha256 = hashlib.sha256(data).hexdigest()
    file_type = candidate.file_type
    pages: tuple[Page, ...] = ()
    kind: Kind
    if file_type.reader == "pdf":
        text, pages = pdf_text(data, max_pages=max_pdf_pages, timeout_s=timeout_s)
        kind = "pdf"
    elif file_type.reader == "html":
        text, kind = html_text(decode_text(data)), "text"
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


def html_text(html: str) -> str:
    """The visible text of an HTML page, with a line break at each block element."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(_HTML_BLOCK.sub(r"\n<\1>", html))
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else ""
    tree.strip_tags(list(_HTML_DROP))
    body = tree.body or tree.root
    raw = body.text(deep=True, separator="") if body else ""
    lines = [" ".join(line.split()) for line in raw.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return f"{title}\n\n{text}" if title and not text.startswith(title) else text


def pdf_text(data: bytes, *, max_pages: int, timeout_s: float) -> tuple[str, tuple[Page, ...]]:
    """Text of a PDF page by page, with where each page starts. Refuses encrypted/textless PDFs."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

    deadline = time.monotonic() + timeout_s
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceError("encrypted PDF (a password is needed)")
        page_count = len(reader.pages)
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
    if page_count > max_pages:
        raise SourceError(f"PDF has {page_count} pages, more than the {max_pages}-page limit")
    parts: list[str] = []
    pages: list[Page] = []
    offset = 0
    failed_pages = 0
    for number in range(page_count):
        if time.monotonic() > deadline:
            raise SourceError(f"PDF took longer than {timeout_s:g} s to read")
        try:
            page_text = reader.pages[number].extract_text() or ""
        except Exception:
            failed_pages += 1
            continue
        if not page_text.strip():
            continue
        pages.append(Page(number=number + 1, start=offset))
        parts.append(page_text)
        offset += len(page_text) + 2
    if not parts:
        if failed_pages:
            raise SourceError(f"corrupt PDF (none of {page_count} pages could be read)")
        raise SourceError("PDF has no text layer (scanned images need OCR first)")
    return "\n\n".join(parts), tuple(pages)
