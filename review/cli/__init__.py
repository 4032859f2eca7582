"""The ``review`` command line: the top-level app, its ``--debug`` flag and the ``main`` entry point.
Each command group lives in its own module (case, batch, eval, rules, prompts, results, workbench
and its users, errors).

Exit codes: 0 a review was produced (whatever the decision); 2 bad input (one line naming the input
and what to do); 1 an internal error (one line; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from review.cli.batch import batch_command
from review.cli.case import Format, case_command
from review.cli.common import Extractor, write_output
from review.cli.errors import errors_command
from review.cli.eval import eval_command
from review.cli.prompts import prompts_app
from review.cli.results import results_app
from review.cli.rules import rules_app
from review.cli.workbench import audit_app, serve_command, users_app
from review.errors import ReviewError

__all__ = ["Extractor", "Format", "app", "main", "write_output"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Review trigger point injection claims (CPT 20552/20553) against a payment policy.",
)
app.add_typer(rules_app, name="rules")
app.add_typer(prompts_app, name="prompts")
app.add_typer(results_app, name="results")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.command("case")(case_command)
app.command("batch")(batch_command)
app.command("eval")(eval_command)
app.command("serve")(serve_command)
app.command("errors")(errors_command)

_debug = False


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _debug
    _debug = debug


def main() -> None:
    """Entry point: usage errors are click's (exit 2); ReviewErrors one line (exit 2); anything
    else one line with exit 1, the traceback only with --debug."""
    try:
        app()  # standalone: click prints usage errors and exits 2 itself
    except ReviewError as exc:
        if _debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if _debug:
            raise
        typer.echo(
            f"error: [R999] internal error: {type(exc).__name__}: {exc}; rerun with --debug and report it",
            err=True,
        )
        sys.exit(1)
