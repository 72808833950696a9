"""`IngestLimits`: every number that bounds an ingest's work and memory, and why it is what it
is. Built from the settings in one place."""

from __future__ import annotations

from dataclasses import dataclass

from ragindex.archives import UNPACK_FACTOR
from ragindex.config import Settings
from ragindex.workers import default_workers

# the embedder splits a window into requests by token budget; windows of a few requests'
# worth let it pack inputs of similar length together
_REQUESTS_PER_WINDOW = 4
# the in-process model computes one window while the next one fills
_LOCAL_WINDOW_CHUNKS = 64
_LOCAL_WINDOW_TOKENS = 16_384
_LOCAL_WINDOWS_IN_FLIGHT = 2
# documents committed together: one round of store calls for many small files
_WRITE_GROUP = 64
# groups being written at once: each waits for its store calls' answers in turn, so one alone
# leaves the store idle between them; 8 or 16 measured no faster at 16 cores than 4
# (bench/stage_probe.py --write-groups)
_WRITE_GROUPS_IN_FLIGHT = 4


@dataclass(frozen=True)
class IngestLimits:
    max_pdf_pages: int  # longer PDFs are skipped
    max_unpacked_bytes: int  # a zip-based document inflating past this is refused (a zip bomb)
    file_timeout_s: float  # a worker's time for one file
    prepare_workers: int  # reading processes
    window_chunks: int  # chunks handed to the embedder per call, at most
    window_tokens: int  # tokens handed to the embedder per call, at most
    windows_in_flight: int  # embedding calls under way at once
    write_group: int = _WRITE_GROUP  # documents committed together, at most
    write_groups_in_flight: int = _WRITE_GROUPS_IN_FLIGHT  # groups being written at once

    @property
    def chunks_in_flight(self) -> int:
        """Chunks read but not yet written (their text, then their vectors): what bounds the
        ingest's memory, whatever the speed of the store. Enough for every window in flight,
        the one filling and one being written: a slow store slows the run, it does not let
        work pile up. (Files being read add at most one document per reading worker.)"""
        return (self.windows_in_flight + 2) * self.window_chunks

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestLimits:
        if settings.embed_urls:
            window_chunks = settings.embed_max_inputs * _REQUESTS_PER_WINDOW
            window_tokens = settings.embed_batch_tokens * _REQUESTS_PER_WINDOW
            # each window fans out to about that many requests: this many windows fill the
            # server's concurrency limit
            windows_in_flight = max(
                _REQUESTS_PER_WINDOW, settings.embed_max_concurrency // _REQUESTS_PER_WINDOW
            )
        else:
            window_chunks, window_tokens = _LOCAL_WINDOW_CHUNKS, _LOCAL_WINDOW_TOKENS
            windows_in_flight = _LOCAL_WINDOWS_IN_FLIGHT
        return cls(
            max_pdf_pages=settings.pdf_max_pages,
            max_unpacked_bytes=int(UNPACK_FACTOR * settings.max_file_mb * 1_000_000),
            file_timeout_s=settings.file_timeout_s,
            prepare_workers=settings.prepare_workers or default_workers(),
            window_chunks=window_chunks,
            window_tokens=window_tokens,
            windows_in_flight=windows_in_flight,
        )
