"""The agreement page (read-only): Cohen's kappa between the pipeline and reviewers and between
reviewers, from the audit trail (the same report as ``review results agreement``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from review.agreement import agreement_report, kappa_rows, scopes
from review.workbench.pages import page
from review.workbench.state import Metrics, Workbench

router = APIRouter()


@router.get("/agreement", response_class=HTMLResponse)
def agreement(request: Request, wb: Workbench, _who: Metrics) -> HTMLResponse:
    snap = wb.store.snapshot()
    report = agreement_report(snap.rows) if snap.check.ok else None
    pipeline, reviewers = scopes(report) if report else ([], [])
    return page(
        request,
        wb,
        "agreement.html.j2",
        snap=snap,
        report=report,
        pipeline_scopes=[(name, ks, kappa_rows(ks)) for name, ks in pipeline],
        reviewer_scopes=[(name, ks, kappa_rows(ks)) for name, ks in reviewers],
    )
