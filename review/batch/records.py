"""One case's line of ``results.jsonl``: its recommendation, or its error as a coded record."""

from __future__ import annotations

from typing import Any

from review.batch.inputs import WorkItem, case_from_item, input_key
from review.errors import ReviewError


def review_item(item: WorkItem, config) -> dict[str, Any]:
    """The per-case function every engine runs: a record, never an exception."""
    from review.pipeline import review_case

    key = input_key(item)
    if item.error:
        return _error_record(key, item.source, item.error_code or "C000", item.error)
    try:
        case = case_from_item(item)
        rec = review_case(case, config)
    except ReviewError as exc:
        return _error_record(key, item.source, exc.code, str(exc))
    except Exception as exc:  # a bug must not stop an unattended run: record it, go on
        return _error_record(
            key, item.source, "R999", f"internal error: {type(exc).__name__}: {exc}"
        )
    data = rec.model_dump(mode="json")
    return {
        "key": key,
        "case_id": rec.case_id,
        "source": item.source,
        "status": "ok",
        "decision": rec.decision,
        "billed_code": rec.billed_code,
        "supported_code": rec.supported_code,
        "failing_rules": [
            f.rule_id for f in rec.findings if f.status in ("not_met", "insufficient")
        ],
        "recommendation": data,
    }


def _error_record(key: str, source: str, code: str, message: str) -> dict[str, Any]:
    return {
        "key": key,
        "case_id": key,
        "source": source,
        "status": "error",
        "error": {"code": code, "message": message},
    }
