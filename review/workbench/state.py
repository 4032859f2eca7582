"""What the workbench's routes share: the case source, the audit store and the template
environment, kept on ``app.state.workbench`` and handed to a route by the :data:`Workbench`
dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jinja2
from fastapi import Depends, HTTPException, Request

from review.workbench.cases import CaseEntry, CaseSource
from review.workbench.store import AuditStore


@dataclass
class WorkbenchState:
    source: CaseSource
    store: AuditStore
    env: jinja2.Environment

    def entry_or_404(self, slug: str) -> CaseEntry:
        entry = self.source.get(slug)
        if entry is None:
            raise HTTPException(status_code=404, detail="no such case in this workbench")
        return entry


def get_workbench(request: Request) -> WorkbenchState:
    return request.app.state.workbench


Workbench = Annotated[WorkbenchState, Depends(get_workbench)]
