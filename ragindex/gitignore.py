"""Git's ignore rules, applied as git applies them, with pathspec doing the pattern matching.

Inside a work tree, what is ignored comes from the global excludes file, `.git/info/exclude`
and every `.gitignore` from the work tree's top down to the file's folder. The most specific
source decides: a deeper `.gitignore` beats a shallower one, which beats info/exclude, which
beats the global file; within one source the last matching pattern wins. A folder that is
ignored is never entered, so nothing below it can be re-included (git does the same).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pathspec

_GIT_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class _Level:
    base: Path  # patterns are matched against paths relative to this folder
    spec: pathspec.GitIgnoreSpec


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """The patterns that apply inside one folder, least specific first."""

    levels: tuple[_Level, ...] = ()

    def ignored(self, path: Path, is_dir: bool) -> bool:
        suffix = "/" if is_dir else ""
        for level in reversed(self.levels):
            relative = path.relative_to(level.base).as_posix() + suffix
            decision = level.spec.check_file(relative).include
            if decision is not None:  # this source has a say: more general ones do not count
                return decision
        return False

    def with_file(self, ignore_file: Path, base: Path) -> IgnoreRules:
        """These rules with one more, more specific file of patterns (if it exists)."""
        lines = _read_lines(ignore_file)
        if not lines:
            return self
        return IgnoreRules((*self.levels, _Level(base, pathspec.GitIgnoreSpec.from_lines(lines))))


@dataclass(frozen=True, slots=True)
class WorkTree:
    top: Path
    git_dir: Path  # where info/exclude lives (the common folder of a linked work tree)


@dataclass(frozen=True, slots=True)
class Tracked:
    """Files git tracks although its ignore rules match them (added before the rule, or with
    `git add -f`): git lists them all the same. `folders` holds every folder above them."""

    files: frozenset[Path] = frozenset()
    folders: frozenset[Path] = frozenset()


NOTHING_TRACKED = Tracked()


def tracked_but_ignored(work_tree: WorkTree) -> Tracked:
    """Asked of git itself, which reads its index; without git none are known (then ragindex
    leaves them out, as their ignore rules say)."""
    git = shutil.which("git")
    if git is None:
        return NOTHING_TRACKED
    try:
        completed = subprocess.run(
            [git, "-C", str(work_tree.top), "ls-files", "-z", "-c", "-i", "--exclude-standard"],
            capture_output=True,
            timeout=_GIT_TIMEOUT_S * 6,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return NOTHING_TRACKED
    if completed.returncode != 0:
        return NOTHING_TRACKED  # not a repository git accepts (another user's): rules alone decide
    files = {work_tree.top / os.fsdecode(name) for name in completed.stdout.split(b"\0") if name}
    folders = {
        parent
        for path in files
        for parent in path.parents
        if parent != work_tree.top and parent.is_relative_to(work_tree.top)
    }
    return Tracked(frozenset(files), frozenset(folders))


def find_work_tree(start: Path) -> WorkTree | None:
    """The git work tree `start` (an absolute folder) is in: the nearest folder upward holding
    a `.git` folder or `.git` file; None outside any work tree."""
    for folder in (start, *start.parents):
        git_dir = _git_dir(folder / ".git")
        if git_dir is not None:
            return WorkTree(folder, git_dir)
    return None


def repository_rules(work_tree: WorkTree) -> IgnoreRules:
    """The rules of the whole repository, below every `.gitignore`: the global excludes file,
    then info/exclude (the `.gitignore` of each folder is added on entering it)."""
    rules = IgnoreRules()
    global_file = global_excludes_file(work_tree)
    if global_file is not None:
        rules = rules.with_file(global_file, work_tree.top)
    return rules.with_file(work_tree.git_dir / "info" / "exclude", work_tree.top)


def global_excludes_file(work_tree: WorkTree) -> Path | None:
    """`core.excludesFile` as git resolves it, else git's default place for it."""
    configured = _configured_excludes_file(work_tree)
    if configured is not None:
        return configured
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path(os.path.expanduser("~")) / ".config"
    return base / "git" / "ignore"


def _configured_excludes_file(work_tree: WorkTree) -> Path | None:
    git = shutil.which("git")
    if git is not None:
        try:
            completed = subprocess.run(
                [git, "-C", str(work_tree.top), "config", "--path", "--get", "core.excludesFile"],
                capture_output=True,
                text=True,
                timeout=_GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            completed = None
        if completed is not None and completed.returncode == 0 and completed.stdout.strip():
            return Path(completed.stdout.strip())
        if completed is not None and completed.returncode == 1:
            return None  # git says: not set
        # git refused (a repository owned by another user, a broken config): read it ourselves
    return _excludes_file_from_config_files(work_tree)


def _excludes_file_from_config_files(work_tree: WorkTree) -> Path | None:
    """`core.excludesFile` read without git, from the files git reads it from (later wins)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    home = Path(os.path.expanduser("~"))
    candidates = [
        (Path(xdg) if xdg else home / ".config") / "git" / "config",
        home / ".gitconfig",
        work_tree.git_dir / "config",
    ]
    found: str | None = None
    for config_file in candidates:
        value = _core_excludes_file(_read_lines(config_file))
        if value is not None:
            found = value
    if not found:
        return None
    return Path(os.path.expanduser(found))


def _core_excludes_file(lines: list[str]) -> str | None:
    section = ""
    value: str | None = None
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line[1:].split("]", 1)[0].strip().lower()
            continue
        key, _, rest = line.partition("=")
        if section == "core" and key.strip().lower() == "excludesfile":
            value = rest.split(" #", 1)[0].split(" ;", 1)[0].strip().strip('"')
    return value


def _git_dir(dot_git: Path) -> Path | None:
    """The repository folder a `.git` entry stands for, or None if it is not one."""
    try:
        if dot_git.is_dir():
            return dot_git if (dot_git / "HEAD").exists() else None
        if dot_git.is_file():
            # a linked work tree or a submodule: "gitdir: <path>"
            first = dot_git.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
            if not first.startswith("gitdir:"):
                return None
            git_dir = dot_git.parent / first.removeprefix("gitdir:").strip()
            common = _read_lines(git_dir / "commondir")
            return (git_dir / common[0].strip()).resolve() if common else git_dir
    except OSError:
        return None
    return None


def _read_lines(path: Path) -> list[str]:
    """A file's lines; none for a missing or unreadable one (it then ignores nothing, as in git)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
