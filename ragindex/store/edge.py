"""`EdgeBackend`: the embedded default, Qdrant's engine (qdrant-edge-py) on local disk, run in a
process of its own (`edge_engine.py` says why and what it does).

This side only sends calls and waits for replies, one at a time, on one thread of its own: the
event loop hands a batch over and stays free, and the wait itself holds no GIL. Every reply
comes after the engine's `update()` has returned, so a returned write is acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import ragindex
from ragindex.errors import StoreError, StoreLockedError
from ragindex.store.backend import Collection
from ragindex.store.edge_engine import EngineFailure
from ragindex.store.points import Point, PointFilter, PointId, PointQuery, Record, ScoredRecord

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
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._engine.call, name, args
        )

    # --- collections ------------------------------------------------------------------------
    async def open_manifest(self, *, create: bool) -> bool:
        return bool(await self._call("open_manifest", create))

    async def open_chunks(self, dimension: int, *, create: bool) -> bool:
        return bool(await self._call("open_chunks", dimension, create))

    # --- points -----------------------------------------------------------------------------
    async def upsert(self, collection: Collection, points: Sequence[Point]) -> None:
        await self._call("upsert", collection, points)

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
            await self._call("close")
        finally:
            self._executor.shutdown(wait=True)
            self._engine.stop()


class _EngineProcess:
    """The engine's process and the socket to it. Started with the backend, so that it loads
    while the caller does its other start-up work; stopped by `close`, or when the backend is
    collected, or with this process (the engine exits when its socket closes)."""

    def __init__(self, folder: Path, on_disk: bool) -> None:
        self.location = str(folder)
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
        self._line = _Line(Connection(ours.detach()), process)
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _hang_up, self._line)

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        line = self._line
        with self._lock:
            try:
                line.connection.send((name, args))
                outcome, value = line.connection.recv()
            except (EOFError, OSError):
                raise StoreError(self._gone()) from None
            line.closed = name == "close"
        if outcome == "ok":
            return value
        failure: EngineFailure = value
        if failure.locked:
            raise StoreLockedError(
                f"the index at {self.location} is open in another process (the UI or another "
                "ingest); stop that process, or point RAGINDEX_QDRANT_URL at a Qdrant server so "
                "that several processes can share the index"
            )
        raise StoreError(f"Qdrant Edge failed on {self.location}: {failure}")

    def _gone(self) -> str:
        code = self._line.process.poll()
        how = "stopped answering" if code is None else f"stopped (exit code {code})"
        return (
            f"the Qdrant Edge engine of {self.location} {how}; what it acknowledged is kept: "
            "run the command again"
        )

    def stop(self) -> None:
        self._finalizer()


@dataclass
class _Line:
    connection: Connection
    process: subprocess.Popen[bytes]
    closed: bool = False


def _hang_up(line: _Line) -> None:
    """Close the engine's shards if nobody did, and wait for it to exit. Its socket closing is
    not enough alone: forked reader workers hold copies of it."""
    try:
        if not line.closed:
            line.connection.send(("close", ()))
            if line.connection.poll(_CLOSE_WAIT_S):
                line.connection.recv()
    except (EOFError, OSError):
        pass  # it is gone already
    line.connection.close()
    try:
        line.process.wait(timeout=_CLOSE_WAIT_S)
    except subprocess.TimeoutExpired:
        line.process.kill()
        line.process.wait()
