"""Readings of ConText cues shared by the offline extractor and the LLM verifier: which
status or outcome a mention's nearest cue gives. Plain functions over the parse types, so the
verifier need not import the offline extractor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

from review.schema import Mention, Outcome, Reach

R = TypeVar("R", bound=str)

STATUS_OF_CATEGORY = {
    "STATUS_PERFORMED": "performed",
    "STATUS_PLANNED": "planned",
    "HYPOTHETICAL": "planned",
    "POSSIBLE_EXISTENCE": "planned",
    "STATUS_DEFERRED": "deferred",
    "STATUS_CANCELLED": "cancelled",
    "STATUS_DECLINED": "declined",
    "STATUS_NEGATED": "negated",
    "NEGATED_EXISTENCE": "negated",
    "STATUS_HISTORICAL": "historical",
    "HISTORICAL": "historical",
    "STATUS_NONE_BEFORE": "none_before",
}
STATUS_PRECEDENCE = (
    "declined",
    "cancelled",
    "deferred",
    "negated",
    "none_before",
    "planned",
    "historical",
    "performed",
)
"""Which status wins when two cues are equally near ("No TPI was given": negated)."""


OutcomeReading = Outcome | Literal["low", "high"]
"""An outcome cue's reading: an outcome, or a low / high predicate whose subject decides it."""

OUTCOME_OF_CATEGORY: dict[str, OutcomeReading] = {
    "OUTCOME_FAILED": "failed",
    "OUTCOME_PARTIAL": "partial",
    "OUTCOME_EFFECTIVE": "effective",
    "OUTCOME_NOT_TOLERATED": "not_tolerated",
    "OUTCOME_CONTRAINDICATED": "contraindicated",
    "OUTCOME_ONGOING": "ongoing",
    "OUTCOME_LOW": "low",  # a predicate whose sense depends on its subject (context.yaml)
    "OUTCOME_HIGH": "high",
}
OUTCOME_PRECEDENCE: tuple[OutcomeReading, ...] = (
    "contraindicated",
    "not_tolerated",
    "failed",
    "partial",
    "effective",
    "low",
    "high",
    "ongoing",
)


def nearest(
    reaches: Iterable[Reach], categories: Mapping[str, R], order: tuple[R, ...]
) -> tuple[R | None, Reach | None]:
    """The reading of the nearest cue among ``categories`` (None when no such cue reaches)."""
    best: tuple[int, int, Reach] | None = None
    for reach in reaches:
        value = categories.get(reach.category)
        if value is None:
            continue
        key = (reach.distance, order.index(value), reach)
        if best is None or key[:2] < best[:2]:
            best = key
    return (categories[best[2].category], best[2]) if best else (None, None)


def status_cue(m: Mention) -> tuple[str | None, Reach | None]:
    return nearest(m.modifiers, STATUS_OF_CATEGORY, STATUS_PRECEDENCE)
