"""What a reviewer can decide (the decisions, the procedure codes, the grounds of a denial) and
where a case stands: its latest decision in the audit trail, else the engine's recommendation; a
referral waiting for a physician's sign-off; its assignee."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from review.workbench.cases import CaseEntry
from review.workbench.store import DECISION_ACTIONS, AuditRow

DECISIONS = ("pend", "deny", "approve")
GROUNDS = {
    "administrative": "administrative (an excluded service, a billing rule)",
    "medical_necessity": "medical necessity (a physician signs it off)",
}
"""Why a reviewer denies. A medical-necessity denial is final only from a physician: a nurse's is
recorded as a referral (action ``refer``) that a physician confirms or reverses. The engine denies
only on administrative exclusions (docs/policy-rules.md), so accepting its deny is administrative."""
REVIEW_STATUS = {
    "accept": "accepted",
    "override": "overridden",
    "confirm": "confirmed",
    "reverse": "reversed",
}


def _procedure_codes() -> tuple[str, ...]:
    """The codes a reviewer may choose: every registry policy's procedure codes (policy data)."""
    from review.policy.load import available_policies, load_policy

    return tuple(
        sorted({c for p in available_policies() for c in load_policy(p).settings.procedure_codes})
    )


CODES = _procedure_codes()


def detail(row: AuditRow) -> dict[str, Any]:
    """The workflow detail the workbench keeps in a row's provenance (``provenance["workbench"]``:
    a denial's ground, an assignment's assignee and previous assignee); empty when none."""
    try:
        value = json.loads(row.provenance).get("workbench")
    except (ValueError, AttributeError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Flow:
    """A case's workflow from the audit trail: the referral awaiting sign-off (a ``refer`` row
    after the last decision), and the current assignee (the last ``assign`` row's)."""

    referral: AuditRow | None = None
    assignee: str | None = None


def flows(rows: list[AuditRow]) -> dict[str, Flow]:
    """Every case's :class:`Flow` from the rows in id order."""
    referral: dict[str, AuditRow | None] = {}
    assignee: dict[str, str | None] = {}
    for row in rows:
        if row.action == "refer":
            referral[row.case_key] = row
        elif row.action == "assign":
            value = detail(row).get("assignee")
            assignee[row.case_key] = value if isinstance(value, str) else None
        elif row.action in DECISION_ACTIONS:  # a decision settles any referral before it
            referral[row.case_key] = None
    keys = set(referral) | set(assignee)
    return {k: Flow(referral.get(k), assignee.get(k)) for k in keys}


def review_state(
    entry: CaseEntry, latest: dict[str, AuditRow], flow: Flow | None = None
) -> dict[str, Any]:
    """The case, its latest decision (or None), its review status, the decision and code in force,
    and its workflow (``referral``, ``assignee``)."""
    row = latest.get(entry.key)
    rec = entry.rec
    flow = flow or Flow()
    status = REVIEW_STATUS[row.action] if row else "unreviewed"
    if flow.referral is not None:
        status = "referred"
    return {
        "entry": entry,
        "review": row,
        "review_status": status,
        "decision": row.to_decision if row else (rec.decision if rec else None),
        "code": row.to_code if row else (rec.supported_code if rec else None),
        "referral": flow.referral,
        "assignee": flow.assignee,
    }
