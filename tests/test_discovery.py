"""Discovery says what it found, what it left out and why, which paths it could not read, and
where each root's sources live."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragindex.discovery import Candidate, Discovery, Skipped, root_problem, root_source


def discovery(*, portable: bool, excludes: list[str] | None = None) -> Discovery:
    return Discovery(
        max_bytes=1_000_000, excludes=excludes or [], follow_symlinks=False, portable=portable
    )


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def test_files_left_out_carry_a_reason_and_are_not_unreadable(tmp_path: Path) -> None:
    root = write(
        tmp_path / "mixed",
        {
            "ok.md": "# fine\n",
            "fake.txt": b"\x00\x01\x02binary\x00",
            "big.txt": "x" * 2_000_000,
            "empty.py": "",
            "photo.jpg": b"\xff\xd8\xff\xe0",
        },
    )
    (root / "dangling.md").symlink_to(root / "gone.md")
    found = list(discovery(portable=True).walk(root))
    skipped = {item.source: item for item in found if isinstance(item, Skipped)}
    assert [item.source for item in found if isinstance(item, Candidate)] == ["mixed/ok.md"]
    assert skipped["mixed/fake.txt"].reason == "binary content"
    assert skipped["mixed/big.txt"].reason.startswith("larger than the 1 MB limit")
    assert skipped["mixed/empty.py"].reason == "empty file"
    assert skipped["mixed/photo.jpg"].reason.startswith("unsupported file type")
    assert skipped["mixed/dangling.md"].reason == "broken symlink"
    assert not any(item.unreadable for item in skipped.values())


def test_gitignore_ragindexignore_and_excludes_outside_git(tmp_path: Path) -> None:
    root = write(
        tmp_path / "project",
        {
            ".gitignore": "build/\n*.log\n",
            "docs/.ragindexignore": "draft.md\n",
            "build/out.txt": "x\n",
            "debug.log": "x\n",
            "docs/draft.md": "x\n",
            "docs/final.md": "x\n",
            "src/a.py": "x\n",
            "src/gen/b.py": "x\n",
            "node_modules/x/index.js": "x\n",
        },
    )
    found = discovery(portable=False, excludes=["src/gen/"]).walk(root)
    sources = sorted(item.path.relative_to(root).as_posix() for item in found)
    assert sources == ["docs/final.md", "src/a.py"]


def test_portable_sources_start_with_their_roots_name_so_two_roots_never_collide(
    tmp_path: Path,
) -> None:
    first = write(tmp_path / "alpha", {"README.md": "alpha\n", "docs/guide.md": "a\n"})
    second = write(tmp_path / "beta", {"README.md": "beta\n"})
    single = write(tmp_path / "loose", {"notes.txt": "a single file given as a root\n"})
    walker = discovery(portable=True)
    sources = {
        root: sorted(item.source for item in walker.walk(root) if isinstance(item, Candidate))
        for root in (first, second, single / "notes.txt")
    }
    assert sources[first] == ["alpha/README.md", "alpha/docs/guide.md"]
    assert sources[second] == ["beta/README.md"]
    assert sources[single / "notes.txt"] == ["notes.txt"]
    for root, found in sources.items():
        prefix = root_source(root, portable=True)
        assert all(source == prefix or source.startswith(prefix + "/") for source in found)


def test_absolute_sources_start_with_the_roots_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(tmp_path / "notes", {"a.md": "a\n"})
    monkeypatch.chdir(tmp_path)
    assert root_source(Path("notes"), portable=False) == root.as_posix()
    assert root_source(Path("notes"), portable=True) == "notes"
    assert root_source(Path("."), portable=True) == tmp_path.name
    found = list(discovery(portable=False).walk(Path("notes")))
    assert [item.source for item in found] == [(root / "a.md").as_posix()]


def test_root_source_shows_undecodable_name_bytes_printably(tmp_path: Path) -> None:
    root = tmp_path / "caf\udce9"
    root.mkdir()
    assert root_source(root, portable=True) == "caf\\xe9"
    assert root_source(root, portable=False).endswith("/caf\\xe9")


def test_root_problem_names_what_is_wrong_with_a_root(tmp_path: Path) -> None:
    folder = write(tmp_path / "folder", {"a.md": "a\n"})
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "pipe")
    assert root_problem(folder) is None
    assert root_problem(folder / "a.md") is None
    assert root_problem(tmp_path / "missing") == "no such file or folder"
    assert root_problem(tmp_path / "dangling") == "broken symlink"
    assert root_problem(tmp_path / "pipe") == "not a regular file or folder"


def test_a_missing_root_is_skipped_with_its_reason(tmp_path: Path) -> None:
    found = list(discovery(portable=False).walk(tmp_path / "missing"))
    assert len(found) == 1 and isinstance(found[0], Skipped)
    assert found[0].reason == "no such file or folder" and not found[0].unreadable


# --- what cannot be read ----------------------------------------------------------------------
# root reads mode-000 folders and files, so as root the check runs in a child process that has
# given up the two capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): the same
# code meets the same "Permission denied" an ordinary user gets.
_WALK_SCRIPT = """
import json, sys
from pathlib import Path
from ragindex.discovery import Candidate, Discovery, root_problem
walker = Discovery(max_bytes=10**6, excludes=[], follow_symlinks=False, portable=True)
found = [
    {"source": item.source, "reason": getattr(item, "reason", ""),
     "unreadable": getattr(item, "unreadable", False), "candidate": isinstance(item, Candidate)}
    for item in walker.walk(Path(sys.argv[1]))
]
problems = {name: root_problem(Path(name)) for name in sys.argv[2:]}
print(json.dumps({"found": found, "problems": problems}))
"""


def walk_unprivileged(root: Path, *problem_paths: Path) -> dict[str, object]:
    command = [sys.executable, "-c", _WALK_SCRIPT, str(root), *map(str, problem_paths)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: root reads mode-000 folders anyway")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(completed.stdout)
    return result


@pytest.fixture
def locked_tree(tmp_path: Path) -> Iterator[Path]:
    root = write(
        tmp_path / "library",
        {
            "open/readme.md": "readable\n",
            "locked/inside.md": "cannot be listed\n",
            "secret.md": "cannot be opened\n",
        },
    )
    (root / "locked").chmod(0)
    (root / "secret.md").chmod(0)
    yield root
    (root / "locked").chmod(stat.S_IRWXU)
    (root / "secret.md").chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_an_unreadable_folder_and_file_are_reported_as_unreadable(locked_tree: Path) -> None:
    result = walk_unprivileged(locked_tree, locked_tree / "locked", locked_tree / "open")
    found = {item["source"]: item for item in result["found"]}  # type: ignore[attr-defined]
    assert found["library/open/readme.md"]["candidate"]
    assert found["library/locked"]["unreadable"]
    assert "Permission denied" in found["library/locked"]["reason"]
    assert found["library/secret.md"]["unreadable"]
    assert "library/locked/inside.md" not in found
    problems = result["problems"]
    assert problems == {  # a root that cannot be walked says so; a readable one has no problem
        str(locked_tree / "locked"): "cannot read: Permission denied",
        str(locked_tree / "open"): None,
    }


def test_an_unreadable_root_is_one_unreadable_skip(locked_tree: Path) -> None:
    result = walk_unprivileged(locked_tree / "locked")
    assert result["found"] == [
        {
            "source": "locked",
            "reason": "cannot read: Permission denied",
            "unreadable": True,
            "candidate": False,
        }
    ]
