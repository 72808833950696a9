"""Find the files under the paths a user gives: ignore rules, symlink policy, size and type checks.

Discovery only looks at names and the first bytes of a file; reading is `readers.py`'s job.
Inside a git work tree the files kept are those git keeps (`gitignore.py`); `.ragindexignore`
files (same syntax) and the configured excludes leave out more on top.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from ragindex.filetypes import (
    CODE_EXTENSIONS,
    CODE_FILENAMES,
    HTML_EXTENSIONS,
    PDF_EXTENSIONS,
    TEXT_EXTENSIONS,
    TEXT_FILENAMES,
    FileType,
    file_type_of,
    looks_binary,
)
from ragindex.gitignore import (
    NOTHING_TRACKED,
    IgnoreRules,
    Tracked,
    find_work_tree,
    repository_rules,
    tracked_but_ignored,
)
from ragindex.picklable import Picklable

__all__ = [
    "CODE_EXTENSIONS",
    "CODE_FILENAMES",
    "DEFAULT_EXCLUDES",
    "HTML_EXTENSIONS",
    "PDF_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "TEXT_FILENAMES",
    "Candidate",
    "Discovery",
    "FileType",
    "Skipped",
    "file_type_of",
    "looks_binary",
    "printable",
    "root_problem",
    "root_source",
    "source_id",
]

# Always left out: hidden files and folders (as ripgrep does: .git, .env, .venv, ignore files),
# caches, virtual environments, dependencies, our own store.
DEFAULT_EXCLUDES = [
    ".*",
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".venv/",
    "venv/",
    "node_modules/",
    ".ragindex/",
    ".tox/",
    ".DS_Store",
]
_SNIFF_BYTES = 8192
IGNORED_ROOT = "ignored by git (.gitignore, .git/info/exclude or the global excludes file)"


@dataclass(frozen=True, slots=True)
class Candidate(Picklable):
    """A file to read: where it is, the id it is stored under, what it is."""

    path: Path
    source: str
    file_type: FileType
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path left out, with the reason the user sees. `unreadable` is True only when the path
    exists but could not be listed, stat'ed or opened (permission denied, I/O error): whatever
    was indexed from below it must be kept, since what is there now is unknown."""

    path: Path
    source: str
    reason: str
    unreadable: bool = False


@dataclass(frozen=True, slots=True)
class _Rules:
    """The ignore rules in force inside one folder: git's, and ragindex's own on top."""

    git: IgnoreRules
    ragindex: IgnoreRules
    top: Path | None  # the work tree's top folder; None outside git
    tracked: Tracked = NOTHING_TRACKED  # what git tracks although its rules ignore it
    only_tracked: bool = False  # inside a folder git ignores: only what it tracks counts

    def keeps(self, path: Path, is_dir: bool) -> bool:
        if self.ragindex.ignored(path, is_dir):
            return False
        if not self.only_tracked and not self.git.ignored(path, is_dir):
            return True
        # git lists the files it tracks even when its rules (or their folder's) ignore them
        return path in (self.tracked.folders if is_dir else self.tracked.files)

    def entering(self, folder: Path) -> _Rules:
        git, top, tracked = self.git, self.top, self.tracked
        only_tracked = self.only_tracked or (
            top is not None and folder != top and git.ignored(folder, is_dir=True)
        )
        if folder != top and not only_tracked:
            work_tree = find_work_tree(folder) if os.path.lexists(folder / ".git") else None
            if work_tree is not None and work_tree.top == folder:
                # a nested repository or submodule: its own rules, none of the outer one's
                git, top, tracked = (
                    repository_rules(work_tree),
                    folder,
                    tracked_but_ignored(work_tree),
                )
        return _Rules(
            git.with_file(folder / ".gitignore", folder),
            self.ragindex.with_file(folder / ".ragindexignore", folder),
            top,
            tracked,
            only_tracked,
        )


def root_source(root: Path, portable: bool) -> str:
    """The prefix of every source found under a root: its absolute path, or, portable, the
    root's own name (a folder's or a single file's), so that two roots never share an id."""
    absolute = Path(os.path.abspath(root))
    return printable(absolute.name if portable else absolute.as_posix())


def source_id(path: Path, root: Path, portable: bool) -> str:
    """The id a file is stored under: its absolute path, or `<root's name>/<path in the root>`.

    A name that is not valid UTF-8 (a Latin-1 file name on a Linux disk) shows its odd bytes as
    `\\xe9`: ids end up in JSON payloads, UUIDs and terminals, which take no lone surrogates."""
    absolute_root = Path(os.path.abspath(root))
    if not portable:
        return printable(path.as_posix())
    if path == absolute_root:
        return root_source(absolute_root, portable)
    relative = path.relative_to(absolute_root).as_posix()
    return printable(f"{absolute_root.name}/{relative}")


def printable(posix: str) -> str:
    return os.fsencode(posix).decode("utf-8", "backslashreplace")


def root_problem(path: Path) -> str | None:
    """Why a root given to ingest cannot be walked; None when it can."""
    if not os.path.lexists(path):
        return "no such file or folder"
    try:
        info = os.stat(path)
    except OSError as error:
        if os.path.islink(path) and error.errno in (errno.ENOENT, errno.ELOOP):
            return "broken symlink"
        return _os_reason(error)
    try:
        if stat.S_ISDIR(info.st_mode):
            with os.scandir(path) as entries:
                next(entries, None)
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb"):
                pass
        else:
            return "not a regular file or folder"
    except OSError as error:
        return _os_reason(error)
    return None


class Discovery:
    """Walks the given roots and yields candidates to read and files skipped with a reason."""

    def __init__(
        self,
        *,
        max_bytes: int,
        excludes: list[str],
        follow_symlinks: bool,
        portable: bool,
        store_home: Path | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.follow_symlinks = follow_symlinks
        self.portable = portable
        self.user_excludes = pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDES + excludes)
        self.store_home = store_home.resolve() if store_home else None

    def walk(self, root: Path) -> Iterator[Candidate | Skipped]:
        root = Path(os.path.abspath(root))
        problem = root_problem(root)
        if problem is not None:
            unreadable = problem.startswith("cannot read")
            yield Skipped(root, root_source(root, self.portable), problem, unreadable)
            return
        is_dir = root.is_dir()
        rules = _rules_above(root, is_dir)
        if rules is None:
            yield Skipped(root, root_source(root, self.portable), IGNORED_ROOT)
        elif is_dir:
            yield from self._walk_dir(root, root, rules, set())
        else:
            yield self._check_file(root, root)

    def _walk_dir(
        self, root: Path, directory: Path, rules: _Rules, seen_dirs: set[tuple[int, int]]
    ) -> Iterator[Candidate | Skipped]:
        source = source_id(directory, root, self.portable)
        try:
            info = directory.stat()
        except OSError as error:
            yield Skipped(directory, source, _os_reason(error), _is_unreadable(error))
            return
        if (info.st_dev, info.st_ino) in seen_dirs:
            yield Skipped(directory, source, "symlink loop")
            return
        seen_dirs = seen_dirs | {(info.st_dev, info.st_ino)}
        rules = rules.entering(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            yield Skipped(directory, source, _os_reason(error), _is_unreadable(error))
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError as error:
                entry_source = source_id(path, root, self.portable)
                yield Skipped(path, entry_source, _os_reason(error), _is_unreadable(error))
                continue
            if self._excluded(path, root, is_dir) or not rules.keeps(path, is_dir):
                continue
            if entry.is_symlink() and not self.follow_symlinks and not _inside(path, root):
                entry_source = source_id(path, root, self.portable)
                yield Skipped(
                    path, entry_source, "symlink to outside the ingest root (not followed)"
                )
                continue
            if is_dir:
                yield from self._walk_dir(root, path, rules, seen_dirs)
            else:
                yield self._check_file(path, root)

    def _excluded(self, path: Path, root: Path, is_dir: bool) -> bool:
        """Left out by ragindex's own defaults, the user's excludes, or being the store."""
        if self.store_home is not None and path == self.store_home:
            return True
        relative = path.relative_to(root).as_posix() + ("/" if is_dir else "")
        return self.user_excludes.match_file(relative)

    def _check_file(self, path: Path, root: Path) -> Candidate | Skipped:
        source = source_id(path, root, self.portable)
        file_type = file_type_of(path)
        if file_type is None:
            return Skipped(path, source, f"unsupported file type ({path.suffix or 'no extension'})")
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                return Skipped(path, source, "not a regular file")
            if info.st_size > self.max_bytes:
                limit = self.max_bytes / 1e6
                return Skipped(
                    path, source, f"larger than the {limit:g} MB limit ({info.st_size:,} bytes)"
                )
            if info.st_size == 0:
                return Skipped(path, source, "empty file")
            with path.open("rb") as handle:
                head = handle.read(_SNIFF_BYTES)
        except OSError as error:
            if path.is_symlink() and error.errno in (errno.ENOENT, errno.ELOOP):
                return Skipped(path, source, "broken symlink")
            return Skipped(path, source, _os_reason(error), _is_unreadable(error))
        if not file_type.binary and looks_binary(head):
            return Skipped(path, source, "binary content")
        return Candidate(path, source, file_type, info.st_size, info.st_mtime)


def _rules_above(root: Path, is_dir: bool) -> _Rules | None:
    """The rules in force at the root, from the folders above it up to its work tree's top;
    None when the root itself is ignored there (git lists nothing under it)."""
    work_tree = find_work_tree(root if is_dir else root.parent)
    if work_tree is None:
        # outside git, only the ignore files under the root count, as they always did
        return _Rules(IgnoreRules(), IgnoreRules(), None)
    tracked = tracked_but_ignored(work_tree)
    rules = _Rules(repository_rules(work_tree), IgnoreRules(), work_tree.top, tracked)
    current = work_tree.top
    for part in root.relative_to(work_tree.top).parts:
        rules = rules.entering(current)
        current = current / part
        if not rules.keeps(current, is_dir or current != root):
            return None
    return rules


def _inside(path: Path, root: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    except OSError:
        return False


def _is_unreadable(error: OSError) -> bool:
    """An error about a path that is there (permission, I/O), not one that has gone away."""
    return error.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


def _os_reason(error: OSError) -> str:
    return f"cannot read: {error.strerror or error}"
