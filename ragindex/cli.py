"""`ragindex ingest / search / stats / eval / optimize`: a thin skin over `ragindex.Index`.

It parses options, calls the library and formats what comes back: rich output on a terminal,
plain text otherwise, JSON with `--json`. Names and document text are printed with every control
character escaped (`cli_output.printable`); no console markup is interpreted in them.

The one error boundary is `_OneLineErrors.main`: any `RagindexError`, and any mistake in the
command line, is one line `error: …` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from ragindex import Index, RagindexError, Settings
from ragindex.cli_hits import print_hits
from ragindex.cli_output import error_line, print_json, printable
from ragindex.cli_report import (
    eval_table,
    print_report,
    report_dict,
    run_ingest,
    stats_table,
)
from ragindex.cli_tune import tune_command

out = Console(highlight=False, soft_wrap=True)  # never hard-wrap: output is grepped
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILURES = 1  # the run finished, but some files failed
EXIT_ERROR = 2  # the run could not be done at all (settings, store, server, command line)
EXIT_INTERRUPTED = 130  # Ctrl-C: what was committed stays


class _OneLineErrors(TyperGroup):
    """The CLI's error boundary: one line on stderr and exit 2 for every error ragindex raises
    and every mistake in the command line; tracebacks are left to real bugs."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # a caller that handles errors itself
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            # not standalone: click's errors come here instead of being printed as a panel
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.TyperException as error:  # the command line's mistakes (click's errors)
            if type(error).__name__ != "NoArgsIsHelpError":  # typer showed the help already
                err.print("error: " + printable(error.format_message()), markup=False)
            sys.exit(error.exit_code)
        except typer.Abort:
            err.print("aborted", markup=False)
            sys.exit(EXIT_FAILURES)
        except RagindexError as error:
            err.print(error_line(error), markup=False)
            sys.exit(EXIT_ERROR)
        # an explicit exit comes back as its status; a command that simply returns, as None
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    help="Index folders of documents and code, and search them by meaning. Settings come from "
    "RAGINDEX_* variables and one settings file (--config, else RAGINDEX_CONFIG, else "
    "~/.config/ragindex/config.toml); never from the current folder.",
)


class Mode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    sparse = "sparse"


class EvalMode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    sparse = "sparse"
    rerank = "rerank"  # hybrid, then reordered by the rerank server (RAGINDEX_RERANK_URL)


class Kind(StrEnum):
    code = "code"
    text = "text"
    pdf = "pdf"


JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="settings file (TOML) to read instead of RAGINDEX_CONFIG or "
        "~/.config/ragindex/config.toml",
    ),
]
HomeOption = Annotated[
    Path | None, typer.Option("--home", metavar="DIR", help="folder of the embedded store")
]
CollectionOption = Annotated[
    str | None, typer.Option("--collection", metavar="NAME", help="collection to use")
]


@dataclasses.dataclass(frozen=True)
class _Where:
    """The settings options, given before the command or after it (after wins)."""

    config: Path | None = None
    home: Path | None = None
    collection: str | None = None


@app.callback()
def _global_options(
    ctx: typer.Context,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    ctx.obj = _Where(config, home, collection)


def _settings(
    ctx: typer.Context,
    config: Path | None = None,
    home: Path | None = None,
    collection: str | None = None,
    **overrides: Any,
) -> Settings:
    given = ctx.find_object(_Where) or _Where()
    return Settings.load(
        config or given.config,
        home=home or given.home,
        collection=collection or given.collection,
        **overrides,
    )


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="files and folders to index")],
    exclude: Annotated[
        list[str] | None, typer.Option(help="gitignore-style glob to leave out (repeatable)")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="allow the run to remove more than half of what a folder had indexed "
            "(files deleted or moved away); without it such a run removes nothing and stops",
        ),
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    """Index files and folders: new and changed files are embedded, unchanged ones skipped,
    deleted ones removed from the index."""
    settings = _settings(ctx, config, home, collection)
    if exclude:
        settings = _settings(ctx, config, home, collection, exclude=[*settings.exclude, *exclude])
    with Index.open(settings) as index:
        show = not as_json and err.is_terminal
        report = run_ingest(index, paths, prune=prune, show=show, console=err)
        figures = index.stats()
    if as_json:
        print_json(report_dict(report, figures))
    else:
        print_report(report, figures, out, err)
    if report.interrupted:
        err.print(
            f"interrupted: {len(report.indexed):,} files indexed and committed before the stop; "
            "run the same command again to finish the rest"
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    if report.failed:
        raise typer.Exit(EXIT_FAILURES)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="what to look for, in any language, or code")],
    k: Annotated[
        int, typer.Option("--k", "-k", min=1, max=1000, help="number of results (documents)")
    ] = 10,
    lang: Annotated[str | None, typer.Option(help="language: en, zh, de… or python, rust…")] = None,
    kind: Annotated[Kind | None, typer.Option(help="only this kind of document")] = None,
    path: Annotated[str | None, typer.Option(help="only under this folder (or this file)")] = None,
    mode: Annotated[Mode, typer.Option(help="both kinds of vectors fused, or one")] = Mode.hybrid,
    task: Annotated[
        str,
        typer.Option(
            help="query instruction: auto, general, code, or a custom instruction (its text); "
            "auto is code with --kind code, else general"
        ),
    ] = "auto",
    full: Annotated[bool, typer.Option(help="print whole chunks")] = False,
    chunks: Annotated[
        bool,
        typer.Option("--chunks", help="list every matching chunk, not one result per document"),
    ] = False,
    rerank: Annotated[
        bool | None,
        typer.Option(
            "--rerank/--no-rerank", help="reorder with the reranker (default: when one is set)"
        ),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    """Search the index: the best documents (each its best chunk; --chunks: every chunk), with
    rank, source, lines or page, similarity, the query terms found, and text."""
    with Index.open(_settings(ctx, config, home, collection)) as index:
        hits = index.search(
            query,
            k=k,
            mode=mode.value,
            task=task,
            filters={"language": lang, "kind": kind.value if kind else None, "path": path},
            group=not chunks,
            rerank=rerank,
        )
    if hits.warning:
        err.print(f"warning: {printable(hits.warning)}", markup=False)
    if as_json:
        print_json([dataclasses.asdict(hit) for hit in hits])
        return
    if not hits:
        out.print("no results (is the index empty? `ragindex stats` tells)", markup=False)
        return
    print_hits(hits, full=full, out=out)


@app.command()
def stats(
    ctx: typer.Context,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    """What the index holds: documents, chunks, model, dimension, store location and size, and
    the settings file read."""
    settings = _settings(ctx, config, home, collection)
    with Index.open(settings) as index:
        figures = index.stats()
    if as_json:
        print_json({**figures, "settings_files": [str(path) for path in settings.files_read]})
        return
    out.print(stats_table(figures, settings.files_read))


@app.command(name="eval")
def evaluate(
    ctx: typer.Context,
    dataset: Annotated[
        Path, typer.Argument(help="a BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    ],
    mode: Annotated[
        list[EvalMode] | None,
        typer.Option("--mode", help="search mode to score (repeatable; rerank needs a reranker)"),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="documents ranked per query (for Recall@k)")] = 100,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Score retrieval on a BEIR-format set: nDCG@10, Recall@10, Recall@100, MRR@10 per mode.
    The corpus is ingested into a fresh, temporary collection; your index is not touched."""
    import asyncio

    from ragindex.evaluation import evaluate as run_evaluation

    modes = [choice.value for choice in mode or list(Mode)]  # rerank only when asked
    report = asyncio.run(run_evaluation(dataset, _settings(ctx, config), modes, depth=k))  # type: ignore[arg-type]
    if as_json:
        print_json(report.as_dict())
        return
    out.print(eval_table(report))


@app.command()
def optimize(
    ctx: typer.Context,
    config: ConfigOption = None,
    home: HomeOption = None,
    collection: CollectionOption = None,
) -> None:
    """Merge segments and build the HNSW index of the embedded store (blocks for minutes on big
    indexes; searches stay exact and fast without it)."""
    with Index.open(_settings(ctx, config, home, collection)) as index:
        changed = index.optimize()
    out.print("optimized" if changed else "already optimal")


app.command(name="tune")(tune_command)


from ragindex import cli_commands  # noqa: E402, F401  (registers watch, documents, remove)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
