"""How the CLI shows what happened: ingest's progress bar, then its summary table and the lists
of files skipped, failed, kept and partly indexed; search hits; the stats and eval tables.

Every name and reason goes through `printable`, and through rich with markup off (or as `Text`),
so neither a control character nor a `[bold]` in a file name is interpreted."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as ProgressBar
from rich.table import Table
from rich.text import Text

from ragindex import Index, IngestReport, Progress
from ragindex.cli_output import printable

if TYPE_CHECKING:
    from ragindex.evaluation import EvalReport

LISTED = 20  # names listed per kind of outcome on a terminal; --json lists them all


def run_ingest(
    index: Index, paths: list[Path], *, prune: bool, show: bool, console: Console
) -> IngestReport:
    """Ingest, with a progress bar on `console` when `show`."""
    if not show:
        return index.ingest(paths, prune=prune)
    with ProgressBar(
        TextColumn("[bold]indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[chunks]:,} chunks · {task.fields[rate]:,.0f} tokens/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None, chunks=0, rate=0.0)

        def update(progress: Progress) -> None:
            bar.update(
                task,
                # unknown while the folders are still walked: rich shows a running bar
                total=None if progress.counting else progress.files_total,
                completed=progress.files_done,
                chunks=progress.chunks,
                rate=progress.tokens / max(progress.elapsed, 1e-9),
            )

        return index.ingest(paths, progress=update, prune=prune)


def report_dict(report: IngestReport, stats: dict[str, Any]) -> dict[str, Any]:
    data = dataclasses.asdict(report)
    data["ok"] = report.ok
    data["chunks_per_s"] = report.chunks / report.seconds if report.seconds else 0.0
    data["index"] = stats
    return data


def print_report(report: IngestReport, stats: dict[str, Any], out: Console, err: Console) -> None:
    rate = report.chunks / report.seconds if report.seconds else 0.0
    table = _two_columns(Table(title="ingest", show_header=False, title_justify="left"))
    rows = [
        (
            "indexed",
            f"{len(report.indexed):,} files, {report.chunks:,} chunks, {report.tokens:,} tokens",
        ),
        ("unchanged", f"{report.unchanged:,} files (nothing embedded)"),
        ("removed", f"{len(report.removed):,} files no longer on disk"),
    ]
    if report.recovered:
        rows.append(
            (
                "recovered",
                f"{len(report.recovered):,} files left half-written by an interrupted run, "
                "cleaned up and indexed again",
            )
        )
    if report.kept:
        rows.append(("kept", f"{len(report.kept):,} files not seen, in folders it cannot read"))
    if report.warnings:
        rows.append(("partly", f"{len(report.warnings):,} files indexed in part"))
    rows += [
        ("skipped", f"{len(report.skipped):,} files"),
        ("failed", f"{len(report.failed):,} files"),
        ("time", f"{report.seconds:.1f} s, {rate:,.1f} chunks/s"),
    ]
    metrics = stats.get("embedder", {})
    if metrics.get("requests"):
        rows.append(
            (
                "embedder",
                f"{metrics['requests']:,.0f} requests, "
                f"p50 {metrics.get('latency_p50_ms', 0):.0f} ms, "
                f"p99 {metrics.get('latency_p99_ms', 0):.0f} ms, {metrics['retries']:.0f} retries, "
                f"{metrics['failures']:.0f} failures",
            )
        )
    rows.append(
        (
            "index",
            f"{stats['documents']:,} documents, {stats['chunks']:,} chunks in "
            f"{printable(str(stats['store']))}",
        )
    )
    for label, value in rows:
        table.add_row(label, Text(value))
    out.print(table)
    _print_skipped(report.skipped, out)
    if report.kept:
        out.print(
            f"kept: {len(report.kept):,} indexed files not seen this time stay in the index, "
            "because ragindex cannot read their folder",
            markup=False,
        )
        _print_names(((source, "") for source in report.kept), len(report.kept), out)
    for source, reason in report.warnings.items():
        err.print(f"partly indexed: {printable(source)}: {printable(reason)}", markup=False)
    for source, reason in report.failed.items():
        err.print(f"failed: {printable(source)}: {printable(reason)}", markup=False)


def _print_skipped(skipped: dict[str, str], out: Console) -> None:
    if not skipped:
        return
    reasons = Counter(printable(reason.split(" (")[0]) for reason in skipped.values())
    out.print(
        "skipped: " + ", ".join(f"{count} {reason}" for reason, count in reasons.most_common()),
        markup=False,
    )
    _print_names(skipped.items(), len(skipped), out)


def _print_names(names: Iterable[tuple[str, str]], total: int, out: Console) -> None:
    for number, (source, reason) in enumerate(names):
        if number == LISTED:
            out.print(f"  … and {total - LISTED:,} more (--json lists them all)", markup=False)
            return
        out.print(
            f"  {printable(source)}" + (f": {printable(reason)}" if reason else ""), markup=False
        )


def stats_table(figures: dict[str, Any], settings_files: tuple[Path, ...]) -> Table:
    table = _two_columns(Table(show_header=False))
    for key, value in figures.items():
        if key == "embedder":
            continue
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        table.add_row(key, Text(printable(str(shown))))
    files = ", ".join(printable(str(path)) for path in settings_files)
    table.add_row("settings file", Text(files or "none (defaults and RAGINDEX_* variables)"))
    return table


def _two_columns(table: Table) -> Table:
    # a long path wraps onto more lines rather than being cut short with "…"
    table.add_column()
    table.add_column(overflow="fold")
    return table


def eval_table(report: EvalReport) -> Table:
    table = Table(
        title=Text(
            f"{printable(report.dataset)}: {report.queries} queries, "
            f"{report.documents:,} documents, {report.chunks:,} chunks, ingested in "
            f"{report.ingest_seconds:.1f} s"
        ),
        title_justify="left",
    )
    for column in ("mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "query p50 ms"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for result in report.modes:
        metrics = result.metrics
        table.add_row(
            result.mode,
            f"{metrics['ndcg@10']:.3f}",
            f"{metrics['recall@10']:.3f}",
            f"{metrics['recall@100']:.3f}",
            f"{metrics['mrr@10']:.3f}",
            f"{result.latency_p50_ms:.1f}",
        )
    return table
