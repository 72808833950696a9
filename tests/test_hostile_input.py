"""A folder of broken and hostile files: each one is indexed correctly or listed as skipped with
its reason, the rest of the folder is indexed, and nothing hangs.

The folder is generated here (no committed binaries). Unreadable files: the tests may run as root
(CI containers do), and root reads a file whatever its mode; then that file is simply indexed, and
the test checks the non-root outcome only where it can happen.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import write_image_only_pdf, write_pdf

from ragindex import Index, Settings
from ragindex.types import IngestReport

GOOD = {
    "good/notes.md": "# Field notes\n\nThe heron waits motionless in the shallow water.\n",
    "good/loader.py": "def load_settings(path):\n    return open(path).read()\n",
}
HOSTILE_MARKDOWN = (
    "# Innocent title\n\n<script>document.title = 'pwned'</script>\n\n"
    '<img src=x onerror="alert(1)">\n\n[click me](javascript:alert(1))\n\nplain words about ferns\n'
)
FIFTY_MB = 50 * 1024 * 1024


def build_hostile_folder(root: Path) -> dict[str, str]:
    """Writes the folder; returns, per relative name, what must become of it: "indexed",
    "skipped" or "indexed|skipped" (either, with a reason when skipped)."""
    expected: dict[str, str] = {}

    def write(name: str, data: bytes, outcome: str) -> Path:
        path = root / os.fsdecode(name.encode("utf-8", "surrogateescape"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = outcome
        return path

    for name, text in GOOD.items():
        write(name, text.encode(), "indexed")
    write("hostile.md", HOSTILE_MARKDOWN.encode(), "indexed")
    write("empty.txt", b"", "skipped")
    write("binary.txt", bytes(range(256)) * 64, "skipped")
    write("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2048), "skipped")
    write(
        "latin1-mislabelled.txt",
        "Caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve".encode("latin-1"),
        "indexed",
    )
    write(
        "bad-utf8.md", b"# Broken\n\nvalid start \xff\xfe\xc3\x28 invalid middle, end\n", "indexed"
    )
    write("utf16.txt", "Bonjour le monde, ceci est UTF-16.".encode("utf-16"), "indexed")
    # a BOM, then an odd number of bytes and a lone surrogate: not decodable as UTF-16
    write(
        "bad-utf16.txt",
        b"\xff\xfe" + "broken".encode("utf-16-le") + b"\x00\xd8\x41",
        "indexed|skipped",
    )
    write("huge-line.txt", b"a" * FIFTY_MB, "skipped")
    deep = "/".join(f"level{i}" for i in range(60))
    write(f"{deep}/bottom.md", b"# Deep\n\nA note at the bottom of sixty folders.\n", "indexed")
    write("newline\nin-name.md", b"# Newline\n\nA file whose name holds a newline.\n", "indexed")
    write("caf\udce9-latin1-name.md", b"# Bytes\n\nA file whose name is not UTF-8.\n", "indexed")
    # stored under a printable id that shows the odd byte as \xe9
    expected["caf\\xe9-latin1-name.md"] = expected.pop("caf\udce9-latin1-name.md")

    pdfs = root / "pdfs"
    pdfs.mkdir()
    write_pdf(pdfs / "ok.pdf", ["A readable page about lighthouses."])
    expected["pdfs/ok.pdf"] = "indexed"
    write_pdf(pdfs / "locked.pdf", ["Secret."], user_password="s3cret")
    expected["pdfs/locked.pdf"] = "skipped"
    write_pdf(pdfs / "empty-password.pdf", ["Anyone may read this page."], user_password="")
    expected["pdfs/empty-password.pdf"] = "indexed"
    write_image_only_pdf(pdfs / "scan.pdf")
    expected["pdfs/scan.pdf"] = "skipped"
    whole = (pdfs / "ok.pdf").read_bytes()
    write("pdfs/truncated.pdf", whole[: len(whole) // 2], "indexed|skipped")
    write("pdfs/garbage.pdf", b"%PDF-1.7\n" + os.urandom(4096), "skipped")

    unreadable = write("unreadable.txt", b"you should not be able to read me\n", "skipped")
    unreadable.chmod(0)
    if os.geteuid() == 0:
        expected["unreadable.txt"] = "indexed"  # root reads it anyway
    os.mkfifo(root / "pipe.txt")  # reading a FIFO would block forever
    expected["pipe.txt"] = "skipped"
    (root / "loop").mkdir()
    (root / "loop" / "again").symlink_to(root / "loop", target_is_directory=True)
    (root / "outside").symlink_to("/etc", target_is_directory=True)
    expected["outside"] = "skipped"
    return expected


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "hostile"
    root.mkdir()
    expected = build_hostile_folder(root)
    yield root, expected
    (root / "unreadable.txt").chmod(stat.S_IRUSR | stat.S_IWUSR)


def outcome_of(name: str, indexed: set[str], report: IngestReport) -> str:
    if name in indexed:
        return "indexed"
    if name in report.skipped:
        assert report.skipped[name], f"{name!r} skipped without a reason"
        return "skipped"
    if name in report.failed:
        return f"failed: {report.failed[name]}"
    return "missing"


@pytest.mark.timeout(300)
def test_every_hostile_file_is_indexed_or_skipped_with_a_reason(
    tmp_path: Path, hostile: tuple[Path, dict[str, str]]
) -> None:
    root, expected = hostile
    settings = Settings.load(home=tmp_path / "home", portable_paths=True)
    with Index.open(settings) as index:
        report = index.ingest([root])
        indexed = {record.source for record in index.documents()}
        # portable sources carry their root's name
        outcomes = {name: outcome_of(f"hostile/{name}", indexed, report) for name in expected}
        wrong = {
            name: outcome
            for name, outcome in outcomes.items()
            if outcome not in expected[name].split("|")
        }
        assert not wrong, f"unexpected outcomes: {wrong}\nskipped: {report.skipped}"
        assert not report.failed, report.failed
        assert report.skipped["hostile/huge-line.txt"].startswith("larger than")
        assert "symlink" in report.skipped["hostile/outside"]
        # the symlink loop is walked once, not forever, and nothing outside the root came in
        assert not any(
            source.startswith(("hostile/loop/again/again", "hostile/outside/"))
            for source in indexed
        )

        # the hostile Markdown is indexed as the text it is
        hits = index.search("ferns", k=3, mode="sparse")
        assert hits[0].source == "hostile/hostile.md"
        assert "<script>document.title = 'pwned'</script>" in hits[0].text
        # every indexed name can be searched and shown, odd bytes and newlines included
        names = {hit.source for hit in index.search("file whose name", k=10, mode="sparse")}
        assert {"hostile/newline\nin-name.md", "hostile/caf\\xe9-latin1-name.md"} <= names

        again = index.ingest([root])
        assert again.indexed == [] and not again.failed, "a re-run must not redo anything"


@pytest.mark.timeout(300)
def test_a_file_that_takes_too_long_is_stopped_and_the_rest_indexed(tmp_path: Path) -> None:
    root = tmp_path / "slow"
    root.mkdir()
    (root / "huge-line.txt").write_bytes(b"word" * (FIFTY_MB // 4))
    for number in range(8):
        (root / f"note{number}.md").write_text(f"# Note {number}\n\nAbout otters {number}.\n")
    settings = Settings.load(
        home=tmp_path / "home", portable_paths=True, max_file_mb=60, file_timeout_s=2
    )
    with Index.open(settings) as index:
        report = index.ingest([root])
        assert "took longer than" in report.skipped["slow/huge-line.txt"], report.skipped
        assert len(report.indexed) == 8 and not report.failed
