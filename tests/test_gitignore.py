"""Inside a git work tree ragindex keeps exactly the files git keeps: each case builds a real
repository and compares what discovery finds with `git ls-files -co --exclude-standard`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ragindex.discovery import Candidate, Discovery, Skipped

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture(autouse=True)
def _own_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's global git config and excludes file stay out of every case."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def repository(folder: Path, files: dict[str, str]) -> Path:
    """A real git repository holding `files` (path -> content), none of them committed."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return folder


def git_keeps(root: Path) -> set[str]:
    """What git lists under `root`, relative to it, hidden files (which ragindex always leaves
    out) removed."""
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    names = {name for name in listing.split("\0") if name}
    return {name for name in names if not any(part.startswith(".") for part in name.split("/"))}


def ragindex_keeps(root: Path) -> set[str]:
    discovery = Discovery(max_bytes=10**6, excludes=[], follow_symlinks=False, portable=False)
    found = list(discovery.walk(root))
    return {item.path.relative_to(root).as_posix() for item in found if isinstance(item, Candidate)}


def test_top_level_ignore_applies_when_a_subfolder_is_ingested(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            ".gitignore": "secret/\n*.log.txt\n/sub/drafts/\n",
            "sub/notes.md": "kept\n",
            "sub/secret/keys.md": "ignored by the top-level secret/\n",
            "sub/debug.log.txt": "ignored by *.log.txt\n",
            "sub/drafts/one.md": "ignored by the anchored /sub/drafts/\n",
            "sub/deeper/drafts/two.md": "kept: the anchored pattern names sub/drafts only\n",
        },
    )
    assert ragindex_keeps(repo / "sub") == git_keeps(repo / "sub")
    assert ragindex_keeps(repo / "sub") == {"notes.md", "deeper/drafts/two.md"}


def test_a_child_negation_re_includes_what_a_parent_pattern_ignores(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            ".gitignore": "*.md\n",
            "docs/.gitignore": "!keep.md\n",
            "docs/keep.md": "re-included by the deeper file\n",
            "docs/drop.md": "still ignored\n",
            "keep.md": "the negation lives in docs/ only\n",
            "main.py": "print('kept')\n",
        },
    )
    assert ragindex_keeps(repo) == git_keeps(repo) == {"docs/keep.md", "main.py"}
    assert ragindex_keeps(repo / "docs") == git_keeps(repo / "docs") == {"keep.md"}


def test_within_one_file_the_last_matching_pattern_wins(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            ".gitignore": "!important.md\n*.md\n!readme.md\n",
            "important.md": "ignored: *.md comes after its negation\n",
            "readme.md": "kept: its negation comes last\n",
        },
    )
    assert ragindex_keeps(repo) == git_keeps(repo) == {"readme.md"}


def test_a_file_inside_an_excluded_folder_cannot_be_re_included(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            ".gitignore": "build/\n!build/keep.md\n",
            "build/.gitignore": "!keep.md\n",
            "build/keep.md": "its folder is excluded: no negation brings it back\n",
            "src/app.py": "print('kept')\n",
        },
    )
    assert ragindex_keeps(repo) == git_keeps(repo) == {"src/app.py"}


def test_ingesting_an_ignored_folder_finds_nothing_and_says_why(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo", {".gitignore": "private/\n", "private/diary.md": "not for the index\n"}
    )
    found = list(
        Discovery(max_bytes=10**6, excludes=[], follow_symlinks=False, portable=False).walk(
            repo / "private"
        )
    )
    assert git_keeps(repo / "private") == set()
    assert [type(item) for item in found] == [Skipped]
    assert isinstance(found[0], Skipped) and "ignored by git" in found[0].reason


def test_info_exclude_is_read_and_a_gitignore_negation_beats_it(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            "local.md": "excluded by info/exclude\n",
            "notes/scratch.md": "excluded by info/exclude\n",
            "notes/wanted.md": "excluded, then re-included by notes/.gitignore\n",
            "notes/.gitignore": "!wanted.md\n",
            "shared.md": "kept\n",
        },
    )
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("local.md\nscratch.md\nwanted.md\n")
    assert ragindex_keeps(repo) == git_keeps(repo) == {"notes/wanted.md", "shared.md"}


def test_the_default_global_excludes_file_is_read(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {"todo.md": "excluded by the global file\n", "plan.md": "kept\n", "a/todo.md": "too\n"},
    )
    global_file = tmp_path / "user-home" / ".config" / "git" / "ignore"
    global_file.parent.mkdir(parents=True)
    global_file.write_text("todo.md\n", encoding="utf-8")
    assert ragindex_keeps(repo) == git_keeps(repo) == {"plan.md"}


def test_core_excludes_file_from_the_users_git_config_is_read(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {"notes.md": "kept\n", "scratch.md": "excluded\n", "keep/scratch.md": "kept\n"},
    )
    (tmp_path / "user-home" / "my-ignores").write_text("scratch.md\n", encoding="utf-8")
    (tmp_path / "user-home" / ".gitconfig").write_text(
        "[core]\n\texcludesFile = ~/my-ignores\n", encoding="utf-8"
    )
    (repo / ".gitignore").write_text("!keep/scratch.md\n", encoding="utf-8")
    assert ragindex_keeps(repo) == git_keeps(repo) == {"notes.md", "keep/scratch.md"}


def test_core_excludes_file_is_found_without_git_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repository(tmp_path / "repo", {"notes.md": "kept\n", "scratch.md": "excluded\n"})
    (tmp_path / "user-home" / "my-ignores").write_text("scratch.md\n", encoding="utf-8")
    (tmp_path / "user-home" / ".gitconfig").write_text(
        '[user]\n\tname = x\n[core]\n\texcludesfile = "~/my-ignores"\n', encoding="utf-8"
    )
    expected = git_keeps(repo)
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    assert ragindex_keeps(repo) == expected == {"notes.md"}


def test_nested_anchored_patterns_and_double_stars(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            ".gitignore": "/top-only.md\n**/generated/**\ndocs/**/tmp.md\na/**/b.md\n",
            "top-only.md": "ignored at the top\n",
            "lib/top-only.md": "kept: anchored to the top\n",
            "lib/.gitignore": "/local.md\nnested/*.txt\n",
            "lib/local.md": "ignored, anchored to lib/\n",
            "lib/sub/local.md": "kept\n",
            "lib/nested/x.txt": "ignored\n",
            "lib/nested/deeper/x.txt": "kept: * does not cross a slash\n",
            "src/generated/out.py": "ignored\n",
            "src/generated/more/out.py": "ignored\n",
            "docs/tmp.md": "ignored: ** matches no folder too\n",
            "docs/x/y/tmp.md": "ignored\n",
            "a/b.md": "ignored\n",
            "a/x/y/b.md": "ignored\n",
            "a/c.md": "kept\n",
        },
    )
    assert ragindex_keeps(repo) == git_keeps(repo)
    assert ragindex_keeps(repo) == {
        "lib/top-only.md",
        "lib/sub/local.md",
        "lib/nested/deeper/x.txt",
        "a/c.md",
    }
    assert ragindex_keeps(repo / "lib") == git_keeps(repo / "lib")


def test_a_deeper_gitignore_beats_a_shallower_one_both_ways(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            ".gitignore": "*.txt\n!notes.md\n",
            "x/.gitignore": "!*.txt\nnotes.md\n",
            "x/y/.gitignore": "special.txt\n",
            "x/a.txt": "kept: re-included deeper\n",
            "x/notes.md": "ignored deeper\n",
            "x/y/special.txt": "ignored deepest\n",
            "x/y/other.txt": "kept\n",
            "b.txt": "ignored\n",
        },
    )
    assert ragindex_keeps(repo) == git_keeps(repo) == {"x/a.txt", "x/y/other.txt"}
    assert ragindex_keeps(repo / "x" / "y") == git_keeps(repo / "x" / "y") == {"other.txt"}


def test_ragindexignore_leaves_out_more_but_never_brings_back(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            ".gitignore": "*.log.txt\n",
            ".ragindexignore": "drafts/\n!*.log.txt\n",
            "drafts/d.md": "git keeps it, ragindex leaves it out\n",
            "run.log.txt": "git ignores it: ragindexignore cannot bring it back\n",
            "sub/guide.md": "kept\n",
        },
    )
    assert git_keeps(repo) == {"drafts/d.md", "sub/guide.md"}
    assert ragindex_keeps(repo) == {"sub/guide.md"}
    # the .ragindexignore above the ingest root counts as well
    assert ragindex_keeps(repo / "drafts") == set()


def test_a_work_tree_found_through_a_git_file(tmp_path: Path) -> None:
    main = repository(tmp_path / "main", {"README.md": "first\n"})
    subprocess.run(["git", "-C", str(main), "add", "README.md"], check=True)
    subprocess.run(
        ["git", "-C", str(main), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
        check=True,
    )
    linked = tmp_path / "linked"
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(linked)], check=True)
    assert (linked / ".git").is_file()
    (main / ".git" / "info").mkdir(exist_ok=True)
    (main / ".git" / "info" / "exclude").write_text("local.md\n", encoding="utf-8")
    (linked / "local.md").write_text("excluded by the shared info/exclude\n", encoding="utf-8")
    (linked / "new.md").write_text("kept\n", encoding="utf-8")
    assert ragindex_keeps(linked) == git_keeps(linked) == {"README.md", "new.md"}


def test_outside_a_work_tree_gitignore_files_under_the_root_still_apply(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    (folder / "docs").mkdir(parents=True)
    (folder / ".gitignore").write_text("*.log.txt\n", encoding="utf-8")
    (folder / "docs" / ".gitignore").write_text("!keep.log.txt\n", encoding="utf-8")
    for name in ("a.md", "x.log.txt", "docs/keep.log.txt", "docs/y.log.txt"):
        (folder / name).write_text("text\n", encoding="utf-8")
    assert ragindex_keeps(folder) == {"a.md", "docs/keep.log.txt"}


def test_files_git_tracks_are_kept_even_when_a_rule_ignores_them(tmp_path: Path) -> None:
    repo = repository(
        tmp_path / "repo",
        {
            "vendor/lib/keep.md": "committed before vendor/ was ignored\n",
            "vendor/lib/new.md": "untracked in an ignored folder: left out\n",
            "notes/forced.log.txt": "added with git add -f\n",
            "notes/other.log.txt": "ignored\n",
            "notes/readme.md": "kept\n",
        },
    )
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "vendor/lib/keep.md", "notes/readme.md"], check=True)
    (repo / ".gitignore").write_text("vendor/\n*.log.txt\n", encoding="utf-8")
    subprocess.run([*git, "add", "-f", "notes/forced.log.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "files"], check=True)
    expected = {"vendor/lib/keep.md", "notes/forced.log.txt", "notes/readme.md"}
    assert ragindex_keeps(repo) == git_keeps(repo) == expected
    assert ragindex_keeps(repo / "vendor") == git_keeps(repo / "vendor") == {"lib/keep.md"}
