"""What a file is, from its name and its first bytes: which reader it needs, whether it is text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
# formats whose reader is named after them; all but notebooks are zip containers
DOCUMENT_EXTENSIONS = {
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".odt": "odt",
    ".epub": "epub",
    ".ipynb": "ipynb",
}
_BINARY_READERS = {"pdf", "docx", "pptx", "xlsx", "odt", "epub"}


@dataclass(frozen=True, slots=True)
class FileType:
    reader: str  # text | code | html | pdf | docx | pptx | xlsx | odt | epub | ipynb
    format: str  # plain, markdown, rst, html, pdf, docx…, or the programming language

    @property
    def binary(self) -> bool:
        """Read from bytes by its own reader: NUL bytes in it are no sign of a wrong type."""
        return self.reader in _BINARY_READERS


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
    if suffix in DOCUMENT_EXTENSIONS:
        return FileType(DOCUMENT_EXTENSIONS[suffix], DOCUMENT_EXTENSIONS[suffix])
    if path.stem.upper() in TEXT_FILENAMES and suffix in ("", ".txt"):
        return FileType("text", "plain")
    return None


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first bytes means binary, unless a UTF-16/32 byte-order mark says text."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return False
    return b"\x00" in head
