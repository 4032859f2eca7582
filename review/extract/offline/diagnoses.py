"""Diagnosis codes written in the notes and a documented rationale for an unlisted diagnosis."""

from __future__ import annotations

import re

from review.extract.offline.reading import Sent, add_evidence
from review.schema import Facts, NoteDiagnosis

_ICD10 = re.compile(r"\b([A-TV-Z]\d{2}\.[0-9A-Z]{1,4})\b")
_RATIONALE = re.compile(
    r"\b(rationale|medically necessary|medical necessity|necessary because|justif\w+|"
    r"although (?:this|the) diagnosis is not|not on the (?:covered|listed)|unlisted)\b",
    re.I,
)


def read_diagnoses(facts: Facts, sents: list[Sent]) -> None:
    found: dict[str, NoteDiagnosis] = {}
    for s in sents:
        for match in _ICD10.finditer(s.text):
            item = found.setdefault(match.group(1), NoteDiagnosis(code=match.group(1)))
            add_evidence(item, s.evidence)
        if _RATIONALE.search(s.text):
            add_evidence(facts.diagnosis_rationale, s.evidence)
    facts.diagnoses_in_note = list(found.values())
