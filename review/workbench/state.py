"""What the workbench's routes share: the case source, the audit store, the template environment,
the decision clocks' settings and time source, and the sign-in mode with its accounts, kept on
``app.state.workbench`` and handed to a route by the :data:`Workbench` dependency; and the
permission check every route declares (:func:`allowed`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import jinja2
from fastapi import Depends, HTTPException, Request

from review.workbench.accounts import Accounts, Identity
from review.workbench.cases import CaseEntry, CaseSource
from review.workbench.clocks import Clock, ClockSettings, clock_for, parse_audit_time, utc_now
from review.workbench.store import DECISION_ACTIONS, AuditRow, AuditStore


@dataclass
class WorkbenchState:
    source: CaseSource
    store: AuditStore
    env: jinja2.Environment
    mode: str = "none"
    """``none`` (one reviewer on this machine, who types a name) or a sign-in mode (``local``)."""
    accounts: Accounts | None = None
    clocks: ClockSettings = field(default_factory=ClockSettings)
    now: Callable[[], dt.datetime] = utc_now  # tests set a fixed time

    @property
    def signs_in(self) -> bool:
        return self.mode != "none"

    def clock(self, entry: CaseEntry, review: AuditRow | None, now: dt.datetime) -> Clock:
        """The case's decision clock at ``now``. ``review``: the case's first decision row, if
        any: the first accept, override or physician's sign-off decides the case and stops its
        clock (later overrides change the decision, not when it was made; a referral or an
        assignment decides nothing, so the clock runs on)."""
        return clock_for(
            received_at=entry.received_at,
            urgency=entry.urgency,
            line_of_business=entry.line_of_business,
            settings=self.clocks,
            now=now,
            decided=review is not None,
            decided_at=parse_audit_time(review.at) if review is not None else None,
        )

    def entry_or_404(self, slug: str) -> CaseEntry:
        entry = self.source.get(slug)
        if entry is None:
            raise HTTPException(status_code=404, detail="no such case in this workbench")
        return entry


def first_reviews(rows: list[AuditRow]) -> dict[str, AuditRow]:
    """The first decision row of each case in ``rows`` (in id order): when its clock stopped
    (a referral to a physician or an assignment is no decision)."""
    first: dict[str, AuditRow] = {}
    for row in rows:
        if row.action in DECISION_ACTIONS:
            first.setdefault(row.case_key, row)
    return first


def get_workbench(request: Request) -> WorkbenchState:
    return request.app.state.workbench


Workbench = Annotated[WorkbenchState, Depends(get_workbench)]


def identity_of(request: Request) -> Identity | None:
    """Who is signed in (set by the sign-in gate, :mod:`.auth`); None with ``--auth none``."""
    return getattr(request.state, "identity", None)


def may(request: Request, wb: WorkbenchState, permission: str) -> bool:
    """Whether this request may do ``permission``: always with ``--auth none`` (the one reviewer
    on this machine does everything, as before sign-in existed)."""
    if not wb.signs_in:
        return True
    who = identity_of(request)
    return who is not None and who.can(permission)


def allowed(permission: str) -> Callable[..., Identity | None]:
    """A route dependency: the signed-in identity when it has ``permission`` (None with ``--auth
    none``), else 403 before the route runs (so nothing is written). A request without a session
    never gets here: the gate sends it to the sign-in page."""

    def dependency(request: Request, wb: Workbench) -> Identity | None:
        if not wb.signs_in:
            return None
        who = identity_of(request)
        if who is None:
            raise HTTPException(status_code=401, detail="sign in first")
        if not who.can(permission):
            raise HTTPException(
                status_code=403,
                detail=f"refused: {who.subject} ({who.role_names}) may not do this "
                f"(it needs the {permission!r} permission); nothing was recorded",
            )
        return who

    return dependency


Viewer = Annotated[Identity | None, Depends(allowed("view"))]
Reviewer = Annotated[Identity | None, Depends(allowed("review"))]
Physician = Annotated[Identity | None, Depends(allowed("sign_off"))]
Supervisor = Annotated[Identity | None, Depends(allowed("assign"))]
Metrics = Annotated[Identity | None, Depends(allowed("metrics"))]
Admin = Annotated[Identity | None, Depends(allowed("users"))]
