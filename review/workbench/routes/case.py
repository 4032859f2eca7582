"""A case page (the HTML report, its review state, workflow and audit rows) and its forms: accept /
override, the physician's sign-off of a referred medical-necessity denial, and assignment (a
reviewer takes the case, a supervisor assigns or reassigns it).

Every step is one new row of the audit trail, written only while the trail verifies: appending to a
trail that no longer verifies would mix trustworthy and untrustworthy rows, so the post is refused
with 409 and the reviewer's entry is kept in the form for when the file is restored. A step that
the case has moved past since the page was drawn (the referral was signed off, someone else took
the case) is refused with 409 too, checked inside the write transaction.

Who may do what is :data:`review.workbench.accounts.PERMISSIONS`; the route declares the permission
and a request without it gets 403 before anything is read from the form. In a sign-in mode the
audit row's reviewer is the signed-in username; with ``--auth none`` it is the typed name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from review.report.html import build_view
from review.workbench.accounts import Identity
from review.workbench.blind import second_reviews
from review.workbench.cases import CaseEntry
from review.workbench.decisions import CODES, DECISIONS, GROUNDS, flows, review_state
from review.workbench.pages import page
from review.workbench.security import CSRF_FIELD
from review.workbench.state import (
    Physician,
    Reviewer,
    Supervisor,
    Viewer,
    Workbench,
    WorkbenchState,
    first_reviews,
    identity_of,
)
from review.workbench.store import AuditError, Conflict, Snapshot, latest_of

MAX_REASON = 4000
MAX_REVIEWER = 120
NOT_RECORDED = (
    "This review was not recorded: the audit trail failed verification (see the banner above). "
    "Your entry is kept below; submit it again once the audit file is restored."
)
BLIND_ONLY = (
    "You are this case's blind second reviewer: record a second review, which is compared with "
    "the first decision; accepting or overriding is left to others. Nothing was recorded."
)
AWAITING = "This case awaits a physician's sign-off of the referred denial; nothing was recorded."

router = APIRouter()


def state_of(entry: CaseEntry, snap: Snapshot) -> dict[str, Any]:
    return review_state(entry, latest_of(snap.rows), flows(snap.rows).get(entry.key))


def assignable(wb: WorkbenchState) -> list[str]:
    """Active accounts that may review (a supervisor's choice of assignee)."""
    if wb.accounts is None:
        return []
    return [u.username for u in wb.accounts.users() if u.active and u.identity().can("review")]


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
    who = identity_of(request)
    subject = who.subject if who is not None else None
    audit = [row for row in snap.rows if row.case_key == entry.key]
    second = second_reviews(snap.rows).get((entry.key, subject or ""))
    if second is not None:  # blind: as if undecided, and only the viewer's own rows
        state = review_state(entry, {}, None)
        audit = [row for row in audit if row.reviewer == subject]
    else:
        state = state_of(entry, snap)
    return page(
        request,
        wb,
        "case.html.j2",
        status_code,
        snap=snap,
        **view,
        entry=entry,
        state=state,
        blind=second,
        clock=wb.clock(entry, first_reviews(snap.rows).get(entry.key), wb.now()),
        audit=audit,
        problems=problems or [],
        form=form or {},
        decisions=DECISIONS,
        codes=CODES,
        grounds=GROUNDS,
        assignees=assignable(wb) if wb.signs_in else [],
        notes_available=entry.documents is not None,
    )


@router.get("/case/{slug}", response_class=HTMLResponse)
def case(request: Request, wb: Workbench, slug: str, _who: Viewer) -> HTMLResponse:
    return case_page(request, wb, wb.entry_or_404(slug))


async def _form(request: Request) -> dict[str, str]:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop(CSRF_FIELD, None)
    return form


def _reviewer(who: Identity | None, form: dict[str, str], problems: list[str]) -> str:
    """The username in a sign-in mode, else the typed name (checked)."""
    if who is not None:
        return who.subject
    reviewer = " ".join(form.get("reviewer", "").split())
    if not reviewer:
        problems.append("Reviewer name is required.")
    elif len(reviewer) > MAX_REVIEWER:
        problems.append(f"Reviewer name is longer than {MAX_REVIEWER} characters.")
    return reviewer


def _reason(form: dict[str, str], problems: list[str]) -> str:
    reason = form.get("reason", "").strip()
    if not reason:
        problems.append("A reason is required.")
    elif len(reason) > MAX_REASON:
        problems.append(f"The reason is longer than {MAX_REASON} characters.")
    return reason


CRITERION_FIELD = "criterion."
"""A criterion's select on the review forms is named ``criterion.<rule id>``."""
STATUSES = ("met", "not_met", "insufficient", "not_applicable")


def engine_criteria(entry: CaseEntry) -> dict[str, str]:
    """The recommendation's status of every finding, by rule id (sorted)."""
    assert entry.rec is not None
    return {f.rule_id: f.status for f in sorted(entry.rec.findings, key=lambda f: f.rule_id)}


def _criteria(entry: CaseEntry, form: dict[str, str], problems: list[str]) -> dict[str, str]:
    """The reviewer's non-blank criterion judgments (sorted by rule id); a rule id the
    recommendation has no finding of, or a status other than the four, is a problem."""
    known = engine_criteria(entry)
    out: dict[str, str] = {}
    for name, value in form.items():
        if not name.startswith(CRITERION_FIELD):
            continue
        rule = name[len(CRITERION_FIELD) :]
        status = value.strip()
        if rule not in known:
            problems.append(
                f"Criterion {rule[:80]!r} is not one of this recommendation's findings; "
                "nothing was recorded."
            )
        elif status not in ("", *STATUSES):
            problems.append(
                f"Criterion {rule}: choose {', '.join(STATUSES)} or leave it blank; "
                "nothing was recorded."
            )
        elif status:
            out[rule] = status
    return dict(sorted(out.items()))


def _no_referral_pending(snap: Snapshot, key: str) -> None:
    flow = flows(snap.rows).get(key)
    if flow is not None and flow.referral is not None:
        raise Conflict(AWAITING)


def record(
    request: Request,
    wb: WorkbenchState,
    entry: CaseEntry,
    form: dict[str, str],
    *,
    reviewer: str,
    action: str,
    from_state: dict[str, Any],
    to_decision: str,
    to_code: str | None,
    reason: str,
    workflow: dict[str, Any] | None = None,
    check: Callable[[Snapshot], None] | None = None,
    also: Callable[[Any, int], None] | None = None,
) -> Response:
    """Append the row; the case page again with the problem when it cannot be."""
    rec = entry.rec
    assert rec is not None
    provenance = rec.provenance.model_dump(mode="json")
    if workflow:
        provenance["workbench"] = workflow
    try:
        wb.store.insert(
            reviewer=reviewer,
            case_key=entry.key,
            case_id=entry.case_id,
            action=action,
            from_decision=from_state["decision"],
            from_code=from_state["code"],
            to_decision=to_decision,
            to_code=to_code,
            reason=reason,
            provenance=provenance,
            rec_sha256=hashlib.sha256(rec.model_dump_json().encode("utf-8")).hexdigest(),
            check=check,
            also=also,
        )
    except Conflict as exc:
        return case_page(request, wb, entry, problems=[str(exc)], form=form, status_code=409)
    except AuditError as exc:
        if exc.code == "A003":  # the chain broke between the check above and the write
            return case_page(
                request, wb, entry, problems=[NOT_RECORDED], form=form, status_code=409
            )
        problem = f"This review was not recorded: {exc.message}. Your entry is kept below."
        return case_page(request, wb, entry, problems=[problem], form=form, status_code=503)
    return RedirectResponse(f"/case/{entry.slug}#audit", status_code=303)


def _reviewable(wb: WorkbenchState, slug: str) -> CaseEntry:
    entry = wb.entry_or_404(slug)
    if entry.rec is None:
        raise HTTPException(status_code=404, detail="this case has no recommendation")
    return entry


@router.post("/case/{slug}/review")
async def review_post(request: Request, wb: Workbench, slug: str, who: Reviewer) -> Response:
    """Accept the recommendation, or override it. An override to deny names its ground; on
    medical-necessity grounds from someone who may not sign it off, it is recorded as a referral
    (``refer``) and the decision in force stays as it was until a physician decides."""
    entry = _reviewable(wb, slug)
    form = await _form(request)
    snap = wb.store.snapshot()
    if snap.check.broken is not None:
        return case_page(request, wb, entry, problems=[NOT_RECORDED], form=form, status_code=409)
    if who is not None and (entry.key, who.subject) in second_reviews(snap.rows):
        return case_page(request, wb, entry, problems=[BLIND_ONLY], form=form, status_code=409)
    action = form.get("action", "")
    problems: list[str] = []
    if action not in ("accept", "override"):
        problems.append("Choose Accept or Override.")
    reviewer = _reviewer(who, form, problems)
    reason = _reason(form, problems)
    criteria = _criteria(entry, form, problems)
    engine = engine_criteria(entry)
    if action == "accept" and any(engine[r] != s for r, s in criteria.items()):
        problems.append(
            "Accepting agrees with every criterion; to record a different status for a criterion, "
            "use Override."
        )
    rec = entry.rec
    assert rec is not None
    current = state_of(entry, snap)
    to_decision: str = rec.decision
    to_code = rec.supported_code
    ground = form.get("ground", "") or None
    if action == "override":
        to_decision = form.get("decision", "")
        raw_code = form.get("supported_code", "")
        to_code = raw_code or None
        if to_decision not in DECISIONS:
            problems.append("Choose the decision: approve, pend or deny.")
        if raw_code not in ("", *CODES):
            problems.append(f"Choose the supported code: {', '.join(CODES)} or none.")
        if ground is not None and ground not in GROUNDS:
            problems.append(f"Choose the ground of the denial: {', '.join(GROUNDS)}.")
        if to_decision == "deny" and ground is None and wb.signs_in:
            problems.append("Choose the ground of the denial: administrative or medical necessity.")
        if not problems and (to_decision, to_code) == (current["decision"], current["code"]):
            problems.append(
                "The override changes neither the decision nor the code; use Accept instead."
            )
    if problems:
        return case_page(request, wb, entry, problems=problems, form=form, status_code=400)
    if current["referral"] is not None:
        return case_page(request, wb, entry, problems=[AWAITING], form=form, status_code=409)
    workflow: dict[str, Any] = {}
    if action == "override" and to_decision == "deny" and ground is not None:
        workflow = {"ground": ground}
        if ground == "medical_necessity" and who is not None and not who.can("sign_off"):
            action = "refer"
    elif action == "accept" and rec.decision == "deny" and wb.signs_in:
        workflow = {"ground": "administrative"}  # the engine denies only on exclusions
    # blank = agree with the engine: the effective judgment is engine_criteria overlaid with these
    workflow["engine_criteria"] = engine
    workflow["criteria"] = criteria if action != "accept" else {}
    return record(
        request,
        wb,
        entry,
        form,
        reviewer=reviewer,
        action=action,
        from_state=current,
        to_decision=to_decision,
        to_code=to_code,
        reason=reason,
        workflow=workflow,
        check=lambda now: _no_referral_pending(now, entry.key),
    )


@router.post("/case/{slug}/signoff")
async def signoff_post(request: Request, wb: Workbench, slug: str, who: Physician) -> Response:
    """A physician confirms the referred medical-necessity denial (the referral's decision and
    code come into force) or reverses it (to approve or pend, with a code)."""
    entry = _reviewable(wb, slug)
    form = await _form(request)
    snap = wb.store.snapshot()
    if snap.check.broken is not None:
        return case_page(request, wb, entry, problems=[NOT_RECORDED], form=form, status_code=409)
    current = state_of(entry, snap)
    referral = current["referral"]
    problems: list[str] = []
    choice = form.get("choice", "")
    if choice not in ("confirm", "reverse"):
        problems.append("Choose Confirm or Reverse.")
    reviewer = _reviewer(who, form, problems)
    reason = _reason(form, problems)
    if referral is None:
        return case_page(
            request,
            wb,
            entry,
            problems=["There is no referral awaiting sign-off on this case; nothing was recorded."],
            form=form,
            status_code=409,
        )
    if form.get("referral", "") != str(referral.id):
        problems.append("The referral changed since the page was drawn; reload it.")
    to_decision, to_code = referral.to_decision, referral.to_code
    if choice == "reverse":
        to_decision = form.get("decision", "")
        raw_code = form.get("supported_code", "")
        to_code = raw_code or None
        if to_decision not in ("approve", "pend"):
            problems.append("A reversal approves or pends the case: choose approve or pend.")
        if raw_code not in ("", *CODES):
            problems.append(f"Choose the supported code: {', '.join(CODES)} or none.")
    if problems:
        return case_page(request, wb, entry, problems=problems, form=form, status_code=400)

    def same_referral(now: Snapshot) -> None:
        flow = flows(now.rows).get(entry.key)
        if flow is None or flow.referral is None or flow.referral.id != referral.id:
            raise Conflict("The referral was signed off meanwhile; nothing was recorded.")

    return record(
        request,
        wb,
        entry,
        form,
        reviewer=reviewer,
        action=choice,
        from_state=current,
        to_decision=to_decision,
        to_code=to_code,
        reason=reason,
        workflow={"ground": "medical_necessity", "referral": referral.id},
        check=same_referral,
    )


def _assign(
    request: Request,
    wb: WorkbenchState,
    entry: CaseEntry,
    form: dict[str, str],
    *,
    by: Identity,
    assignee: str,
    reason: str,
    only_if_free: bool,
) -> Response:
    snap = wb.store.snapshot()
    if snap.check.broken is not None:
        return case_page(request, wb, entry, problems=[NOT_RECORDED], form=form, status_code=409)
    current = state_of(entry, snap)
    previous = current["assignee"]
    if previous == assignee:
        return RedirectResponse(f"/case/{entry.slug}#assignment", status_code=303)

    def still(now: Snapshot) -> None:
        flow = flows(now.rows).get(entry.key)
        held = flow.assignee if flow else None
        if held != previous:
            raise Conflict(f"The case was assigned to {held} meanwhile; nothing was recorded.")
        if only_if_free and held is not None:
            raise Conflict(
                f"The case is assigned to {held}; a supervisor can reassign it. Nothing was "
                "recorded."
            )

    def also(conn, row_id: int) -> None:
        from sqlalchemy import text

        from review.workbench.store import utc_now

        conn.execute(text("DELETE FROM assignments WHERE case_key = :k"), {"k": entry.key})
        conn.execute(
            text(
                "INSERT INTO assignments (case_key, assignee, assigned_by, assigned_at, audit_id) "
                "VALUES (:k, :a, :b, :t, :i)"
            ),
            {"k": entry.key, "a": assignee, "b": by.subject, "t": utc_now(), "i": row_id},
        )

    return record(
        request,
        wb,
        entry,
        form,
        reviewer=by.subject,
        action="assign",
        from_state=current,
        to_decision=current["decision"],
        to_code=current["code"],
        reason=reason,
        workflow={"assignee": assignee, "previous": previous},
        check=still,
        also=also,
    )


@router.post("/case/{slug}/take")
async def take_post(request: Request, wb: Workbench, slug: str, who: Reviewer) -> Response:
    """A reviewer takes an unassigned case from the queue (409 when someone holds it)."""
    entry = _reviewable(wb, slug)
    if who is None:
        raise HTTPException(status_code=404, detail="assignment needs a sign-in mode (--auth)")
    form = await _form(request)
    return _assign(
        request,
        wb,
        entry,
        form,
        by=who,
        assignee=who.subject,
        reason=f"{who.subject} took the case from the queue",
        only_if_free=True,
    )


@router.post("/case/{slug}/assign")
async def assign_post(request: Request, wb: Workbench, slug: str, who: Supervisor) -> Response:
    """A supervisor assigns the case, or reassigns it, to an active account that may review."""
    entry = _reviewable(wb, slug)
    if who is None:
        raise HTTPException(status_code=404, detail="assignment needs a sign-in mode (--auth)")
    form = await _form(request)
    assignee = form.get("assignee", "")
    note = " ".join(form.get("note", "").split())[:MAX_REASON]
    if assignee not in assignable(wb):
        return case_page(
            request,
            wb,
            entry,
            problems=["Choose an active account that may review."],
            form=form,
            status_code=400,
        )
    reason = f"{who.subject} assigned the case to {assignee}" + (f": {note}" if note else "")
    return _assign(
        request, wb, entry, form, by=who, assignee=assignee, reason=reason, only_if_free=False
    )


@router.post("/case/{slug}/second-review")
async def second_review_post(request: Request, wb: Workbench, slug: str, who: Reviewer) -> Response:
    """The blind second reviewer's judgment (decision, code, reason): a ``second_review`` row that
    decides nothing. 409 unless a second review of this case was assigned to the signed-in
    reviewer and not yet recorded (checked again inside the write transaction)."""
    entry = _reviewable(wb, slug)
    if who is None:
        raise HTTPException(status_code=404, detail="second review needs a sign-in mode (--auth)")
    form = await _form(request)
    snap = wb.store.snapshot()
    if snap.check.broken is not None:
        return case_page(request, wb, entry, problems=[NOT_RECORDED], form=form, status_code=409)

    def pending(now: Snapshot) -> int:
        found = second_reviews(now.rows).get((entry.key, who.subject))
        if found is None:
            raise Conflict(
                "No second review of this case is assigned to you; nothing was recorded."
            )
        if found.review is not None:
            raise Conflict(
                "You recorded your second review of this case already; nothing was recorded."
            )
        return found.assignment.id

    try:
        assignment = pending(snap)
    except Conflict as exc:
        return case_page(request, wb, entry, problems=[str(exc)], form=form, status_code=409)
    problems: list[str] = []
    to_decision = form.get("decision", "")
    raw_code = form.get("supported_code", "")
    if to_decision not in DECISIONS:
        problems.append("Choose the decision: approve, pend or deny.")
    if raw_code not in ("", *CODES):
        problems.append(f"Choose the supported code: {', '.join(CODES)} or none.")
    reason = _reason(form, problems)
    criteria = _criteria(entry, form, problems)  # blank = not judged
    if problems:
        return case_page(request, wb, entry, problems=problems, form=form, status_code=400)
    rec = entry.rec
    assert rec is not None

    def still_pending(now: Snapshot) -> None:
        pending(now)

    return record(
        request,
        wb,
        entry,
        form,
        reviewer=who.subject,
        action="second_review",
        from_state={"decision": rec.decision, "code": rec.supported_code},
        to_decision=to_decision,
        to_code=raw_code or None,
        reason=reason,
        workflow={
            "second_assign": assignment,
            "blind": True,
            "engine_criteria": engine_criteria(entry),
            "criteria": criteria,
        },
        check=still_pending,
    )
