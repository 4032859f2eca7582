"""Earlier trigger point injections and how the patient responded, the session count a note
states, and (in diagnoses.py terms) nothing else.

An earlier injection is a trigger point injection mention read as historical (a cue such as
"last", "previous", "3 months ago", a date before the service, an earlier note), or today's
repeat injection whose sentence says how the last one went. The response: numbers first (a
percentage of relief, a pain score that fell), then the outcome cue nearest to the mention.
"""

from __future__ import annotations

import re

from review.extract.offline.reading import Sent, add_evidence, orphan_outcome, outcome_cue
from review.extract.offline.status import ProcedureReading
from review.extract.offline.treatments import _duration
from review.schema import Facts, PriorInjection, PriorResponse

_REPEAT = re.compile(r"\b(repeat|again|another (?:round|set|series)|re-?inject\w*)\b", re.I)
_PERCENT = re.compile(r"\b(\d{1,3})\s?%\s*(?:relief|improvement|reduction|better|decrease)", re.I)
_PERCENT_ALT = re.compile(
    r"(?:relief|improvement|reduction|better)\s+(?:of\s+)?(?:about\s+)?(\d{1,3})\s?%", re.I
)
_PAIN_CHANGE = re.compile(
    r"\b(\d{1,2})\s?/\s?10\b.{0,40}?\b(?:to|down to|->)\s*(\d{1,2})\s?/\s?10\b", re.I
)
_DATE = re.compile(
    r"\b(\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{4})\b",
    re.I,
)
_SESSION_ORDINAL = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)\s+(?:tpi\s+|trigger point\s+|injection\s+)*(?:session|set|series|round)"
    r"[^.;]{0,40}?\b(?:12|twelve)\s+months\b",
    re.I,
)
_LIST_START = re.compile(r"^\s*(?:\d{1,2}[.)]|#\d{1,2}|[-*\u2022]|[a-z][.)])\s")


def read_prior_injections(facts: Facts, sents: list[Sent], procedure: ProcedureReading) -> None:
    by_sentence: dict[int, list] = {}
    for e in procedure.events:
        if e.mention.name == "trigger_point_injection":
            by_sentence.setdefault(e.sent.index, []).append(e)
    for index, events in sorted(by_sentence.items()):
        s = sents[index]
        earlier = any(e.status == "historical" for e in events)
        repeat_today = any(e.status == "performed" for e in events) and _REPEAT.search(s.text)
        if not (earlier or repeat_today):
            continue
        context = _context(sents, index)
        text = " ".join(c.text for c in context)
        percent = _PERCENT.search(text) or _PERCENT_ALT.search(text)
        pain = _PAIN_CHANGE.search(text)
        outcomes = [outcome_cue(e.mention, s)[0] for e in events]
        outcomes += [
            outcome_cue(m, c)[0]
            for c in context[1:]
            for m in c.labelled("procedure")
            if m.name in ("trigger_point_injection", "injection_verb")
        ]
        # "Has had 3 prior TPIs ... Pt reports no relief after any of them": the next
        # sentence's outcome, with no treatment of its own, is about the injections
        outcomes += [
            orphan_outcome(c)
            for c in context[1:]
            if not c.labelled("treatment") and not c.labelled("procedure")
        ]
        # numbers outrank words: "after failing PT ... about 70% relief" is an improvement
        response: PriorResponse
        if percent:
            response = "improved" if int(percent.group(1)) > 0 else "no_relief"
        elif pain and int(pain.group(2)) < int(pain.group(1)):
            response = "improved"
        elif "failed" in outcomes:
            response = "no_relief"
        elif any(o in ("effective", "partial") for o in outcomes):
            response = "improved"
        else:
            response = "unknown"
        if not earlier and response == "unknown":
            continue  # "repeat TPI today" with no word on the last one: nothing to record here
        dates: list[str | None] = list(dict.fromkeys(m.group(0) for m in _DATE.finditer(text))) or [
            None
        ]
        for date in dates:  # a log of earlier sessions: one record per dated session
            facts.prior_injections.append(
                PriorInjection(
                    date=date,
                    muscles=sorted({m.name for c in context for m in c.labelled("muscle")}),
                    response=response,
                    percent_relief=int(percent.group(1)) if percent else None,
                    duration=_duration(text),
                    evidence=[c.evidence for c in context if c.evidence],
                )
            )
    for s in sents:
        ordinal = _SESSION_ORDINAL.search(s.text)
        if ordinal and not any(e.status == "planned" for e in procedure.events if e.sent is s):
            number = int(ordinal.group(1))
            if facts.stated_session_number is None or number > facts.stated_session_number:
                facts.stated_session_number = number
            add_evidence(facts.stated_session_evidence, s.evidence)


def _context(sents: list[Sent], index: int) -> list[Sent]:
    """The sentence, and the next one or a whole log of list items after it."""
    s = sents[index]
    context = [s]
    for nxt in sents[index + 1 :]:
        if nxt.doc is not s.doc or (nxt.labelled("procedure") and not _LIST_START.match(nxt.text)):
            break
        context.append(nxt)
        if not _LIST_START.match(nxt.text):
            break
    return context
