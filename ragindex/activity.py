"""`IngestActivity`: the ingest running on an index right now, as any thread can see it.

An index runs one ingest at a time (two runs would each recover the other's half-written
documents, and commit records for chunks the other deleted). The page shares one index between
its visitors: each of them sees the running ingest through this, and may stop it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from ragindex.errors import IngestBusyError
from ragindex.progress import Progress


@dataclass
class IngestActivity:
    paths: tuple[str, ...]
    started_at: float = field(default_factory=time.time)
    progress: Progress | None = None  # the latest snapshot; None before the first file is done
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Ask the run to stop after the files in flight (documents committed stay). Safe
        from any thread."""
        if self._stop is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)

    def busy_error(self) -> IngestBusyError:
        progress = self.progress
        done = (
            f", {progress.files_done:,} of {progress.files_total:,} files done" if progress else ""
        )
        started = time.strftime("%H:%M:%S", time.localtime(self.started_at))
        return IngestBusyError(
            f"an ingest of {', '.join(self.paths)} is already running on this index (started "
            f"{started}{done}); wait for it to finish, or stop it"
        )


def start_activity(paths: Sequence[str], stop: asyncio.Event) -> IngestActivity:
    return IngestActivity(tuple(paths), _stop=stop, _loop=asyncio.get_running_loop())


async def make_event() -> asyncio.Event:
    return asyncio.Event()  # created on the index's loop, which it belongs to


def forward_stop(
    stop: threading.Event,
    future: Future[object],
    async_stop: asyncio.Event,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Set `async_stop` on the index's loop once the caller's `stop` is set, until the run (or
    watch) `future` is done: a synchronous caller stops a run from its own thread."""
    while not future.done():
        if stop.wait(0.2):
            loop.call_soon_threadsafe(async_stop.set)
            return
