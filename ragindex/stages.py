"""The embedding and writing stages of an ingest, each a loop between two queues.

Embedding packs the chunks of the documents that come in into token windows and keeps up to
`windows_in_flight` of them at the embedder; a partial window goes out as soon as the embedder
would otherwise sit idle. Writing commits every document that is ready in one round of store
calls, a few such groups at once. A window's slot is held until its finished documents are
handed on, so a slow store holds back the embedder instead of letting vectors pile up.
"""

from __future__ import annotations

import asyncio

from ragindex.embedding.base import Embedder
from ragindex.errors import RagindexError
from ragindex.limits import IngestLimits
from ragindex.progress import RunState
from ragindex.store.documents import DocumentStore
from ragindex.windows import PendingDocument, TokenWindows, Window


async def embed_stage(
    embedder: Embedder,
    limits: IngestLimits,
    source: asyncio.Queue[PendingDocument | None],
    out: asyncio.Queue[PendingDocument | None],
    state: RunState,
) -> None:
    windows = TokenWindows(max_chunks=limits.window_chunks, max_tokens=limits.window_tokens)
    idle = asyncio.Event()  # set while no window is being embedded
    idle.set()

    async def embed(window: Window) -> None:
        try:
            result = await embedder.embed_documents(window.texts(), window.token_counts())
            # the window's slot is held until its finished documents are handed on: a
            # slow writer holds back the embedder, and memory stays bounded
            for document in window.apply(result):
                await out.put(document)
        finally:
            await state.windows.release()
            if state.windows.current == 0:
                idle.set()

    async with asyncio.TaskGroup() as group:

        async def send(window: Window) -> None:
            await state.windows.acquire()
            idle.clear()
            group.create_task(embed(window))

        while True:
            next_document = asyncio.ensure_future(source.get())
            if windows.partial:
                # a partial window waits for more documents while the embedder is busy, and
                # goes out as soon as it would otherwise sit idle: full requests, no gaps
                became_idle = asyncio.ensure_future(idle.wait())
                await asyncio.wait(
                    {next_document, became_idle}, return_when=asyncio.FIRST_COMPLETED
                )
                became_idle.cancel()
                if not next_document.done() and (partial := windows.take_partial()):
                    await send(partial)
            document = await next_document
            if document is None:
                break
            for window in windows.add(document):
                await send(window)
        if partial := windows.take_partial():
            await send(partial)
    await out.put(None)


async def write_stage(
    store: DocumentStore,
    limits: IngestLimits,
    source: asyncio.Queue[PendingDocument | None],
    state: RunState,
    checked: asyncio.Event,
) -> None:
    """`checked`: set once writing is allowed (the whole walk planned and checked); documents
    wait for it, embedded, while the walk goes on."""
    # a group's store calls are answered one after another: several groups under way at once
    # keep the store working while each one waits for its answers (groups never share a
    # document, and each keeps its own order: chunks, then older versions, then the record)
    slots = asyncio.Semaphore(limits.write_groups_in_flight)

    async def store_group(ready: list[PendingDocument]) -> None:
        try:
            await checked.wait()
            await _store_group(store, ready, state)
        finally:
            slots.release()

    async with asyncio.TaskGroup() as writing:
        finished = False
        while not finished:
            await slots.acquire()
            # every document that is ready goes out together: one round of store calls
            group = [await source.get()]
            while not source.empty() and len(group) < limits.write_group:
                group.append(source.get_nowait())
            finished = group[-1] is None
            ready: list[PendingDocument] = []
            for document in group:
                if document is None:
                    continue
                failure = document.failure()
                if failure is None:
                    ready.append(document)
                    continue
                state.failed(document.source, failure)
                await state.chunks.release(len(document.chunks))
            if ready:
                writing.create_task(store_group(ready))
            else:
                slots.release()


async def _store_group(
    store: DocumentStore, documents: list[PendingDocument], state: RunState
) -> None:
    try:
        await store.upsert([(document.record, document.embedded()) for document in documents])
        await store.commit([document.record for document in documents])
    except RagindexError as error:
        # not committed, so the next run redoes these documents; the run goes on
        for document in documents:
            state.failed(document.source, f"not stored: {error}")
            await state.chunks.release(len(document.chunks))
        return
    for document in documents:
        state.indexed(
            document.source,
            len(document.chunks),
            sum(chunk.tokens for chunk in document.chunks),
            document.warnings,
        )
        await state.chunks.release(len(document.chunks))
