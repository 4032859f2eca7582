"""The recommendation JSON contract: one object, stable key order, same bytes for the same input."""

from __future__ import annotations

import json

from review.schema import Recommendation


def render_json(rec: Recommendation, *, indent: int | None = 2) -> str:
    data = rec.model_dump(mode="json")
    return json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=False)
