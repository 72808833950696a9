"""Shared fixtures: a fresh index home per test, a copy of the sample corpus, PDF makers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fpdf import FPDF

from ragindex import Index, Settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = REPO / "corpora"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RAGINDEX_* variable or ragindex.toml of the developer's leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("RAGINDEX_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(home=tmp_path / "home")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the sample corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS, target, ignore=shutil.ignore_patterns("fetched"))
    return target


@pytest.fixture
def index(settings: Settings) -> Iterator[Index]:
    with Index.open(settings) as opened:
        yield opened


def write_pdf(path: Path, pages: list[str], *, user_password: str | None = None) -> Path:
    """A real PDF with one page per text (Latin-1 core font), optionally encrypted."""
    pdf = FPDF()
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 7, text)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    pdf.output(str(path))
    return path


def write_image_only_pdf(path: Path) -> Path:
    """A PDF whose only page holds a drawing and no text layer, like a scan."""
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


@contextmanager
def index_held_by_another_process(home: Path) -> Iterator[None]:
    """Another process opens the index at `home` and keeps it open until the block ends."""
    script = textwrap.dedent(f"""
        import sys
        from ragindex import Index, Settings
        index = Index.open(Settings.load(home={str(home)!r}))
        print("open", flush=True)
        sys.stdin.readline()
    """)
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        yield
    finally:
        holder.communicate("\n", timeout=30)
