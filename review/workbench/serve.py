"""``review serve``: checks the bind address, loads the cases, runs uvicorn.

The workbench shows notes (PHI) and has no login, so it binds to a loopback address unless the
user passes ``--allow-remote`` (behind their own access control). The check runs before anything
heavy is imported.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from review.errors import ReviewError

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise ReviewError(
            "W001",
            f"refusing to bind to {host}: not a loopback address, and the workbench shows notes "
            "(PHI) without a login; use --host 127.0.0.1, or add --allow-remote behind your own "
            "access control",
            source="--host",
        )


def allowed_hosts(host: str, allow_remote: bool) -> list[str]:
    """Host header values accepted (a guard against DNS rebinding on a loopback bind)."""
    if allow_remote:
        return ["*"]
    bare = host.strip("[]")
    names = {bare, "127.0.0.1", "localhost"}
    if ":" in bare:  # an IPv6 literal arrives as "[::1]:port" (bracketed in newer Starlette)
        names.add(f"[{bare}]")
    return sorted(names)


def serve(
    *,
    cases: Path | None,
    results: Path | None,
    host: str,
    port: int,
    db: str | Path,
    allow_remote: bool = False,
    clocks: Path | None = None,
) -> None:
    check_host(host, allow_remote)
    if (cases is None) == (results is None):
        raise ReviewError(
            "W004",
            "give exactly one of --cases DIR (case folders, reviewed on start) or --results DIR "
            "(a `review batch` output folder)",
            source="review serve",
        )
    try:
        import alembic  # noqa: F401  (the audit trail's migrations)
        import sqlalchemy  # noqa: F401
        import uvicorn

        from review.workbench.app import create_app
    except ImportError as exc:
        raise ReviewError(
            "W005",
            f"the workbench needs its optional dependencies ({exc.name} is missing): "
            "pip install -e '.[workbench]'",
        ) from None
    from review.workbench.cases import load_cases, load_results
    from review.workbench.clocks import load_clocks
    from review.workbench.store import AuditStore

    clock_settings = load_clocks(clocks) if clocks is not None else None  # a typo fails at once
    store = AuditStore(db)  # first: a wrong --db fails before the cases are reviewed
    if cases is not None:
        source = load_cases(cases)
    else:
        assert results is not None  # exactly one of the two, checked above
        source = load_results(results)
    app = create_app(
        source, store, allowed_hosts=allowed_hosts(host, allow_remote), clocks=clock_settings
    )
    broken = store.verify().broken
    if broken is not None:
        from review.workbench.trail import describe

        print(
            f"warning: [A003] {store.location}: {describe(broken)}; the workbench shows this on "
            "every page and refuses new reviews until the trail is restored",
            file=sys.stderr,
            flush=True,
        )
    shown = f"[{host}]" if ":" in host else host
    print(
        f"Workbench: http://{shown}:{port}/  ({len(source.entries)} case(s) from {source.root}; "
        f"audit trail {store.location}). Ctrl+C to stop.",
        file=sys.stderr,
        flush=True,
    )
    # No access log: URLs carry case keys and filters, and logs stay free of patient data.
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False)
