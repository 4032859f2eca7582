"""Hybrid extraction: offline and LLM facts side by side, reconciled.

The LLM's grounded facts are used; where the two extractors disagree on what decides the code or
the service (performed or not, muscles with side, injectate, excluded services performed), the
disagreement is recorded in the facts and a rule (TPI-X01) pends the case, so a nurse sees it
(for example a title saying botulinum toxin while the procedure documents lidocaine only).
"""

from __future__ import annotations

from review.schema import Disagreement, Facts


def _views(facts: Facts) -> dict[str, list[str]]:
    return {
        "procedure_performed": [str(facts.procedure_performed).lower()],
        "injected_muscles": sorted(f"{m.side} {m.name}" for m in facts.injected_muscles),
        "injectate": sorted({i.name.lower() for i in facts.injectate}),
        "excluded_services": sorted({e.kind for e in facts.excluded_services if e.performed}),
    }


def reconcile(offline: Facts, llm: Facts) -> Facts:
    """LLM facts plus the list of disagreements with the offline extractor."""
    merged = llm.model_copy(deep=True)
    a, b = _views(offline), _views(llm)
    merged.extractor_disagreements = [
        Disagreement(fact=name, offline=a[name], llm=b[name])
        for name in sorted(a)
        if a[name] != b[name]
    ]
    # A denial needs both extractors: an exclusion only one of them saw goes to a nurse (TPI-X02)
    # instead of denying the claim.
    agreed = set(a["excluded_services"]) & set(b["excluded_services"])
    for service in merged.excluded_services:
        if service.performed and service.kind not in agreed:
            service.performed = False
    return merged
