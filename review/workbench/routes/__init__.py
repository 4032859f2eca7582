"""The workbench's pages, one router per job: the queue, a case and its review form, the
documentation request for a pended case, the exports of reviewed decisions, and the agreement
between the pipeline and reviewers, and the accounts page (sign-in modes)."""

from review.workbench.routes import admin, agreement, case, export, letters, queue

ROUTERS = (
    queue.router,
    case.router,
    letters.router,
    export.router,
    agreement.router,
    admin.router,
)
