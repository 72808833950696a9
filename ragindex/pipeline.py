"""The async ingest: discover → read and chunk (threads) → embed (windows in flight) → commit.

Queues between the stages are bounded, so memory stays flat however large the corpus is. A
document becomes visible as indexed only when `Store.commit` writes its manifest record, after
all its chunks; a crash anywhere leaves at most the documents in flight to redo.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragindex.chunking import Chunker
from ragindex.discovery import Candidate, Discovery, Skipped, printable
from ragindex.embedding.base import Embedder
from ragindex.errors import SourceError, StoreError
from ragindex.preparing import (
    PreparedFile,
    PrepareSpec,
    finish_loading,
    make_executor,
    prepare_file,
    process_executor,
    stop_workers,
)
from ragindex.store.base import Store
from ragindex.types import (
    Chunk,
    EmbeddedChunk,
    FloatArray,
    IngestReport,
    ManifestRecord,
    SparseVector,
)

_PREPARED_QUEUE = 16  # documents read and chunked, waiting for the embedder
_WRITE_QUEUE = 64  # documents embedded, waiting for the store
_WRITE_GROUP = 64  # documents committed together at most
_TIMEOUT_GRACE_S = 1.0


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress bars: files to process, files done, chunks and tokens so far."""

    files_total: int
    files_done: int
    chunks: int
    tokens: int
    elapsed: float
    current: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class IngestLimits:
    max_pdf_pages: int
    file_timeout_s: float
    window_chunks: int  # chunks handed to the embedder per call
    window_tokens: int
    windows_in_flight: int
    prepare_workers: int


@dataclass
class _PreparedDocument:
    record: ManifestRecord
    chunks: list[Chunk]
    sparse: list[SparseVector]
    dense: FloatArray
    remaining: int
    errors: list[str] = field(default_factory=list)


class IngestPipeline:
    def __init__(
        self,
        *,
        store: Store,
        embedder: Embedder,
        chunker: Chunker,
        discovery: Discovery,
        limits: IngestLimits,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.discovery = discovery
        self.limits = limits
        self.progress = progress or (lambda _progress: None)

    async def run(
        self,
        roots: Sequence[Path],
        stop: asyncio.Event | None = None,
        *,
        ready: Awaitable[None] | None = None,
    ) -> IngestReport:
        """Bring the index in line with the files under `roots`; returns what was done.

        `ready`: what must succeed before the index is touched (checking the embedding
        server, opening the store); the folders are walked meanwhile."""
        started = time.perf_counter()
        report = IngestReport()
        cancelled = threading.Event()
        discovering = asyncio.ensure_future(
            asyncio.to_thread(self._discover, roots, report, cancelled)
        )
        try:
            if ready is not None:
                await ready
        except BaseException:
            cancelled.set()  # a walk of a huge tree must not hold up the error
            await asyncio.wait({discovering})
            raise
        report.recovered = await self.store.recover()
        manifest = await self.store.manifest()
        candidates, read_errors = await discovering
        to_prepare: list[Candidate] = []
        for candidate in candidates:
            known = manifest.get(candidate.source)
            if known and known.size == candidate.size and known.mtime == candidate.mtime:
                report.unchanged += 1
            else:
                to_prepare.append(candidate)
        seen = {candidate.source for candidate in candidates} | read_errors
        gone = [source for source in manifest if source not in seen and self._under(source, roots)]
        state = _RunState(report, len(to_prepare), started)
        stop = stop or asyncio.Event()
        work = asyncio.ensure_future(self._stream(to_prepare, manifest, state))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            report.interrupted = True
        stopper.cancel()
        try:
            await work
        except asyncio.CancelledError:
            if not report.interrupted:
                raise
        if gone and not report.interrupted:
            await self.store.remove(gone)
            report.removed.extend(gone)
        await self.store.finish_ingest(report.chunks)
        report.seconds = time.perf_counter() - started
        return report

    def _discover(
        self, roots: Sequence[Path], report: IngestReport, cancelled: threading.Event
    ) -> tuple[list[Candidate], set[str]]:
        candidates: list[Candidate] = []
        read_errors: set[str] = set()  # unreadable now: keep what the index already has of them
        for root in roots:
            if not os.path.lexists(root):
                report.failed[str(root)] = "no such file or folder"
                continue
            for found in self.discovery.walk(root):
                if cancelled.is_set():
                    return [], set()
                if isinstance(found, Skipped):
                    report.skipped[found.source] = found.reason
                    if found.reason.startswith("cannot read"):
                        read_errors.add(found.source)
                else:
                    candidates.append(found)
        return candidates, read_errors

    def _under(self, source: str, roots: Sequence[Path]) -> bool:
        if self.discovery.portable:
            return True  # a portable index holds the files of one root, stored relative to it
        for root in roots:
            base = printable(Path(os.path.abspath(root)).as_posix())
            if source == base or source.startswith(base.rstrip("/") + "/"):
                return True
        return False

    async def _stream(
        self, candidates: list[Candidate], manifest: dict[str, ManifestRecord], state: _RunState
    ) -> None:
        prepared: asyncio.Queue[_PreparedDocument | None] = asyncio.Queue(_PREPARED_QUEUE)
        embedded: asyncio.Queue[_PreparedDocument | None] = asyncio.Queue(_WRITE_QUEUE)
        await asyncio.to_thread(finish_loading, self.chunker.tokenizer.name)
        pool = _Pool(candidates, self.limits.prepare_workers, private=self.store.location)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._prepare_all(candidates, manifest, prepared, pool, state))
                group.create_task(self._embed_all(prepared, embedded))
                group.create_task(self._write_all(embedded, state))
        finally:
            pool.shutdown()

    # --- stage 1: read and chunk -----------------------------------------------------------
    async def _prepare_all(
        self,
        candidates: list[Candidate],
        manifest: dict[str, ManifestRecord],
        out: asyncio.Queue[_PreparedDocument | None],
        pool: _Pool,
        state: _RunState,
    ) -> None:
        slots = asyncio.Semaphore(pool.capacity)
        spec = PrepareSpec(
            tokenizer=self.chunker.tokenizer.name,
            policy=self.chunker.policy,
            max_pdf_pages=self.limits.max_pdf_pages,
            file_timeout_s=self.limits.file_timeout_s,
        )

        async def prepare(candidate: Candidate) -> None:
            # the slot is held until the document is queued: memory stays bounded
            try:
                known = manifest.get(candidate.source)
                result = await pool.run(spec, candidate, known)
                if isinstance(result, ManifestRecord):
                    # the same bytes under a new timestamp: only the manifest record changes
                    await self.store.commit([result])
                    state.report.unchanged += 1
                    state.file_done(self.progress, candidate.source)
                else:
                    await out.put(self._to_document(result))
            except SourceError as error:
                state.report.skipped[candidate.source] = str(error)
                state.file_done(self.progress, candidate.source)
            except Exception as error:
                # a reader bug or crash on one odd file must not end the run: it fails, loudly
                state.report.failed[candidate.source] = (
                    f"unexpected error while reading: {type(error).__name__}: {error}"
                )
                state.file_done(self.progress, candidate.source)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            for candidate in candidates:
                await slots.acquire()
                group.create_task(prepare(candidate))
        await out.put(None)

    def _to_document(self, prepared: PreparedFile) -> _PreparedDocument:
        return _PreparedDocument(
            record=prepared.record,
            chunks=prepared.chunks,
            sparse=prepared.sparse,
            dense=np.empty((len(prepared.chunks), self.embedder.dimension), dtype=np.float32),
            remaining=len(prepared.chunks),
        )

    # --- stage 2: embed --------------------------------------------------------------------
    async def _embed_all(
        self,
        source: asyncio.Queue[_PreparedDocument | None],
        out: asyncio.Queue[_PreparedDocument | None],
    ) -> None:
        slots = asyncio.Semaphore(self.limits.windows_in_flight)
        window: list[tuple[_PreparedDocument, int]] = []
        window_tokens = 0
        in_flight = 0
        idle = asyncio.Event()  # set while no window is being embedded
        idle.set()

        async def embed(items: list[tuple[_PreparedDocument, int]]) -> None:
            nonlocal in_flight
            try:
                chunks = [document.chunks[index] for document, index in items]
                result = await self.embedder.embed_documents(
                    [chunk.text for chunk in chunks], [chunk.tokens for chunk in chunks]
                )
            finally:
                slots.release()
                in_flight -= 1
                if in_flight == 0:
                    idle.set()
            for position, (document, index) in enumerate(items):
                if position in result.failed:
                    chunk = document.chunks[index]
                    document.errors.append(
                        f"chunk {index} (lines {chunk.line_start}-{chunk.line_end}): "
                        f"{result.failed[position]}"
                    )
                else:
                    document.dense[index] = result.vectors[position]
                document.remaining -= 1
                if document.remaining == 0:
                    await out.put(document)

        async with asyncio.TaskGroup() as group:

            async def flush() -> None:
                nonlocal window, window_tokens, in_flight
                await slots.acquire()
                in_flight += 1
                idle.clear()
                group.create_task(embed(window))
                window, window_tokens = [], 0

            while True:
                next_document = asyncio.ensure_future(source.get())
                if window:
                    # a partial window waits for more documents while the embedder is busy, and
                    # goes out as soon as it would otherwise sit idle: full requests, no idle gaps
                    became_idle = asyncio.ensure_future(idle.wait())
                    await asyncio.wait(
                        {next_document, became_idle}, return_when=asyncio.FIRST_COMPLETED
                    )
                    became_idle.cancel()
                    if not next_document.done():
                        await flush()
                document = await next_document
                if document is None:
                    break
                for index, chunk in enumerate(document.chunks):
                    window.append((document, index))
                    window_tokens += chunk.tokens
                    if (
                        len(window) >= self.limits.window_chunks
                        or window_tokens >= self.limits.window_tokens
                    ):
                        await flush()
            if window:
                await flush()
        await out.put(None)

    # --- stage 3: write and commit ---------------------------------------------------------
    async def _write_all(
        self, source: asyncio.Queue[_PreparedDocument | None], state: _RunState
    ) -> None:
        finished = False
        while not finished:
            # every document that is ready goes out together: one round of store calls
            group = [await source.get()]
            while not source.empty() and len(group) < _WRITE_GROUP:
                group.append(source.get_nowait())
            if group[-1] is None:
                finished = True
            ready: list[_PreparedDocument] = []
            for document in group:
                if document is None:
                    continue
                if document.errors:
                    errors = document.errors
                    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                    state.report.failed[document.record.source] = f"not embedded: {errors[0]}{more}"
                    state.file_done(self.progress, document.record.source)
                else:
                    ready.append(document)
            if ready:
                await self._store_group(ready, state)

    async def _store_group(self, documents: list[_PreparedDocument], state: _RunState) -> None:
        batch = [
            (
                document.record,
                [
                    EmbeddedChunk(chunk=chunk, dense=document.dense[index], sparse=vector)
                    for index, (chunk, vector) in enumerate(
                        zip(document.chunks, document.sparse, strict=True)
                    )
                ],
            )
            for document in documents
        ]
        try:
            await self.store.upsert(batch)
            await self.store.commit([document.record for document in documents])
        except Exception as error:
            # not committed, so the next run redoes these documents; the run goes on
            reason = (
                str(error) if isinstance(error, StoreError) else f"{type(error).__name__}: {error}"
            )
            for document in documents:
                state.report.failed[document.record.source] = f"not stored: {reason}"
                state.file_done(self.progress, document.record.source)
            return
        for document in documents:
            state.report.indexed.append(document.record.source)
            state.report.chunks += len(document.chunks)
            state.report.tokens += sum(chunk.tokens for chunk in document.chunks)
            state.file_done(self.progress, document.record.source)


class _Pool:
    """The prepare workers.

    A file gets `file_timeout_s` of a worker's time; a worker still on it after that (a
    pathological input, a reader stuck in a loop) is killed and the file skipped. A worker that
    dies, killed or crashed, breaks the whole pool, failing the files of the other workers too:
    the pool is replaced and each of those files is retried alone, so only the culprit is blamed.
    """

    def __init__(self, candidates: list[Candidate], workers: int, *, private: str) -> None:
        self._candidates = candidates
        self._workers = workers
        self._private = private
        self._executor = make_executor(candidates, workers, private)
        # Processes get one file each at a time, so a file's clock runs only while it is read;
        # threads (small ingests) queue a little to cover their hand-over.
        processes = isinstance(self._executor, ProcessPoolExecutor)
        self.capacity = workers if processes else 2 * workers
        self._in_flight: dict[Executor, set[asyncio.Future[Any]]] = {}

    async def run(
        self, spec: PrepareSpec, candidate: Candidate, known: ManifestRecord | None
    ) -> PreparedFile | ManifestRecord:
        executor = self._executor
        try:
            return await self._run_on(executor, spec, candidate, known)
        except BrokenProcessPool:
            self._replace(executor)
        alone = process_executor(1, self._private)
        try:
            return await self._run_on(alone, spec, candidate, known)
        except BrokenProcessPool:
            raise RuntimeError("the reader process crashed on this file") from None
        finally:
            alone.shutdown(wait=False)

    async def _run_on(
        self,
        executor: Executor,
        spec: PrepareSpec,
        candidate: Candidate,
        known: ManifestRecord | None,
    ) -> PreparedFile | ManifestRecord:
        future = asyncio.get_running_loop().run_in_executor(
            executor, prepare_file, spec, candidate, known
        )
        in_flight = self._in_flight.setdefault(executor, set())
        in_flight.add(future)
        try:
            # a little grace: the PDF reader checks the same limit between pages, more precisely
            return await asyncio.wait_for(future, spec.file_timeout_s + _TIMEOUT_GRACE_S)
        except TimeoutError:
            self._replace(executor)  # new files go to a fresh pool from now on
            # Killing a worker while it writes its result back would leave half a message in
            # the pool's pipe, and the pool's thread would then block the interpreter's exit:
            # the other files finish first (each within its own limit), then the stuck worker
            # is the only one left busy.
            others = in_flight - {future}
            if others:
                await asyncio.wait(others)
            stop_workers(executor)
            raise SourceError(
                f"took longer than {spec.file_timeout_s:g} s to read (file_timeout_s)"
            ) from None
        finally:
            in_flight.discard(future)

    def _replace(self, executor: Executor) -> None:
        if executor is self._executor:  # the first to notice replaces it
            executor.shutdown(wait=False, cancel_futures=True)
            self._executor = make_executor(self._candidates, self._workers, self._private)

    def shutdown(self) -> None:
        """Let the workers finish the file each is on (an interrupted run too: killing a worker
        that is writing its result back leaves the pool's result pipe with half a message,
        and the pool's thread then blocks the interpreter's exit forever)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class _RunState:
    """Counters shared by the stages of one run, and the progress they report."""

    def __init__(self, report: IngestReport, files_total: int, started: float) -> None:
        self.report = report
        self.files_total = files_total
        self.files_done = 0
        self.started = started

    def file_done(self, progress: ProgressCallback, source: str) -> None:
        self.files_done += 1
        progress(
            Progress(
                files_total=self.files_total,
                files_done=self.files_done,
                chunks=self.report.chunks,
                tokens=self.report.tokens,
                elapsed=time.perf_counter() - self.started,
                current=source,
            )
        )
