"""The case as the fact families read it: sentences with their mentions, what each ConText cue
that reaches a mention says about it, and where in the notes a sentence stands (which document,
which day, which section, which template item).

A mention's status or outcome is the cue that reaches it and is NEAREST to it (ties broken by a
fixed precedence), never the strongest cue anywhere in the sentence: "PT helped but NSAIDs
failed" gives each treatment its own outcome.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from review.extract.cues import OUTCOME_OF_CATEGORY, OUTCOME_PRECEDENCE, OutcomeReading, nearest
from review.extract.offline.layout import Item, layout_items
from review.schema import Evidence, Fact, Mention, Outcome, ParsedDocument, Reach, Sentence

# --------------------------------------------------------------------------- cue readings


NEGATED_OUTCOME: dict[OutcomeReading | None, OutcomeReading] = {
    "effective": "failed",
    "partial": "failed",
    "high": "low",
    "low": "high",
}
"""A negated outcome cue: a good result denied is a failure; a denied failure, intolerance or
contraindication says nothing we can use ("not contraindicated", "not intolerant")."""
_NEGATED_CUE = re.compile(r"\b(?:not|n't|no longer|never)\s*$", re.I)
_BENEFIT_SUBJECT = re.compile(
    r"\b(relief|improvement|benefit|response|help|effect|difference|success|gains?|progress)\b",
    re.I,
)
_SYMPTOM_SUBJECT = re.compile(
    r"\b(pain|spasms?|symptoms?|tenderness|discomfort|headaches?|stiffness|soreness|ache)\b", re.I
)


def in_scope(m: Mention, reach: Reach, text: str) -> bool:
    """Parentheses keep their cues to their head: "naproxen (stopped - CKD 3a) and tizanidine"
    says nothing about tizanidine. A cue inside a parenthesis reaches a mention inside it or the
    mention right before it; a mention inside a parenthesis is reached from outside only by
    what its head takes."""
    cue_paren = _paren_around(text, reach.start)
    if cue_paren is None:
        return True
    if cue_paren[0] <= m.start < cue_paren[1]:
        return True
    return m.end <= cue_paren[0] and not text[m.end : cue_paren[0]].strip(" -,:")


_SCORE_CHANGE = re.compile(
    r"\b(\d{1,2}(?:\.\d)?)\s*/\s*10\s*(?:to|->|→|-|down to|now)\s*(\d{1,2}(?:\.\d)?)\s*/\s*10\b"
)


def _score_change(clause: str) -> Outcome | None:
    """A pain score before and after ("brought the pain from 7/10 to 5/10"): no fall is a
    failure, a fall to 2/10 or less (or by 70%) works, anything between is partial."""
    hit = _SCORE_CHANGE.search(clause)
    if hit is None:
        return None
    before, after = float(hit.group(1)), float(hit.group(2))
    if before > 10 or after > 10:
        return None
    if after >= before:
        return "failed"
    if after <= 2 or after <= 0.3 * before:
        return "effective"
    return "partial"


def _paren_around(text: str, offset: int) -> tuple[int, int] | None:
    open_at = text.rfind("(", max(0, offset - 120), offset)
    if open_at == -1 or ")" in text[open_at:offset]:
        return None
    close_at = text.find(")", offset, offset + 200)
    return (open_at, close_at + 1) if close_at != -1 else None


def outcome_cue(m: Mention, s: Sent) -> tuple[Outcome | None, Reach | None]:
    """How the treatment (or earlier injection) went, by the nearest outcome cue. A predicate
    whose sense depends on its subject takes it from its clause: "relief ... was minimal"
    (failed), "pain was minimal after PT" (effective)."""
    reaches = [r for r in m.modifiers if in_scope(m, r, s.doc.text)]
    item = s.item_of(m)
    if item is not None:  # a checkbox line or field is its own scope: "[ ] PT" takes no cue
        lo, hi = item.start, item.end  # from the next line; a field runs to its line's end
        if item.kind != "checkbox":
            lo = s.doc.text.rfind("\n", 0, m.start) + 1
            hi = s.doc.text.find("\n", m.end) % (len(s.doc.text) + 1)
        reaches = [r for r in reaches if lo <= r.start < hi]
    # a cue that contains the mention ("Neither NSAIDs nor PT helped", "Benefit from heat:
    # none") is the nearest of all: ConText does not let a cue modify a target it overlaps
    reaches += [
        Reach(category=c.category, start=c.start, end=c.end, distance=0)
        for c in s.doc.cues
        if c.start < m.start and m.end <= c.end and c.category in OUTCOME_OF_CATEGORY
    ]
    # a parenthesis right after the mention qualifies it ("topiramate (cognitive slowing)")
    own = [r for r in reaches if r.start > m.end and _paren_around(s.doc.text, r.start)]
    value, reach = nearest(own or reaches, OUTCOME_OF_CATEGORY, OUTCOME_PRECEDENCE)
    if reach is not None and reach.end <= m.start and not own:
        # "Lasting response to pregabalin 75 mg was negligible": a predicate after the mention
        # in its clause is what the sentence asserts, over a benefit noun before it
        _start, end = s.clause_of(m.start)
        after = [
            r
            for r in reaches
            if r.category in ("OUTCOME_LOW", "OUTCOME_HIGH") and m.end <= r.start < end
        ]
        if after:
            value, reach = nearest(after, OUTCOME_OF_CATEGORY, OUTCOME_PRECEDENCE)
    if reach is None:
        return _score_change(s.clause_text(m)), None
    if _NEGATED_CUE.search(s.doc.text[max(s.sentence.start, reach.start - 12) : reach.start]):
        # "not contraindicated", "not effective", "no longer helpful": the cue is negated
        value = NEGATED_OUTCOME.get(value)
        if value is None:
            return None, None
    if value != "low" and value != "high":
        return value, reach
    clause = s.clause_before(reach.start)
    benefit = _BENEFIT_SUBJECT.search(clause)
    symptom = _SYMPTOM_SUBJECT.search(clause)
    if benefit and (not symptom or benefit.start() > symptom.start()):
        return ("failed" if value == "low" else "effective"), reach
    if symptom:
        return ("effective" if value == "low" else "failed"), reach
    return None, None


def orphan_outcome(s: Sent) -> Outcome | None:
    """The outcome a sentence without treatments states, as its subject composes it."""
    for cue in s.doc.cues:
        if cue.sentence != s.sentence.id or cue.category not in OUTCOME_OF_CATEGORY:
            continue
        probe = Mention(
            label="treatment",
            name="",
            start=cue.end,
            end=cue.end,
            sentence=s.sentence.id,
            modifiers=[Reach(category=cue.category, start=cue.start, end=cue.end, distance=0)],
        )
        value, _ = outcome_cue(probe, s)
        if value and value != "ongoing":
            return value
    return None


# --------------------------------------------------------------------------- sentences


@dataclass(eq=False)
class Sent:
    """A sentence, the mentions inside it and where it stands."""

    doc: ParsedDocument
    sentence: Sentence
    mentions: list[Mention]
    index: int  # order across the whole case
    day: str  # "today" | "earlier" | "later" | "undated": the document's date vs the service
    section: str | None = None  # the parsed section, or "procedure" inside a procedure block
    text: str = ""
    evidence: Evidence | None = None
    by_label: dict[str, list[Mention]] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    breaks: list[int] = field(default_factory=list)  # clause-break offsets (";", "but", "|")

    def labelled(self, label: str) -> list[Mention]:
        return self.by_label.get(label, [])

    def named(self, label: str, *names: str) -> list[Mention]:
        return [m for m in self.by_label.get(label, []) if m.name in names]

    def item_of(self, m: Mention) -> Item | None:
        for item in self.items:
            if item.start <= m.start < item.end:
                return item
        return None

    def clause_of(self, offset: int) -> tuple[int, int]:
        """The clause (between clause breaks) holding a document offset."""
        start, end = self.sentence.start, self.sentence.end
        for b in self.breaks:
            if b <= offset:
                start = max(start, b)
            elif b < end:
                end = b
        return start, end

    def clause_before(self, offset: int) -> str:
        start, _ = self.clause_of(offset)
        return self.doc.text[start:offset]

    def clause_text(self, m: Mention) -> str:
        start, end = self.clause_of(m.start)
        return self.doc.text[start:end]

    def same_clause(self, a: Mention, b: Mention) -> bool:
        return self.clause_of(a.start) == self.clause_of(b.start)

    @property
    def about_today(self) -> bool:
        return self.day in ("today", "undated")


def usable(m: Mention) -> bool:
    """Neither negated nor hypothetical nor about a relative."""
    return not (m.negated or m.hypothetical or m.family)


def read_case(parsed: list[ParsedDocument], dos: dt.date | None) -> list[Sent]:
    """Every sentence of every document, in order, with what the fact families need."""
    out: list[Sent] = []
    for doc in parsed:
        day = _day(doc, dos, len(parsed))
        by_sentence: dict[int, list[Mention]] = defaultdict(list)
        for m in doc.mentions:
            by_sentence[m.sentence].append(m)
        breaks_by_sentence: dict[int, list[int]] = defaultdict(list)
        for cue in doc.cues:
            if cue.category in ("CLAUSE_BREAK", "FIELD_BREAK"):
                breaks_by_sentence[cue.sentence].append(cue.start)
        items = layout_items(doc.text)
        for sentence in doc.sentences:
            mentions = sorted(by_sentence.get(sentence.id, []), key=lambda m: m.start)
            text = doc.sentence_text(sentence)
            s = Sent(
                doc=doc,
                sentence=sentence,
                mentions=mentions,
                index=len(out),
                day=day,
                section=sentence.section,
                text=text,
                evidence=Evidence(
                    document_id=doc.document_id, start=sentence.start, end=sentence.end, text=text
                ),
                items=[i for i in items if i.start < sentence.end and i.end > sentence.start],
                breaks=sorted(breaks_by_sentence.get(sentence.id, [])),
            )
            for m in mentions:
                s.by_label.setdefault(m.label, []).append(m)
            out.append(s)
    return out


def _day(doc: ParsedDocument, dos: dt.date | None, documents: int) -> str:
    if doc.date is None or dos is None:
        return "undated"
    if doc.date < dos:
        return "earlier"
    return "today" if doc.date == dos else "later"


# --------------------------------------------------------------------------- dates

_NUMERIC_DATE = re.compile(r"\b(?P<m>\d{1,2})/(?:(?P<d>\d{1,2})/)?(?P<y>\d{4}|\d{2})\b")
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")
_MONTH_YEAR = re.compile(
    r"\b(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+(?P<y>\d{4})\b",
    re.I,
)
_YEAR = re.compile(r"\b(?:in|during|since)\s+(?P<y>(?:19|20)\d{2})\b", re.I)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def dates_in(text: str, base: int = 0) -> list[tuple[int, int, dt.date, str]]:
    """Dates written in a text: (start, end, date, grain), grain "day", "month" or "year"
    (a month or year alone is dated to its first day)."""
    out = []
    for match in _NUMERIC_DATE.finditer(text):
        year = int(match.group("y")) + (2000 if len(match.group("y")) == 2 else 0)
        day = match.group("d")
        try:
            when = dt.date(year, int(match.group("m")), int(day) if day else 1)
        except ValueError:
            continue
        out.append((base + match.start(), base + match.end(), when, "day" if day else "month"))
    for match in _ISO_DATE.finditer(text):
        try:
            when = dt.date(int(match.group("y")), int(match.group("m")), int(match.group("d")))
        except ValueError:
            continue
        out.append((base + match.start(), base + match.end(), when, "day"))
    for match in _MONTH_YEAR.finditer(text):
        month = _MONTHS.index(match.group("mon")[:3].lower()) + 1
        out.append(
            (
                base + match.start(),
                base + match.end(),
                dt.date(int(match.group("y")), month, 1),
                "month",
            )
        )
    for match in _YEAR.finditer(text):
        out.append(
            (base + match.start(), base + match.end(), dt.date(int(match.group("y")), 1, 1), "year")
        )
    return sorted(out)


def before_service(when: dt.date, grain: str, dos: dt.date | None) -> bool:
    """The date lies before the date of service at its own grain (March 2026 is not before
    2026-03-14; February 2026 is)."""
    if dos is None:
        return False
    if grain == "day":
        return when < dos
    if grain == "month":
        return (when.year, when.month) < (dos.year, dos.month)
    return when.year < dos.year


# --------------------------------------------------------------------------- evidence and order


def evidence_of(sents: Iterable[Sent]) -> list[Evidence]:
    out: list[Evidence] = []
    seen: set[tuple[str, int, int]] = set()
    for s in sents:
        ev = s.evidence
        if ev is not None and (key := (ev.document_id, ev.start, ev.end)) not in seen:
            seen.add(key)
            out.append(ev)
    return out


def add_evidence(fact: Fact | list[Evidence], ev: Evidence | None) -> None:
    items = fact.evidence if isinstance(fact, Fact) else fact
    if ev is not None and all(
        (e.document_id, e.start, e.end) != (ev.document_id, ev.start, ev.end) for e in items
    ):
        items.append(ev)
