"""The queue page: every reviewable case with its review status, decision clock, counts, filters
and sorts. The default sort is by time left (overdue first, then least time left, then cases with
no received time, then decided cases); every other sort puts pended cases first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from review.workbench.blind import blind_cases
from review.workbench.decisions import CODES, DECISIONS, flows, review_state
from review.workbench.pages import page
from review.workbench.state import Viewer, Workbench, first_reviews
from review.workbench.store import latest_of

REVIEW_STATUSES = (
    "unreviewed",
    "accepted",
    "overridden",
    "referred",
    "confirmed",
    "reversed",
    "blind",
)
"""``blind``: a case the signed-in reviewer is the blind second reviewer of (its decision in force,
reviewer and assignee are not shown to them: :mod:`review.workbench.blind`)."""
ASSIGNED = {"mine": "mine", "unassigned": "unassigned"}
"""The assignment filter (sign-in modes): the signed-in reviewer's cases, or nobody's."""
SORTS = {
    "time": "time left (overdue first)",
    "status": "review status",
    "decision": "decision",
    "code": "supported code",
    "date": "date of service",
    "case": "case id",
}

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def queue(
    request: Request,
    wb: Workbench,
    who: Viewer,
    decision: str = "",
    code: str = "",
    review: str = "",
    sort: str = "time",
    order: str = "asc",
    assigned: str = "",
) -> HTMLResponse:
    source = wb.source
    snap = wb.store.snapshot()
    latest = latest_of(snap.rows)
    flow = flows(snap.rows)
    hidden = blind_cases(snap.rows, who.subject if who is not None else None)
    rows = [
        {**review_state(e, {}, None), "review_status": "blind"}
        if e.key in hidden
        else review_state(e, latest, flow.get(e.key))
        for e in source.reviewable
    ]
    now = wb.now()
    first = first_reviews(snap.rows)
    for r in rows:
        r["clock"] = wb.clock(r["entry"], first.get(r["entry"].key), now)
    assigned = assigned if assigned in ASSIGNED and who is not None else ""
    counts = {
        "total": len(rows),
        "decision": {d: sum(r["entry"].rec.decision == d for r in rows) for d in DECISIONS},
        "review": {s: sum(r["review_status"] == s for r in rows) for s in REVIEW_STATUSES},
        "errors": len(source.errors),
        "overdue": sum(r["clock"].state == "overdue" for r in rows),
    }
    codes = sorted({r["entry"].rec.supported_code or "none" for r in rows} | set(CODES))
    shown = [
        r
        for r in rows
        if (not decision or r["entry"].rec.decision == decision)
        and (not code or (r["entry"].rec.supported_code or "none") == code)
        and (not review or r["review_status"] == review)
        and (
            not assigned
            or (assigned == "mine" and who is not None and r["assignee"] == who.subject)
            or (assigned == "unassigned" and r["assignee"] is None)
        )
    ]
    sort = sort if sort in SORTS else "time"
    keyfun = {
        "time": lambda r: (
            r["clock"].sort_key,
            r["entry"].rec.decision != "pend",  # same time left: pended first
            r["entry"].case_id,
            r["entry"].key,
        ),
        "status": lambda r: (REVIEW_STATUSES.index(r["review_status"]), r["entry"].case_id),
        "decision": lambda r: (DECISIONS.index(r["entry"].rec.decision), r["entry"].case_id),
        "code": lambda r: (r["entry"].rec.supported_code or "~", r["entry"].case_id),
        "date": lambda r: (r["entry"].date_of_service or "", r["entry"].case_id),
        "case": lambda r: (r["entry"].case_id, r["entry"].key),
    }[sort]
    shown.sort(key=keyfun, reverse=order == "desc")
    if sort != "time":  # by time left the deadline comes first; otherwise pended cases do
        shown.sort(key=lambda r: r["entry"].rec.decision != "pend")
    return page(
        request,
        wb,
        "queue.html.j2",
        snap=snap,
        rows=shown,
        counts=counts,
        codes=codes,
        filters={
            "decision": decision,
            "code": code,
            "review": review,
            "sort": sort,
            "order": order,
            "assigned": assigned,
        },
        assigned_filters=ASSIGNED,
        decisions=DECISIONS,
        review_statuses=REVIEW_STATUSES,
        sorts=SORTS,
        errors=source.errors,
    )
