"""What the CLI writes to a terminal, made safe: file names, sources, reasons and document text
come from files someone else may have named or written, and a name such as `\\x1b]0;…\\x07`
would retitle, clear or reprogram the terminal that lists it."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from ragindex.errors import IngestAborted, RagindexError
from ragindex.types import IngestReport

# C0, DEL and C1 controls; the bidirectional overrides and isolates, which reorder what is shown
# (a name can read as another); lone surrogates, left by names that were not valid UTF-8
_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
# what json.dumps leaves raw (it escapes C0 itself): escaped as \uXXXX, still valid JSON
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str, *, layout: bool = False) -> str:
    """`text` with every control character written as a visible escape (`\\x1b`, `\\n`).

    `layout=True` keeps newlines and tabs, for document text shown as text; names, paths and
    reasons never keep them: a newline in a file name would forge a line of the report."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if layout and char in "\n\t":
            return char
        if char in _NAMED:
            return _NAMED[char]
        code = ord(char)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _UNSAFE.sub(escape, text)


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout; non-ASCII text stays readable, controls never raw."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(_RAW_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n")


def error_line(error: RagindexError) -> str:
    """The one line the CLI prints for an error: what happened and what to do."""
    message = str(error)
    if isinstance(error, IngestAborted):
        report = error.report
        committed = len(report.indexed) if isinstance(report, IngestReport) else 0
        told = f"{committed:,} documents were committed before the stop"
        if told not in message:  # the library's message may say it already
            message = (
                f"ingest stopped: {message}; {told} and stay indexed; "
                "run the same command again to resume"
            )
    return "error: " + printable(message)
