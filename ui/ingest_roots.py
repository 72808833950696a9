"""Which paths the page may index: only those under the configured `ui_ingest_roots`.

A visitor's path is resolved first (symlinks followed, `..` collapsed) and then checked against
the resolved roots, so neither `root/../..` nor a link inside a root that points elsewhere gets
out. The path handed to the ingest is spelled under the root as configured, so the page stores
the same source ids as `ragindex ingest ROOT` from a terminal.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class PathRefused(Exception):
    """The path is not one the page may index; the message says why, for the visitor."""


def allowed_path(typed: str, roots: Sequence[Path]) -> Path:
    """The path to ingest for what the visitor typed, or `PathRefused`.

    An absolute path must lie under one of `roots`; a relative one is taken inside the only
    root (with several roots it must be absolute, to say which)."""
    text = typed.strip()
    if not text:
        raise PathRefused("Type a folder or file to index.")
    if "\x00" in text:
        raise PathRefused("That path holds a NUL character.")
    candidate = Path(text)
    if not candidate.is_absolute():
        if len(roots) != 1:
            raise PathRefused("Give the full path, under one of the folders listed.")
        candidate = Path(os.path.abspath(roots[0])) / candidate
    try:
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise PathRefused("No such folder or file.") from None
    except (OSError, RuntimeError):  # a symlink loop, a name too long, a permission error
        raise PathRefused("That path cannot be resolved.") from None
    for root in roots:
        try:
            real_root = root.resolve(strict=True)
        except (OSError, RuntimeError):
            continue  # a missing root allows nothing
        if resolved.is_relative_to(real_root):
            return Path(os.path.abspath(root)) / resolved.relative_to(real_root)
    raise PathRefused("This page may only index folders under the ones listed.")


def missing_roots(roots: Sequence[Path]) -> list[Path]:
    """The configured roots that do not exist (or are not folders) on this server."""
    return [root for root in roots if not root.is_dir()]
