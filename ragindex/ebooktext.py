"""EPUB text chapter by chapter, labelled "chapter 3: The Harbour".

An EPUB is a zip (`archives.open_zip` checks it) holding XHTML files; its package document
(`.opf`, found through `META-INF/container.xml`) lists them in reading order (the spine), and
its table of contents (EPUB 3's nav document or EPUB 2's NCX) gives chapters their titles.
Each chapter's text comes from the HTML reader (`htmltext.py`). This is a few lxml lookups,
so no EPUB library is needed (the maintained one, ebooklib, is AGPL-licensed).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from typing import Any
from urllib.parse import unquote, urldefrag

from ragindex.archives import open_zip
from ragindex.errors import SourceError
from ragindex.htmltext import html_text
from ragindex.sections import Deadline, LabelledText, ReadResult, parsing

_NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
    "x": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
}
_CHAPTER_TYPES = ("application/xhtml+xml", "text/html")
# DRM lists encrypted content documents in encryption.xml; fonts listed there are only
# obfuscated (the EPUB standard's font mangling), which leaves the text readable
_ENCRYPTED_TEXT = re.compile(rb"URI=\"[^\"]+\.(?:x?html?|xml|opf|ncx)\"", re.IGNORECASE)


def epub_text(data: bytes, *, timeout_s: float, max_unpacked_bytes: int) -> ReadResult:
    """The spine's chapters in reading order, each labelled with its number and title."""
    archive = open_zip(data, what="EPUB e-book", max_unpacked_bytes=max_unpacked_bytes)
    if _ENCRYPTED_TEXT.search(_member(archive, "META-INF/encryption.xml", required=False)):
        raise SourceError("encrypted EPUB e-book (DRM)")
    deadline = Deadline(timeout_s)
    chapters = LabelledText()
    unreadable = 0
    with parsing("EPUB e-book"):
        package_path = _package_path(archive)
        package = _xml(_member(archive, package_path))
        folder = posixpath.dirname(package_path)
        manifest = {
            item.get("id"): item
            for item in package.iterfind("opf:manifest/opf:item", _NS)
            if item.get("id") and item.get("href")
        }
        titles = _titles(archive, package, manifest, folder)
        spine = [
            manifest[ref.get("idref")]
            for ref in package.iterfind("opf:spine/opf:itemref", _NS)
            if ref.get("idref") in manifest and ref.get("linear") != "no"
        ]
        number = 0
        for item in spine:
            if item.get("media-type") not in _CHAPTER_TYPES:
                continue
            deadline.check("EPUB e-book")
            path = _resolve(folder, item.get("href", ""))
            html = _member(archive, path).decode("utf-8", "replace")
            try:
                text = html_text(html) if _has_body_text(html) else ""
            except SourceError:
                unreadable += 1
                continue
            if not text.strip():
                continue  # a cover image, a blank page: not a chapter to cite
            number += 1
            title = titles.get(path)
            chapters.add(f"chapter {number}: {title}" if title else f"chapter {number}", text)
    warnings = (f"{unreadable} chapters unreadable",) if unreadable and chapters else ()
    if unreadable and not chapters:
        raise SourceError(f"corrupt EPUB e-book (none of {unreadable} chapters could be read)")
    return chapters.result(warnings)


def _package_path(archive: zipfile.ZipFile) -> str:
    container = _xml(_member(archive, "META-INF/container.xml"))
    rootfile = container.find("c:rootfiles/c:rootfile", _NS)
    if rootfile is None or not rootfile.get("full-path"):
        raise SourceError("corrupt EPUB e-book (its container names no package document)")
    return str(rootfile.get("full-path"))


def _titles(
    archive: zipfile.ZipFile, package: Any, manifest: dict[str, Any], folder: str
) -> dict[str, str]:
    """Chapter file -> its title in the table of contents (the first entry pointing into it)."""
    entries: list[tuple[str, str]] = []  # (href relative to the TOC's file, title)
    toc_path = ""
    nav = next((i for i in manifest.values() if "nav" in (i.get("properties") or "").split()), None)
    spine = package.find("opf:spine", _NS)
    ncx = manifest.get(spine.get("toc")) if spine is not None else None
    if nav is not None:
        toc_path = _resolve(folder, nav.get("href", ""))
        document = _xml(_member(archive, toc_path, required=False) or b"<html/>")
        for link in document.iterfind(".//x:nav//x:a", _NS):
            entries.append((link.get("href") or "", " ".join("".join(link.itertext()).split())))
    elif ncx is not None:
        toc_path = _resolve(folder, ncx.get("href", ""))
        document = _xml(_member(archive, toc_path, required=False) or b"<ncx/>")
        for point in document.iterfind(".//ncx:navPoint", _NS):
            label = point.findtext("ncx:navLabel/ncx:text", "", _NS)
            content = point.find("ncx:content", _NS)
            source = content.get("src", "") if content is not None else ""
            entries.append((source, " ".join(label.split())))
    titles: dict[str, str] = {}
    for href, title in entries:
        target = _resolve(posixpath.dirname(toc_path), urldefrag(href)[0])
        if title and target not in titles:
            titles[target] = title[:120]
    return titles


def _has_body_text(html: str) -> bool:
    """Whether a page shows any text: a cover is an image under a title, and the HTML reader
    would give that title alone."""
    from lxml.etree import ParserError
    from lxml.html import document_fromstring

    try:
        body = document_fromstring(html.encode()).body
    except (ParserError, ValueError):
        return True  # the HTML reader says what is wrong with it
    return bool(body is not None and body.text_content().strip())


def _resolve(folder: str, href: str) -> str:
    return posixpath.normpath(posixpath.join(folder, unquote(href))).lstrip("/")


def _member(archive: zipfile.ZipFile, name: str, *, required: bool = True) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        if required:
            raise SourceError(f"corrupt EPUB e-book ({name} is missing)") from None
        return b""


def _xml(data: bytes) -> Any:
    """XML without its DTD's entities or any network access: a hostile book cannot expand an
    entity a billion times or make the reader fetch a URL."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True)
    root = etree.fromstring(data, parser)
    if root is None:
        raise SourceError("corrupt EPUB e-book (an XML file in it is empty)")
    return root
