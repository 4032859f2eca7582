"""Verification: does the span a quote grounded to say what the model claimed?

Grounding (grounding.py) proves that a quote occurs in the note, not that it supports the fact:
"the" occurs in every note. So after grounding every fact of an LLM answer is checked against its
evidence span, with the lexicon mentions the parse stage found and their medspaCy ConText flags
(the lexicons the offline extractor uses, none of its heuristics: this module does not import it):

(a) the span lies inside the sentence(s) the model cited (grounding may have found the quote
    elsewhere in the document);
(b) the span contains a mention of the claimed value: the muscle (by canonical name, so synonyms
    and abbreviations count; "bilateral", which counts twice, needs both sides in the span), a
    region, the injectate (name or category), the exam finding (not
    negated when present, negated when the model says absent), the treatment (and a compatible
    outcome cue when the model says failed/partial/effective/not_tolerated/contraindicated), the
    excluded service, trigger point injection wording for the procedure and for a prior injection
    (with an outcome cue or a percent/pain-score change for its response), image guidance;
(c) a fact that says something was done today (the procedure, injected muscles and regions,
    injectate, an excluded service performed) rests on a mention that is neither negated nor
    hypothetical; the procedure's is not historical either, nor in a note dated before the date
    of service (a plan written at the visit that scheduled the injection).

A mention counts as "in the span" when at least half of it is inside (a quote may cut a phrase:
"Total of 5 trigger points" ends inside "trigger points injected"). A fact failing a check is
dropped from the answer and reported as :class:`~review.schema.Unverified` with one of the fixed
``REASONS`` (never note text). The pipeline decides with the verified facts and pends when putting
the unverified ones back would change the decision or the supported code (rule TPI-X03).
Diagnosis rationale is checked for (a) only: there is no lexicon for a rationale.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from review.extract.cues import OUTCOME_OF_CATEGORY, status_cue
from review.extract.llm.schema import (
    Citation,
    CitedExamFinding,
    CitedExcludedService,
    CitedInjectate,
    CitedMuscle,
    CitedPriorInjection,
    CitedTreatment,
    LLMFacts,
)
from review.lexicon import canonical_name
from review.schema import Evidence, Mention, ParsedDocument, Unverified

Locate = Callable[[Citation], Evidence | None]
"""Grounding for one citation (review.extract.llm.grounding.ground), passed in by the caller."""

NOT_IN_CITED = "quote is not in the cited sentence(s)"
NO_MUSCLE = "quote does not name this muscle"
NOT_BILATERAL = "quote does not name both sides"
NO_REGION = "quote names no region"
NO_INJECTATE = "quote does not name this injectate"
NO_FINDING = "quote does not document this exam finding"
FINDING_NEGATED = "quote documents the finding as absent"
FINDING_NOT_NEGATED = "quote does not document the finding as absent"
NO_TREATMENT = "quote does not name this treatment"
TREATMENT_CATEGORY = "treatment category differs from the lexicon's"
NO_OUTCOME = "quote does not state the claimed outcome"
NO_SERVICE = "quote does not name this excluded service"
NO_TPI = "quote does not describe a trigger point injection"
NO_RESPONSE = "quote does not state the claimed response"
NO_IMAGING = "quote does not name image guidance"
NEGATED = "quote says it was not done (negated)"
HYPOTHETICAL = "quote describes a plan or possibility (hypothetical)"
HISTORICAL = "quote describes an earlier procedure (historical)"
BEFORE_SERVICE = "quote is from a note dated before the date of service"
REASONS = (
    NOT_IN_CITED,
    NO_MUSCLE,
    NOT_BILATERAL,
    NO_REGION,
    NO_INJECTATE,
    NO_FINDING,
    FINDING_NEGATED,
    FINDING_NOT_NEGATED,
    NO_TREATMENT,
    TREATMENT_CATEGORY,
    NO_OUTCOME,
    NO_SERVICE,
    NO_TPI,
    NO_RESPONSE,
    NO_IMAGING,
    NEGATED,
    HYPOTHETICAL,
    HISTORICAL,
    BEFORE_SERVICE,
)

CHECKED_OUTCOMES = {
    # claimed outcome -> cues that support it. Failed and partial are one class for the policy
    # (an inadequate response, TPI-M05), as are not tolerated and contraindicated (could not be
    # used); "intolerance" is filed under contraindicated in context.yaml.
    "failed": {"failed", "partial"},
    "partial": {"partial", "failed"},
    "effective": {"effective"},
    "not_tolerated": {"not_tolerated", "contraindicated"},
    "contraindicated": {"contraindicated", "not_tolerated"},
}
EXCLUDED_AS_TREATMENT = {"acupuncture", "dry_needling"}
EXCLUDED_AS_INJECTATE = {"botulinum_toxin": "botulinum_toxin", "prolotherapy": "proliferant"}

# a percent relief or a pain score change (the same wording the offline extractor reads)
_PERCENT = re.compile(r"\b(\d{1,3})\s?%\s*(?:relief|improvement|reduction|better|decrease)", re.I)
_PERCENT_ALT = re.compile(
    r"(?:relief|improvement|reduction|better)\s+(?:of\s+)?(?:about\s+)?(\d{1,3})\s?%", re.I
)
_PAIN_CHANGE = re.compile(
    r"\b(\d{1,2})\s?/\s?10\b.{0,40}?\b(?:to|down to|->)\s*(\d{1,2})\s?/\s?10\b", re.I
)
# both sides: a bilateral word, or a left and a right side word (bare L/R only in capitals)
_BILATERAL = re.compile(
    r"\b(?:bilateral(?:ly)?|bilat|both|b/l|each side|left and right|right and left)\b", re.I
)
_LEFT = re.compile(r"(?i:\bleft\b|\blt\b)|(?<![\w/])L(?![\w/])")
_RIGHT = re.compile(r"(?i:\bright\b|\brt\b)|(?<![\w/])R(?![\w/])")


@dataclass
class Verification:
    answer: LLMFacts
    """The answer with every unverified item removed (ungrounded items are left to grounding)."""
    unverified: list[Unverified] = field(default_factory=list)
    grounded: int = 0
    verified: int = 0

    @property
    def rate(self) -> float | None:
        """Verified facts / grounded facts (None when nothing was grounded)."""
        return round(self.verified / self.grounded, 4) if self.grounded else None


@dataclass
class _Span:
    doc: ParsedDocument
    start: int
    end: int

    def mentions(self, label: str) -> list[Mention]:
        out = []
        for m in self.doc.mentions:
            if m.label != label:
                continue
            overlap = min(m.end, self.end) - max(m.start, self.start)
            if overlap > 0 and 2 * overlap >= m.end - m.start:
                out.append(m)
        return out

    def outcome_cues(self) -> list[tuple[int, int, str]]:
        """Outcome cues (context.yaml) inside the span: (start, end, reading)."""
        out: list[tuple[int, int, str]] = []
        for cue in self.doc.cues:
            reading = OUTCOME_READINGS.get(cue.category)
            overlap = min(cue.end, self.end) - max(cue.start, self.start)
            if reading and overlap > 0 and 2 * overlap >= cue.end - cue.start:
                out.append((cue.start, cue.end, reading))
        return out

    @property
    def text(self) -> str:
        return self.doc.text[self.start : self.end]


# in a cited quote the usual subject of a low / high predicate is the relief ("relief was minimal")
OUTCOME_READINGS = OUTCOME_OF_CATEGORY | {"OUTCOME_LOW": "failed", "OUTCOME_HIGH": "effective"}


def verify_answer(
    answer: LLMFacts,
    parsed: list[ParsedDocument],
    locate: Locate,
    date_of_service: dt.date | None = None,
) -> Verification:
    """Check every grounded fact of ``answer`` against its span; see the module docstring."""
    docs = {d.document_id: d for d in parsed}
    result = Verification(answer=answer)

    def keep(fact: str, citation: Citation, check: Callable[[_Span], str | None]) -> bool:
        evidence = locate(citation)
        doc = docs.get(evidence.document_id) if evidence is not None else None
        if evidence is None or doc is None:
            return True  # ungrounded: grounding drops and reports it
        result.grounded += 1
        span = _Span(doc, evidence.start, evidence.end)
        reason = _outside_cited(span, citation) or check(span)
        if reason is None:
            result.verified += 1
            return True
        result.unverified.append(
            Unverified(
                fact=fact,
                document_id=citation.document_id,
                quote=citation.quote,
                sentence_ids=sorted(citation.sentence_ids),
                reason=reason,
            )
        )
        return False

    status = answer.procedure_status
    a = answer
    result.answer = answer.model_copy(
        update={
            "procedure_citations": [
                c
                for c in a.procedure_citations
                if keep("procedure", c, lambda s: _procedure(s, status, date_of_service))
            ],
            "injected_muscles": [
                m
                for m in a.injected_muscles
                if keep("injected_muscles", m.citation, partial(_muscle, item=m))
            ],
            "injected_regions": [
                r for r in a.injected_regions if keep("injected_regions", r.citation, _region)
            ],
            "injectate": [
                i for i in a.injectate if keep("injectate", i.citation, partial(_injectate, item=i))
            ],
            "exam_findings": [
                f
                for f in a.exam_findings
                if keep("exam_findings", f.citation, partial(_exam, item=f))
            ],
            "prior_treatments": [
                t
                for t in a.prior_treatments
                if keep("prior_treatments", t.citation, partial(_treatment, item=t))
            ],
            "concurrent_therapies": [
                t
                for t in a.concurrent_therapies
                if keep("concurrent_therapies", t.citation, partial(_treatment, item=t))
            ],
            "prior_injections": [
                p
                for p in a.prior_injections
                if keep("prior_injections", p.citation, partial(_prior_injection, item=p))
            ],
            "diagnosis_rationale": [
                c for c in a.diagnosis_rationale if keep("diagnosis_rationale", c, lambda s: None)
            ],
            "excluded_services": [
                x
                for x in a.excluded_services
                if keep("excluded_services", x.citation, partial(_excluded, item=x))
            ],
            "imaging_guidance": [
                c for c in a.imaging_guidance if keep("imaging_guidance", c, _imaging)
            ],
        }
    )
    return result


# --------------------------------------------------------------------------- the checks


def _outside_cited(span: _Span, citation: Citation) -> str | None:
    """(a): every sentence the span touches was cited."""
    touched = {s.id for s in span.doc.sentences if s.start < span.end and span.start < s.end}
    if not touched or not touched <= set(citation.sentence_ids):
        return NOT_IN_CITED
    return None


def _done(mentions: Iterable[Mention], historical: bool = False) -> str | None:
    """(c): None when one of ``mentions`` asserts something done, else why none does."""
    reasons = []
    for m in mentions:
        status = status_cue(m)[0]  # the offline reader's status cues: "was not performed"
        if m.negated or status in ("negated", "declined", "cancelled", "deferred"):
            reasons.append(NEGATED)
        elif m.hypothetical or status == "planned":
            reasons.append(HYPOTHETICAL)
        elif historical and m.historical:
            reasons.append(HISTORICAL)
        else:
            return None
    return reasons[0] if reasons else NEGATED


def _muscle(span: _Span, item: CitedMuscle) -> str | None:
    name = canonical_name("muscles", item.name)
    found = [m for m in span.mentions("muscle") if m.name == name]
    if not found:
        return NO_MUSCLE
    text = span.text
    both = _BILATERAL.search(text) or (_LEFT.search(text) and _RIGHT.search(text))
    if item.side == "bilateral" and not both:
        return NOT_BILATERAL  # left and right count as two muscles (count_sides_separately)
    return _done(found)


def _region(span: _Span) -> str | None:
    found = span.mentions("region")
    return _done(found) if found else NO_REGION


def _injectate(span: _Span, item: CitedInjectate) -> str | None:
    name = canonical_name("injectates", item.name).lower()
    found = [
        m
        for m in span.mentions("injectate")
        if m.name.lower() == name or m.category == item.category
    ]
    return _done(found) if found else NO_INJECTATE


def _exam(span: _Span, item: CitedExamFinding) -> str | None:
    found = [m for m in span.mentions("exam_finding") if m.name == item.kind]
    if not found:
        return NO_FINDING
    # a documented-absent form ("no taut band palpated") is an absent reading like a negation
    if any((m.negated or m.category == "absent") != item.present for m in found):
        return None
    return FINDING_NEGATED if item.present else FINDING_NOT_NEGATED


def _treatment(span: _Span, item: CitedTreatment) -> str | None:
    name = canonical_name("treatments", item.name)
    named = [m for m in span.mentions("treatment") if m.name == name]
    if not named:
        return NO_TREATMENT
    found = [m for m in named if (m.category or "noninvasive") == item.category]
    if not found:
        return TREATMENT_CATEGORY
    wanted = CHECKED_OUTCOMES.get(item.outcome)
    if wanted is None:
        return None  # ongoing, not tried, unknown: nothing the decision counts as tried and failed
    cues = span.outcome_cues()
    if not cues:
        return NO_OUTCOME
    # "PT helped but NSAIDs failed": each treatment takes the outcome cue nearest to it
    nearest = min(_gap(start, end, t) for start, end, _ in cues for t in found)
    readings = {
        reading
        for start, end, reading in cues
        if min(_gap(start, end, t) for t in found) == nearest
    }
    return None if readings & wanted else NO_OUTCOME


def _gap(start: int, end: int, b: Mention) -> int:
    return max(start - b.end, b.start - end, 0)


def _excluded(span: _Span, item: CitedExcludedService) -> str | None:
    found = [m for m in span.mentions("excluded_service") if m.name == item.kind]
    if item.kind in EXCLUDED_AS_TREATMENT:
        found += [m for m in span.mentions("treatment") if m.name == item.kind]
    if item.kind in EXCLUDED_AS_INJECTATE:
        category = EXCLUDED_AS_INJECTATE[item.kind]
        found += [m for m in span.mentions("injectate") if m.category == category]
    if not found:
        return NO_SERVICE
    return _done(found) if item.performed else None


def _tpi_mentions(span: _Span) -> list[list[Mention]]:
    """Trigger point injection wording: a TPI phrase, or trigger points with an injection verb
    (the two readings the procedure lexicon documents). Each group must hold together."""
    procedure = span.mentions("procedure")
    groups = [[m] for m in procedure if m.name == "trigger_point_injection"]
    points = [m for m in procedure if m.name == "trigger_point"]
    verbs = [m for m in procedure if m.name == "injection_verb"]
    groups += [[p, v] for p in points for v in verbs]
    return groups


def _procedure(span: _Span, status: str, date_of_service: dt.date | None) -> str | None:
    groups = _tpi_mentions(span)
    if not groups:
        return NO_TPI
    if status != "performed":
        return None
    reasons = []
    for group in groups:
        reason = next((r for m in group if (r := _done([m], historical=True))), None)
        if reason is None:
            break
        reasons.append(reason)
    else:
        return reasons[0]
    doc_date = span.doc.date
    earlier = doc_date is not None and date_of_service is not None and doc_date < date_of_service
    return BEFORE_SERVICE if earlier else None


def _prior_injection(span: _Span, item: CitedPriorInjection) -> str | None:
    groups = [g for g in _tpi_mentions(span) if not any(m.negated for m in g)]
    if not groups:
        return NO_TPI if not _tpi_mentions(span) else NEGATED
    if item.response == "unknown":
        return None
    readings = {reading for _, _, reading in span.outcome_cues()}
    text = span.text
    percent = _PERCENT.search(text) or _PERCENT_ALT.search(text)
    pain = _PAIN_CHANGE.search(text)
    if item.response == "improved":
        ok = (
            bool(readings & {"effective", "partial"})
            or (percent is not None and int(percent.group(1)) > 0)
            or (pain is not None and int(pain.group(2)) < int(pain.group(1)))
        )
    else:  # no_relief
        ok = (
            "failed" in readings
            or (percent is not None and int(percent.group(1)) == 0)
            or (pain is not None and int(pain.group(2)) >= int(pain.group(1)))
        )
    return None if ok else NO_RESPONSE


def _imaging(span: _Span) -> str | None:
    found = [m for m in span.mentions("procedure") if m.name == "imaging_guidance"]
    return _done(found) if found else NO_IMAGING
