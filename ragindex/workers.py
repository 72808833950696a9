"""The reading workers: processes that prepare files, each file under a time limit.

Reading, chunking and tokenizing are Python code that holds the GIL: in threads they would
starve the event loop and the store, so real ingests read in worker processes, supervised by
pebble's `ProcessPool`. It gives each file `file_timeout_s` of a worker's time (the clock starts
when a worker takes the file, not while it queues), replaces a worker that overran or crashed,
and fails only that file; it never kills a worker while it is sending a result back.
Small ingests read in threads, where starting processes would cost more than it saves.

Workers die with their parent: `kill -9` of an ingest (by a user or the OOM killer) must not
leave idle readers behind holding memory and the index's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pebble

from ragindex.discovery import Candidate
from ragindex.errors import SourceError
from ragindex.preparing import PreparedFile, PrepareSpec, prepare_file
from ragindex.types import ManifestRecord

# below these, threads: spawning interpreters (~1-2 s) would outweigh the parallelism
_PROCESS_MIN_FILES = 64
_PROCESS_MIN_BYTES = 2_000_000
# a little grace: the PDF reader checks the same limit between pages, more precisely
_TIMEOUT_GRACE_S = 1.0
_PR_SET_PDEATHSIG = 1
_PARENT_POLL_S = 1.0
_WORKER_NICENESS = 5


class ReadingPool:
    """`await pool.prepare(candidate, known)` in a worker; `close()` when the run ends."""

    def __init__(
        self, spec: PrepareSpec, candidates: Sequence[Candidate], workers: int, *, private: str
    ) -> None:
        """`candidates`: the files to read, or the first of them (as many as decide between
        threads and processes)."""
        self.spec = spec
        self.processes = needs_processes(candidates)
        self._threads: ThreadPoolExecutor | None = None
        self._processes: pebble.ProcessPool | None = None
        if self.processes:
            self._processes = pebble.ProcessPool(
                max_workers=workers,
                initializer=_start_worker,
                initargs=(private, os.getpid()),
                context=_start_method(),
            )
        else:
            self._threads = ThreadPoolExecutor(workers, thread_name_prefix="ragindex-read")
        # processes take one file each at a time, so a file's clock runs only while it is
        # read; threads queue a little to cover their hand-over
        self.capacity = workers if self.processes else 2 * workers
        self._futures: set[Future[Any]] = set()

    async def prepare(
        self, candidate: Candidate, known: ManifestRecord | None
    ) -> PreparedFile | ManifestRecord:
        """Read and chunk one file; `SourceError` says why it was skipped."""
        args = (self.spec, candidate, known)
        if self._processes is not None:
            future: Future[Any] = self._processes.schedule(
                prepare_file, args=args, timeout=self.spec.file_timeout_s + _TIMEOUT_GRACE_S
            )
        else:
            assert self._threads is not None
            future = self._threads.submit(prepare_file, *args)
        self._futures.add(future)
        try:
            result: PreparedFile | ManifestRecord = await asyncio.wrap_future(future)
            return result
        except TimeoutError:
            raise SourceError(
                f"took longer than {self.spec.file_timeout_s:g} s to read (file_timeout_s)"
            ) from None
        except pebble.ProcessExpired as error:
            raise SourceError(
                f"the reader process crashed on this file (exit code {error.exitcode})"
            ) from None
        finally:
            self._futures.discard(future)

    def close(self) -> None:
        """Stop the workers: files not started are dropped, a worker still on a file is
        stopped (pebble waits until it is not sending a result: a half-written message
        would hang the pool's reader thread, and with it the interpreter's exit)."""
        for future in list(self._futures):
            future.cancel()
        if self._processes is not None:
            self._processes.close()  # type: ignore[no-untyped-call]
            self._processes.join()
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)


def needs_processes(candidates: Sequence[Candidate]) -> bool:
    """Whether reading these files is worth worker processes (threads below)."""
    return (
        len(candidates) >= _PROCESS_MIN_FILES
        or sum(candidate.size for candidate in candidates) >= _PROCESS_MIN_BYTES
    )


def default_workers() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _start_worker(private: str, parent: int) -> None:
    # Ctrl-C reaches the whole process group; the parent stops the run in order
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    _close_inherited(private)
    # one worker per core keeps every core busy; the parent and the store's engine are one
    # process each that all the workers feed, so on a full machine they must come first
    with contextlib.suppress(OSError):
        os.nice(_WORKER_NICENESS)


def _die_with_parent(parent: int) -> None:
    """Linux kills the worker when its parent dies (a parent-death signal); elsewhere a
    thread notices the parent is gone. Either way, a parent that died before this ran is
    caught by comparing the parent's pid."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            _watch_parent(parent)
    else:
        _watch_parent(parent)
    if os.getppid() != parent:
        os._exit(0)


def _watch_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="ragindex-parent-watch", daemon=True).start()


def _close_inherited(folder: str) -> None:
    """A forked worker shares the parent's open files. The embedded store's lock lives on
    them: a worker still alive after its parent was killed would keep the index locked."""
    prefix = folder.rstrip("/") + "/"
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return  # no /proc (not Linux): workers are spawned there and inherit nothing
    for name in descriptors:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the descriptor listdir itself used, already closed
        if target.startswith(prefix):
            os.close(int(name))


def _start_method() -> multiprocessing.context.BaseContext:
    """fork on Linux: spawn and forkserver re-run the user's main script in every worker, so a
    script without an `if __name__ == "__main__":` guard (the README's, a notebook's) would make
    every worker fail. The parent's other threads (event loop, the store engine's line, the
    folder walk, still going when the first workers start) hold locks that fork copies, but a
    worker only ever runs the reader and chunker code, which takes none of them. Elsewhere
    (macOS, Windows) fork is unsafe or missing: spawn, and scripts need the guard."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")
