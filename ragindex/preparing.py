"""Turn a candidate file into chunks and sparse vectors: the CPU-bound stage of an ingest.

It runs in worker processes for real ingests (reading, chunking and tokenizing are Python code
that holds the GIL; in threads they would starve the event loop and the store on a two-core
machine) and in threads for small ones, where starting processes would cost more than it saves.
A reader that crashes its process takes down only that worker: the file is reported as failed
and a new pool carries on.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache

from ragindex import sparse
from ragindex.chunking import Chunker, ChunkingPolicy
from ragindex.discovery import Candidate
from ragindex.errors import SourceError
from ragindex.language import language_identifier
from ragindex.preload import loaded, preload
from ragindex.readers import read_bytes, read_document
from ragindex.tokens import load_in_background, tokenizer_named
from ragindex.types import Chunk, ManifestRecord, SparseVector

# below these, threads: spawning two interpreters (~1-2 s) would outweigh the parallelism
_PROCESS_MIN_FILES = 64
_PROCESS_MIN_BYTES = 2_000_000


@dataclass(frozen=True)
class PrepareSpec:
    """Everything a worker needs to prepare files; small and picklable."""

    tokenizer: str
    policy: ChunkingPolicy
    max_pdf_pages: int
    file_timeout_s: float


@dataclass(frozen=True)
class PreparedFile:
    record: ManifestRecord
    chunks: list[Chunk]
    sparse: list[SparseVector]


def start_loading(tokenizer: str) -> None:
    """Begin loading what preparing any file needs, the tokenizer and the language identifier,
    in the background, while the run does its other start-up work."""
    load_in_background(tokenizer)
    preload(language_identifier)


def finish_loading(tokenizer: str) -> None:
    """Wait until that is loaded. Worker processes forked after this inherit it, instead of
    each spending ~1.3 s of CPU loading its own on its first file."""
    tokenizer_named(tokenizer)
    loaded(language_identifier)


@cache
def _chunker(tokenizer: str, policy: ChunkingPolicy) -> Chunker:
    return Chunker(tokenizer_named(tokenizer), policy)


def prepare_file(
    spec: PrepareSpec, candidate: Candidate, known: ManifestRecord | None
) -> PreparedFile | ManifestRecord:
    """Read and chunk one file. Returns only an updated manifest record when the bytes are
    those already indexed (a touched file). Raises `SourceError` with the reason it is skipped."""
    data = read_bytes(candidate)
    if known is not None and known.sha256 == hashlib.sha256(data).hexdigest():
        return replace(known, mtime=candidate.mtime, size=len(data))
    document = read_document(
        candidate, data, max_pdf_pages=spec.max_pdf_pages, timeout_s=spec.file_timeout_s
    )
    chunks = _chunker(spec.tokenizer, spec.policy).chunk(document)
    if not chunks:
        raise SourceError("no text content")
    record = ManifestRecord(
        source=document.source,
        sha256=document.sha256,
        chunks=len(chunks),
        mtime=document.mtime,
        size=document.size,
        kind=document.kind,
        language=document.language,
        format=document.format,
    )
    return PreparedFile(record, chunks, [sparse.document_vector(chunk.text) for chunk in chunks])


def make_executor(candidates: list[Candidate], workers: int, private: str) -> Executor:
    """Processes for real ingests, threads for small ones. `private`: a folder whose files the
    parent holds open (the embedded store) and the workers must let go of."""
    total_bytes = sum(candidate.size for candidate in candidates)
    if len(candidates) < _PROCESS_MIN_FILES and total_bytes < _PROCESS_MIN_BYTES:
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragindex-read")
    return process_executor(workers, private)


def process_executor(workers: int, private: str) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_start_method(),
        initializer=_start_worker,
        initargs=(private,),
    )


def stop_workers(executor: Executor) -> None:
    """Kill the worker processes of a process pool (a file overran its time); threads cannot be
    stopped and are left to finish. `_processes` is private, but the only handle on the
    workers; its absence just means nothing is killed."""
    processes = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        process.kill()


def _start_worker(private: str) -> None:
    # Ctrl-C reaches the whole process group; the parent stops the run in order and lets each
    # worker finish its file, instead of every worker dying mid-file with a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _close_inherited(private)


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
    every worker fail. The parent's other threads (event loop, store engine) hold locks that
    fork copies, but a worker only ever runs the reader and chunker code, which takes none of
    them. Elsewhere (macOS, Windows) fork is unsafe or missing: spawn, and scripts need the
    guard."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")
