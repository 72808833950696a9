"""`ragindex tune DATASET_DIR...`: sweep the fusion settings over BEIR sets and print the best,
with the `RAGINDEX_FUSION_*` variables that apply it. `ragindex.cli` registers it on its app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ragindex.cli_output import print_json, printable
from ragindex.config import Settings
from ragindex.errors import ConfigError
from ragindex.fusion import FUSION_METHODS, FusionMethod
from ragindex.tuning import Grid, Scored, TuneReport, tune

out = Console(highlight=False, soft_wrap=True)


def _numbers(text: str, kind: type[float] | type[int], name: str) -> tuple[Any, ...]:
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--{name} takes comma-separated numbers, not {text!r}") from None


def _methods(text: str) -> tuple[FusionMethod, ...]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in FUSION_METHODS]
    if unknown or not chosen:
        raise ConfigError(
            f"unknown fusion method(s) {', '.join(unknown) or text!r}; "
            f"use {', '.join(FUSION_METHODS)}"
        )
    return tuple(method for method in FUSION_METHODS if method in chosen)


def tune_command(
    ctx: typer.Context,
    datasets: Annotated[
        list[Path], typer.Argument(help="BEIR folders: corpus.jsonl, queries.jsonl, qrels/")
    ],
    methods: Annotated[
        str, typer.Option("--methods", help="fusion methods to try")
    ] = "rrf,dbsf,weighted",
    weights: Annotated[
        str, typer.Option("--weights", help="dense shares to try")
    ] = "0.2,0.3,0.4,0.5,0.6,0.7,0.8",
    ks: Annotated[str, typer.Option("--ks", help="RRF constants to try")] = "10,60",
    candidates: Annotated[
        str, typer.Option("--candidates", help="candidates per side to try")
    ] = "100",
    top: Annotated[int, typer.Option("--top", min=1, help="settings listed")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", metavar="FILE", help="settings file (TOML)")
    ] = None,
) -> None:
    """Find the fusion settings that make hybrid search best on all the given sets together:
    each set is ingested once into a temporary index, each query searched once, then every
    setting scored by nDCG@10 against the best single mode (dense or sparse) of each set."""
    grid = Grid(
        methods=_methods(methods),
        dense_weights=_numbers(weights, float, "weights"),
        rrf_ks=_numbers(ks, int, "ks"),
        candidates=_numbers(candidates, int, "candidates"),
    )
    given = getattr(ctx.obj, "config", None)  # `ragindex --config FILE tune ...`
    report = asyncio.run(tune(datasets, Settings.load(config or given), grid))
    if as_json:
        print_json(report_dict(report))
        return
    out.print("nDCG@10 per set (margin over its best single mode), best settings first:")
    for line in tune_lines(report, top):
        out.print(line, markup=False)
    best = report.best.fusion
    out.print(f"best: {best.describe()}", markup=False)
    out.print("apply it with:", markup=False)
    for name, value in best.environment().items():
        out.print(f"  export {name}={value}", markup=False)


def _row(result: Scored) -> dict[str, Any]:
    return {
        "fusion": result.fusion.describe(),
        "environment": result.fusion.environment(),
        "ndcg@10": result.ndcg,
        "margin_over_best_single": result.margins,
        "worst_margin": result.worst_margin,
        "mean_ndcg@10": result.mean_ndcg,
    }


def report_dict(report: TuneReport) -> dict[str, Any]:
    return {
        "single_modes_ndcg@10": report.single,
        "current": _row(report.default),
        "best": _row(report.best),
        "ranked": [_row(result) for result in report.ranked],
    }


def tune_lines(report: TuneReport, top: int) -> list[str]:
    """Plain lines, one setting per line, readable at any width and easy to grep: nDCG@10 per
    set with the margin over that set's best single mode, then the worst margin and the mean."""
    names = list(report.single)
    lines = ["sets: " + ", ".join(f"{n + 1}={printable(name)}" for n, name in enumerate(names))]
    for mode in ("dense", "sparse"):
        values = "  ".join(f"{report.single[name][mode]:.3f}" for name in names)
        lines.append(f"{mode:<7} {values}  mean {_mean(report.single, mode):.3f}")
    rows = [("current", report.default)] + [
        (f"#{number}", result) for number, result in enumerate(report.ranked[:top], start=1)
    ]
    for label, result in rows:
        values = "  ".join(f"{result.ndcg[n]:.3f} ({result.margins[n]:+.3f})" for n in names)
        lines.append(
            f"{label:<7} {values}  worst {result.worst_margin:+.3f}  mean {result.mean_ndcg:.3f}"
            f"  {result.fusion.describe()}"
        )
    return lines


def _mean(single: dict[str, dict[str, float]], mode: str) -> float:
    return sum(values[mode] for values in single.values()) / len(single)
