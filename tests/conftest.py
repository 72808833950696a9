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
from hypothesis import settings as hypothesis_settings

from ragindex import Index, Settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = REPO / "corpora"

# the suite's property tests run the same examples on every machine (a red CI must be
# reproducible); "explore" draws new ones, many more, for a developer hunting bugs
hypothesis_settings.register_profile("default", max_examples=150, derandomize=True, database=None)
hypothesis_settings.register_profile("explore", max_examples=5000)
hypothesis_settings.load_profile("default")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting of the developer's (a RAGINDEX_* variable, RAGINDEX_CONFIG, the settings file
    in their config folder) leaks into a test; the variables that steer the tests themselves
    (RAGINDEX_TEST_QDRANT_URL, ...) stay."""
    import os

    settings = {f"RAGINDEX_{name.upper()}" for name in Settings.model_fields} | {"RAGINDEX_CONFIG"}
    for name in list(os.environ):
        if name in settings:
            monkeypatch.delenv(name)
    # the default settings file is $XDG_CONFIG_HOME/ragindex/config.toml: an empty folder here
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An index home that processes started by the test (CLI, UI) find through RAGINDEX_HOME."""
    monkeypatch.setenv("RAGINDEX_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


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


def write_notes(folder: Path, count: int = 6, name: str = "note") -> Path:
    """`count` small Markdown notes in `folder` (created), `note0.md` … (`name`0.md …)"""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (folder / f"{name}{number}.md").write_text(
            f"# Note {number}\n\nA note about lanterns and harbours, number {number}.\n",
            encoding="utf-8",
        )
    return folder


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


_WORDS = [
    "river",
    "harbour",
    "lantern",
    "compiler",
    "bridge",
    "orchard",
    "glacier",
    "packet",
    "kernel",
    "meadow",
    "saddle",
    "beacon",
    "thunder",
    "cipher",
    "marble",
    "quarry",
    "violin",
    "tensor",
    "ledger",
    "falcon",
    "ember",
    "prism",
    "canyon",
    "tide",
    "anvil",
]


def write_mixed_corpus(root: Path, files: int, *, pdfs: int = 0, seed: int = 0) -> Path:
    """A folder of `files` text, Markdown and Python files of varied length (a few hundred to
    a couple of thousand tokens) and `pdfs` three-page PDFs: reproducible from the seed."""
    import random

    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."

    def paragraph() -> str:
        return " ".join(sentence() for _ in range(rng.randint(3, 8)))

    for number in range(files):
        folder = root / f"part{number % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        body = [paragraph() for _ in range(rng.randint(2, 40))]
        match number % 3:
            case 0:
                text = f"# Note {number}\n\n" + "\n\n".join(body)
                (folder / f"note{number}.md").write_text(text, encoding="utf-8")
            case 1:
                (folder / f"prose{number}.txt").write_text("\n\n".join(body), encoding="utf-8")
            case _:
                functions = "\n\n".join(
                    f"def {rng.choice(_WORDS)}_{index}(value):\n    "
                    f'"""{paragraph()}"""\n    return value * {index}\n'
                    for index in range(len(body))
                )
                (folder / f"module{number}.py").write_text(functions, encoding="utf-8")
    for number in range(pdfs):
        write_pdf(root / f"manual{number}.pdf", [paragraph() for _ in range(3)])
    return root
