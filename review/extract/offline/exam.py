"""History and examination features that establish a trigger point (policy: focal tenderness,
taut band, twitch response, referred pain, restricted motion, weakness, onset history), each
recorded as present or documented absent.

Absent: a negation cue reaching the finding ("no taut band palpated"), a lexicon form that
names the absence ("nontender", "full ROM", "strength 5/5 throughout"), or a template item
marked no ("Taut band palpable: No", an empty checkbox). Plans and hypotheticals document
nothing.
"""

from __future__ import annotations

from review.extract.offline.reading import Sent, add_evidence
from review.schema import ExamFinding, Facts, Mention

SKIPPED_SECTIONS = ("plan", "medications", "allergies", "social_history")


def read_exam(facts: Facts, sents: list[Sent]) -> None:
    found: dict[tuple[str, bool], ExamFinding] = {}
    for s in sents:
        if s.section in SKIPPED_SECTIONS:
            continue
        for m in s.labelled("exam_finding"):
            if m.family or m.hypothetical:
                continue
            item = s.item_of(m)
            present = not (
                m.negated or m.category == "absent" or (item is not None and item.polarity < 0)
            )
            if m.category == "absent" and _negated_from_outside(m):
                continue  # "not 5/5": too unclear to record either way
            finding = found.setdefault((m.name, present), ExamFinding(kind=m.name, present=present))
            add_evidence(finding, s.evidence)
    facts.exam_findings = list(found.values())


def _negated_from_outside(m: Mention) -> bool:
    """A negation cue outside an absent form ("not 5/5"); "does not reproduce" holds its own."""
    return m.negated and any(
        r.category == "NEGATED_EXISTENCE" and not (m.start <= r.start and r.end <= m.end)
        for r in m.modifiers
    )
