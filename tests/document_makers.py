"""Office documents, e-books and notebooks for the tests, written at test time by the libraries
that write these formats, and hostile variants written with zipfile (what those libraries would
never write): a zip bomb, a zip that lies about its sizes, a million empty rows, an OLE
container standing for a password-protected Office file."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

# --- the formats, written by their own libraries ---


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("A field guide for the network closet.")
    document.add_heading("Routers", level=1)
    document.add_paragraph("Reboot the router when the uplink light blinks amber.")
    document.add_heading("Firmware", level=2)
    document.add_paragraph("Flash firmware only over a wired connection.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "model", "port"
    table.cell(1, 0).text, table.cell(1, 1).text = "Larkspur X2", "8443"
    document.add_heading("Switches", level=1)
    document.add_paragraph("Label every patch cable at both ends.")
    document.save(str(path))
    return path


def write_pptx(path: Path) -> Path:
    import pptx

    presentation = pptx.Presentation()
    for title, body, notes in (
        ("Quarterly review", "Revenue grew in every region.", ""),
        ("Hiring", "Two lighthouse keepers join in spring.", "Mention the relocation budget."),
        ("Risks", "Storm season\vdelays the ferry schedule.", ""),
    ):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    presentation.save(str(path))
    return path


def write_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sales = workbook.active
    sales.title = "Sales"
    sales.append(["region", "product", "units"])
    sales.append(["north", "kayak paddles", 12])
    sales.append(["south", "tent pegs", 7.0])
    stock = workbook.create_sheet("Stock")
    stock.append(["warehouse", "item"])
    stock["A40"], stock["B40"] = "Tromsø", "snowshoes"
    workbook.save(str(path))
    return path


def write_odt(path: Path) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(P(text="Minutes of the garden committee."))
    document.text.addElement(H(outlinelevel=1, text="Compost"))
    document.text.addElement(P(text="Turn the compost heap every fortnight."))
    document.text.addElement(H(outlinelevel=1, text="Bees"))
    document.text.addElement(P(text="The beehives move to the orchard in May."))
    document.save(str(path))
    return path


def write_epub(path: Path, *, encrypted_chapter: bool = False) -> Path:
    """An EPUB 3 book as an e-book tool writes it: mimetype first and stored, a container, a
    package with a spine, a nav document with the chapters' titles, XHTML chapters."""
    chapters = {
        "cover.xhtml": ("Cover", ""),
        "text/ch1.xhtml": ("The Harbour", "The fishing boats return before the tide turns."),
        "text/ch2.xhtml": ("The Lighthouse", "The keeper trims the lamp wick at dusk."),
    }
    xhtml = (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        "<head><title>{title}</title></head><body>{body}</body></html>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">'
            '<rootfiles><rootfile full-path="OEBPS/book.opf"'
            ' media-type="application/oebps-package+xml"/></rootfiles></container>',
        )
        items = "".join(
            f'<item id="c{n}" href="{name}" media-type="application/xhtml+xml"/>'
            for n, name in enumerate(chapters)
        )
        spine = "".join(f'<itemref idref="c{n}"/>' for n in range(len(chapters)))
        book.writestr(
            "OEBPS/book.opf",
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><manifest>'
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml"'
            f' properties="nav"/>{items}</manifest><spine>{spine}</spine></package>',
        )
        links = "".join(
            f'<li><a href="{name}#top">{title}</a></li>'
            for name, (title, _) in chapters.items()
            if name != "cover.xhtml"
        )
        book.writestr(
            "OEBPS/nav.xhtml",
            xhtml.format(
                title="Contents", body=f'<nav epub:type="toc"><ol>{links}</ol></nav>'
            ).replace("<html ", '<html xmlns:epub="http://www.idpf.org/2007/ops" '),
        )
        for name, (title, text) in chapters.items():
            body = f"<h1>{title}</h1><p>{text}</p>" if text else '<img src="cover.png"/>'
            book.writestr(f"OEBPS/{name}", xhtml.format(title=title, body=body))
        if encrypted_chapter:
            book.writestr(
                "META-INF/encryption.xml",
                '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"'
                ' xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
                '<enc:CipherData><enc:CipherReference URI="OEBPS/text/ch1.xhtml"/>'
                "</enc:CipherData></enc:EncryptedData></encryption>",
            )
    return path


def write_ipynb(path: Path) -> Path:
    import nbformat
    from nbformat import v4

    notebook = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# Tide tables\n\nLoad the harbour's tide gauge readings."),
            v4.new_code_cell(
                "import pandas as pd\nreadings = pd.read_csv('gauge.csv')",
                outputs=[v4.new_output("stream", name="stdout", text="loaded 8760 readings\n")],
            ),
            v4.new_code_cell(""),
            v4.new_code_cell(
                "readings.plot()",
                outputs=[v4.new_output("error", ename="KeyError", evalue="'salinity'")],
            ),
        ]
    )
    nbformat.write(notebook, str(path))
    return path


# --- hostile files ---


def write_zip_bomb(path: Path, megabytes: int) -> Path:
    """A small zip that inflates to `megabytes` of zeros, under an Office name."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", "<Types/>")
        with bomb.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(bytes(1 << 20))
    return path


def write_lying_zip(path: Path) -> Path:
    """A zip whose member declares 1,000 bytes and inflates to 5 MB (the headers are patched
    the way a hand-made bomb's are)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", bytes(5 << 20))
    data = bytearray(buffer.getvalue())
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<L", data, local + 22, 1000)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 24, 1000)
    path.write_bytes(bytes(data))
    return path


def write_million_empty_rows(path: Path) -> Path:
    """Three rows of data, then a million formatted but empty rows, and a sheet dimension
    claiming every row and column Excel has: what a sheet looks like after someone formatted
    whole columns."""
    write_xlsx(path)
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    empty = "".join(f'<row r="{n}" s="0" customFormat="1"/>' for n in range(4, 1_000_004))
    sheet = sheet.replace("</sheetData>", empty + "</sheetData>")
    sheet = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', sheet)
    members["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            target.writestr(name, data)
    return path


OLE_ENCRYPTED = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptedPackage".encode("utf-16-le")
)


def write_entity_bomb_docx(path: Path) -> Path:
    """A Word document whose body XML declares the "billion laughs": ten levels of entities,
    each ten of the one below, a gigabyte of text once expanded."""
    write_docx(path)
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    entities = "".join(
        f'<!ENTITY lol{level} "' + (f"&lol{level - 1};" if level else "lol") * 10 + '">'
        for level in range(10)
    )
    members["word/document.xml"] = (
        f'<?xml version="1.0"?><!DOCTYPE bomb [{entities}]>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            target.writestr(name, data)
    return path
