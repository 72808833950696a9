"""Keeping an index in step with the folders, by hand (`remove`) or by itself (`watch`): methods of
`AsyncIndex` and `Index`, which inherit them from the two classes here.

`remove` takes paths the way ingest stores sources: an absolute path (a relative one is taken
from the current folder), or, with `portable_paths`, the source as listed (`<root name>/…`). A
path with nothing indexed at or under it is an error, and then nothing at all is removed (as
`git rm` refuses a path that matches nothing): a typo never passes silently. The files stay on
disk: the next ingest or watch of a folder holding them indexes them again.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ragindex.activity import IngestActivity, forward_stop, make_event
from ragindex.config import Settings
from ragindex.discovery import root_source
from ragindex.errors import IngestBusyError, PathError
from ragindex.plan import under
from ragindex.store.documents import DocumentStore
from ragindex.watch import RunCallback, WatchActivity, Watcher, WatchSummary

if TYPE_CHECKING:
    from ragindex.api import AsyncIndex

T = TypeVar("T")
PathsLike = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


def source_prefix(path: str | os.PathLike[str], portable: bool) -> str:
    """The source, or the prefix of the sources, that ingest stores for `path`."""
    if portable:
        return os.fspath(path).replace(os.sep, "/").strip("/")
    return root_source(Path(path), portable=False)


class AsyncUpkeep:
    """`watch` and `remove`, and what a page shows of a watcher (`watching`)."""

    settings: Settings
    store: DocumentStore
    _activity: IngestActivity | None
    _watching: WatchActivity | None = None

    @property
    def watching(self) -> WatchActivity | None:
        """The watcher keeping this index in step with folders now, if any (see `watch`)."""
        return self._watching

    async def watch(
        self,
        paths: PathsLike,
        *,
        stop: asyncio.Event | None = None,
        on_report: RunCallback | None = None,
    ) -> WatchSummary:
        """Ingest `paths`, then ingest again, within seconds, each root under which files are
        created, changed, moved or deleted, until `stop` is set; `on_report` gets each run as
        it ends. It never prunes: a root that vanishes or looks emptied is reported and left
        as indexed (see `ragindex.watch`). A missing root at the start raises `PathError`;
        one watcher per index (`IngestBusyError`)."""
        if self._watching is not None:
            raise IngestBusyError(
                f"{', '.join(self._watching.paths)} is already watched on this index; stop that "
                "watcher first"
            )
        watcher = Watcher(cast("AsyncIndex", self), paths, stop=stop, on_report=on_report)
        self._watching = watcher.activity
        try:
            return await watcher.run()
        finally:
            self._watching = None

    async def remove(self, paths: PathsLike) -> list[str]:
        """Forget the documents at or under `paths` (files or folders, as ingest stored them):
        their chunks and records. Returns the sources removed. A path with nothing indexed
        raises `PathError` and nothing is removed; so does a running ingest (`IngestBusyError`)."""
        if self._activity is not None:
            raise self._activity.busy_error()
        given = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        manifest = await self.store.manifest()
        found: set[str] = set()
        missing: list[str] = []
        for path in given:
            prefix = source_prefix(path, self.settings.portable_paths)
            matched = {source for source in manifest if prefix and under(source, prefix)}
            if not matched:
                missing.append(prefix or os.fspath(path))
            found |= matched
        if missing:
            portable = " (portable paths: give sources as listed, `<folder name>/…`)"
            raise PathError(
                f"nothing is indexed at {', '.join(missing)}; nothing was removed "
                "(`ragindex documents` lists what is indexed"
                + (portable if self.settings.portable_paths else "")
                + ")"
            )
        removed = sorted(found)
        await self.store.remove(removed)
        await self.store.finish_ingest(0)  # written through now, not at the next flush
        return removed


class Upkeep:
    """The synchronous faces of `AsyncUpkeep`'s methods, for `Index`."""

    _core: AsyncIndex
    _loop: asyncio.AbstractEventLoop

    @property
    def watching(self) -> WatchActivity | None:
        """The watcher keeping this index in step with folders now, if any; `.stop()` ends it."""
        return self._core.watching

    def watch(
        self,
        paths: PathsLike,
        *,
        stop: threading.Event | None = None,
        on_report: RunCallback | None = None,
    ) -> WatchSummary:
        """`AsyncIndex.watch`, blocking until `stop` is set or Ctrl-C, which ends it cleanly
        (the summary says `interrupted`; what was committed stays). `on_report` is called on
        the index's own thread."""
        async_stop: asyncio.Event = self._call(make_event()).result()
        future = self._call(self._core.watch(paths, stop=async_stop, on_report=on_report))
        if stop is not None:
            threading.Thread(
                target=forward_stop, args=(stop, future, async_stop, self._loop), daemon=True
            ).start()
        interrupted = False
        while True:
            try:
                summary = future.result()
            except KeyboardInterrupt:  # a second Ctrl-C while stopping asks the same again
                interrupted = True
                self._loop.call_soon_threadsafe(async_stop.set)
                continue
            summary.interrupted = interrupted
            return summary

    def remove(self, paths: PathsLike) -> list[str]:
        """Forget the documents at or under `paths` (see `AsyncIndex.remove`)."""
        return self._call(self._core.remove(paths)).result()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)
