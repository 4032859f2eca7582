"""The workbench web app (FastAPI + Jinja2; no external scripts, fonts or CDNs): one case source
and one audit database, behind the browser defences of :mod:`.security`, with the pages of
:mod:`.routes` and the FHIR API of :mod:`.fhir_api` mounted at ``/fhir``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from review.report.html import environment
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
) -> FastAPI:
    """The app for one case source and one audit database (``db_path``: an SQLite file, a
    ``postgresql+psycopg://`` URL, see :mod:`.database`, or an open :class:`AuditStore`).

    ``allowed_hosts``: Host header values accepted (default: loopback names and the test
    client's ``testserver``). ``secret``: the CSRF key (default ``REVIEW_WORKBENCH_SECRET``,
    else random for this app). ``clocks``: the decision clocks' limits (default 72 h expedited,
    7 days standard; ``review serve --clocks``). ``now``: the time source of the clocks (UTC
    system time; tests pass a fixed one). The state the routes share is ``app.state.workbench``
    (a :class:`~review.workbench.state.WorkbenchState`).
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
    app.state.workbench = WorkbenchState(
        source=source,
        store=store,
        env=environment(str(TEMPLATES)),
        clocks=clocks or ClockSettings(),
        now=now,
    )
    # the FHIR JSON API for payer systems: its own sub-app, outside the browser-form CSRF rule
    app.mount("/fhir", create_fhir_app(source, store))
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    # added last, so outermost: a response refusing the Host gets the security headers too
    app.middleware("http")(session_and_headers(guard))
    for router in ROUTERS:
        app.include_router(router)
    return app
