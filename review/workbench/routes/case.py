"""A case page (the HTML report, its review state and audit rows) and its accept / override form.

A review is appended to the audit trail only while the trail verifies: appending to a trail that
no longer verifies would mix trustworthy and untrustworthy rows, so the post is refused with 409
and the nurse's entry is kept in the form for when the file is restored.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from review.report.html import build_view
from review.workbench.cases import CaseEntry
from review.workbench.decisions import CODES, DECISIONS, review_state
from review.workbench.pages import page
from review.workbench.security import CSRF_FIELD
from review.workbench.state import Workbench, WorkbenchState
from review.workbench.store import AuditError, latest_of

MAX_REASON = 4000
MAX_REVIEWER = 120
NOT_RECORDED = (
    "This review was not recorded: the audit trail failed verification (see the banner above). "
    "Your entry is kept below; submit it again once the audit file is restored."
)

router = APIRouter()


def case_page(
    request: Request,
    wb: WorkbenchState,
    entry: CaseEntry,
    *,
    problems: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if entry.rec is None:
        return page(request, wb, "error.html.j2", 404, entry=entry, message=entry.error)
    snap = wb.store.snapshot()
    view = build_view(entry.rec, entry.documents or {})
    return page(
        request,
        wb,
        "case.html.j2",
        status_code,
        snap=snap,
        **view,
        entry=entry,
        state=review_state(entry, latest_of(snap.rows)),
        audit=[row for row in snap.rows if row.case_key == entry.key],
        problems=problems or [],
        form=form or {},
        decisions=DECISIONS,
        codes=CODES,
        notes_available=entry.documents is not None,
    )


@router.get("/case/{slug}", response_class=HTMLResponse)
def case(request: Request, wb: Workbench, slug: str) -> HTMLResponse:
    return case_page(request, wb, wb.entry_or_404(slug))


@router.post("/case/{slug}/review")
async def review_post(request: Request, wb: Workbench, slug: str) -> Response:
    entry = wb.entry_or_404(slug)
    if entry.rec is None:
        raise HTTPException(status_code=404, detail="this case has no recommendation")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop(CSRF_FIELD, None)
    snap = wb.store.snapshot()
    if snap.check.broken is not None:
        return case_page(request, wb, entry, problems=[NOT_RECORDED], form=form, status_code=409)
    action = form.get("action", "")
    reviewer = " ".join(form.get("reviewer", "").split())
    reason = form.get("reason", "").strip()
    problems = []
    if action not in ("accept", "override"):
        problems.append("Choose Accept or Override.")
    if not reviewer:
        problems.append("Reviewer name is required.")
    elif len(reviewer) > MAX_REVIEWER:
        problems.append(f"Reviewer name is longer than {MAX_REVIEWER} characters.")
    if not reason:
        problems.append("A reason is required.")
    elif len(reason) > MAX_REASON:
        problems.append(f"The reason is longer than {MAX_REASON} characters.")
    rec = entry.rec
    current = review_state(entry, latest_of(snap.rows))
    to_decision: str = rec.decision
    to_code = rec.supported_code
    if action == "override":
        to_decision = form.get("decision", "")
        raw_code = form.get("supported_code", "")
        to_code = raw_code or None
        if to_decision not in DECISIONS:
            problems.append("Choose the decision: approve, pend or deny.")
        if raw_code not in ("", *CODES):
            problems.append(f"Choose the supported code: {', '.join(CODES)} or none.")
        if not problems and (to_decision, to_code) == (current["decision"], current["code"]):
            problems.append(
                "The override changes neither the decision nor the code; use Accept instead."
            )
    if problems:
        return case_page(request, wb, entry, problems=problems, form=form, status_code=400)
    try:
        wb.store.insert(
            reviewer=reviewer,
            case_key=entry.key,
            case_id=entry.case_id,
            action=action,
            from_decision=current["decision"],
            from_code=current["code"],
            to_decision=to_decision,
            to_code=to_code,
            reason=reason,
            provenance=rec.provenance.model_dump(mode="json"),
            rec_sha256=hashlib.sha256(rec.model_dump_json().encode("utf-8")).hexdigest(),
        )
    except AuditError as exc:
        if exc.code == "A003":  # the chain broke between the check above and the write
            return case_page(
                request, wb, entry, problems=[NOT_RECORDED], form=form, status_code=409
            )
        problem = f"This review was not recorded: {exc.message}. Your entry is kept below."
        return case_page(request, wb, entry, problems=[problem], form=form, status_code=503)
    return RedirectResponse(f"/case/{entry.slug}#audit", status_code=303)
