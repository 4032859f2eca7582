"""Prior treatments and how each went, and the therapies that continue alongside the injections.

Each treatment mention takes the outcome cue that reaches it and is nearest to it
(context.yaml: compositional patterns such as negator + modifiers + benefit word, in either
order). Where its own sentence has none, an outcome stated on its own right after it covers
it ("Tried PT, naproxen and heat." then "None of these helped."), and an outcome stated before a
list covers the list items. A box left empty or a "tried: No" field is not tried; a mention
negated without an outcome ("has not had PT") is not tried; a current medication without a
word on how it works is ongoing; otherwise the result is unknown.

When several mentions of one treatment disagree, the treatment takes the first outcome in the
label order (eval/README.md): contraindicated, not tolerated, failed, partial, effective,
ongoing, unknown, not tried.
"""

from __future__ import annotations

import re

from review.extract.cues import status_cue
from review.extract.offline.reading import (
    Sent,
    add_evidence,
    orphan_outcome,
    outcome_cue,
)
from review.extract.offline.status import NEEDLE_TREATMENTS
from review.schema import Facts, Mention, Outcome, Treatment

MERGE_ORDER: tuple[Outcome, ...] = (
    "contraindicated",
    "not_tolerated",
    "failed",
    "partial",
    "effective",
    "ongoing",
    "unknown",
    "not_tried",
)
_DURATION = re.compile(
    r"\b(?:for|x|lasting|lasted|over)\s+(?:about\s+|approximately\s+|nearly\s+|almost\s+|~\s?)?"
    r"(\d+|one|two|three|four|five|six|eight|ten|twelve|several|a few|a couple of)\s*-?\s*"
    r"(days?|weeks?|wks?|months?|mos?|years?)\b",
    re.I,
)
_CONDITIONAL = re.compile(r"\b(consider\w*|if|may|might|possibl\w*|would|could|option)\b", re.I)
_CONDITION = re.compile(r"\b(?:if|unless|should|in case|until|whether)\b", re.I)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022]|[a-z][.)])\s")


def read_treatments(facts: Facts, sents: list[Sent], performed_today: bool) -> None:
    prior: dict[str, Treatment] = {}
    concurrent: dict[str, Treatment] = {}
    for i, s in enumerate(sents):
        for m in s.labelled("treatment"):
            if (
                m.family
                or _field_label_of_injectate(s, m)
                or _component_of_course(s, m)
                or _names_the_provider(s, m)
            ):
                continue
            status, _ = status_cue(m)
            if (
                m.name in NEEDLE_TREATMENTS
                and performed_today
                and status in (None, "performed")
                and s.about_today
                and s.section not in ("past_history", "hpi")
            ):
                continue  # today's dry needling is an excluded service, not a prior treatment
            outcome, reach = outcome_cue(m, s)
            if reach is not None and _CONDITION.search(s.clause_before(reach.start)):
                continue  # "return to PT if not improving": a condition, not a result
            planned = s.section == "plan" or status == "planned" or m.hypothetical
            if planned:
                # "continue PT" runs alongside; "consider PT if not improving" does not, and a
                # plan's outcome words are conditions, not results
                if (
                    outcome in (None, "ongoing")
                    and not m.negated
                    and not m.hypothetical
                    and (not _CONDITIONAL.search(s.text))
                ):
                    _add(concurrent, m, s, "ongoing", None)
                continue
            result = outcome or _carried_outcome(sents, i, m) or _default(m, s, status)
            if result in ("unknown", "ongoing") and (
                s.section == "medications" or _generic_word(s, m)
            ):
                # a drug on the medication list, or "medications" with no word on how they
                # worked, documents no trial of a treatment
                if result == "ongoing" and not m.negated:
                    _add(concurrent, m, s, "ongoing", None)
                continue
            _add(prior, m, s, result, _duration(s.clause_text(m)))
            if result == "ongoing" and not m.negated:
                _add(concurrent, m, s, "ongoing", None)
    facts.prior_treatments = list(prior.values())
    facts.concurrent_therapies = list(concurrent.values())


COURSES = ("physical_therapy", "chiropractic", "osteopathic_manipulation")
_COMPONENT_LEAD = re.compile(
    r"^\s*(?:[\w/-]+\s+){0,4}?(?:with\b|including\b|incl\b|consisting of\b|"
    r"that included\b|which included\b|focused on\b|:)",
    re.I,
)
GENERIC_WORDS = (
    "medication",
    "medications",
    "meds",
    "pain medication",
    "pain medications",
    "pain medicine",
    "pain meds",
    "oral medications",
    "medical management",
)


def _component_of_course(s: Sent, m: Mention) -> bool:
    """Heat, massage, stretching or TENS given as part of a course of physical therapy or
    chiropractic care ("PT (core strengthening, stretching, heat)", "14 chiropractic visits
    with manipulation, soft tissue work and heat") are that course, not treatments of their
    own (eval/README.md conventions)."""
    if m.name in COURSES:
        return False
    for head in s.labelled("treatment"):
        if head.name not in COURSES or head.start >= m.start or not s.same_clause(head, m):
            continue
        between = s.doc.text[head.end : m.start]
        if any(
            head.end <= c.start < m.start and c.category.startswith("OUTCOME_") for c in s.doc.cues
        ):
            continue  # "PT with no relief ..., and naproxen": a new item, not a component
        if "(" in between:
            if ")" not in between:
                return True  # "PT (core strengthening, stretching, heat)"
            continue
        if _COMPONENT_LEAD.match(between):
            return True
    return False


_PROVIDER_FIELD = re.compile(
    r"^\s*(?:provider|physician|attending|clinician|referring|specialty|department|dept|"
    r"service|clinic|practice|signed|electronically signed|cc|from|to)\b[^:\n]{0,30}:",
    re.I,
)
_ORG_WORD = re.compile(
    r"\b(?:clinic|department|dept|center|centre|associates|institute|group|practice|"
    r"hospital|division|service)\b",
    re.I,
)


def _names_the_provider(s: Sent, m: Mention) -> bool:
    """A specialty in a letterhead or a provider field ("Provider: ... (Family Medicine /
    OMT)", "ORTHOPEDIC SURGERY - SHOULDER CLINIC") names who writes, not a treatment."""
    text = s.doc.text
    start = text.rfind("\n", 0, m.start) + 1
    end = text.find("\n", m.end)
    line = text[start : end if end >= 0 else len(text)]
    if _PROVIDER_FIELD.match(line):
        return True
    if any(
        start <= c.start < start + len(line) and c.category.startswith("OUTCOME_")
        for c in s.doc.cues
    ):
        return False
    return line == line.upper() and bool(_ORG_WORD.search(line))


def _generic_word(s: Sent, m: Mention) -> bool:
    return m.name == "medication" and s.doc.text[m.start : m.end].lower() in GENERIC_WORDS


def _default(m: Mention, s: Sent, status: str | None) -> Outcome:
    item = s.item_of(m)
    if item is not None and item.polarity < 0:
        return "not_tried"  # "[ ] Chiropractic", "PT tried: No"
    if status == "none_before" or (m.negated and item is None):
        return "not_tried"  # "has not tried PT", "no PT to date"
    if s.section == "medications":
        return "ongoing"
    return "unknown"


def _field_label_of_injectate(s: Sent, m: Mention) -> bool:
    """ "Medication: 1% lidocaine 3 mL" in a procedure template names the injectate."""
    after = s.doc.text[m.end : m.end + 3]
    return after.lstrip().startswith(":") and any(i.start > m.end for i in s.labelled("injectate"))


def _carried_outcome(sents: list[Sent], i: int, m: Mention) -> Outcome | None:
    """An outcome stated on its own next to the treatments covers them: the sentence right
    after ("Tried PT, naproxen and heat." "None of these helped."), the line after a list of
    treatments, or a lead-in before the list ("No relief from any of the following:")."""
    s = sents[i]
    item = s.item_of(m)
    if item is not None and item.polarity < 0:
        return None
    if not _LIST_ITEM.match(s.text):
        nxt = sents[i + 1] if i + 1 < len(sents) else None
        if nxt is not None and _same_part(s, nxt) and not nxt.labelled("treatment"):
            return orphan_outcome(nxt)
        return None
    for j in range(i + 1, min(len(sents), i + 16)):  # the first line after the list
        nxt = sents[j]
        if not _same_part(s, nxt):
            break
        if _LIST_ITEM.match(nxt.text):
            continue
        return None if nxt.labelled("treatment") else orphan_outcome(nxt)
    for j in range(i - 1, max(-1, i - 16), -1):  # the lead-in before the list
        prev = sents[j]
        if not _same_part(s, prev):
            break
        if _LIST_ITEM.match(prev.text):
            continue
        return None if prev.labelled("treatment") else orphan_outcome(prev)
    return None


def _same_part(a: Sent, b: Sent) -> bool:
    return a.doc is b.doc and a.section == b.section


def _add(
    table: dict[str, Treatment], m: Mention, s: Sent, outcome: Outcome, duration: str | None
) -> None:
    item = table.get(m.name)
    if item is None:
        item = table[m.name] = Treatment(
            name=m.name,
            category=m.category or "noninvasive",
            outcome=outcome,
            duration=duration,
        )
    elif MERGE_ORDER.index(outcome) < MERGE_ORDER.index(item.outcome):
        item.outcome = outcome
        item.duration = duration or item.duration
    add_evidence(item, s.evidence)


def _duration(text: str) -> str | None:
    match = _DURATION.search(text)
    return " ".join(match.group(0).split()) if match else None
