"""``review results summary|export``: read a batch output folder. ``review results
agreement|export-overrides``: read the workbench's audit trail (inter-rater agreement; overrides as
labelled eval cases)."""

from __future__ import annotations

from enum import StrEnum
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


class AgreementFormat(StrEnum):
    text = "text"
    json = "json"


@results_app.command("agreement")
def results_agreement(
    db: Annotated[
        Path, typer.Option(help="The workbench's SQLite audit trail (review serve --db).")
    ],
    format: Annotated[
        AgreementFormat, typer.Option("--format", help="text (tables) or json (sorted keys).")
    ] = AgreementFormat.text,
) -> None:
    """Cohen's kappa between the pipeline and reviewers and between reviewers, per decision, with
    counts. Example: review results agreement --db workbench-audit.sqlite"""
    import json

    from review.agreement import agreement_report, render_text
    from review.workbench.overrides import read_audit

    report = agreement_report(read_audit(db))
    if format is AgreementFormat.json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        typer.echo(render_text(report), nl=False)


@results_app.command("export-overrides")
def results_export_overrides(
    db: Annotated[
        Path, typer.Option(help="The workbench's SQLite audit trail (review serve --db).")
    ],
    cases: Annotated[
        Path, typer.Option(help="The case folder(s) the workbench served (review serve --cases).")
    ],
    out: Annotated[Path, typer.Option(help="Folder to write one labelled case per override.")],
) -> None:
    """Write each overridden case (its latest review is an override) as a labelled eval case:
    OUT/<case-id>/ with the case input and an expected.yaml holding the reviewer's decision and
    code. An existing OUT/<case-id>/ is skipped, never overwritten.
    Example: review results export-overrides --db workbench-audit.sqlite --cases examples --out eval/reviewed"""
    from review.workbench.overrides import export_overrides, read_audit

    results = export_overrides(read_audit(db), cases, out)
    for item in results:
        typer.echo(item.line())
    written = sum(r.status == "written" for r in results)
    typer.echo(
        f"{written} written, {len(results) - written} skipped; score them: review eval {out}"
    )
