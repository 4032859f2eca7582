"""``review results summary|export``: read a batch output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

results_app = typer.Typer(no_args_is_help=True, help="Summarise and export batch results (DuckDB).")


@results_app.command("summary")
def results_summary(
    folder: Annotated[Path, typer.Argument(help="A batch output folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Decisions, supported codes, most frequent failing rules and errors. Example: review results summary runs/mts"""
    import json

    from review.results import summary

    data = summary(folder)
    if as_json:
        typer.echo(json.dumps({k: [list(r) for r in v] for k, v in data.items()}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for name, rows in data.items():
        table = Table(
            title=name.replace("_", " "), show_header=False, title_justify="left", min_width=32
        )
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)


@results_app.command("export")
def results_export(
    folder: Annotated[Path, typer.Argument(help="A batch output folder.")],
    parquet: Annotated[
        Path | None, typer.Option(help="Target file (default: FOLDER/results.parquet).")
    ] = None,
) -> None:
    """Export results.jsonl to Parquet for DuckDB, pandas or Spark. Example: review results export runs/mts"""
    from review.results import export_parquet

    typer.echo(str(export_parquet(folder, parquet)))
