"""Faster pickling for the frozen, slotted dataclasses that cross between processes by the
thousand (chunks and sparse vectors from the reading workers, points to the store's engine).

A slotted dataclass pickles through `dataclasses`' generic `__getstate__`/`__setstate__`, which
look up the class's fields for every object: at 16 cores that was a visible share of the
ingest process's busiest thread. Rebuilding the object from its fields, in order, is the same
result at a fraction of the cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class Picklable:
    """Base of a `@dataclass(frozen=True, slots=True)` whose fields are all positional
    `__init__` arguments: it pickles as a call of the class with its fields' values."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        cls: type[Any] = type(self)
        return cls, tuple(getattr(self, name) for name in _init_fields(cls))


_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def _init_fields(cls: type[Any]) -> tuple[str, ...]:
    """All the dataclass's fields, inherited ones first, as `__init__` takes them."""
    names = _FIELDS.get(cls)
    if names is None:
        fields = dataclasses.fields(cls)
        if any(not field.init or field.kw_only for field in fields):
            raise TypeError(f"{cls.__name__} has fields __init__ does not take in order")
        names = _FIELDS[cls] = tuple(field.name for field in fields)
    return names
