"""The walk of an ingest's folders: in a thread, handing each file on as soon as it is found.

Reading and embedding start while the walk goes on (a large tree takes seconds to list, and
nothing else would run meanwhile); what must wait for the whole walk, the plan's checks and
any removal, waits for `FolderWalk.result()`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragindex.discovery import Candidate, Discovery, Skipped, root_problem, root_source
from ragindex.plan import RootScan


@dataclass
class Walk:
    """What the whole walk saw: the roots, every file to consider, what was left out."""

    roots: list[RootScan] = field(default_factory=list)
    found: list[Candidate] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


class FolderWalk:
    """`start()` the walk; iterate `candidates()` as files are found; `await result()` for
    the whole of it. `cancel()` ends it early (an error elsewhere, a stop)."""

    def __init__(self, discovery: Discovery, roots: Sequence[Path]) -> None:
        self._discovery = discovery
        self._roots = list(roots)
        self._cancelled = threading.Event()
        # files cross from the walk's thread in a plain queue; the event loop is woken only
        # when it waits for one (a wake-up per file would cost more than the walk, in a tree
        # of small files), and at once then (a slow share still hands each file on)
        self._found: queue.SimpleQueue[Candidate | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[Walk] | None = None
        self._scanned: asyncio.Future[list[RootScan]] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._scanned = self._loop.create_future()
        self._task = asyncio.ensure_future(asyncio.to_thread(self._walk))

    async def roots(self) -> list[RootScan]:
        """The roots, each checked (whether it can be walked at all), before any file is."""
        assert self._scanned is not None and self._task is not None, "start() first"
        either: set[asyncio.Future[Any]] = {self._scanned, self._task}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if self._scanned.done():
            return self._scanned.result()
        return (await self.result()).roots  # it failed or was cancelled before: its outcome

    def cancel(self) -> None:
        self._cancelled.set()

    async def result(self) -> Walk:
        """The whole walk (what it saw until then, once cancelled). A caller cancelled while
        it waits leaves the walk's thread running to its end, which `cancel()` hastens."""
        assert self._task is not None, "start() first"
        return await asyncio.shield(self._task)

    async def candidates(self) -> AsyncIterator[Candidate]:
        """Every file found, in the walk's order; ends when the walk does (or fails: its
        error comes from `result()`)."""
        assert self._loop is not None, "start() first"
        while True:
            try:
                found = self._found.get_nowait()
            except queue.Empty:
                waiter = self._loop.create_future()
                with self._lock:
                    self._waiter = waiter
                if self._found.empty():  # nothing arrived while the waiter was set up
                    await waiter
                continue
            if found is None:
                return
            yield found

    def _tell_roots(self, roots: list[RootScan]) -> None:
        if self._scanned is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_settle, self._scanned, roots)

    def _hand_on(self, found: Candidate | None) -> None:
        self._found.put(found)
        with self._lock:
            waiter, self._waiter = self._waiter, None
        if waiter is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    def _walk(self) -> Walk:
        walk = Walk()
        try:
            walk.roots = [
                RootScan(str(root), root_source(root, self._discovery.portable), root_problem(root))
                for root in self._roots
            ]
            self._tell_roots(list(walk.roots))
            for root, scan in zip(self._roots, walk.roots, strict=True):
                if scan.problem is not None:
                    continue
                for found in self._discovery.walk(root):
                    if self._cancelled.is_set():
                        return walk
                    if isinstance(found, Skipped):
                        walk.skipped[found.source] = found.reason
                        if found.unreadable:
                            walk.unreadable.append(found.source)
                        continue
                    walk.found.append(found)
                    self._hand_on(found)
            return walk
        finally:
            self._hand_on(None)  # whatever happened, `candidates()` ends


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _settle(future: asyncio.Future[list[RootScan]], roots: list[RootScan]) -> None:
    if not future.done():
        future.set_result(roots)
