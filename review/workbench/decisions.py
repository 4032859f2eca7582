"""What a reviewer can decide (the decisions, the procedure codes) and where a case stands: its
latest review in the audit trail, else the engine's recommendation."""

from __future__ import annotations

from typing import Any

from review.workbench.cases import CaseEntry
from review.workbench.store import AuditRow

DECISIONS = ("pend", "deny", "approve")


def _procedure_codes() -> tuple[str, ...]:
    """The codes a reviewer may choose: every registry policy's procedure codes (policy data)."""
    from review.policy.load import available_policies, load_policy

    return tuple(
        sorted({c for p in available_policies() for c in load_policy(p).settings.procedure_codes})
    )


CODES = _procedure_codes()


def review_state(entry: CaseEntry, latest: dict[str, AuditRow]) -> dict[str, Any]:
    """The case, its latest review (or None), its review status, and the decision and code in
    force."""
    row = latest.get(entry.key)
    rec = entry.rec
    return {
        "entry": entry,
        "review": row,
        "review_status": {"accept": "accepted", "override": "overridden"}[row.action]
        if row
        else "unreviewed",
        "decision": row.to_decision if row else (rec.decision if rec else None),
        "code": row.to_code if row else (rec.supported_code if rec else None),
    }
