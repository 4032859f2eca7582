"""The workbench web app (FastAPI + Jinja2; no external scripts, fonts or CDNs): one case source
and one audit database, behind the browser defences of :mod:`.security`, with the pages of
:mod:`.routes` and the FHIR API of :mod:`.fhir_api` mounted at ``/fhir``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from review.report.html import environment
from review.workbench.accounts import ABSOLUTE_DEFAULT, IDLE_DEFAULT, Accounts
from review.workbench.auth import provider_for, signin_gate, signout_router
from review.workbench.cases import CaseSource
from review.workbench.clocks import ClockSettings, utc_now
from review.workbench.fhir_api import create_fhir_app
from review.workbench.pages import TEMPLATES
from review.workbench.routes import ROUTERS
from review.workbench.security import DEFAULT_HOSTS, CsrfGuard, load_secret, session_and_headers
from review.workbench.state import WorkbenchState
from review.workbench.store import AuditStore


def create_app(
    source: CaseSource,
    db_path: str | Path | AuditStore,
    *,
    allowed_hosts: list[str] | None = None,
    secret: bytes | str | None = None,
    clocks: ClockSettings | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    auth: str = "none",
    session_idle: int = IDLE_DEFAULT,
    session_max: int = ABSOLUTE_DEFAULT,
    clock: Callable[[], float] = time.time,
    oidc: Any = None,
) -> FastAPI:
    """The app for one case source and one audit database (``db_path``: an SQLite file, a
    ``postgresql+psycopg://`` URL, see :mod:`.database`, or an open :class:`AuditStore`).

    ``allowed_hosts``: Host header values accepted (default: loopback names and the test
    client's ``testserver``). ``secret``: the CSRF key (default ``REVIEW_WORKBENCH_SECRET``,
    else random for this app). ``clocks``: the decision clocks' limits (default 72 h expedited,
    7 days standard; ``review serve --clocks``). ``now``: the time source of the clocks (UTC
    system time; tests pass a fixed one). The state the routes share is ``app.state.workbench``
    (a :class:`~review.workbench.state.WorkbenchState`).

    ``auth``: the sign-in mode (:mod:`.auth`): ``none`` (no sign-in) or ``local`` (accounts in
    the same database) or ``oidc`` (the organisation's OpenID provider; ``oidc``: its
    :class:`~review.workbench.oidc.OIDCSettings`, an ``OIDCClient`` or an ``OIDCProvider``);
    ``session_idle`` and ``session_max``: the session's idle and absolute
    lifetimes in seconds; ``clock``: epoch seconds (tests move it).
    """
    hosts = allowed_hosts or DEFAULT_HOSTS
    guard = CsrfGuard(load_secret(secret), hosts)
    store = db_path if isinstance(db_path, AuditStore) else AuditStore(db_path)
    app = FastAPI(
        title="TPI review workbench",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)],
    )
    provider = provider_for(auth, oidc)
    accounts = (
        Accounts(store, idle=session_idle, absolute=session_max, clock=clock)
        if provider is not None
        else None
    )
    wb = WorkbenchState(
        source=source,
        store=store,
        env=environment(str(TEMPLATES)),
        mode=auth,
        accounts=accounts,
        clocks=clocks or ClockSettings(),
        now=now,
    )
    app.state.workbench = wb
    # the FHIR JSON API for payer systems: its own sub-app, outside the browser-form CSRF rule
    app.mount("/fhir", create_fhir_app(source, store))
    if provider is not None and accounts is not None:
        # inside the Host check and the headers: every refusal gets the security headers too
        app.middleware("http")(signin_gate(wb, provider, accounts))
        app.include_router(provider.router())
        app.include_router(signout_router())
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    # added last, so outermost: a response refusing the Host gets the security headers too
    app.middleware("http")(session_and_headers(guard))
    for router in ROUTERS:
        app.include_router(router)
    return app
