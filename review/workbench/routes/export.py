"""The exports of reviewed decisions: each case's latest review beside the engine's
recommendation, as JSON (with the audit trail's verification state) or as CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from review.workbench.cases import CaseSource
from review.workbench.state import Metrics, Workbench
from review.workbench.store import DECISION_ACTIONS, AuditRow, latest_of, utc_now

EXPORT_FIELDS = [
    "case_key",
    "case_id",
    "recommended_decision",
    "recommended_code",
    "final_decision",
    "final_code",
    "action",
    "reviewer",
    "reviewed_at",
    "reason",
    "audit_id",
    "reviews",
    "rules_sha256",
]

router = APIRouter()


def reviewed(source: CaseSource, rows: list[AuditRow]) -> list[dict[str, Any]]:
    """One record per reviewed case (its latest review), sorted by case id."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.action in DECISION_ACTIONS:  # referrals and assignments decide nothing
            counts[row.case_key] = counts.get(row.case_key, 0) + 1
    by_key = {e.key: e for e in source.entries}
    out = []
    for key, row in latest_of(rows).items():
        entry = by_key.get(key)
        rec = entry.rec if entry else None
        out.append(
            {
                "case_key": key,
                "case_id": row.case_id,
                "recommended_decision": rec.decision if rec else None,
                "recommended_code": rec.supported_code if rec else None,
                "final_decision": row.to_decision,
                "final_code": row.to_code,
                "action": row.action,
                "reviewer": row.reviewer,
                "reviewed_at": row.at,
                "reason": row.reason,
                "audit_id": row.id,
                "reviews": counts[key],
                "rules_sha256": json.loads(row.provenance).get("rules_sha256"),
            }
        )
    out.sort(key=lambda r: (r["case_id"], r["case_key"]))
    return out


def _spreadsheet_safe(value: Any) -> Any:
    """Free text starting like a formula is prefixed with ' so a spreadsheet shows it as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@router.get("/export.json")
def export_json(wb: Workbench, _who: Metrics) -> Response:
    snap = wb.store.snapshot()
    body = {
        "exported_at": utc_now(),
        "source": wb.source.root,
        "audit": {
            "verified": snap.check.ok,
            "rows": len(snap.rows),
            "head": snap.check.head if snap.check.ok else None,
            "problem": snap.problem,
        },
        "decisions": reviewed(wb.source, snap.rows),
    }
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="reviewed-decisions.json"'},
    )


@router.get("/export.csv")
def export_csv(wb: Workbench, _who: Metrics) -> Response:
    rows = reviewed(wb.source, wb.store.snapshot().rows)
    buf = io.StringIO()
    fields = list(rows[0]) if rows else EXPORT_FIELDS
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _spreadsheet_safe(v) for k, v in row.items()})
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="reviewed-decisions.csv"'},
    )
