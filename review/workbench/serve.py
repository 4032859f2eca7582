"""``review serve``: checks the bind address and the sign-in mode, loads the cases, runs uvicorn.

The workbench shows notes (PHI). With ``--auth none`` (the default) nobody signs in, so it binds
to a loopback address only: a non-loopback ``--host`` needs ``--allow-remote`` (W001), and
``--allow-remote`` needs a sign-in mode (``--auth local`` or ``--auth oidc``; W008). The checks run
before anything heavy is imported. ``--auth local`` refuses to start while the database has no
active local account (W012): nobody could sign in. ``--auth oidc`` refuses to start without usable
OIDC settings (``REVIEW_OIDC_*`` and/or ``--oidc-config FILE``; W014), among them a redirect URI
that ends in ``/signin/callback``.
"""

from __future__ import annotations

import ipaddress
import os
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


def check_host(host: str, allow_remote: bool, auth: str = "none") -> None:
    if allow_remote and auth == "none":
        raise ReviewError(
            "W008",
            "refusing --allow-remote with --auth none: anyone who reaches the port would see "
            "notes (PHI) and record reviews; add --auth local (accounts from `review users add`) or "
            "--auth oidc (your organisation's OpenID provider)",
            source="--allow-remote",
        )
    if not is_loopback(host) and not allow_remote:
        raise ReviewError(
            "W001",
            f"refusing to bind to {host}: not a loopback address, and the workbench shows notes "
            "(PHI); use --host 127.0.0.1, or add --allow-remote --auth local (sign-in with "
            "accounts) or --auth oidc (your organisation's sign-in) behind your own network controls",
            source="--host",
        )


def load_oidc(path: Path | None):
    """The OIDC settings for ``--auth oidc`` (W014 when unusable), its redirect URI checked to be
    the workbench's callback."""
    from urllib.parse import urlsplit

    from review.workbench.oidc_settings import ENV, load_oidc_settings

    settings = load_oidc_settings(path)
    callback = "/signin/callback"
    if urlsplit(settings.redirect_uri).path != callback or urlsplit(settings.redirect_uri).query:
        raise ReviewError(
            "W014",
            f"the redirect URI must be this workbench's {callback}, e.g. "
            f"https://workbench.example.org{callback} (register the same one at the provider)",
            source="environment" if os.environ.get(ENV["redirect_uri"]) else str(path),
            field=ENV["redirect_uri"],
        )
    return settings


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
    auth: str = "none",
    session_idle: int = 30 * 60,
    session_max: int = 12 * 60 * 60,
    oidc_config: Path | None = None,
) -> None:
    check_host(host, allow_remote, auth)
    oidc_settings = load_oidc(oidc_config) if auth == "oidc" else None
    if auth != "none" and (session_idle <= 0 or session_idle > session_max):
        raise ReviewError(
            "W013",
            f"the idle timeout ({session_idle // 60} min) must be positive and at most the "
            f"session lifetime ({session_max // 3600} h)",
            source="--session-idle",
        )
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

        if auth == "local":
            import argon2  # noqa: F401  (the accounts' password hashes)
        if auth == "oidc":
            import authlib  # noqa: F401  (the OIDC flow)
            import httpx2  # noqa: F401
            import joserfc  # noqa: F401
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
    if auth == "local":
        from review.workbench.accounts import Accounts

        users = Accounts(store).users()
        if not any(u.active and u.provider == "local" and u.has_password for u in users):
            raise ReviewError(
                "W012",
                "--auth local, but the database has no active account to sign in with; create "
                f"one first: review users add USERNAME --role nurse --db {store.location}",
                source=store.location,
            )
    if cases is not None:
        source = load_cases(cases)
    else:
        assert results is not None  # exactly one of the two, checked above
        source = load_results(results)
    app = create_app(
        source,
        store,
        allowed_hosts=allowed_hosts(host, allow_remote),
        auth=auth,
        session_idle=session_idle,
        session_max=session_max,
        clocks=clock_settings,
        oidc=oidc_settings,
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
        f"audit trail {store.location}; sign-in: {auth}). Ctrl+C to stop.",
        file=sys.stderr,
        flush=True,
    )
    # No access log: URLs carry case keys and filters, and logs stay free of patient data.
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False)
