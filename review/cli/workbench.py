"""``review serve``, ``review audit verify`` and ``review users``: the reviewer workbench, its
audit trail and its accounts."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(no_args_is_help=True, help="Verify the workbench's audit trail.")
users_app = typer.Typer(
    no_args_is_help=True,
    help="Workbench accounts for --auth local (in the database given by --db).",
)


class AuthMode(StrEnum):
    none = "none"
    local = "local"
    oidc = "oidc"


class Role(StrEnum):
    nurse = "nurse"
    physician = "physician"
    supervisor = "supervisor"
    admin = "admin"


DB_HELP = (
    "The workbench database (the same --db as review serve): an SQLite file path, or "
    "postgresql+psycopg://USER:PASS@HOST/DB."
)


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
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a non-loopback --host (notes are PHI); needs a sign-in mode (--auth local or oidc).",
        ),
    ] = False,
    clocks: Annotated[
        Path | None,
        typer.Option(
            help="YAML of decision clock limits per line of business (default 72h expedited, "
            "7d standard)."
        ),
    ] = None,
    auth: Annotated[
        AuthMode,
        typer.Option(
            help="Sign-in: none (one reviewer on this machine types a name), local (accounts "
            "from `review users add`, roles, sessions) or oidc (your organisation's OpenID "
            "provider: REVIEW_OIDC_* settings, roles from its claim)."
        ),
    ] = AuthMode.none,
    session_idle: Annotated[
        int,
        typer.Option(min=1, help="Sign-in modes: minutes without a request before a session ends."),
    ] = 30,
    session_max: Annotated[
        int, typer.Option(min=1, help="Sign-in modes: hours after sign-in before a session ends.")
    ] = 12,
    oidc_config: Annotated[
        Path | None,
        typer.Option(
            help="--auth oidc: a YAML file of OIDC settings (issuer, client_id, redirect_uri, "
            "roles, ...); REVIEW_OIDC_* variables override it; the secret only in "
            "REVIEW_OIDC_CLIENT_SECRET."
        ),
    ] = None,
) -> None:
    """Start the reviewer workbench (queue, case reports, accept/override, exports) in a browser.

    Example: review serve --cases examples --clocks clocks.yaml
    (a team: review serve --cases DIR --db postgresql+psycopg://... --auth local, or --auth oidc
    with the REVIEW_OIDC_* settings)
    """
    from review.workbench.serve import serve

    serve(
        cases=cases,
        results=results,
        host=host,
        port=port,
        db=db,
        allow_remote=allow_remote,
        auth=auth.value,
        session_idle=session_idle * 60,
        session_max=session_max * 3600,
        clocks=clocks,
        oidc_config=oidc_config,
    )


def _accounts(db: str):
    from review.errors import ReviewError

    try:
        import argon2  # noqa: F401
        import sqlalchemy  # noqa: F401

        from review.workbench.accounts import Accounts
        from review.workbench.store import AuditStore
    except ImportError as exc:
        raise ReviewError(
            "W005",
            f"workbench accounts need the workbench's optional dependencies ({exc.name} is "
            "missing): pip install -e '.[workbench]'",
        ) from None
    return Accounts(AuditStore(db))


def read_password() -> str:
    """The new password: typed twice at a terminal (not echoed), else the first line of stdin.
    Never an argument: argv is visible to every user of the machine and kept in shell history."""
    from review.errors import ReviewError

    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise ReviewError("W009", "the two passwords differ", source="password")
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Lowercase letters, digits, '.', '_', '-'.")],
    role: Annotated[
        list[Role],
        typer.Option(help="nurse, physician, supervisor or admin (repeat for several)."),
    ],
    db: Annotated[str, typer.Option(help=DB_HELP)] = "workbench-audit.sqlite",
    name: Annotated[str | None, typer.Option(help="Display name (default: the username).")] = None,
) -> None:
    """Create a local account. The password is read from a prompt (typed twice), or from the
    first line of stdin when it is not a terminal; never from the command line.

    Example: review users add jdoe --role nurse --name "J. Doe" --db workbench-audit.sqlite
    """
    accounts = _accounts(db)
    password = read_password()
    user = accounts.add_user(username, password, [r.value for r in role], name)
    typer.echo(f"added {user.username} ({', '.join(user.roles)})")


@users_app.command("list")
def users_list(db: Annotated[str, typer.Option(help=DB_HELP)] = "workbench-audit.sqlite") -> None:
    """Every account: username, roles, active or disabled, live sessions, display name."""
    accounts = _accounts(db)
    for user in accounts.users():
        state = "active" if user.active else "disabled"
        live = accounts.live_sessions(user.username)
        typer.echo(
            f"{user.username}\t{','.join(user.roles)}\t{state}\t{live} session(s)\t"
            f"{user.display_name}"
        )


@users_app.command("disable")
def users_disable(
    username: str, db: Annotated[str, typer.Option(help=DB_HELP)] = "workbench-audit.sqlite"
) -> None:
    """Disable an account: it cannot sign in, and its open sessions end at once."""
    _accounts(db).set_active(username, False)
    typer.echo(f"disabled {username}; its sessions are ended")


@users_app.command("enable")
def users_enable(
    username: str, db: Annotated[str, typer.Option(help=DB_HELP)] = "workbench-audit.sqlite"
) -> None:
    """Enable a disabled account again."""
    _accounts(db).set_active(username, True)
    typer.echo(f"enabled {username}")


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
