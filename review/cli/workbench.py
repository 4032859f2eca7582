"""``review serve`` and ``review audit verify``: the reviewer workbench and its audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(no_args_is_help=True, help="Verify the workbench's audit trail.")


def serve_command(
    cases: Annotated[
        Path | None,
        typer.Option(
            help="Case folder(s) to review on start, e.g. examples (a folder of case folders)."
        ),
    ] = None,
    results: Annotated[
        Path | None, typer.Option(help="A `review batch` output folder (results.jsonl).")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Bind address (loopback unless --allow-remote).")
    ] = "127.0.0.1",
    db: Annotated[
        str,
        typer.Option(
            help="The append-only audit trail of accepts and overrides: an SQLite file path, or "
            "postgresql+psycopg://USER:PASS@HOST/DB for a team."
        ),
    ] = "workbench-audit.sqlite",
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (notes are PHI).")
    ] = False,
    clocks: Annotated[
        Path | None,
        typer.Option(
            help="YAML of decision clock limits per line of business (default 72h expedited, "
            "7d standard)."
        ),
    ] = None,
) -> None:
    """Start the reviewer workbench (queue, case reports, accept/override, exports) in a browser.

    Example: review serve --cases examples --clocks clocks.yaml
    """
    from review.workbench.serve import serve

    serve(
        cases=cases,
        results=results,
        host=host,
        port=port,
        db=db,
        allow_remote=allow_remote,
        clocks=clocks,
    )


@audit_app.command("verify")
def audit_verify(
    db: Annotated[
        str,
        typer.Option(
            help="The workbench's audit trail (review serve --db): an SQLite file path or a "
            "postgresql+psycopg:// URL."
        ),
    ],
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="A head hash printed by an earlier verify (an anchor kept elsewhere): the chain "
            "must still contain it."
        ),
    ] = None,
    expect_rows: Annotated[
        int | None,
        typer.Option(min=1, help="With --expect-head: the row count printed with that head."),
    ] = None,
) -> None:
    """Recompute the audit trail's hash chain (read-only) and print its head.

    Prints `ok: N rows, head HASH` (exit 0) or the first broken row (exit 2). Keep the head
    somewhere else (a ticket, a write-once store) and pass it back with --expect-head.

    Example: review audit verify --db workbench-audit.sqlite --expect-head 3f2a...
    (or --db postgresql+psycopg://USER@HOST/DB, the password from PGPASSWORD or ~/.pgpass)
    """
    from review.errors import ReviewError
    from review.workbench.trail import verify_file

    try:
        check = verify_file(db, expect_head=expect_head, expect_rows=expect_rows)
    except ImportError as exc:  # SQLAlchemy (or psycopg for a PostgreSQL URL) is not installed
        raise ReviewError(
            "W005",
            f"verifying the audit trail needs the workbench's optional dependencies ({exc.name} "
            "is missing): pip install -e '.[workbench]'",
        ) from None
    typer.echo(f"ok: {check.rows} rows, head {check.head}")
