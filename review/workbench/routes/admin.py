"""The accounts page (admin role, sign-in modes only): who has an account, with which roles,
whether it is active and how many sessions it has open. Read-only: ``review users`` changes
accounts (see README, For a team)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from review.workbench.pages import page
from review.workbench.state import Admin, Workbench

router = APIRouter()


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, wb: Workbench, _who: Admin) -> HTMLResponse:
    if wb.accounts is None:
        raise HTTPException(status_code=404, detail="there are no accounts with --auth none")
    accounts = wb.accounts
    listed = [(u, accounts.live_sessions(u.username)) for u in accounts.users()]
    return page(request, wb, "users.html.j2", users=listed, db=wb.store.location)
