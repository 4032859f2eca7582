"""The workbench's pages, one router per job: the queue, a case and its review form, the
documentation request for a pended case, and the exports of reviewed decisions."""

from review.workbench.routes import case, export, letters, queue

ROUTERS = (queue.router, case.router, letters.router, export.router)
