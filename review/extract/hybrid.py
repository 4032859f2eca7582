"""Hybrid extraction: offline and LLM facts side by side, reconciled.

The LLM's grounded facts are used; where the two extractors disagree on what decides the code or
the service (performed or not, muscles with side, injectate, excluded services performed), the
disagreement is recorded in the facts and a rule (TPI-X01) pends the case, so a nurse sees it
(for example a title saying botulinum toxin while the procedure documents lidocaine only).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING

from review.extract.base import Extraction, Family
from review.extract.llm.client import LLMSettings
from review.extract.llm.extractor import LLMExtractor
from review.extract.offline import OfflineExtractor
from review.schema import Disagreement, Facts, ParsedDocument

if TYPE_CHECKING:
    from review.extract.runtime import Runtime


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


class HybridExtractor:
    """Both extractors: the LLM's verified facts, with the offline reading beside them; where
    they disagree on what decides the case, a rule pends it. When the model fails, the offline
    facts carry the failure (so the case pends) and the reviewer still sees what they found."""

    id = "hybrid.v1"
    family: Family = "hybrid"

    def __init__(self, prompt: str, settings: LLMSettings | None):
        self.llm = LLMExtractor(prompt, settings)
        self.offline = OfflineExtractor()

    def extract(
        self, documents: list[ParsedDocument], date_of_service: dt.date | None, runtime: Runtime
    ) -> Extraction:
        llm = self.llm.extract(documents, date_of_service, runtime)
        offline = self.offline.extract(documents, date_of_service, runtime)
        out = _combined(llm, offline.facts)
        if offline.if_billed is not None:
            out.if_billed = _combined(llm, offline.if_billed.facts)
        return out


def _combined(llm: Extraction, offline: Facts) -> Extraction:
    out = copy.copy(llm)
    if llm.facts.extraction_error:
        out.facts = offline.model_copy(deep=True)
        out.facts.extraction_error = llm.facts.extraction_error
        return out
    out.facts = reconcile(offline, llm.facts)
    if llm.with_unverified is not None:
        out.with_unverified = reconcile(offline, llm.with_unverified)
    return out
