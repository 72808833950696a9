"""One ingest at a time for every visitor of the page, in a thread that outlives the script run
that started it.

The page shares one `Index` between all its visitors; this runner is shared the same way (the
page keeps one per index in `st.cache_resource`). It starts at most one ingest, answers what is
running (the index's own `current_ingest`, or the run this runner has just started and the
index has not registered yet) and keeps the outcome of the last run for every visitor to see.
It knows nothing of Streamlit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ragindex import (
    Index,
    IngestAborted,
    IngestBusyError,
    IngestReport,
    Progress,
    PruneRequiredError,
    RagindexError,
)

log = logging.getLogger(__name__)


class Activity(Protocol):
    """What the page shows of a running ingest (the shape of `ragindex`'s `IngestActivity`)."""

    @property
    def paths(self) -> tuple[str, ...]: ...

    @property
    def started_at(self) -> float: ...

    @property
    def progress(self) -> Progress | None: ...

    def stop(self) -> None: ...


@dataclass
class PageRun:
    """The run this runner started: an `Activity` of its own, for the moments before the index
    registers the run and after it lets go of it."""

    paths: tuple[str, ...]
    started_at: float = field(default_factory=time.time)
    progress: Progress | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stop_event.set()

    def record(self, progress: Progress) -> None:
        self.progress = progress


@dataclass(frozen=True)
class Outcome:
    """How the last run ended: its report (also a partial one, when it stopped on an error), or
    the error's message, or both."""

    number: int  # counts the runs of this server process, so a page sees that a new one ended
    paths: tuple[str, ...]
    started_at: float
    finished_at: float
    report: IngestReport | None = None
    error: str | None = None
    prune_required: bool = False


class IngestRunner:
    """Starts ingests on one shared index, one at a time; see the module's docstring."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self._lock = threading.Lock()
        self._run: PageRun | None = None
        self._stop_asked = False
        self._runs = 0
        self.last: Outcome | None = None

    def activity(self) -> Activity | None:
        """The ingest running on the index now, whoever started it; None when idle."""
        registered: Activity | None = self._index.current_ingest
        return registered or self._run

    @property
    def stop_asked(self) -> bool:
        """Whether a visitor pressed Stop on the run in progress."""
        return self._stop_asked and self.activity() is not None

    def stop(self) -> None:
        """Ask the running ingest to stop after the files in flight (committed documents stay)."""
        activity = self.activity()
        if activity is not None:
            self._stop_asked = True
            activity.stop()

    def start(self, paths: Sequence[Path]) -> None:
        """Start ingesting `paths` in the background; `IngestBusyError` if one is running."""
        with self._lock:
            if self.activity() is not None:
                raise IngestBusyError("another ingest is running on this index; one at a time")
            run = PageRun(paths=tuple(str(path) for path in paths))
            self._run = run
            self._stop_asked = False
            self._runs += 1
            number = self._runs
        worker = threading.Thread(
            target=self._work, args=(run, number), name="ragindex-page-ingest", daemon=True
        )
        worker.start()

    def _work(self, run: PageRun, number: int) -> None:
        report: IngestReport | None = None
        error: str | None = None
        prune_required = False
        try:
            report = self._index.ingest(run.paths, progress=run.record, stop=run.stop_event)
        except IngestAborted as aborted:
            error = str(aborted)
            report = aborted.report if isinstance(aborted.report, IngestReport) else None
        except PruneRequiredError as refused:
            error, prune_required = str(refused), True
        except RagindexError as failed:
            error = str(failed)
        except Exception as unexpected:  # the thread must record an end whatever happens
            log.exception("the page's ingest failed")
            error = f"unexpected error ({type(unexpected).__name__}): {unexpected}"
        finally:
            outcome = Outcome(
                number=number,
                paths=run.paths,
                started_at=run.started_at,
                finished_at=time.time(),
                report=report,
                error=error,
                prune_required=prune_required,
            )
            with self._lock:
                self.last = outcome
                self._run = None
