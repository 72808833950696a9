"""The sidebar's "Add documents" panel: there only when `ui_ingest_roots` is set, and then only
for paths under those folders.

The panel polls (a fragment that reruns every `POLL_SECONDS`), so every visitor sees the ingest
that is running, whoever started it, and can stop it; when a run ends, each visitor's page reruns
once in full, so the index's counts and filters catch up. Paths typed by a visitor and the names
of indexed files are untrusted: shown with `st.text` only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import streamlit as st
from ingest_roots import PathRefused, allowed_path, missing_roots
from ingest_runner import Activity, IngestRunner, Outcome

from ragindex import Index, IngestBusyError, IngestReport

POLL_SECONDS = 2.0
_SEEN = "ingest_outcome_seen"  # the last run whose end this visitor's page has drawn in full
_NOTICE = "ingest_notice"  # ("refused" | "busy", message): the answer to this visitor's click


def ingest_panel(index: Index, runner: IngestRunner) -> None:
    watcher_notice(index)
    roots = index.settings.ui_ingest_roots
    if not roots:
        return
    st.header("Add documents")
    st.caption("Folders this page may index, with their subfolders:")
    missing = set(missing_roots(roots))
    st.text("\n".join(f"{root}{'  (missing)' if root in missing else ''}" for root in roots))
    if index.settings.follow_symlinks:
        st.warning(
            "RAGINDEX_FOLLOW_SYMLINKS is on: links inside these folders are followed wherever "
            "they lead. Turn it off on a server whose page indexes."
        )
    if not index.settings.qdrant_url:
        st.caption(
            "This page holds the embedded index open, so `ragindex ingest` from a terminal is "
            "refused while it runs: index folders from here, or use a Qdrant server."
        )
    # this is a full run of the page: it draws the index as it is after the last run's end
    st.session_state[_SEEN] = runner.last.number if runner.last else None
    live_panel(runner, roots)


@st.fragment(run_every=POLL_SECONDS)
def live_panel(runner: IngestRunner, roots: Sequence[Path]) -> None:
    activity, stopping = runner.activity(), runner.stop_asked
    if activity is not None:
        show_running(activity, stopping=stopping)
        st.button(
            "Stopping…" if stopping else "Stop",
            key="ingest_stop",
            on_click=runner.stop,
            disabled=stopping,
            help="stops after the files in flight; what was indexed so far stays",
        )
    typed = st.text_input(
        "Folder or file to index",
        key="ingest_path",
        placeholder=str(roots[0]),
        help="a full path under one of the folders listed"
        + (", or a path inside it" if len(roots) == 1 else ""),
        on_change=forget_notice,
    )
    st.button(
        "Index it",
        key="ingest_start",
        on_click=start,
        args=(runner, roots),
        disabled=activity is not None or not typed.strip(),
        help="one ingest at a time" if activity is not None else None,
    )
    notice = st.session_state.get(_NOTICE)
    if notice and notice[0] == "busy" and activity is None:
        notice = st.session_state[_NOTICE] = None  # the run it spoke of has ended
    if notice:
        level, message = notice
        (st.error if level == "refused" else st.warning)(message)
    last = runner.last
    if last is not None:
        show_outcome(last)
        if st.session_state.get(_SEEN) != last.number:
            st.rerun()  # a run ended since this page was drawn in full: refresh the counts


@st.fragment(run_every=POLL_SECONDS)
def watcher_notice(index: Index) -> None:
    """A watcher in this process (`Index.watch`) keeps folders in step with the index on its
    own: its runs show above as ingests; this says it is there between them."""
    watcher = index.watching
    if watcher is None:
        return
    st.info("Watching: changes in these folders are indexed within seconds.")
    st.text("\n".join(watcher.paths))
    st.text(f"since {clock(watcher.started_at)}, {watcher.runs:,} run" + "s" * (watcher.runs != 1))
    last = watcher.last
    if last is not None:
        summary = counts(last.report) if last.report is not None else "nothing done"
        st.text(f"last run {clock(last.finished_at)}: {summary}")
        if last.error is not None:
            st.warning(str(last.error))


def forget_notice() -> None:
    st.session_state[_NOTICE] = None


def start(runner: IngestRunner, roots: Sequence[Path]) -> None:
    """The Index button's callback: check the path, then start the run in the background."""
    forget_notice()
    try:
        path = allowed_path(st.session_state.get("ingest_path", ""), roots)
        runner.start([path])
    except PathRefused as refused:
        st.session_state[_NOTICE] = ("refused", f"Refused: {refused} Nothing was indexed.")
    except IngestBusyError:
        st.session_state[_NOTICE] = (
            "busy",
            "Another ingest is running on this index: wait for it to end, or stop it.",
        )


def show_running(activity: Activity, *, stopping: bool) -> None:
    st.subheader("Stopping…" if stopping else "Indexing…")
    st.text("\n".join(activity.paths))
    progress = activity.progress
    if progress is None or not progress.files_total:
        st.text("working on the first files…" if progress is None else "nothing to embed")
    else:
        done, total = progress.files_done, progress.files_total
        st.progress(min(1.0, done / total))
        rate = progress.chunks / progress.elapsed if progress.elapsed > 0 else 0.0
        seconds_left = progress.seconds_left
        left = (
            "time left: estimating…" if seconds_left is None else duration(seconds_left) + " left"
        )
        counted = f"{total:,}+ (still counting)" if progress.counting else f"{total:,}"
        st.text(f"{done:,} of {counted} files · {progress.chunks:,} chunks · {rate:,.1f} chunks/s")
        st.text(left)
        if progress.current:
            st.text(f"now: {within(progress.current, activity.paths)}")
    since = duration(time.time() - activity.started_at)
    st.text(f"started {clock(activity.started_at)}, {since} ago")


def show_outcome(outcome: Outcome) -> None:
    st.subheader("Last run")
    st.text("\n".join(outcome.paths))
    report = outcome.report
    if report is None:
        st.error("Indexing refused." if outcome.prune_required else "Indexing failed.")
        st.text(outcome.error or "")
        if outcome.prune_required:
            st.info(
                "The page never removes most of a folder's documents. If the files are really "
                "gone, run `ragindex ingest --prune` with that folder from a terminal."
            )
    else:
        summary = counts(report)
        if outcome.error:
            st.error(f"Indexing stopped on an error: {summary}")
            st.text(outcome.error)
        elif report.interrupted:
            st.warning(f"Stopped: {summary}. What was indexed before the stop stays.")
        elif report.failed or report.warnings:
            st.warning(summary)
        else:
            st.success(summary)
        details(report)
    took = duration(outcome.finished_at - outcome.started_at)
    st.caption(f"finished {clock(outcome.finished_at)}, after {took}")


def counts(report: IngestReport) -> str:
    return (
        f"{len(report.indexed):,} indexed, {report.unchanged:,} unchanged, "
        f"{len(report.removed):,} removed, {len(report.skipped):,} skipped, "
        f"{len(report.failed):,} failed"
    )


def details(report: IngestReport) -> None:
    """The report's per-file lists, as literal text (file names are untrusted)."""
    sections = [
        ("Indexed in part", report.warnings),
        ("Kept: their folder could not be read", {source: "" for source in report.kept}),
        ("Skipped", report.skipped),
        ("Failed", report.failed),
    ]
    for title, entries in sections:
        if entries:
            with st.expander(f"{title} ({len(entries):,})"):
                st.text(
                    "\n".join(
                        f"{source}: {reason}" if reason else source
                        for source, reason in entries.items()
                    )
                )


def within(source: str, paths: Sequence[str]) -> str:
    """A file's name below the folder being indexed (the folder is shown above it)."""
    for path in paths:
        prefix = path.rstrip("/") + "/"
        if source.startswith(prefix):
            return source.removeprefix(prefix)
    return source


def clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
