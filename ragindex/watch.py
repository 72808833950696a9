"""`watch`: keep an index in step with folders: ingest them, then ingest again whatever root
changes, until stopped.

Every run is an ordinary `AsyncIndex.ingest` of the roots that changed: it plans, embeds only
what changed and removes only what was seen gone under a root read whole. The watcher adds no
write path of its own, so it inherits the ingest's crash safety: a kill -9 at any moment leaves
at most the documents in flight, which the next run redoes.

Changes come from the system's file events (watchfiles: inotify, FSEvents, ReadDirectoryChanges),
grouped over a short quiet time; a burst of changes becomes one run, and changes seen while a run
is going mark their roots dirty: one more run follows, however many changes came. Each root is
also looked at every `POLL_S` seconds: a mount or unmount sends no file event (its device and
inode tell), and an editor that saves by renaming over a single-file root loses a file watch
(its size and time tell).

The watcher never prunes. A root that vanishes (unmounted, renamed) or looks emptied makes its
run fail with `PathError` or `PruneRequiredError`: the failure is reported, nothing is removed,
and the root runs again when it changes or comes back. A run that stops on any other error (the
embedding server lost) is retried after a growing delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from watchfiles import Change, DefaultFilter, awatch

from ragindex.discovery import root_problem
from ragindex.errors import (
    IngestAborted,
    IngestBusyError,
    PathError,
    PruneRequiredError,
    RagindexError,
)
from ragindex.types import IngestReport

if TYPE_CHECKING:
    from ragindex.api import AsyncIndex

POLL_S = 1.0  # how often each root's identity is looked at, and a stop noticed by the watcher
QUIET_MS = 300  # changes are handed over once none came for this long…
GROUP_MS = 1600  # …or once they have been gathering for this long
RETRY_S = (5.0, 15.0, 60.0, 300.0)  # after a run that stopped on an error, then again, …
BUSY_RETRY_S = 1.0  # another ingest holds the index (the page's button): wait for its end


@dataclass(frozen=True)
class WatchRun:
    """One run of a watcher: what the ingest did (`report`), or why it did nothing (`error`).
    A run stopped part-way (`IngestAborted`) has both: what it committed stays."""

    number: int  # 1 is the first run, which ingests every root
    paths: tuple[str, ...]
    changes: int  # file events folded into this run (0 for the first)
    started_at: float
    finished_at: float
    report: IngestReport | None = None
    error: RagindexError | None = None
    retry_s: float | None = None  # when the run is tried again without a change, if it will be

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None and self.report.ok


RunCallback = Callable[[WatchRun], None]


@dataclass
class WatchActivity:
    """The watcher holding an index now, as any thread can see it (`AsyncIndex.watching`)."""

    paths: tuple[str, ...]
    started_at: float = field(default_factory=time.time)
    runs: int = 0
    last: WatchRun | None = None
    pending: int = 0  # changes seen and not indexed yet
    polling: bool = False  # the system's file events were refused: the folders are polled
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def stop(self) -> None:
        """End the watch after the files in flight (documents committed stay); any thread."""
        if self._stop is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)


@dataclass
class WatchSummary:
    """How a watch ended: every run was reported as it ended; this is the count and the last."""

    runs: int
    last: WatchRun | None
    interrupted: bool = False  # ended by Ctrl-C (the synchronous `Index.watch`)


def as_roots(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    given = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    return [Path(os.path.abspath(path)) for path in given]


def _identity(root: Path) -> tuple[int, ...] | None:
    """What changes when a root is mounted, unmounted or replaced; for a file, also rewritten."""
    try:
        info = os.stat(root)
    except OSError:
        return None
    if stat.S_ISDIR(info.st_mode):
        return (info.st_dev, info.st_ino)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


class Watcher:
    """One watch of `roots` on `index`: `run()` until `stop` is set."""

    def __init__(
        self,
        index: AsyncIndex,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        stop: asyncio.Event | None = None,
        on_report: RunCallback | None = None,
    ) -> None:
        self.index = index
        self.roots = list(dict.fromkeys(as_roots(paths)))
        problems = [f"{root}: {problem}" for root in self.roots if (problem := root_problem(root))]
        if problems:
            raise PathError(
                "; ".join(problems) + "; nothing to watch there (check the path, or mount the "
                "share); nothing was indexed or removed"
            )
        self.stop = stop or asyncio.Event()
        self.on_report = on_report
        self.activity = WatchActivity(
            tuple(map(str, self.roots)), _stop=self.stop, _loop=asyncio.get_running_loop()
        )
        home = None if index.settings.qdrant_url else os.path.abspath(index.settings.home)
        # the store's own writes, when its folder lies inside a watched one, are not changes
        self._filter = DefaultFilter(ignore_paths=[home] if home else None)
        self._dirty: dict[Path, int] = dict.fromkeys(self.roots, 0)  # root -> changes seen
        self._wake = asyncio.Event()
        self._retry_at: float | None = None
        self._failures = 0
        self._identities = {root: _identity(root) for root in self.roots}

    async def run(self) -> WatchSummary:
        listener: asyncio.Future[object] = asyncio.ensure_future(self._listen())
        try:
            while not self.stop.is_set():
                self._wake.clear()
                if self._due():
                    await self._run_once()
                else:
                    await self._sleep(listener)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        return WatchSummary(self.activity.runs, self.activity.last)

    def _due(self) -> bool:
        return bool(self._dirty) and (self._retry_at is None or time.monotonic() >= self._retry_at)

    async def _sleep(self, listener: asyncio.Future[object]) -> None:
        """Until a change, the retry time, the stop, or the listener's end (an error)."""
        timeout = None if self._retry_at is None else max(0.0, self._retry_at - time.monotonic())
        waiters: set[asyncio.Future[object]] = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.stop.wait()),
        }
        try:
            await asyncio.wait(
                {*waiters, listener}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        if listener.done() and not listener.cancelled():
            listener.result()  # its error ends the watch
            self.stop.set()  # it ends only when stopped

    # --- one run ------------------------------------------------------------------------------
    async def _run_once(self) -> None:
        dirty = [root for root in self.roots if root in self._dirty]
        # a missing root refuses its whole run: the roots that are there go on without it
        missing = [root for root in dirty if root_problem(root) is not None]
        for roots in ([root for root in dirty if root not in missing], missing):
            if roots and not self.stop.is_set():
                await self._ingest(roots, sum(self._dirty.pop(root) for root in roots))

    async def _ingest(self, roots: list[Path], changes: int) -> None:
        self.activity.pending = sum(self._dirty.values())
        started = time.time()
        report: IngestReport | None = None
        error: RagindexError | None = None
        retry_s: float | None = None
        try:
            report = await self.index.ingest(roots, stop=self.stop)
        except IngestBusyError:
            self._again(roots, changes, BUSY_RETRY_S)  # not a failure: the other run goes first
            return
        except (PathError, PruneRequiredError) as refused:
            error = refused  # nothing was written; the root runs again when it changes
        except RagindexError as failed:  # the run stopped part-way, or could not start
            error = failed
            if isinstance(failed, IngestAborted) and isinstance(failed.report, IngestReport):
                report = failed.report
            retry_s = RETRY_S[min(self._failures, len(RETRY_S) - 1)]
            self._again(roots, changes, retry_s)
            self._failures += 1
        else:
            self._retry_at, self._failures = None, 0
        self.activity.runs += 1
        run = WatchRun(
            self.activity.runs,
            tuple(map(str, roots)),
            changes,
            started,
            time.time(),
            report,
            error,
            retry_s,
        )
        self.activity.last = run
        if self.on_report is not None:
            self.on_report(run)

    def _again(self, roots: list[Path], changes: int, after_s: float) -> None:
        for root in roots:
            self._dirty.setdefault(root, 0)
        self._dirty[roots[0]] += changes
        self.activity.pending = sum(self._dirty.values())
        self._retry_at = time.monotonic() + after_s

    # --- noticing changes ---------------------------------------------------------------------
    async def _listen(self) -> None:
        """Mark roots dirty as their files change; restart the system's watch when a folder root
        comes, goes or is replaced (a mount)."""
        while not self.stop.is_set():
            folders = [root for root in self.roots if root.is_dir()]
            if not folders:  # single files and missing roots are looked at, not watched
                await asyncio.sleep(POLL_S)
                self._look_at_roots()
                continue
            try:
                async for changes in awatch(
                    *folders,
                    watch_filter=self._filter,
                    debounce=GROUP_MS,
                    step=QUIET_MS,
                    rust_timeout=int(POLL_S * 1000),
                    yield_on_timeout=True,
                    stop_event=self.stop,
                    force_polling=self.activity.polling or None,
                    ignore_permission_denied=True,
                ):
                    self._note(changes)
                    if self._look_at_roots():
                        break
            except (OSError, RuntimeError) as error:  # RuntimeError: watchfiles' internal one
                if self.activity.polling:
                    watched = ", ".join(map(str, folders))
                    raise PathError(f"cannot watch {watched}: {error}") from None
                # the system refused (on Linux, more folders than fs.inotify.max_user_watches)
                self.activity.polling = True

    def _note(self, changes: set[tuple[Change, str]]) -> None:
        for _, path in changes:
            for root in self.roots:
                if path == str(root) or path.startswith(str(root) + os.sep):
                    self._mark(root)

    def _look_at_roots(self) -> bool:
        """Mark the roots that were mounted, unmounted, replaced or (a file) rewritten; True
        when the set of folders to watch changed."""
        restart = False
        for root in self.roots:
            now = _identity(root)
            if now != self._identities[root]:
                before = self._identities[root]
                self._identities[root] = now
                self._mark(root)
                restart = restart or (root.is_dir() or (before is not None and len(before) == 2))
        return restart

    def _mark(self, root: Path) -> None:
        self._dirty[root] = self._dirty.get(root, 0) + 1
        self.activity.pending = sum(self._dirty.values())
        self._wake.set()
