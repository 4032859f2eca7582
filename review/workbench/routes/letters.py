"""The drafted request for additional documentation, for pended cases: the page, the draft as a
text file, and the nurse's edited text as a text file."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from review.schema import Recommendation
from review.workbench.cases import CaseEntry
from review.workbench.letter import draft_letter, missing_items
from review.workbench.pages import page
from review.workbench.state import Reviewer, Viewer, Workbench, WorkbenchState

router = APIRouter()


def pended_or_404(wb: WorkbenchState, slug: str) -> tuple[CaseEntry, Recommendation]:
    entry = wb.entry_or_404(slug)
    if entry.rec is None or entry.rec.decision != "pend":
        raise HTTPException(
            status_code=404, detail="a documentation request is drafted for pended cases only"
        )
    return entry, entry.rec


def letter_file(entry: CaseEntry, text: str) -> PlainTextResponse:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", entry.case_id) or "case"
    return PlainTextResponse(
        text.replace("\r\n", "\n"),
        headers={"Content-Disposition": f'attachment; filename="documentation-request-{name}.txt"'},
    )


@router.get("/case/{slug}/letter", response_class=HTMLResponse)
def letter(request: Request, wb: Workbench, slug: str, _who: Viewer) -> HTMLResponse:
    entry, rec = pended_or_404(wb, slug)
    return page(
        request,
        wb,
        "letter.html.j2",
        entry=entry,
        rec=rec,
        items=missing_items(rec),
        letter=draft_letter(rec, date_of_service=entry.date_of_service),
    )


@router.get("/case/{slug}/letter.txt")
def letter_txt(wb: Workbench, slug: str, _who: Viewer) -> PlainTextResponse:
    entry, rec = pended_or_404(wb, slug)
    return letter_file(entry, draft_letter(rec, date_of_service=entry.date_of_service))


@router.post("/case/{slug}/letter.txt")
async def letter_txt_edited(
    request: Request, wb: Workbench, slug: str, _who: Reviewer
) -> PlainTextResponse:
    entry, _ = pended_or_404(wb, slug)
    text = (await request.form()).get("letter")
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(status_code=400, detail="the letter is empty")
    return letter_file(entry, text)
