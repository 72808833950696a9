"""Search filters as callers give them (a `Filters`, or a mapping as the CLI and the page pass
it) → the `Filters` the store matches: unknown keys refused, path prefixes in the form sources
are stored in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ragindex.errors import ConfigError
from ragindex.types import Filters

FiltersLike = Filters | Mapping[str, str | None] | None
FILTER_KEYS = ("language", "kind", "path", "path_prefix")


def filters_from(filters: FiltersLike, *, portable_paths: bool) -> Filters:
    if filters is None:
        return Filters()
    if not isinstance(filters, Filters):
        unknown = set(filters) - set(FILTER_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown filter(s): {', '.join(sorted(unknown))}; use {', '.join(FILTER_KEYS)}"
            )
        filters = Filters(
            language=filters.get("language") or None,
            kind=filters.get("kind") or None,
            path_prefix=filters.get("path") or filters.get("path_prefix") or None,
        )
    prefix = filters.path_prefix
    if prefix and not portable_paths:
        # sources are stored as absolute paths: a relative prefix means "from here"
        prefix = Path(os.path.abspath(prefix)).as_posix()
    elif prefix:
        prefix = prefix.strip("/")
    return Filters(language=filters.language, kind=filters.kind, path_prefix=prefix)
