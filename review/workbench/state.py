"""What the workbench's routes share: the case source, the audit store, the template
environment and the decision clocks' settings and time source, kept on ``app.state.workbench`` and
handed to a route by the :data:`Workbench` dependency."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import jinja2
from fastapi import Depends, HTTPException, Request

from review.workbench.cases import CaseEntry, CaseSource
from review.workbench.clocks import Clock, ClockSettings, clock_for, parse_audit_time, utc_now
from review.workbench.store import AuditRow, AuditStore


@dataclass
class WorkbenchState:
    source: CaseSource
    store: AuditStore
    env: jinja2.Environment
    clocks: ClockSettings = field(default_factory=ClockSettings)
    now: Callable[[], dt.datetime] = utc_now  # tests set a fixed time

    def clock(self, entry: CaseEntry, review: AuditRow | None, now: dt.datetime) -> Clock:
        """The case's decision clock at ``now``. ``review``: the case's first audit row, if any:
        the first accept or override decides the case and stops its clock (later overrides
        change the decision, not when it was made)."""
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
    """The first audit row of each case in ``rows`` (in id order): when its clock stopped."""
    first: dict[str, AuditRow] = {}
    for row in rows:
        first.setdefault(row.case_key, row)
    return first


def get_workbench(request: Request) -> WorkbenchState:
    return request.app.state.workbench


Workbench = Annotated[WorkbenchState, Depends(get_workbench)]
