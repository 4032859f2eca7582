"""Operations on Facts that every extractor shares: merging the sides named for one muscle, and
the canonical order of every list (the same notes always give the same bytes)."""

from __future__ import annotations

from review.schema import Evidence, Fact, Facts, Side


def merge_side(a: Side, b: Side) -> Side:
    if a == b or b == "unspecified":
        return a
    if a == "unspecified":
        return b
    return "bilateral"


def sort_facts(facts: Facts) -> Facts:
    """Sort every list so the same notes always give the same bytes."""

    def key(e: Evidence) -> tuple[str, int, int]:
        return (e.document_id, e.start, e.end)

    for name in type(facts).model_fields:
        value = getattr(facts, name)
        if not isinstance(value, list) or not value:
            continue
        if isinstance(value[0], Evidence):
            value.sort(key=key)
            continue
        if not isinstance(value[0], Fact):
            value.sort(key=lambda item: item.model_dump_json())
            continue
        for item in value:
            item.evidence.sort(key=key)
        value.sort(
            key=lambda item: (
                getattr(item, "name", None)
                or getattr(item, "kind", None)
                or getattr(item, "code", None)
                or "",
                [key(e) for e in item.evidence],
                item.model_dump_json(),
            )
        )
    return facts
