"""`ragindex ingest / search / stats / optimize`: a thin skin over `ragindex.Index`.

It parses options, calls the library and formats what comes back: rich output on a terminal,
plain text otherwise, JSON with `--json`. Document text is always printed as plain text (no
console markup is interpreted in it).
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ragindex.api import Index
from ragindex.config import Settings
from ragindex.errors import RagindexError
from ragindex.pipeline import Progress as IngestProgress
from ragindex.types import Hit, IngestReport, SearchMode

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Index folders of documents and code, and search them by meaning.",
)
out = Console(highlight=False, soft_wrap=True)  # never hard-wrap: output is grepped
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
EXIT_FAILURES = 1  # the run finished, but some files failed
EXIT_ERROR = 2  # the run could not be done at all (settings, store, server)


def _fail(error: BaseException) -> NoReturn:
    err.print(f"error: {error}", markup=False)
    raise typer.Exit(EXIT_ERROR)


def _open(**overrides: Any) -> Index:
    try:
        return Index.open(Settings.load(**overrides))
    except RagindexError as error:
        _fail(error)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files and folders to index")],
    exclude: Annotated[
        list[str] | None, typer.Option(help="gitignore-style glob to leave out (repeatable)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Index files and folders: new and changed files are embedded, unchanged ones skipped,
    deleted ones removed from the index."""
    settings_overrides: dict[str, Any] = {}
    if exclude:
        settings_overrides["exclude"] = [*Settings.load().exclude, *exclude]
    index = _open(**settings_overrides)
    try:
        report = _ingest_with_progress(index, paths, show=not as_json and out.is_terminal)
        if as_json:
            out.print_json(data=_report_dict(report, index.stats()))
        else:
            _print_report(report, index.stats())
    except RagindexError as error:
        _fail(error)
    finally:
        index.close()
    if report.interrupted:
        err.print(
            f"interrupted: {len(report.indexed):,} files indexed and committed before the stop; "
            "run the same command again to finish the rest"
        )
        raise typer.Exit(130)
    if report.failed:
        raise typer.Exit(EXIT_FAILURES)


def _ingest_with_progress(index: Index, paths: list[Path], *, show: bool) -> IngestReport:
    if not show:
        return index.ingest(paths)
    with Progress(
        TextColumn("[bold]indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[chunks]:,} chunks · {task.fields[rate]:,.0f} tokens/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None, chunks=0, rate=0.0)

        def update(progress: IngestProgress) -> None:
            bar.update(
                task,
                total=progress.files_total,
                completed=progress.files_done,
                chunks=progress.chunks,
                rate=progress.tokens / max(progress.elapsed, 1e-9),
            )

        return index.ingest(paths, progress=update)


def _report_dict(report: IngestReport, stats: dict[str, Any]) -> dict[str, Any]:
    data = dataclasses.asdict(report)
    data["ok"] = report.ok
    data["chunks_per_s"] = report.chunks / report.seconds if report.seconds else 0.0
    data["index"] = stats
    return data


def _print_report(report: IngestReport, stats: dict[str, Any]) -> None:
    rate = report.chunks / report.seconds if report.seconds else 0.0
    table = Table(title="ingest", show_header=False, title_justify="left")
    table.add_row(
        "indexed",
        f"{len(report.indexed):,} files, {report.chunks:,} chunks, {report.tokens:,} tokens",
    )
    table.add_row("unchanged", f"{report.unchanged:,} files (nothing embedded)")
    table.add_row("removed", f"{len(report.removed):,} files no longer on disk")
    if report.recovered:
        table.add_row(
            "recovered",
            f"{len(report.recovered):,} files left half-written by an interrupted run, "
            "cleaned up and indexed again",
        )
    table.add_row("skipped", f"{len(report.skipped):,} files")
    table.add_row("failed", f"{len(report.failed):,} files")
    table.add_row("time", f"{report.seconds:.1f} s, {rate:,.1f} chunks/s")
    metrics = stats.get("embedder", {})
    if metrics.get("requests"):
        table.add_row(
            "embedder",
            f"{metrics['requests']:,.0f} requests, p50 {metrics.get('latency_p50_ms', 0):.0f} ms, "
            f"p99 {metrics.get('latency_p99_ms', 0):.0f} ms, {metrics['retries']:.0f} retries, "
            f"{metrics['failures']:.0f} failures",
        )
    table.add_row(
        "index", f"{stats['documents']:,} documents, {stats['chunks']:,} chunks in {stats['store']}"
    )
    out.print(table)
    if report.skipped:
        reasons = Counter(_reason_group(reason) for reason in report.skipped.values())
        out.print(
            "skipped: " + ", ".join(f"{count} {reason}" for reason, count in reasons.most_common()),
            markup=False,
        )
        for source, reason in list(report.skipped.items())[:20]:
            out.print(f"  {source}: {reason}", markup=False)
        if len(report.skipped) > 20:
            out.print(f"  … and {len(report.skipped) - 20} more (--json lists them all)")
    for source, reason in report.failed.items():
        err.print(f"failed: {source}: {reason}", markup=False)


def _reason_group(reason: str) -> str:
    return reason.split(" (")[0]


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to look for, in any language, or code")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="number of results")] = 10,
    lang: Annotated[str | None, typer.Option(help="language: en, zh, de… or python, rust…")] = None,
    kind: Annotated[str | None, typer.Option(help="code, text or pdf")] = None,
    path: Annotated[str | None, typer.Option(help="only under this folder (or this file)")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or sparse")] = "hybrid",
    task: Annotated[str, typer.Option(help="query instruction: auto, general, code")] = "auto",
    full: Annotated[bool, typer.Option(help="print whole chunks")] = False,
    as_json: JsonOption = False,
) -> None:
    """Search the index: ranked chunks with score, source, lines or page, and text."""
    if kind not in (None, "code", "text", "pdf"):
        _fail(ValueError(f"--kind must be code, text or pdf, not {kind!r}"))
    if mode not in ("hybrid", "dense", "sparse"):
        _fail(ValueError(f"--mode must be hybrid, dense or sparse, not {mode!r}"))
    search_mode: SearchMode = mode  # type: ignore[assignment]
    index = _open()
    try:
        hits = index.search(
            query,
            k=k,
            mode=search_mode,
            task=task,
            filters={"language": lang, "kind": kind, "path": path},
        )
    except RagindexError as error:
        _fail(error)
    finally:
        index.close()
    if as_json:
        out.print_json(data=[dataclasses.asdict(hit) for hit in hits])
        return
    if not hits:
        out.print("no results (is the index empty? `ragindex stats` tells)")
        return
    for rank, hit in enumerate(hits, start=1):
        out.print(
            f"{rank:>2}. {hit.score:.4f}  {location(hit)}  [{hit.kind}, {hit.language or '?'}]",
            markup=False,
            style="bold",
        )
        text = hit.text if full else _preview(hit.text)
        out.print("    " + text.replace("\n", "\n    "), markup=False)


def location(hit: Hit) -> str:
    """`path:12-40` for text and code, `path (page 3)` for PDFs."""
    if hit.page is not None:
        return f"{hit.source} (page {hit.page})"
    return f"{hit.source}:{hit.line_start}-{hit.line_end}"


def _preview(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


@app.command()
def stats(as_json: JsonOption = False) -> None:
    """What the index holds: documents, chunks, model, dimension, store location and size."""
    index = _open()
    try:
        figures = index.stats()
    except RagindexError as error:
        _fail(error)
    finally:
        index.close()
    if as_json:
        out.print_json(data=figures)
        return
    table = Table(show_header=False)
    for key, value in figures.items():
        if key == "embedder":
            continue
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    out.print(table)


@app.command(name="eval")
def evaluate(
    dataset: Annotated[
        Path, typer.Argument(help="a BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    ],
    mode: Annotated[
        list[str] | None, typer.Option("--mode", help="hybrid, dense or sparse (repeatable)")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="documents ranked per query (for Recall@k)")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Score retrieval on a BEIR-format set: nDCG@10, Recall@10, Recall@100, MRR@10 per mode.
    The corpus is ingested into a fresh, temporary collection; your index is not touched."""
    import asyncio

    from ragindex.evaluation import evaluate as run_evaluation

    modes = mode or ["hybrid", "dense", "sparse"]
    for name in modes:
        if name not in ("hybrid", "dense", "sparse"):
            _fail(ValueError(f"--mode must be hybrid, dense or sparse, not {name!r}"))
    try:
        report = asyncio.run(run_evaluation(dataset, Settings.load(), modes, depth=k))  # type: ignore[arg-type]
    except RagindexError as error:
        _fail(error)
    if as_json:
        out.print_json(data=report.as_dict())
        return
    table = Table(
        title=f"{report.dataset}: {report.queries} queries, {report.documents:,} documents, "
        f"{report.chunks:,} chunks, ingested in {report.ingest_seconds:.1f} s",
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
    out.print(table)


@app.command()
def optimize() -> None:
    """Merge segments and build the HNSW index of the embedded store (blocks for minutes on big
    indexes; searches stay exact and fast without it)."""
    index = _open()
    try:
        changed = index.optimize()
    except RagindexError as error:
        _fail(error)
    finally:
        index.close()
    out.print("optimized" if changed else "already optimal")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
