"""Blind second review: a supervisor sends a sample of decided cases to a second reviewer who does
not see the first decision; the second reviewer's judgment is measured against it
(:mod:`review.agreement`, the blind reviewer-vs-reviewer pairs) and never put in force.

In the audit trail (migration 0003):

- ``second_assign``: written by the supervisor, one row per sampled case, all in one transaction.
  ``provenance["workbench"]`` holds ``second_reviewer``, the sample's ``seed`` and its size.
  ``to_decision``/``to_code`` repeat the decision in force (the column needs a value; the row
  changes nothing).
- ``second_review``: written by the second reviewer. ``from_decision``/``from_code``: the pipeline's
  recommendation (what the reviewer saw); ``to_decision``/``to_code`` and ``reason``: the judgment.
  It is not one of :data:`~review.workbench.store.DECISION_ACTIONS`, so the decision in force, the
  clocks, the exports and the queue's status are as they were.

The sample is deterministic: the eligible cases (decided; the chosen reviewer has written no row
of the case, so the first reviewer is never chosen and nobody is asked twice; not sent to a second
review already) sorted by case key, then ``random.Random(seed).sample``. The same trail, reviewer,
size and seed give the same cases. The default seed is the day's date (UTC), and the seed used is
recorded on every row.

What the second reviewer does not see, while the case is theirs to review blind or after
(:func:`blind_for`): the decision in force, its reviewer, the assignee, a referral, and every
audit row but their own. They do see the pipeline's recommendation, as the first reviewer did.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass

from review.workbench.decisions import detail
from review.workbench.store import DECISION_ACTIONS, AuditRow

MAX_SAMPLE = 500
MAX_SEED = 64


def default_seed(now: dt.datetime) -> str:
    """The day's date (UTC): a supervisor drawing twice the same day gets the same sample."""
    return now.astimezone(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class SecondReview:
    """A case sent to a blind second reviewer: the assignment row, and the judgment (once made)."""

    assignment: AuditRow
    reviewer: str
    review: AuditRow | None = None


def second_reviews(rows: Iterable[AuditRow]) -> dict[tuple[str, str], SecondReview]:
    """(case key, second reviewer) -> its :class:`SecondReview`, from the rows in id order. Only
    the first assignment and the first judgment count (the routes refuse a second of either)."""
    out: dict[tuple[str, str], SecondReview] = {}
    for row in rows:
        if row.action == "second_assign":
            who = detail(row).get("second_reviewer")
            if isinstance(who, str):
                out.setdefault((row.case_key, who), SecondReview(row, who))
        elif row.action == "second_review":
            found = out.get((row.case_key, row.reviewer))
            if found is not None and found.review is None:
                out[(row.case_key, row.reviewer)] = SecondReview(
                    found.assignment, row.reviewer, row
                )
    return out


def blind_for(rows: Iterable[AuditRow], case_key: str, subject: str | None) -> bool:
    """Whether ``subject`` sees this case blind: a second review of it was assigned to them."""
    if subject is None:
        return False
    return (case_key, subject) in second_reviews(rows)


def blind_cases(rows: Iterable[AuditRow], subject: str | None) -> set[str]:
    """The case keys ``subject`` sees blind."""
    if subject is None:
        return set()
    return {key for key, who in second_reviews(rows) if who == subject}


def eligible(rows: list[AuditRow], reviewer: str, reviewable: Iterable[str]) -> list[str]:
    """The case keys that may be sent to ``reviewer`` for a blind second review, sorted: decided,
    in ``reviewable`` (the workbench's cases with a recommendation), ``reviewer`` wrote no row of
    the case, and no second review of it was assigned yet."""
    decided = {r.case_key for r in rows if r.action in DECISION_ACTIONS}
    touched = {r.case_key for r in rows if r.reviewer == reviewer}
    sent = {r.case_key for r in rows if r.action == "second_assign"}
    return sorted((decided & set(reviewable)) - touched - sent)


def draw(candidates: list[str], size: int, seed: str) -> list[str]:
    """``size`` of the candidates (all when fewer), chosen by ``seed``, in candidate order."""
    chosen = set(random.Random(seed).sample(candidates, min(size, len(candidates))))
    return [c for c in candidates if c in chosen]
