"""Office documents, spreadsheets, e-books and notebooks: each is read with the place a result
comes from (a section, a slide, a sheet's rows, a chapter, a notebook cell), and each hostile
variant (a zip bomb, a corrupt archive, an encrypted file, a million empty rows) is refused
with its reason or read only as far as its real data, while the files beside it are indexed.

Every file is written at test time (`document_makers.py`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from document_makers import (
    OLE_ENCRYPTED,
    write_docx,
    write_entity_bomb_docx,
    write_epub,
    write_ipynb,
    write_lying_zip,
    write_million_empty_rows,
    write_odt,
    write_pptx,
    write_xlsx,
    write_zip_bomb,
)

from ragindex import Index, Settings
from ragindex.chunking import Chunker, ChunkingPolicy
from ragindex.discovery import Candidate, file_type_of
from ragindex.errors import SourceError
from ragindex.readers import read_bytes, read_document
from ragindex.sheettext import MAX_EMPTY_RUN
from ragindex.tokens import qwen_tokenizer
from ragindex.types import Document


def read(path: Path, *, timeout_s: float = 30, max_unpacked_bytes: int = 50_000_000) -> Document:
    file_type = file_type_of(path)
    assert file_type is not None, f"{path.name} should be a supported type"
    stat = path.stat()
    candidate = Candidate(path, path.as_posix(), file_type, stat.st_size, stat.st_mtime)
    return read_document(
        candidate,
        read_bytes(candidate),
        max_pdf_pages=100,
        timeout_s=timeout_s,
        max_unpacked_bytes=max_unpacked_bytes,
    )


def part(document: Document, label: str) -> str:
    """The text of the part with that label."""
    starts = [(page.start, page.label) for page in document.pages]
    for index, (start, page_label) in enumerate(starts):
        if page_label == label:
            end = starts[index + 1][0] if index + 1 < len(starts) else len(document.text)
            return document.text[start:end].strip()
    raise AssertionError(f"no part {label!r} in {[page.label for page in document.pages]}")


# --- each format, read with its locations ---


def test_word_document_is_read_in_sections_named_by_their_headings(tmp_path: Path) -> None:
    document = read(write_docx(tmp_path / "closet.docx"))
    assert document.kind == "text" and document.format == "docx" and document.language == "en"
    assert [page.label for page in document.pages] == [
        "beginning",
        "Routers",
        "Routers > Firmware",
        "Switches",
    ]
    assert part(document, "beginning") == "A field guide for the network closet."
    # a table's rows stay in their section, one line each
    assert part(document, "Routers > Firmware").splitlines() == [
        "Firmware",
        "Flash firmware only over a wired connection.",
        "model | port",
        "Larkspur X2 | 8443",
    ]


def test_slides_are_read_one_by_one_with_their_notes(tmp_path: Path) -> None:
    document = read(write_pptx(tmp_path / "review.pptx"))
    assert [page.label for page in document.pages] == ["slide 1", "slide 2", "slide 3"]
    assert part(document, "slide 2") == (
        "Hiring\nTwo lighthouse keepers join in spring.\nMention the relocation budget."
    )
    # a line break inside a paragraph (a vertical tab in the file) separates the words
    assert "Storm season\ndelays the ferry" in part(document, "slide 3")


def test_spreadsheet_rows_are_labelled_with_their_sheet_and_row(tmp_path: Path) -> None:
    document = read(write_xlsx(tmp_path / "inventory.xlsx"))
    assert [page.label for page in document.pages] == [
        "Sales row 1",
        "Sales row 2",
        "Sales row 3",
        "Stock row 1",
        "Stock row 40",
    ]
    assert part(document, "Sales row 3") == "south | tent pegs | 7"
    assert part(document, "Stock row 40") == "Tromsø | snowshoes"
    assert document.warnings == ()


def test_opendocument_text_is_read_in_sections(tmp_path: Path) -> None:
    document = read(write_odt(tmp_path / "minutes.odt"))
    assert [page.label for page in document.pages] == ["beginning", "Compost", "Bees"]
    assert part(document, "Bees") == "Bees\nThe beehives move to the orchard in May."


def test_epub_chapters_follow_the_spine_with_titles_from_the_contents(tmp_path: Path) -> None:
    document = read(write_epub(tmp_path / "coast.epub"))
    # the cover holds only an image: not a chapter to cite
    assert [page.label for page in document.pages] == [
        "chapter 1: The Harbour",
        "chapter 2: The Lighthouse",
    ]
    assert "The keeper trims the lamp wick at dusk." in part(document, "chapter 2: The Lighthouse")


def test_notebook_cells_keep_their_numbers_sources_and_text_outputs(tmp_path: Path) -> None:
    document = read(write_ipynb(tmp_path / "tides.ipynb"))
    # the empty third cell is left out, but numbering counts it as Jupyter does
    assert [page.label for page in document.pages] == ["cell 1", "cell 2", "cell 4"]
    assert part(document, "cell 2").endswith("loaded 8760 readings")
    assert part(document, "cell 4") == "readings.plot()\n\nKeyError: 'salinity'"


def test_small_parts_are_packed_into_chunks_that_name_the_parts_they_hold(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    log = workbook.active
    log.title = "Log"
    for day in range(1, 61):
        log.append([f"day {day}", f"the otter colony counted {day * 3} pups near weir {day}"])
    workbook.create_sheet("Notes").append(["a single note about the weir"])
    workbook.save(str(tmp_path / "survey.xlsx"))
    document = read(tmp_path / "survey.xlsx")
    chunks = Chunker(qwen_tokenizer(), ChunkingPolicy(128, 0, 512)).chunk(document)

    assert len(chunks) > 3
    rows: list[int] = []
    for chunk in chunks[:-1]:
        assert chunk.location is not None and chunk.page is None
        first, last = map(int, chunk.location.removeprefix("Log rows ").split("–"))
        # the chunk holds exactly the rows it names, whole
        assert chunk.text.startswith(f"day {first} |") and f"weir {last}" in chunk.text
        assert chunk.text.rstrip().endswith(f"weir {last}") and chunk.tokens <= 128
        rows += range(first, last + 1)
    assert rows == list(range(1, 61)), "every row in one chunk, in order"
    # another sheet starts a chunk of its own
    assert chunks[-1].location == "Notes row 1"


# --- hostile files, one by one ---


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("locked.docx", OLE_ENCRYPTED, r"^encrypted Word document \(a password is needed\)$"),
        ("locked.xlsx", OLE_ENCRYPTED[:512], r"^encrypted Excel workbook"),
        ("notzip.pptx", b"just some text, not a presentation", r"^corrupt PowerPoint file"),
        ("garbage.odt", b"PK\x03\x04" + bytes(range(256)) * 8, r"^corrupt OpenDocument file"),
        ("broken.ipynb", b'{"cells": [', r"^corrupt Jupyter notebook"),
    ],
)
def test_unreadable_documents_are_refused_with_a_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SourceError, match=reason):
        read(path)


def test_a_truncated_archive_is_refused_as_corrupt(tmp_path: Path) -> None:
    whole = write_pptx(tmp_path / "whole.pptx").read_bytes()
    (tmp_path / "cut.pptx").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceError, match=r"^corrupt PowerPoint file"):
        read(tmp_path / "cut.pptx")


def test_a_zip_bomb_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = write_zip_bomb(tmp_path / "bomb.docx", megabytes=60)
    assert path.stat().st_size < 200_000
    with pytest.raises(SourceError, match=r"^zip bomb refused: Word document unpacks to more"):
        read(path, max_unpacked_bytes=50_000_000)


def test_a_member_that_inflates_past_its_declared_size_is_refused(tmp_path: Path) -> None:
    path = write_lying_zip(tmp_path / "liar.xlsx")
    assert zipfile.ZipFile(path).getinfo("xl/workbook.xml").file_size == 1000
    with pytest.raises(SourceError, match=r"inflates past its declared 1,000 bytes"):
        read(path)


def test_an_xml_entity_bomb_is_refused_not_expanded(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^corrupt Word document \(XMLSyntaxError"):
        read(write_entity_bomb_docx(tmp_path / "laughs.docx"))


def test_encrypted_opendocument_and_drm_epub_are_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "sealed.odt", "w") as sealed:
        sealed.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        sealed.writestr(
            "META-INF/manifest.xml",
            "<manifest:manifest><manifest:file-entry manifest:full-path='content.xml'>"
            "<manifest:encryption-data/></manifest:file-entry></manifest:manifest>",
        )
        sealed.writestr("content.xml", bytes(range(256)))
    with pytest.raises(SourceError, match=r"^encrypted OpenDocument file"):
        read(tmp_path / "sealed.odt")
    with pytest.raises(SourceError, match=r"^encrypted EPUB e-book \(DRM\)$"):
        read(write_epub(tmp_path / "drm.epub", encrypted_chapter=True))


def test_a_million_empty_rows_are_not_read_past_the_real_data(tmp_path: Path) -> None:
    document = read(write_million_empty_rows(tmp_path / "formatted.xlsx"))
    sales = [page.label for page in document.pages if page.label.startswith("Sales")]
    assert sales == ["Sales row 1", "Sales row 2", "Sales row 3"]
    # the other sheet is still read after the long empty run
    assert "Stock row 40" in [page.label for page in document.pages]
    assert document.warnings == (
        f"sheet 'Sales' read up to row {MAX_EMPTY_RUN + 3:,}: "
        f"{MAX_EMPTY_RUN:,} empty rows followed",
    )


def test_a_reader_in_a_thread_stops_itself_at_the_time_limit(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^PowerPoint file took longer than 0 s to read$"):
        read(write_pptx(tmp_path / "review.pptx"), timeout_s=0)


# --- through a real index ---


@pytest.mark.timeout(300)
def test_every_format_is_searchable_with_its_location_and_hostile_files_skipped(
    tmp_path: Path,
) -> None:
    root = tmp_path / "office"
    root.mkdir()
    write_docx(root / "closet.docx")
    write_pptx(root / "review.pptx")
    write_xlsx(root / "inventory.xlsx")
    write_odt(root / "minutes.odt")
    write_epub(root / "coast.epub")
    write_ipynb(root / "tides.ipynb")
    (root / "notes.md").write_text("# Notes\n\nThe heron waits in the shallow water.\n")
    write_zip_bomb(root / "bomb.docx", megabytes=250)
    write_lying_zip(root / "liar.xlsx")
    (root / "locked.docx").write_bytes(OLE_ENCRYPTED)
    whole = (root / "review.pptx").read_bytes()
    (root / "cut.pptx").write_bytes(whole[: len(whole) // 2])
    write_million_empty_rows(root / "formatted.xlsx")

    settings = Settings.load(home=tmp_path / "home", portable_paths=True)
    with Index.open(settings) as index:
        report = index.ingest([root])
        assert not report.failed, report.failed
        skipped = report.skipped
        assert skipped["office/bomb.docx"].startswith("zip bomb refused"), skipped
        assert "inflates past its declared" in skipped["office/liar.xlsx"], skipped
        assert skipped["office/locked.docx"].startswith("encrypted Word document"), skipped
        assert skipped["office/cut.pptx"].startswith("corrupt PowerPoint file"), skipped
        assert len(skipped) == 4, skipped
        indexed = {record.source for record in index.documents()}
        assert indexed == {
            f"office/{name}"
            for name in (
                "closet.docx",
                "review.pptx",
                "inventory.xlsx",
                "minutes.odt",
                "coast.epub",
                "tides.ipynb",
                "notes.md",
                "formatted.xlsx",
            )
        }
        assert "empty rows followed" in report.warnings["office/formatted.xlsx"]

        def found(query: str, source: str) -> str | None:
            hits = index.search(query, k=5, mode="sparse")
            hit = next((hit for hit in hits if hit.source == f"office/{source}"), None)
            assert hit is not None, (query, [(hit.source, hit.text) for hit in hits])
            assert hit.page is None
            return hit.location

        # a small document is one chunk: its location spans the parts it holds
        assert found("uplink amber", "closet.docx") == "beginning – Switches"
        assert found("lighthouse keepers", "review.pptx") == "slides 1–3"
        assert found("kayak paddles", "inventory.xlsx") == "Sales rows 1–3"
        assert found("snowshoes", "inventory.xlsx") == "Stock rows 1–40"
        assert found("beehives orchard", "minutes.odt") == "beginning – Bees"
        assert found("lamp wick", "coast.epub") == "chapters 1–2"
        assert found("salinity", "tides.ipynb") == "cells 1–4"
        assert found("heron", "notes.md") is None
        # the cited locations are also in the hit's payload as stored, after a reopen
    with Index.open(settings) as index:
        again = index.ingest([root])
        assert again.indexed == [] and not again.failed, "a re-run must not redo anything"
        assert index.search("tent pegs", k=1, mode="sparse")[0].location == "Sales rows 1–3"
