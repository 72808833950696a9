"""The public Python API: `AsyncIndex` (the core) and `Index`, its thin synchronous wrapper.

The CLI and the UI use only this module's classes; every capability is here first.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ragindex import sparse
from ragindex.activity import IngestActivity, forward_stop, make_event, start_activity
from ragindex.config import Settings
from ragindex.discovery import Discovery
from ragindex.factory import make_chunker, make_embedder, make_reranker, make_store
from ragindex.filters import FiltersLike, filters_from
from ragindex.fusion import FusionSettings, fusion_for
from ragindex.limits import IngestLimits
from ragindex.pipeline import IngestPipeline
from ragindex.preparing import start_loading
from ragindex.progress import Progress, ProgressCallback
from ragindex.search import QueryTask, Searcher
from ragindex.store.schema import check_spec
from ragindex.types import (
    CollectionSpec,
    IngestReport,
    ManifestRecord,
    SearchMode,
    SearchResults,
)
from ragindex.upkeep import AsyncUpkeep, Upkeep

T = TypeVar("T")
PathsLike = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


class AsyncIndex(AsyncUpkeep):
    """One index: a store and an embedder, opened once and shared by every call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # the store first: the embedded engine's process starts up while the embedder is built
        self.store = make_store(settings)
        self.embedder = make_embedder(settings)
        self.spec = CollectionSpec(
            model=self.embedder.model,
            dimension=self.embedder.dimension,
            sparse_scheme=sparse.SCHEME,
        )
        self.reranker = make_reranker(settings)
        self._searcher = Searcher(
            self.embedder,
            self.store,
            general_task=settings.query_task,
            code_task=settings.code_query_task,
            reranker=self.reranker,
        )
        self._opened_for_writing = False
        self._activity: IngestActivity | None = None

    @property
    def current_ingest(self) -> IngestActivity | None:
        """The ingest running on this index now, if any (one at a time)."""
        return self._activity

    @classmethod
    async def open(cls, settings: Settings | None = None) -> AsyncIndex:
        """Open the index the settings describe (default: `Settings.load()`: the environment and
        the settings file).

        Refuses an existing collection built with another model or dimension."""
        index = cls(settings or Settings.load())
        try:
            recorded = await index.store.peek()
            if recorded is not None:
                check_spec(recorded, index.spec, index.store.location)
        except BaseException:
            await index.aclose()
            raise
        return index

    async def ingest(
        self,
        paths: PathsLike,
        *,
        progress: ProgressCallback | None = None,
        stop: asyncio.Event | None = None,
        prune: bool = False,
    ) -> IngestReport:
        """Index files and folders: new and changed files are (re)embedded, unchanged ones are
        skipped, files deleted from an ingested folder leave the index.

        Nothing is removed by mistake: a missing or unreadable root raises `PathError`, what is
        indexed under a folder that could not be read is kept, and a run that would remove more
        than half of what a root holds raises `PruneRequiredError` unless `prune=True`; in both
        cases before anything is written. One ingest runs at a time (`IngestBusyError`); a run
        that stops part-way raises `IngestAborted`, whose report says what was committed."""
        if self._activity is not None:
            raise self._activity.busy_error()
        roots = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
        stop = stop or asyncio.Event()
        activity = self._activity = start_activity([str(root) for root in roots], stop)

        def track(snapshot: Progress) -> None:
            activity.progress = snapshot
            if progress is not None:
                progress(snapshot)

        try:
            return await self._pipeline(track).run(
                roots, stop=stop, ready=self._ready_to_write(), prune=prune
            )
        finally:
            self._activity = None

    def _pipeline(self, progress: ProgressCallback) -> IngestPipeline:
        # the reader's models load in the background meanwhile
        start_loading(self.embedder.tokenizer.name)
        settings = self.settings
        discovery = Discovery(
            max_bytes=int(settings.max_file_mb * 1_000_000),
            excludes=settings.exclude,
            follow_symlinks=settings.follow_symlinks,
            portable=settings.portable_paths,
            store_home=None if settings.qdrant_url else settings.home,
        )
        return IngestPipeline(
            store=self.store,
            embedder=self.embedder,
            chunker=make_chunker(settings, self.embedder),
            discovery=discovery,
            limits=IngestLimits.from_settings(settings),
            progress=progress,
        )

    async def _ready_to_write(self) -> None:
        # an unreachable embedding server stops the run here, before anything is touched
        await self.embedder.check()
        if not self._opened_for_writing:
            await self.store.create_or_check(self.spec)
            self._opened_for_writing = True

    async def warm_up(self) -> None:
        """Load the embedding model, or reach the embedding server, now, so the first search
        does not wait. Raises `EmbeddingError` when the model cannot be loaded or no server
        answers."""
        await self.embedder.check()

    async def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: SearchMode = "hybrid",
        filters: FiltersLike = None,
        task: QueryTask | str = "auto",
        group: bool = True,
        fusion: FusionSettings | None = None,
        rerank: bool | None = None,
    ) -> SearchResults:
        """The `k` best documents for `query`, each as its best chunk (`group=False`: the `k`
        best chunks). `filters` narrows by language, kind (code, text, pdf) and path prefix (a
        folder or file); `task` picks the query instruction; `fusion` overrides how a hybrid
        search fuses its two sides (default: the settings', else the model's built-in).
        `rerank`: reorder the best fused candidates with the reranker (default: when
        RAGINDEX_RERANK_URL is set); a reranker that fails leaves the fused order and a
        `warning` on the results."""
        return await self._searcher.search(
            query,
            limit=k,
            mode=mode,
            filters=filters_from(filters, portable_paths=self.settings.portable_paths),
            task=task,
            group=group,
            fusion=fusion or fusion_for(self.settings, self.embedder.model),
            rerank=rerank,
        )

    async def stats(self) -> dict[str, Any]:
        """Documents, chunks, model, dimension, store location and size, embedder metrics."""
        store_stats = await self.store.stats()
        return {
            "documents": store_stats.documents,
            "chunks": store_stats.chunks,
            "model": self.spec.model,
            "dimension": self.spec.dimension,
            "sparse_scheme": self.spec.sparse_scheme,
            "query_instructions": self.embedder.uses_instructions,
            "store": store_stats.location,
            "store_bytes": store_stats.size_bytes,
            "embedder": self.embedder.metrics(),
            "reranker": self.reranker.metrics() if self.reranker else None,
        }

    async def documents(self) -> list[ManifestRecord]:
        """Every indexed document (source, sha256, chunk count, kind, language), by source."""
        manifest = await self.store.manifest()
        return [manifest[source] for source in sorted(manifest)]

    async def optimize(self) -> bool:
        """Build the store's search index now (see `ragindex optimize`); False if nothing to do."""
        return await self.store.optimize()

    async def aclose(self) -> None:
        try:
            await self.store.close()
        finally:
            await self.embedder.aclose()
            if self.reranker is not None:
                await self.reranker.aclose()

    async def __aenter__(self) -> AsyncIndex:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Index(Upkeep):
    """The synchronous face of `AsyncIndex`, for scripts, notebooks, the CLI and the UI.

    It runs the async core on a private event loop in a background thread, so it can be used
    from code that has its own loop (Streamlit, Jupyter) as well as from plain scripts.
    """

    def __init__(self, core: AsyncIndex, loop: asyncio.AbstractEventLoop, thread: threading.Thread):
        self._core = core
        self._loop = loop
        self._thread = thread

    @classmethod
    def open(cls, settings: Settings | None = None) -> Index:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="ragindex-loop", daemon=True)
        thread.start()
        try:
            core = asyncio.run_coroutine_threadsafe(AsyncIndex.open(settings), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            raise
        return cls(core, loop, thread)

    @property
    def settings(self) -> Settings:
        return self._core.settings

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    @property
    def current_ingest(self) -> IngestActivity | None:
        """The ingest running on this index now, if any; `.stop()` ends it from any thread."""
        return self._core.current_ingest

    def ingest(
        self,
        paths: PathsLike,
        *,
        progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
        prune: bool = False,
    ) -> IngestReport:
        """Index files and folders (see `AsyncIndex.ingest`). Ctrl-C, or setting `stop`, ends the
        run cleanly: documents committed so far stay, the report says `interrupted`."""
        async_stop = self._run(make_event())
        future = asyncio.run_coroutine_threadsafe(
            self._core.ingest(paths, progress=progress, stop=async_stop, prune=prune), self._loop
        )
        watcher = None
        if stop is not None:
            watcher = threading.Thread(
                target=forward_stop, args=(stop, future, async_stop, self._loop), daemon=True
            )
            watcher.start()
        try:
            return future.result()
        except KeyboardInterrupt:
            self._loop.call_soon_threadsafe(async_stop.set)
            return future.result()

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: SearchMode = "hybrid",
        filters: FiltersLike = None,
        task: QueryTask | str = "auto",
        group: bool = True,
        fusion: FusionSettings | None = None,
        rerank: bool | None = None,
    ) -> SearchResults:
        """The `k` best documents (or chunks) for `query` (see `AsyncIndex.search`)."""
        return self._run(
            self._core.search(
                query,
                k=k,
                mode=mode,
                filters=filters,
                task=task,
                group=group,
                fusion=fusion,
                rerank=rerank,
            )
        )

    def warm_up(self) -> None:
        """Load the embedding model, or reach the embedding server, now (see
        `AsyncIndex.warm_up`)."""
        self._run(self._core.warm_up())

    @property
    def reranks(self) -> bool:
        """Whether a reranker is configured (RAGINDEX_RERANK_URL)."""
        return self._core.reranker is not None

    def stats(self) -> dict[str, Any]:
        return self._run(self._core.stats())

    def documents(self) -> list[ManifestRecord]:
        return self._run(self._core.documents())

    def optimize(self) -> bool:
        return self._run(self._core.optimize())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._core.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
