"""Faster pickling for the frozen, slotted dataclasses that cross between processes by the
thousand (chunks and sparse vectors from the reading workers, points to the store's engine).

A slotted dataclass pickles through `dataclasses`' generic `__getstate__`/`__setstate__`, which
look up the class's fields for every object: at 16 cores that was a visible share of the
ingest process's busiest thread. Rebuilding the object from its fields, in order, is the same
result at a fraction of the cost.
"""

from __future__ import annotations

from typing import Any


class Picklable:
    """Base of a `@dataclass(frozen=True, slots=True)` whose fields are all `__init__`
    arguments: it pickles as a call of the class with its fields' values."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        names: tuple[str, ...] = type(self).__slots__  # the dataclass's, its fields in order
        return type(self), tuple(getattr(self, name) for name in names)
