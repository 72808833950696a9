"""The ingest, wired: walk → read and chunk (workers) → embed (windows) → plan → write and commit.

How each stage works lives elsewhere (`plan.py`, `workers.py`, `windows.py`, the embedder, the
store); this module only connects them. Between the stages, the number of chunks in memory is
bounded (`IngestLimits.chunks_in_flight`), so a slow store slows the run instead of letting
work pile up. A document becomes indexed only when `DocumentStore.commit` writes its
manifest record, after all its chunks; a crash anywhere leaves at most the documents in flight
to redo. Whatever goes wrong reaches the caller as one `RagindexError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ragindex.chunking import Chunker
from ragindex.discovery import Candidate, Discovery
from ragindex.embedding.base import Embedder
from ragindex.errors import (
    IngestAborted,
    PathError,
    PruneRequiredError,
    RagindexError,
    SourceError,
    StoreError,
)
from ragindex.limits import IngestLimits
from ragindex.plan import Plan, needs_preparing, plan_ingest, under
from ragindex.preparing import PreparedFile, PrepareSpec, finish_loading
from ragindex.progress import (
    ProgressCallback,
    RunState,
)  # Progress: until cli.py imports it from ragindex.progress (integration)
from ragindex.stages import embed_stage, write_stage
from ragindex.store.documents import DocumentStore
from ragindex.types import IngestReport, ManifestRecord
from ragindex.walking import FolderWalk, Walk
from ragindex.windows import PendingDocument
from ragindex.workers import ReadingPool, needs_processes

T = TypeVar("T")

_QUEUE = 16  # documents handed between two stages; the real bound is chunks_in_flight


class IngestPipeline:
    def __init__(
        self,
        *,
        store: DocumentStore,
        embedder: Embedder,
        chunker: Chunker,
        discovery: Discovery,
        limits: IngestLimits,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.discovery = discovery
        self.limits = limits
        self.progress = progress
        self.spec = PrepareSpec(
            tokenizer=chunker.tokenizer.name,
            policy=chunker.policy,
            max_pdf_pages=limits.max_pdf_pages,
            file_timeout_s=limits.file_timeout_s,
            max_unpacked_bytes=limits.max_unpacked_bytes,
        )

    async def run(
        self,
        roots: Sequence[Path],
        stop: asyncio.Event | None = None,
        *,
        ready: Awaitable[None] | None = None,
        prune: bool = False,
    ) -> IngestReport:
        """Bring the index in line with the files under `roots`; returns what was done.

        `ready`: what must succeed before the index is touched (checking the embedding
        server, opening the store); the folders are walked meanwhile. Files are read and
        embedded as the walk finds them; writing starts once the run can no longer be refused
        (`_checked_plan`), and a dead run's leftovers are cleaned up before it."""
        started = time.perf_counter()
        walk = FolderWalk(self.discovery, roots)
        walk.start()
        try:
            if ready is not None:
                await ready
            manifest = await self.store.manifest()
            abandoned = await self.store.abandoned()
        except BaseException:
            walk.cancel()  # a walk of a huge tree must not hold up the error
            await asyncio.wait({asyncio.ensure_future(walk.result())})
            raise
        # a document a dead run left half-written is removed below, then prepared again
        gone = set(abandoned)
        known = {source: record for source, record in manifest.items() if source not in gone}
        report = IngestReport()
        state = RunState(
            report,
            0,
            started,
            self.progress,
            chunks_bound=self.limits.chunks_in_flight,
            windows_bound=self.limits.windows_in_flight,
            counting=True,
        )
        checked = asyncio.Event()  # set once writing is allowed
        work = asyncio.ensure_future(self._until_stopped(walk, known, state, checked, stop))
        try:
            plan = await self._checked_plan(
                walk, work, manifest, known, abandoned, prune, state, checked
            )
            finished = await work
            if finished and plan is not None and plan.remove:
                await self.store.remove(plan.remove)
                report.removed.extend(plan.remove)
        except BaseException as error:
            walk.cancel()
            work.cancel()
            await asyncio.wait({work, asyncio.ensure_future(walk.result())})
            if checked.is_set():
                # the run's own error is the one to report; a flush failing after it adds nothing
                with contextlib.suppress(RagindexError):
                    await self.store.finish_ingest(report.chunks)
            if isinstance(error, Exception) and not isinstance(error, RagindexError):
                # the walk's own failure, possibly after writes began: one error, with the report
                raise _aborted(error, report) from error
            raise
        await self.store.finish_ingest(report.chunks)
        state.record_peaks()
        report.seconds = time.perf_counter() - started
        return report

    async def _checked_plan(
        self,
        walk: FolderWalk,
        work: asyncio.Future[bool],
        manifest: dict[str, ManifestRecord],
        known: dict[str, ManifestRecord],
        abandoned: list[str],
        prune: bool,
        state: RunState,
        checked: asyncio.Event,
    ) -> Plan | None:
        """Let the stages write (`checked`) once the run can no longer be refused, and return
        the plan of the whole walk, with a dead run's leftovers removed. None when the stages
        ended first (stopped, or failed: their outcome is the run's).

        A run is refused for a root that cannot be walked, known before any file is, or for
        removing most of what a root holds, known only from the whole walk. When nothing is
        indexed under the roots (a first ingest) or removal was asked for (`prune`), the second
        cannot happen, and writing starts with the first files instead of after the walk."""
        roots = await _unless_ended(walk.roots(), work, state, walk)
        if roots is None:
            await self._note_partial(walk, known, state)
            return None
        early = all(root.problem is None for root in roots) and (
            prune or not any(under(source, root.source) for source in manifest for root in roots)
        )
        if early:
            await self._recover(abandoned, state)
            checked.set()
        found = await _unless_ended(walk.result(), work, state, walk)
        if found is None:
            await self._note_partial(walk, known, state)
            return None
        plan = self._plan(found, manifest, prune)
        _refuse_blocked(plan)  # before anything is written (an early run cannot be refused)
        if not early:
            await self._recover(abandoned, state)
        if abandoned:
            # the removals were checked above, against what the index held before recovery
            plan = self._plan(found, known, prune=True)
        state.report.skipped.update(found.skipped)
        state.report.unchanged += plan.unchanged
        state.report.kept = plan.kept
        state.counted(len(plan.prepare))
        checked.set()
        return plan

    async def _note_partial(
        self, walk: FolderWalk, known: dict[str, ManifestRecord], state: RunState
    ) -> None:
        """A run that stopped before its walk ended reports what the walk saw until then."""
        seen = await walk.result()
        state.report.skipped.update(seen.skipped)
        state.report.unchanged += sum(
            not needs_preparing(candidate, known.get(candidate.source), self.spec.recipe)
            for candidate in seen.found
        )

    async def _recover(self, abandoned: list[str], state: RunState) -> None:
        if abandoned:
            state.report.recovered = await self.store.recover(abandoned)

    def _plan(self, walk: Walk, manifest: dict[str, ManifestRecord], prune: bool) -> Plan:
        return plan_ingest(
            roots=walk.roots,
            found=walk.found,
            unreadable=walk.unreadable,
            manifest=manifest,
            recipe=self.spec.recipe,
            prune=prune,
        )

    # --- the stages -------------------------------------------------------------------------
    async def _until_stopped(
        self,
        walk: FolderWalk,
        known: dict[str, ManifestRecord],
        state: RunState,
        checked: asyncio.Event,
        stop: asyncio.Event | None,
    ) -> bool:
        """Run the stages until done (True) or stopped (False: the report says interrupted)."""
        work = asyncio.ensure_future(self._stages(walk, known, state, checked))
        stopper = asyncio.ensure_future((stop or asyncio.Event()).wait())
        try:
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not work.done():
                work.cancel()
                state.report.interrupted = True
                await asyncio.wait({work})
                if not work.cancelled():
                    # stopped on purpose: what a stage raised while stopping adds nothing
                    work.exception()
        if state.report.interrupted:
            return False
        error = work.exception()
        if error is not None:
            raise _aborted(error, state.report) from error
        return True

    async def _stages(
        self,
        walk: FolderWalk,
        known: dict[str, ManifestRecord],
        state: RunState,
        checked: asyncio.Event,
    ) -> None:
        prepared: asyncio.Queue[PendingDocument | None] = asyncio.Queue(_QUEUE)
        embedded: asyncio.Queue[PendingDocument | None] = asyncio.Queue(_QUEUE)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._prepare_all(walk, known, prepared, state, checked))
            group.create_task(embed_stage(self.embedder, self.limits, prepared, embedded, state))
            group.create_task(write_stage(self.store, self.limits, embedded, state, checked))

    async def _to_prepare(
        self, walk: FolderWalk, known: dict[str, ManifestRecord], state: RunState
    ) -> AsyncIterator[Candidate]:
        """The files found that must be read (new, changed, or of another recipe)."""
        async for candidate in walk.candidates():
            if needs_preparing(candidate, known.get(candidate.source), self.spec.recipe):
                state.found()
                yield candidate

    async def _prepare_all(
        self,
        walk: FolderWalk,
        known: dict[str, ManifestRecord],
        out: asyncio.Queue[PendingDocument | None],
        state: RunState,
        checked: asyncio.Event,
    ) -> None:
        candidates = self._to_prepare(walk, known, state)
        # threads or processes: decided on the first files, as soon as there are enough of them
        # for processes (or there are no more)
        first: list[Candidate] = []
        async for candidate in candidates:
            first.append(candidate)
            if needs_processes(first):
                break
        await asyncio.to_thread(finish_loading, self.spec.tokenizer)
        pool = ReadingPool(
            self.spec, first, self.limits.prepare_workers, private=self.store.location
        )
        readers = asyncio.Semaphore(pool.capacity)

        async def prepare(candidate: Candidate) -> None:
            try:
                # a touched file's bytes are compared with what its record says
                await self._prepare_one(
                    candidate, known.get(candidate.source), out, pool, state, checked
                )
            finally:
                readers.release()

        try:
            async with asyncio.TaskGroup() as group:
                async for candidate in _after(first, candidates):
                    await readers.acquire()
                    group.create_task(prepare(candidate))
        finally:
            await asyncio.to_thread(pool.close)
        await out.put(None)

    async def _prepare_one(
        self,
        candidate: Candidate,
        known: ManifestRecord | None,
        out: asyncio.Queue[PendingDocument | None],
        pool: ReadingPool,
        state: RunState,
        checked: asyncio.Event,
    ) -> None:
        source = candidate.source
        try:
            result = await pool.prepare(candidate, known)
            if isinstance(result, PreparedFile):
                # its reader's slot is held until there is room: a slow store holds back reading
                await state.chunks.acquire(len(result.chunks))
                await out.put(PendingDocument.of(result, self.embedder.dimension))
                return  # in flight until written
            # the same bytes under a new timestamp: only the manifest record changes
            await checked.wait()
            await self.store.commit([result])
            state.unchanged(source)
        except SourceError as error:
            state.skipped(source, str(error))
        except StoreError as error:
            state.failed(source, f"not stored: {error}")
        except Exception as error:
            # a reader bug on one odd file must not end the run: it fails, loudly
            state.failed(source, f"unexpected error while reading: {type(error).__name__}: {error}")


async def _after(first: list[T], rest: AsyncIterator[T]) -> AsyncIterator[T]:
    for item in first:
        yield item
    async for item in rest:
        yield item


async def _unless_ended(
    waited: Awaitable[T], work: asyncio.Future[bool], state: RunState, walk: FolderWalk
) -> T | None:
    """`waited`'s result, or None when the stages ended first with an error or a stop (the
    walk is then cancelled: nothing will use it)."""
    waiting = asyncio.ensure_future(waited)
    either: set[asyncio.Future[Any]] = {waiting, work}
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done() and (
        work.cancelled() or work.exception() is not None or state.report.interrupted
    ):
        walk.cancel()
        waiting.cancel()
        await asyncio.wait({waiting, asyncio.ensure_future(walk.result())})
        return None
    # (stages that ended well, with nothing to write, may finish a moment before the walk)
    return await waiting


def _refuse_blocked(plan: Plan) -> None:
    """A root that could not be walked, or a run that would remove most of a root, stops
    the run before it writes anything."""
    if plan.failed_roots:
        problems = "; ".join(f"{root}: {problem}" for root, problem in plan.failed_roots.items())
        raise PathError(
            f"{problems}; nothing was indexed or removed (check the path, or mount the share)"
        )
    if plan.prune_needed:
        checks = "; ".join(
            f"{check.removing} of the {check.indexed} documents indexed from {check.root}"
            for check in plan.prune_needed
        )
        raise PruneRequiredError(
            f"this run would remove {checks}, because their files are not there now; "
            "nothing was changed. If they really are gone, run again with --prune "
            "(API: prune=True)"
        )


def _aborted(error: BaseException, report: IngestReport) -> IngestAborted:
    """One error for a run that stopped part-way: the first of ours inside any group, with
    how far the run got."""
    cause = _first_of_ours(error) or error
    reason = (
        str(cause)
        if isinstance(cause, RagindexError)
        else (f"internal error: {type(cause).__name__}: {cause}")
    )
    return IngestAborted(
        f"{reason}; {len(report.indexed):,} documents were committed before the stop, the "
        "rest was not: run the same command again to resume",
        report,
    )


def _first_of_ours(error: BaseException) -> RagindexError | None:
    if isinstance(error, RagindexError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _first_of_ours(inner)
            if found is not None:
                return found
    return None
