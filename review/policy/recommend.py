"""Recommend stage: findings -> decision, supported code, missing documentation, summary.

Decisions follow docs/policy-rules.md: ``deny`` only when an administrative exclusion rule whose
``on_not_met`` is ``deny`` fails; ``pend`` for anything else not met or not documented (the engine
never denies on medical-necessity grounds); ``approve`` when every applicable rule is met.
"""

from __future__ import annotations

from review.policy.model import Policy
from review.schema import Decision, Derived, Facts, Finding, Provenance, Recommendation


def recommend(
    case_id: str,
    findings: list[Finding],
    derived: Derived,
    facts: Facts,
    policy: Policy,
    provenance: Provenance,
    extra_pend_reasons: list[str] | None = None,
) -> Recommendation:
    specs = {rule.spec.id: rule.spec for rule in policy.rules}
    denials = [
        f
        for f in findings
        if (f.status == "not_met" and specs[f.rule_id].on_not_met == "deny")
        or (f.status == "insufficient" and specs[f.rule_id].on_insufficient == "deny")
    ]
    open_items = [
        f for f in findings if f.status in ("not_met", "insufficient") and f not in denials
    ]
    extra = list(extra_pend_reasons or [])
    decision: Decision
    if denials:
        decision = "deny"
    elif open_items or extra:
        decision = "pend"
    else:
        decision = "approve"
    # what to ask the provider for: only when a nurse will pend the case (a denial stands whatever
    # more documentation would say)
    missing = (
        sorted({f.missing_documentation for f in findings if f.missing_documentation})
        if decision == "pend"
        else []
    )
    return Recommendation(
        case_id=case_id,
        decision=decision,
        billed_code=derived.billed_code or None,
        supported_code=derived.supported_code or None,
        summary=_summary(decision, denials, open_items, extra, derived),
        findings=findings,
        facts=facts,
        missing_documentation=missing,
        provenance=provenance,
    )


def _summary(
    decision: str, denials: list[Finding], open_items: list[Finding], extra: list[str], d: Derived
) -> str:
    code = _code_phrase(d)
    if decision == "deny":
        first = denials[0]
        return f"Deny: {first.reason} ({', '.join(f.rule_id for f in denials)}); a nurse confirms the denial."
    if decision == "approve":
        return f"Approve: every applicable criterion is met; {code}."
    ids = ", ".join(f.rule_id for f in open_items)
    parts = [
        f"Pend for nurse review: {len(open_items)} {'criterion' if len(open_items) == 1 else 'criteria'} "
        f"not met or not documented ({ids})"
        if open_items
        else "Pend for nurse review"
    ]
    parts.extend(extra)
    return "; ".join(parts) + f"; {code}."


def _code_phrase(d: Derived) -> str:
    if not d.supported_code:
        return "documentation supports no trigger point injection code" + (
            f" (billed {d.billed_code})" if d.billed_code else ""
        )
    muscles = f"{d.distinct_muscle_count} muscle{'s' if d.distinct_muscle_count != 1 else ''}"
    if d.billed_code and d.billed_code != d.supported_code:
        return f"billed {d.billed_code} but documentation supports {d.supported_code} ({muscles})"
    return f"documentation supports {d.supported_code} ({muscles})"
