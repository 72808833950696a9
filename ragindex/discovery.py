"""Find the files under the paths a user gives: ignore rules, symlink policy, size and type checks.

Discovery only looks at names and the first bytes of a file; reading is `readers.py`'s job.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

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

CODE_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".rs": "rust",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".cs": "csharp",
    ".php": "php",
    ".rb": "ruby",
    ".scala": "scala",
    ".swift": "swift",
    ".lua": "lua",
    ".pl": "perl",
    ".pm": "perl",
    ".hs": "haskell",
    ".ex": "elixir",
    ".exs": "elixir",
    ".r": "r",
    ".ps1": "powershell",
    ".proto": "proto",
    ".sol": "solidity",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".sql": "sql",
    ".css": "css",
    ".scss": "css",
    ".vue": "javascript",
    ".svelte": "javascript",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".ini": "ini",
    ".cfg": "ini",
    ".mk": "make",
    ".cmake": "cmake",
    ".dockerfile": "dockerfile",
    ".gradle": "kotlin",
    ".tex": "latex",
}
CODE_FILENAMES = {"Makefile": "make", "Dockerfile": "dockerfile", "CMakeLists.txt": "cmake"}
TEXT_EXTENSIONS = {
    ".txt": "plain",
    ".text": "plain",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".rst": "rst",
    ".adoc": "plain",
    ".org": "plain",
    ".csv": "plain",
    ".tsv": "plain",
    ".log": "plain",
}
TEXT_FILENAMES = {"README", "LICENSE", "COPYING", "AUTHORS", "CHANGELOG", "NOTICE", "INSTALL"}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
PDF_EXTENSIONS = {".pdf"}
_SNIFF_BYTES = 8192
# .gitignore is honoured as git does; .ragindexignore (same syntax) leaves out files from the
# index that git keeps, like a corpus folder's own README or scripts
IGNORE_FILES = (".gitignore", ".ragindexignore")


@dataclass(frozen=True, slots=True)
class FileType:
    reader: str  # text | code | html | pdf
    format: str  # plain, markdown, rst, html, pdf, or the programming language


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file to read: where it is, the id it is stored under, what it is."""

    path: Path
    source: str
    file_type: FileType
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Skipped:
    path: Path
    source: str
    reason: str


def file_type_of(path: Path) -> FileType | None:
    """What reader a file needs, from its name; None for a type ragindex does not index."""
    suffix = path.suffix.lower()
    if path.name in CODE_FILENAMES:
        return FileType("code", CODE_FILENAMES[path.name])
    if suffix in CODE_EXTENSIONS:
        return FileType("code", CODE_EXTENSIONS[suffix])
    if suffix in TEXT_EXTENSIONS:
        return FileType("text", TEXT_EXTENSIONS[suffix])
    if suffix in HTML_EXTENSIONS:
        return FileType("html", "html")
    if suffix in PDF_EXTENSIONS:
        return FileType("pdf", "pdf")
    if path.stem.upper() in TEXT_FILENAMES and suffix in ("", ".txt"):
        return FileType("text", "plain")
    return None


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first bytes means binary, unless a UTF-16/32 byte-order mark says text."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return False
    return b"\x00" in head


def source_id(path: Path, root: Path, portable: bool) -> str:
    """The id a file is stored under: its absolute path, or the path relative to its root.

    A name that is not valid UTF-8 (a Latin-1 file name on a Linux disk) shows its odd bytes as
    `\\xe9`: ids end up in JSON payloads, UUIDs and terminals, which take no lone surrogates."""
    if portable:
        base = root if root.is_dir() else root.parent
        posix = path.relative_to(base).as_posix()
    else:
        posix = path.as_posix()
    return printable(posix)


def printable(posix: str) -> str:
    return os.fsencode(posix).decode("utf-8", "backslashreplace")


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
        if root.is_file() or (root.is_symlink() and not root.is_dir()):
            yield self._check_file(root, root)
            return
        yield from self._walk_dir(root, root, [], set())

    def _walk_dir(
        self,
        root: Path,
        directory: Path,
        ignore_specs: list[tuple[Path, pathspec.GitIgnoreSpec]],
        seen_dirs: set[tuple[int, int]],
    ) -> Iterator[Candidate | Skipped]:
        try:
            info = directory.stat()
        except OSError as error:
            yield Skipped(directory, source_id(directory, root, self.portable), _os_reason(error))
            return
        if (info.st_dev, info.st_ino) in seen_dirs:
            reason = "symlink loop"
            yield Skipped(directory, source_id(directory, root, self.portable), reason)
            return
        seen_dirs = seen_dirs | {(info.st_dev, info.st_ino)}
        for ignore_file in IGNORE_FILES:
            ignore_path = directory / ignore_file
            if ignore_path.is_file():
                try:
                    lines = ignore_path.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    continue  # an unreadable ignore file ignores nothing; the walk goes on
                spec = pathspec.GitIgnoreSpec.from_lines(lines)
                ignore_specs = [*ignore_specs, (directory, spec)]
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            yield Skipped(directory, source_id(directory, root, self.portable), _os_reason(error))
            return
        for entry in entries:
            path = Path(entry.path)
            is_dir = _is_dir(entry)
            if self._ignored(path, root, is_dir, ignore_specs):
                continue
            if entry.is_symlink() and not self.follow_symlinks and not _inside(path, root):
                source = source_id(path, root, self.portable)
                yield Skipped(path, source, "symlink to outside the ingest root (not followed)")
                continue
            if is_dir:
                yield from self._walk_dir(root, path, ignore_specs, seen_dirs)
            else:
                yield self._check_file(path, root)

    def _ignored(
        self,
        path: Path,
        root: Path,
        is_dir: bool,
        ignore_specs: list[tuple[Path, pathspec.GitIgnoreSpec]],
    ) -> bool:
        if self.store_home is not None and path == self.store_home:
            return True
        suffix = "/" if is_dir else ""
        relative = path.relative_to(root).as_posix() + suffix
        if self.user_excludes.match_file(relative):
            return True
        return any(
            spec.match_file(path.relative_to(base).as_posix() + suffix)
            for base, spec in ignore_specs
        )

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
            return Skipped(path, source, _os_reason(error))
        if file_type.reader != "pdf" and looks_binary(head):
            return Skipped(path, source, "binary content")
        return Candidate(path, source, file_type, info.st_size, info.st_mtime)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _inside(path: Path, root: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    except OSError:
        return False


def _os_reason(error: OSError) -> str:
    return f"cannot read: {error.strerror or error}"
