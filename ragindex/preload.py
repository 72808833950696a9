"""Load heavy, read-only resources once a process, optionally in a background thread.

Qwen's BPE (0.5 s) and the language identifier (0.75 s) would otherwise be loaded on the
critical path: before the first request can go to the embedding server, and again in every
forked reader process. `preload` starts a load while the run does other start-up work (the
server check, opening the store, walking the folders); `loaded` returns its one result,
waiting for it if it is still on its way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loads: dict[Callable[[], Any], Future[Any]] = {}


def preload(factory: Callable[[], T]) -> Future[T]:
    """Start `factory()` in a background thread, unless this process already has or is
    loading it. A failure is kept in the future and raised where the result is used."""
    future, started = _claim(factory)
    if started:
        threading.Thread(
            target=_fill, args=(future, factory), name="ragindex-preload", daemon=True
        ).start()
    return future


def loaded(factory: Callable[[], T]) -> T:
    """`factory()`'s one result in this process: loaded here and now, or by a `preload`."""
    future, started = _claim(factory)
    if started:
        _fill(future, factory)
    return future.result()


def _claim(factory: Callable[[], T]) -> tuple[Future[T], bool]:
    with _lock:
        future = _loads.get(factory)
        if future is not None:
            return future, False
        future = _loads[factory] = Future()
        return future, True


def _fill(future: Future[T], factory: Callable[[], T]) -> None:
    try:
        result = factory()
    except Exception as error:  # kept for whoever waits for the result, raised there
        future.set_exception(error)
        return
    except BaseException as error:  # interrupted, not broken: a later call loads afresh
        with _lock:
            _loads.pop(factory, None)
        future.set_exception(error)
        raise
    future.set_result(result)


def _after_fork_in_child() -> None:
    # a load that was still running belongs to a thread the child does not have: forget it,
    # so the child loads its own instead of waiting forever; the lock may have been held too
    global _lock
    _lock = threading.Lock()
    for factory, future in list(_loads.items()):
        if not future.done():
            del _loads[factory]


os.register_at_fork(after_in_child=_after_fork_in_child)
