"""What an ingest reports while it runs: `Progress` snapshots for progress bars, and the
counters the stages share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ragindex.types import IngestReport


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress bars: files to process, files done, chunks and tokens so far."""

    files_total: int
    files_done: int
    chunks: int
    tokens: int
    elapsed: float
    current: str = ""
    # True while the folders are still being walked (reading starts meanwhile): files_total
    # is what was found so far, and grows
    counting: bool = False

    @property
    def seconds_left(self) -> float | None:
        """A linear estimate from the files done so far; None before the first one, and while
        the total is still being counted."""
        if self.counting:
            return None
        if not self.files_done or self.files_total <= self.files_done:
            return None if not self.files_done else 0.0
        return self.elapsed / self.files_done * (self.files_total - self.files_done)


ProgressCallback = Callable[[Progress], None]


class Gauge:
    """A bound on things held at once, and the most that ever were (for the report). Things
    may weigh more than one; one heavier than the whole bound waits until nothing else is held,
    then goes alone."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.current = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    async def acquire(self, weight: int = 1) -> None:
        weight = min(weight, self.bound)
        async with self._changed:
            await self._changed.wait_for(lambda: self.current + weight <= self.bound)
            self.current += weight
            self.peak = max(self.peak, self.current)

    async def release(self, weight: int = 1) -> None:
        async with self._changed:
            self.current -= min(weight, self.bound)
            self._changed.notify_all()


class RunState:
    """The report being filled by the stages of one run, and the progress it tells."""

    def __init__(
        self,
        report: IngestReport,
        files_total: int,
        started: float,
        progress: ProgressCallback | None,
        *,
        chunks_bound: int,
        windows_bound: int,
        counting: bool = False,
    ) -> None:
        self.report = report
        self.files_total = files_total
        self.counting = counting  # the walk goes on: files_total is a running count
        self.files_done = 0
        self.started = started
        self._progress = progress or (lambda _snapshot: None)
        self.chunks = Gauge(chunks_bound)  # read and not yet written or given up
        self.windows = Gauge(windows_bound)  # embedding calls under way

    def found(self) -> None:
        """One more file to prepare, found by a walk still under way."""
        if self.counting:
            self.files_total += 1

    def counted(self, files_total: int) -> None:
        """The walk is over: the files to prepare are `files_total`, and that is said."""
        self.files_total, self.counting = files_total, False
        self._tell()

    def skipped(self, source: str, reason: str) -> None:
        self.report.skipped[source] = reason
        self.file_done(source)

    def failed(self, source: str, reason: str) -> None:
        self.report.failed[source] = reason
        self.file_done(source)

    def unchanged(self, source: str) -> None:
        self.report.unchanged += 1
        self.file_done(source)

    def indexed(self, source: str, chunks: int, tokens: int, warnings: tuple[str, ...]) -> None:
        self.report.indexed.append(source)
        self.report.chunks += chunks
        self.report.tokens += tokens
        if warnings:
            self.report.warnings[source] = "; ".join(warnings)
        self.file_done(source)

    def file_done(self, source: str) -> None:
        self.files_done += 1
        self._tell(source)

    def _tell(self, source: str = "") -> None:
        self._progress(
            Progress(
                files_total=self.files_total,
                files_done=self.files_done,
                chunks=self.report.chunks,
                tokens=self.report.tokens,
                elapsed=time.perf_counter() - self.started,
                current=source,
                counting=self.counting,
            )
        )

    def record_peaks(self) -> None:
        self.report.peak_chunks_in_flight = self.chunks.peak
        self.report.peak_windows_in_flight = self.windows.peak
