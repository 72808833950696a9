"""`EdgeBackend`: the embedded default, Qdrant's engine (qdrant-edge-py) on local disk, run in a
process of its own (`edge_engine.py` says why and what it does).

Calls are pipelined: one thread of this side pickles and sends them in order, another reads the
replies, which come back in the same order, so the engine finds its next sequence waiting while
it applies one (an ingest keeps several groups of documents being written at once). The event
loop only hands a call over. A reply comes after the engine's `update()` has returned, so a
returned write is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import subprocess
import sys
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import ragindex
from ragindex.errors import StoreError, StoreLockedError
from ragindex.store.backend import Collection
from ragindex.store.edge_engine import EngineFailure
from ragindex.store.points import (
    Point,
    PointFilter,
    PointId,
    PointQuery,
    Record,
    ScoredRecord,
    WriteStep,
)

# closing flushes the shards: seconds at most, unless an optimize() is under way
_CLOSE_WAIT_S = 60.0


class EdgeBackend:
    exclusive = True

    def __init__(self, home: Path, collection: str, *, on_disk: bool = False) -> None:
        self.folder = Path(os.path.abspath(home)) / collection
        self.location = str(self.folder)
        self.on_disk = on_disk
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragindex-edge")
        self._engine = _EngineProcess(self.folder, on_disk)

    async def _call(self, name: str, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        reply: Future[Any] = await loop.run_in_executor(
            self._executor, self._engine.send, name, args
        )
        return await asyncio.wrap_future(reply)

    # --- collections ------------------------------------------------------------------------
    async def open_manifest(self, *, create: bool) -> bool:
        return bool(await self._call("open_manifest", create))

    async def open_chunks(self, dimension: int, *, create: bool) -> bool:
        return bool(await self._call("open_chunks", dimension, create))

    # --- points -----------------------------------------------------------------------------
    async def upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        await self._call("upsert", collection, points)

    async def in_order(self, steps: Sequence[WriteStep]) -> None:
        # the engine applies them one after another and stops at the first failure: the
        # whole sequence in one round trip
        await self._call("in_order", steps)

    async def delete(self, collection: Collection, ids: Sequence[PointId]) -> None:
        await self._call("delete", collection, ids)

    async def delete_where(self, collection: Collection, where: PointFilter) -> None:
        await self._call("delete_where", collection, where)

    async def retrieve(self, collection: Collection, ids: Sequence[PointId]) -> list[Record]:
        found: list[Record] = await self._call("retrieve", collection, ids)
        return found

    async def scroll(
        self,
        collection: Collection,
        where: PointFilter | None,
        *,
        limit: int,
        offset: PointId | None,
        with_dense: bool = False,
    ) -> tuple[list[Record], PointId | None]:
        page: tuple[list[Record], PointId | None] = await self._call(
            "scroll", collection, where, limit, offset, with_dense
        )
        return page

    async def count(self, collection: Collection, where: PointFilter | None) -> int:
        return int(await self._call("count", collection, where))

    async def query(self, query: PointQuery) -> list[ScoredRecord]:
        found: list[ScoredRecord] = await self._call("query", query)
        return found

    # --- maintenance ------------------------------------------------------------------------
    async def flush(self) -> None:
        await self._call("flush")

    async def optimize(self) -> bool:
        """Merge segments and build the HNSW index: minutes on large collections, in the
        engine's process (this one keeps working; store calls wait)."""
        return bool(await self._call("optimize"))

    async def size_on_disk(self) -> int | None:
        return int(await self._call("size_on_disk"))

    async def close(self) -> None:
        try:
            if not self._engine.gone:  # an engine that died has nothing left to close
                await self._call("close")
        finally:
            self._executor.shutdown(wait=True)
            self._engine.stop()


class _EngineProcess:
    """The engine's process and the socket to it. Started with the backend, so that it loads
    while the caller does its other start-up work; stopped by `close`, or when the backend is
    collected, or with this process (the engine exits when its socket closes)."""

    def __init__(self, folder: Path, on_disk: bool) -> None:
        ours, theirs = socket.socketpair()
        environment = dict(os.environ)
        # the engine imports ragindex from where this process did, whatever sys.path was
        package_root = str(Path(ragindex.__file__).resolve().parent.parent)
        environment["PYTHONPATH"] = os.pathsep.join(
            [package_root, *filter(None, [environment.get("PYTHONPATH")])]
        )
        command = [sys.executable, "-m", "ragindex.store.edge_engine", str(theirs.fileno())]
        command += [str(folder), "on-disk" if on_disk else "in-memory"]
        try:
            process = subprocess.Popen(
                command,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=environment,
            )
        except OSError as error:
            ours.close()
            message = f"could not start the Qdrant Edge engine for {folder}: {error}"
            raise StoreError(message) from None
        finally:
            theirs.close()
        self._line = _Line(str(folder), Connection(ours.detach()), process)
        # the reader holds the line, not this object: an unclosed backend can still be collected
        threading.Thread(
            target=_read_replies, args=(self._line,), name="ragindex-edge-replies", daemon=True
        ).start()
        self._finalizer = weakref.finalize(self, _hang_up, self._line)

    def send(self, name: str, args: tuple[Any, ...]) -> Future[Any]:
        """Send one call (from one thread only: the order sent is the order answered); its
        reply arrives in the returned future."""
        return self._line.send(name, args)

    @property
    def gone(self) -> bool:
        """Whether the engine has stopped answering (it died, or its socket failed)."""
        return bool(self._line.gone)

    def stop(self) -> None:
        self._finalizer()


@dataclass
class _Line:
    location: str
    connection: Connection
    process: subprocess.Popen[bytes]
    waiting: deque[tuple[str, Future[Any]]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sending: threading.Lock = field(default_factory=threading.Lock)
    gone: str = ""  # why the engine cannot answer any more, once it cannot
    closed: bool = False

    def send(self, name: str, args: tuple[Any, ...]) -> Future[Any]:
        reply: Future[Any] = Future()
        try:
            message = pickle.dumps((name, args), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise StoreError(f"could not send {name} to the Qdrant Edge engine: {error}") from None
        # one sender at a time, so that `waiting` is in the order sent; the replies' reader
        # takes only `lock`, never this one: a big reply must never wait for a big request
        with self.sending:
            with self.lock:
                if self.gone:
                    reply.set_exception(StoreError(self.gone))
                    return reply
                self.waiting.append((name, reply))
            try:
                self.connection.send_bytes(message)
            except OSError:
                self.hung_up()
        return reply

    def answer(self, outcome: str, value: Any) -> None:
        with self.lock:
            if not self.waiting:
                raise EOFError("a reply to no call")  # the line is out of step: unusable
            name, reply = self.waiting.popleft()
            self.closed = self.closed or name == "close"
        if outcome == "ok":
            reply.set_result(value)
        else:
            reply.set_exception(self.error(value))

    def error(self, failure: EngineFailure) -> StoreError:
        if failure.locked:
            return StoreLockedError(
                f"the index at {self.location} is open in another process (the UI or another "
                "ingest); stop that process, or point RAGINDEX_QDRANT_URL at a Qdrant server so "
                "that several processes can share the index"
            )
        return StoreError(f"Qdrant Edge failed on {self.location}: {failure}")

    def hung_up(self) -> None:
        """The engine is gone: every call waiting and every later one fails, saying so."""
        try:
            code = self.process.wait(timeout=1)
            how = f"stopped (exit code {code})"
        except subprocess.TimeoutExpired:
            how = "stopped answering"
        with self.lock:
            self.gone = self.gone or (
                f"the Qdrant Edge engine of {self.location} {how}; what it acknowledged is "
                "kept: run the command again"
            )
            waiting, self.waiting = list(self.waiting), deque()
        for _, reply in waiting:
            reply.set_exception(StoreError(self.gone))


def _read_replies(line: _Line) -> None:
    while True:
        try:
            outcome, value = line.connection.recv()
            line.answer(outcome, value)
        except (EOFError, OSError, pickle.UnpicklingError):
            line.hung_up()
            return


def _hang_up(line: _Line) -> None:
    """Close the engine's shards if nobody did, and wait for it to exit. Its socket closing is
    not enough alone: forked reader workers hold copies of it."""
    if not line.closed and not line.gone:
        closing = line.send("close", ())
        with contextlib.suppress(Exception):  # gone already, or failing to close: it exits
            closing.result(timeout=_CLOSE_WAIT_S)
    if line.gone and line.process.poll() is None:
        line.process.kill()  # alive but out of step with this side: nothing it says is usable
    try:
        line.process.wait(timeout=_CLOSE_WAIT_S)
    except subprocess.TimeoutExpired:
        line.process.kill()
        line.process.wait()
    line.connection.close()
