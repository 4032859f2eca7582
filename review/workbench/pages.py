"""Rendering a workbench page: the shared template context, and the audit banner.

The audit trail (:mod:`.store`) is verified whenever a page renders (cached until the file
changes). While it fails verification every page shows a banner naming the first broken row (new
reviews are refused meanwhile: :mod:`.routes.case`). Note text is autoescaped by Jinja2.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse

from review.workbench.chain import Break
from review.workbench.state import WorkbenchState, identity_of, may
from review.workbench.trail import Snapshot

TEMPLATES = Path(__file__).parent / "templates"


def audit_alert(broken: Break | None, db_path: str | Path) -> str | None:
    """The banner every page shows while the audit trail fails verification (``db_path``: the
    store's ``location``, any password masked)."""
    if broken is None:
        return None
    if broken.row_id is None:
        where = "The audit trail failed verification"
    else:
        case = f" (case {broken.case_id})" if broken.case_id else ""
        where = f"The audit trail failed verification at row {broken.row_id}{case}"
    return (
        f"{where}: {broken.problem}. New reviews are refused until it is restored from a trusted "
        f"copy; `review audit verify --db {db_path}` names the first broken row."
    )


def page(
    request: Request,
    wb: WorkbenchState,
    template: str,
    status_code: int = 200,
    *,
    snap: Snapshot | None = None,
    **context,
) -> HTMLResponse:
    """Render a page; every page verifies the audit trail and shows a banner when it fails."""
    snap = snap or wb.store.snapshot()
    html = wb.env.get_template(template).render(
        nonce=request.state.nonce,
        csrf_token=request.state.csrf_token,
        source=wb.source,
        audit_alert=audit_alert(snap.check.broken, wb.store.location),
        identity=identity_of(request),
        signs_in=wb.signs_in,
        can=lambda permission: may(request, wb, permission),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
