"""Each reader turns a real file into the text a user expects, or refuses it with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_image_only_pdf, write_pdf

from ragindex.discovery import Candidate, file_type_of
from ragindex.errors import SourceError
from ragindex.readers import read_bytes, read_document
from ragindex.types import Document


def read(path: Path) -> Document:
    file_type = file_type_of(path)
    assert file_type is not None, f"{path.name} should be a supported type"
    stat = path.stat()
    candidate = Candidate(path, path.as_posix(), file_type, stat.st_size, stat.st_mtime)
    return read_document(candidate, read_bytes(candidate), max_pdf_pages=100, timeout_s=30)


def test_plain_text_in_utf8_keeps_every_character(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Viele Grüße aus Köln — 你好，世界\n", encoding="utf-8")
    document = read(path)
    assert document.text == "Viele Grüße aus Köln — 你好，世界\n"
    assert document.kind == "text" and document.format == "plain"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("你好，世界", "zh"),
        ("猫はマットの上に座っている", "ja"),
        ("Die Katze schläft auf dem Sofa", "de"),
        ("El gato duerme en el sofá", "es"),
        ("The cat is asleep on the sofa", "en"),
    ],
)
def test_prose_language_is_detected(tmp_path: Path, text: str, language: str) -> None:
    path = tmp_path / "note.txt"
    path.write_text(text, encoding="utf-8")
    assert read(path).language == language


def test_utf16_with_byte_order_mark_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes("Die Katze schläft auf dem Sofa.".encode("utf-16"))
    assert read(path).text == "Die Katze schläft auf dem Sofa."


def test_legacy_latin1_text_is_decoded_not_garbled(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("Le café est très chaud, prenez garde à la tasse brûlante.".encode("cp1252"))
    assert "café" in read(path).text and "brûlante" in read(path).text


def test_terminal_colour_codes_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "poem.txt"
    path.write_text("\x1b[31m床前明月光\x1b[0m，疑是地上霜。", encoding="utf-8")
    assert read(path).text == "床前明月光，疑是地上霜。"


def test_markdown_keeps_its_format_for_header_aware_chunking(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Install\n\nRun the installer.\n", encoding="utf-8")
    document = read(path)
    assert document.format == "markdown" and document.kind == "text"


def test_restructured_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "index.rst"
    path.write_text("Title\n=====\n\nSome *emphasis* here.\n", encoding="utf-8")
    assert read(path).format == "rst"


def test_html_gives_visible_text_only(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Manual</title><style>p {color: red}</style>"
        "<script>var secret = 'not text';</script></head>"
        "<body><h1>Backups</h1><p>Keep <b>three</b> copies.</p><div>Test restores.</div>"
        "<noscript>enable js</noscript></body></html>",
        encoding="utf-8",
    )
    text = read(path).text
    assert "Keep three copies." in text
    assert "Test restores." in text
    assert "Backups" in text and "Manual" in text
    for hidden in ("secret", "color", "enable js", "<b>"):
        assert hidden not in text
    # block elements become separate lines, inline ones do not break the sentence
    assert {"Keep three copies.", "Test restores."} <= set(text.splitlines())


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("main.py", "python"),
        ("lib.rs", "rust"),
        ("app.js", "javascript"),
        ("types.ts", "typescript"),
        ("server.go", "go"),
        ("Main.java", "java"),
        ("util.c", "c"),
        ("vec.cpp", "cpp"),
        ("build.sh", "shell"),
        ("Makefile", "make"),
    ],
)
def test_source_code_language_comes_from_the_file_name(
    tmp_path: Path, name: str, language: str
) -> None:
    path = tmp_path / name
    path.write_text("// a comment\nlet value = compute(42);\n", encoding="utf-8")
    document = read(path)
    assert document.kind == "code"
    assert document.language == language


def test_pdf_is_read_page_by_page_with_page_numbers(tmp_path: Path) -> None:
    path = write_pdf(
        tmp_path / "manual.pdf",
        ["Chapter one is about routers.", "Chapter two is about Wi-Fi channels.", "The end."],
    )
    document = read(path)
    assert document.kind == "pdf"
    assert [page.number for page in document.pages] == [1, 2, 3]
    second = document.pages[1]
    assert document.text[second.start :].startswith("Chapter two is about Wi-Fi channels.")


def test_pdf_with_empty_user_password_is_read(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "locked-lightly.pdf", ["Readable by anyone."], user_password="")
    assert "Readable by anyone." in read(path).text


def test_encrypted_pdf_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "secret.pdf", ["Top secret."], user_password="s3cret")
    with pytest.raises(SourceError, match="encrypted PDF"):
        read(path)


def test_corrupt_pdf_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\ngarbage" * 10)
    with pytest.raises(SourceError, match="PDF"):
        read(path)


def test_pdf_without_text_layer_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = write_image_only_pdf(tmp_path / "scan.pdf")
    with pytest.raises(SourceError, match="no text layer"):
        read(path)


def test_html_leaves_out_navigation_banners_footers_asides_and_forms(tmp_path: Path) -> None:
    path = tmp_path / "manual.html"
    path.write_text(
        "<html><head><title>Backup guide</title></head><body>"
        "<header><a href='/'>Example Docs home</a></header>"
        "<div id='banner'><a href='/get'>Download the ebook</a></div>"
        "<nav><a href='prev.html'>Previous chapter</a> <a href='next.html'>Next chapter</a></nav>"
        "<div class='navheader'><table><tr><td>Prev</td><td>Up</td></tr></table></div>"
        "<ul class='docnav'><li>Zurück</li><li>Weiter</li></ul>"
        "<div role='navigation'>Site map</div>"
        "<main><article><header><h1>Backups</h1></header>"
        "<p>Keep three copies on two media.</p>"
        "<footer>Article last reviewed in May.</footer></article></main>"
        "<aside>Related: buy our backup appliance</aside>"
        "<form><label>Search the docs</label><input name='q'></form>"
        "<footer>Copyright Example Corp, all rights reserved</footer>"
        "<header><h2>Preamble</h2><p>A page-level header that holds a heading is content.</p>"
        "</header></body></html>",
        encoding="utf-8",
    )
    text = read(path).text
    # the article's own header and footer are content; the page's are not
    for kept in (
        "Backup guide",
        "Backups",
        "Keep three copies on two media.",
        "last reviewed",
        "Preamble",
        "holds a heading is content",
    ):
        assert kept in text
    for dropped in (
        "Docs home",
        "ebook",
        "Previous chapter",
        "Prev",
        "Zurück",
        "Site map",
        "appliance",
        "Search the docs",
        "Copyright",
    ):
        assert dropped not in text


def test_html_keeps_the_layout_of_preformatted_code(tmp_path: Path) -> None:
    code = "def backup(paths):\n    for path in paths:\n        copy(path)\n\n    return len(paths)"
    path = tmp_path / "code.html"
    path.write_text(
        # generators wrap the code in <code> (and the prompt in <strong>) inside the <pre>
        f"<html><body><p>Example:</p><pre class='screen'><code>{code}</code></pre>"
        "<pre><strong>$</strong> <code>tar  -czf  backup.tgz</code>\n<code>done</code></pre>"
        "<p>Done,   <code>inline   code</code> flows.</p>"
        "<dl><dt>7.1. Manual pages</dt><dd>Read them with man.</dd><dt>7.2. Info</dt></dl>"
        "</body></html>",
        encoding="utf-8",
    )
    text = read(path).text
    assert code in text
    assert "$ tar  -czf  backup.tgz\ndone" in text
    assert "Done, inline code flows." in text
    # a definition list (DocBook's tables of contents) keeps one entry a line
    assert {"7.1. Manual pages", "7.2. Info"} <= {line.strip() for line in text.splitlines()}


def test_xhtml_with_an_xml_declaration_and_control_characters_is_read(tmp_path: Path) -> None:
    path = tmp_path / "page.xhtml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><body>'
        "<p>Form\x0cfeed and\x00 nul</p></body></html>",
        encoding="utf-8",
    )
    assert read(path).text == "Formfeed and nul"


def damage_page(pdf: Path, page_index: int) -> Path:
    """Overwrite one page's compressed content stream with zeros, keeping every byte offset
    (the cross-reference table stays right): that page's text can no longer be decoded."""
    data = bytearray(pdf.read_bytes())
    marker = b"/Contents "
    position = -1
    for _ in range(page_index + 1):
        position = data.index(marker, position + 1)
    number = int(data[position + len(marker) :].split(b" ", 1)[0])
    stream_object = data.index(f"\n{number} 0 obj".encode())
    start = data.index(b"stream\n", stream_object) + len(b"stream\n")
    end = data.index(b"\nendstream", start)
    data[start:end] = b"\0" * (end - start)
    pdf.write_bytes(bytes(data))
    return pdf


def test_pdf_with_an_unreadable_page_is_read_with_a_warning(tmp_path: Path) -> None:
    path = write_pdf(
        tmp_path / "manual.pdf",
        ["Chapter one is about routers.", "Chapter two is lost.", "Chapter three: Wi-Fi."],
    )
    assert read(path).warnings == ()
    document = read(damage_page(path, 1))
    assert "routers" in document.text and "Wi-Fi" in document.text
    assert "lost" not in document.text
    assert [page.number for page in document.pages] == [1, 3]
    assert document.warnings == ("1 of 3 pages unreadable",)


def test_pdf_with_a_scanned_page_says_so_and_a_blank_page_is_fine(tmp_path: Path) -> None:
    from fpdf import FPDF
    from PIL import Image

    scan = tmp_path / "scan.png"
    Image.new("L", (200, 100), color=128).save(scan)
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 7, "A page of text about lighthouses.")
    pdf.add_page()
    pdf.image(str(scan), x=20, y=20, w=100)  # a scanned page: an image, no text layer
    pdf.add_page()  # a blank page between chapters
    pdf.add_page()
    pdf.multi_cell(0, 7, "The last page of text.")
    path = tmp_path / "mixed.pdf"
    pdf.output(str(path))
    document = read(path)
    assert "lighthouses" in document.text and "last page" in document.text
    assert document.warnings == ("1 of 4 pages are images without text (need OCR)",)


def test_a_pdf_whose_every_page_is_damaged_is_refused(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "broken.pdf", ["Only page."])
    with pytest.raises(SourceError, match="none of 1 pages could be read"):
        read(damage_page(path, 0))
