"""`ragindex watch / documents / remove`: registered on `ragindex.cli`'s app, which imports this
module once its own commands and options are defined.

As the rest of the CLI: a thin skin over `Index`, names printed through `printable`, `--json`
for whatever prints data, and every error one line through the app's error boundary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragindex import Index, Settings
from ragindex.cli_output import print_json, printable
from ragindex.cli_report import LISTED
from ragindex.types import ManifestRecord
from ragindex.watch import WatchRun


def _cli() -> Any:
    """The cli module importing this one: `ragindex.cli`, or `__main__` when it runs as
    `python -m ragindex.cli` (a second copy of it would parse nothing)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    running = spec is not None and spec.name == "ragindex.cli"
    return main if running else import_module("ragindex.cli")


cli = _cli()
app: typer.Typer = cli.app
out, err = cli.out, cli.err
if TYPE_CHECKING:
    from ragindex.cli import CollectionOption, ConfigOption, HomeOption, JsonOption
else:  # the same options as every other command's
    JsonOption, ConfigOption = cli.JsonOption, cli.ConfigOption
    HomeOption, CollectionOption = cli.HomeOption, cli.CollectionOption


def _settings(
    ctx: typer.Context,
    config: Path | None,
    home: Path | None,
    collection: str | None,
    **overrides: Any,
) -> Settings:
    """As `ragindex.cli` reads them: options after the command win over those before it."""
    given = ctx.obj
    return Settings.load(
        config or getattr(given, "config", None),
        home=home or getattr(given, "home", None),
        collection=collection or getattr(given, "collection", None),
        **overrides,
    )


@app.command()
def watch(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="files and folders to index and follow")],
    exclude: Annotated[
        list[str] | None, typer.Option(help="gitignore-style glob to leave out (repeatable)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object per run (JSON Lines)")
    ] = False,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    """Index files and folders, then keep the index in step with them: files created, changed,
    moved or deleted are indexed or removed within seconds. It never prunes: a folder that
    vanishes or looks emptied is reported and left as indexed. Ctrl-C stops it (exit 130);
    what was indexed stays; so does SIGTERM."""
    settings = _settings(ctx, config, home, collection)
    if exclude:
        settings = _settings(ctx, config, home, collection, exclude=[*settings.exclude, *exclude])
    with _sigterm_as_ctrl_c(), Index.open(settings) as index:
        summary = index.watch(paths, on_report=_print_json_line if as_json else _print_run)
    err.print(f"stopped after {summary.runs:,} runs; what was indexed stays", markup=False)
    raise typer.Exit(cli.EXIT_INTERRUPTED)


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """`docker stop` and systemd stop with SIGTERM: a clean stop too, as Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (a test runner's thread)
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_run(run: WatchRun) -> None:
    if run.number == 1:  # the paths were found: from here on, changes are followed
        watched = ", ".join(printable(path) for path in run.paths)
        err.print(f"watching {watched}; Ctrl-C to stop", markup=False)
    clock = time.strftime("%H:%M:%S", time.localtime(run.finished_at))
    roots = ", ".join(printable(path) for path in run.paths)
    report = run.report
    if report is not None:
        plural = "" if run.changes == 1 else "s"
        why = "first run" if run.number == 1 else f"{run.changes:,} change{plural}"
        out.print(
            f"{clock} {roots}: {len(report.indexed):,} indexed, {len(report.removed):,} "
            f"removed, {report.unchanged:,} unchanged, {len(report.skipped):,} skipped, "
            f"{len(report.failed):,} failed ({why}, {report.seconds:.1f} s)"
            + ("; stopped part-way: the rest follows" if report.interrupted else ""),
            markup=False,
        )
        for sign, sources in (("+", report.indexed), ("-", report.removed)):
            for source in sorted(sources)[:LISTED]:
                out.print(f"  {sign} {printable(source)}", markup=False)
            if len(sources) > LISTED:
                out.print(f"  {sign} … and {len(sources) - LISTED:,} more", markup=False)
        for source, reason in report.failed.items():
            err.print(f"{clock} failed: {printable(source)}: {printable(reason)}", markup=False)
    if run.error is not None:
        again = f"; trying again in {run.retry_s:.0f} s" if run.retry_s is not None else ""
        err.print(
            f"{clock} not done: {printable(str(run.error))} (still watching{again})", markup=False
        )


def _print_json_line(run: WatchRun) -> None:
    line = {
        "run": run.number,
        "paths": list(run.paths),
        "changes": run.changes,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "report": None,
        "error": str(run.error) if run.error is not None else None,
        "retry_s": run.retry_s,
    }
    if run.report is not None:
        line["report"] = {**dataclasses.asdict(run.report), "ok": run.report.ok}
    # ASCII only: every control character and odd name escaped, one run a line
    sys.stdout.write(json.dumps(line, ensure_ascii=True) + "\n")
    sys.stdout.flush()


@app.command()
def documents(
    ctx: typer.Context,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    """List the indexed documents: source, chunks, size, and the file's modification time when
    it was indexed (when each ingest ran is not recorded)."""
    with Index.open(_settings(ctx, config, home, collection)) as index:
        records = index.documents()
    if as_json:
        print_json([_record_dict(record) for record in records])
        return
    if not records:
        out.print("no documents (`ragindex ingest PATH` indexes some)", markup=False)
        return
    out.print(f"{'modified (UTC)':<19}  {'size':>9}  {'chunks':>6}  source", markup=False)
    for record in records:
        out.print(
            f"{_utc(record.mtime):<19}  {_size(record.size):>9}  {record.chunks:>6,}  "
            f"{printable(record.source)}",
            markup=False,
        )
    chunks = sum(record.chunks for record in records)
    out.print(
        f"{len(records):,} documents, {chunks:,} chunks; modified: the file's time when it was "
        "indexed",
        markup=False,
    )


def _record_dict(record: ManifestRecord) -> dict[str, Any]:
    return {
        "source": record.source,
        "chunks": record.chunks,
        "size": record.size,
        "modified": _utc(record.mtime, iso=True),
        "mtime": record.mtime,
        "kind": record.kind,
        "language": record.language,
        "format": record.format,
        "sha256": record.sha256,
    }


def _utc(moment: float, *, iso: bool = False) -> str:
    when = datetime.fromtimestamp(moment, UTC)
    return when.isoformat() if iso else when.strftime("%Y-%m-%d %H:%M:%S")


def _size(size: int) -> str:
    if size < 1000:
        return f"{size:,} B"
    scaled = float(size)
    for unit in ("kB", "MB", "GB"):
        scaled /= 1000
        if scaled < 1000 or unit == "GB":
            break
    return f"{scaled:,.1f} {unit}"


@app.command()
def remove(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="files or folders to forget: paths, or with portable paths the sources as "
            "`ragindex documents` lists them"
        ),
    ],
    as_json: JsonOption = False,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    """Remove documents, or whole folders, from the index; the files stay on disk. A path with
    nothing indexed is an error and nothing is removed. The next ingest or watch of a folder
    holding them indexes them again: leave them out with --exclude or a .ragindexignore file."""
    with Index.open(_settings(ctx, config, home, collection)) as index:
        removed = index.remove(paths)
        figures = index.stats()
    if as_json:
        print_json({"removed": removed, "index": figures})
        return
    out.print(f"removed {len(removed):,} documents", markup=False)
    for source in removed[:LISTED]:
        out.print(f"  - {printable(source)}", markup=False)
    if len(removed) > LISTED:
        out.print(f"  … and {len(removed) - LISTED:,} more (--json lists them all)", markup=False)
    out.print(
        f"index: {figures['documents']:,} documents, {figures['chunks']:,} chunks", markup=False
    )
