"""The agreement page: Cohen's kappa between the pipeline and reviewers and between reviewers,
blind and not, from the audit trail (the same report as ``review results agreement``); and the
supervisor's form that sends a sample of decided cases to a blind second reviewer
(:mod:`review.workbench.blind`)."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from review.agreement import (
    agreement_report,
    blind_scopes,
    criterion_scopes,
    kappa_rows,
    scopes,
)
from review.workbench.blind import (
    MAX_SAMPLE,
    MAX_SEED,
    default_seed,
    draw,
    eligible,
    second_reviews,
)
from review.workbench.decisions import detail
from review.workbench.pages import page
from review.workbench.routes.case import NOT_RECORDED, assignable
from review.workbench.security import CSRF_FIELD
from review.workbench.state import Metrics, Supervisor, Workbench, WorkbenchState, may
from review.workbench.store import AuditError, Conflict, Snapshot, latest_of

router = APIRouter()


def agreement_page(
    request: Request,
    wb: WorkbenchState,
    *,
    problems: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    snap = wb.store.snapshot()
    report = agreement_report(snap.rows) if snap.check.ok else None
    pipeline, reviewers = scopes(report) if report else ([], [])
    blind = blind_scopes(report) if report else []
    by_key = {e.key: e for e in wb.source.reviewable}
    sent = sorted(second_reviews(snap.rows).values(), key=lambda s: s.assignment.id, reverse=True)
    return page(
        request,
        wb,
        "agreement.html.j2",
        status_code,
        snap=snap,
        report=report,
        pipeline_scopes=[(name, ks, kappa_rows(ks)) for name, ks in pipeline],
        reviewer_scopes=[(name, ks, kappa_rows(ks)) for name, ks in reviewers],
        blind_scopes=[(name, ks, kappa_rows(ks)) for name, ks in blind],
        criterion_scopes=criterion_scopes(report) if report else [],
        sent=[
            (s, by_key.get(s.assignment.case_key), detail(s.assignment).get("seed")) for s in sent
        ],
        reviewers=assignable(wb) if wb.signs_in and may(request, wb, "assign") else [],
        default_seed=default_seed(wb.now()),
        problems=problems or [],
        form=form or {},
    )


@router.get("/agreement", response_class=HTMLResponse)
def agreement(request: Request, wb: Workbench, _who: Metrics) -> HTMLResponse:
    return agreement_page(request, wb)


@router.post("/agreement/second-reviews")
async def second_reviews_post(request: Request, wb: Workbench, who: Supervisor) -> Response:
    """Send ``size`` decided cases, drawn with ``seed`` (default: today's date), to ``reviewer``
    for a blind second review: one ``second_assign`` row per case, all in one transaction."""
    if who is None:
        raise HTTPException(status_code=404, detail="second review needs a sign-in mode (--auth)")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop(CSRF_FIELD, None)
    snap = wb.store.snapshot()
    if snap.check.broken is not None:
        return agreement_page(request, wb, problems=[NOT_RECORDED], form=form, status_code=409)
    problems: list[str] = []
    reviewer = form.get("reviewer", "")
    if reviewer not in assignable(wb):
        problems.append("Choose an active account that may review.")
    raw_size = form.get("size", "").strip()
    size = int(raw_size) if raw_size.isdigit() else 0
    if not 1 <= size <= MAX_SAMPLE:
        problems.append(f"The sample size is a whole number from 1 to {MAX_SAMPLE}.")
    seed = " ".join(form.get("seed", "").split()) or default_seed(wb.now())
    if len(seed) > MAX_SEED:
        problems.append(f"The seed is longer than {MAX_SEED} characters.")
    if problems:
        return agreement_page(request, wb, problems=problems, form=form, status_code=400)
    reviewable = [e.key for e in wb.source.reviewable]
    chosen = draw(eligible(snap.rows, reviewer, reviewable), size, seed)
    if not chosen:
        return agreement_page(
            request,
            wb,
            problems=[
                f"No decided case can be sent to {reviewer}: each was decided or touched by them, "
                "or sent to a second review already. Nothing was recorded."
            ],
            form=form,
            status_code=409,
        )
    by_key = {e.key: e for e in wb.source.reviewable}
    latest = latest_of(snap.rows)
    entries = []
    for key in chosen:
        entry = by_key[key]
        rec = entry.rec
        assert rec is not None
        in_force = latest[key]
        provenance = rec.provenance.model_dump(mode="json")
        provenance["workbench"] = {
            "second_reviewer": reviewer,
            "seed": seed,
            "sample": len(chosen),
            "requested": size,
        }
        entries.append(
            {
                "reviewer": who.subject,
                "case_key": key,
                "case_id": entry.case_id,
                "action": "second_assign",
                "from_decision": in_force.to_decision,
                "from_code": in_force.to_code,
                "to_decision": in_force.to_decision,
                "to_code": in_force.to_code,
                "reason": f"{who.subject} sent the case to {reviewer} for a blind second review "
                f"(sample of {len(chosen)}, seed {seed!r})",
                "provenance": provenance,
                "rec_sha256": hashlib.sha256(rec.model_dump_json().encode("utf-8")).hexdigest(),
            }
        )

    def unchanged(now: Snapshot) -> None:
        if draw(eligible(now.rows, reviewer, reviewable), size, seed) != chosen:
            raise Conflict("The trail changed while the sample was drawn; nothing was recorded.")

    try:
        wb.store.insert_many(entries, check=unchanged)
    except Conflict as exc:
        return agreement_page(request, wb, problems=[str(exc)], form=form, status_code=409)
    except AuditError as exc:
        status = 409 if exc.code == "A003" else 503
        problem = NOT_RECORDED if exc.code == "A003" else f"Nothing was recorded: {exc.message}."
        return agreement_page(request, wb, problems=[problem], form=form, status_code=status)
    return RedirectResponse("/agreement#second-review", status_code=303)
