"""Offline extractor: lexicon mentions + ConText flags + a few local patterns -> Facts.

No model, no network. Every fact cites the sentence(s) it came from, as exact character spans.
The logic reads sentence by sentence: first decide what a sentence talks about (today's injection,
a plan, an earlier injection, an exam, a prior treatment), then read the mentions inside it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from review.lexicon import entry_attributes
from review.parse import LIST_ITEM as _LIST_START
from review.schema import (
    Evidence,
    ExamFinding,
    ExcludedService,
    Fact,
    Facts,
    Injectate,
    InjectedMuscle,
    InjectedRegion,
    Mention,
    NoteDiagnosis,
    ParsedDocument,
    PriorInjection,
    Sentence,
    Treatment,
)

_PERFORMED = re.compile(
    r"\b(performed|injected|infiltrated|administered|completed|tolerated|placed|inserted|"
    r"was done|were done|were given|was given|received|today|this visit|underwent)\b",
    re.I,
)
_PLANNED = re.compile(
    r"\b(will|plan(?:s|ned)?|schedul\w*|next (?:visit|week|appointment)|consider\w*|recommend\w*|"
    r"candidate|return for|would like|discuss\w*|offered|may benefit|if (?:no|symptoms))\b",
    re.I,
)
_HISTORICAL = re.compile(
    r"\b(previous(?:ly)?|prior|last (?:visit|injection|session|time|tpi|month|week)|ago|in the past|"
    r"had (?:a |an |her |his )?(?:trigger|tpi|injection)|has had|s/p|status post|"
    r"underwent .* (?:on|in) \d|response to (?:the |her |his )?(?:first|last|previous|prior|initial)|"
    r"past (?:year|\d+ months|twelve months)|\blog\b)",
    re.I,
)
_DONE = re.compile(
    r"\b(performed|injected|infiltrated|administered|completed|was done|were done|was given|were given|underwent)\b",
    re.I,
)
_CONDITIONAL = re.compile(r"\b(consider\w*|if|may|might|possibl\w*|would|could|option)\b", re.I)
_TODAY = re.compile(r"\b(today|this visit|this morning|this afternoon)\b", re.I)
_HEADING_PREFIX = re.compile(r"^\s*[A-Za-z][A-Za-z /&-]{0,40}:\s*")
_SESSION_ORDINAL = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)\s+(?:tpi\s+|trigger point\s+|injection\s+)*(?:session|set|series|round)"
    r"[^.;]{0,40}?\b(?:12|twelve)\s+months\b",
    re.I,
)
_REPEAT = re.compile(r"\b(repeat|again|another (?:round|set|series)|re-?inject\w*)\b", re.I)
_SIDE_WORD = re.compile(
    r"\b(left|right|bilateral(?:ly)?|both|lt|rt|b/l|bilat|(?<![\w/])[LR](?![\w/]))\b", re.I
)
_SIDE_AFTER = re.compile(
    r"^[\s,]*(?:muscles?\s+)?(?:\(\s*([LRB])\s*\)|(bilaterally|bilateral|on both sides|on the left|"
    r"on the right|on left|on right|left-sided|right-sided|,? left|,? right))",
    re.I,
)
_DOSE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|mg/ml|mg|ml|cc|mcg|units?|u\b|iu)(?![a-z])", re.I)
_COUNT_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_NUMBER = r"(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_SITES = re.compile(
    _NUMBER
    + r"\s*(?:separate\s+|distinct\s+)?(?:trigger\s+points?|TrPs?|points?|sites?)\b(?!\s*(?:of|per))"
    r"|\bx\s?(\d{1,2})\b(?!\s*(?:muscles?|wks?|weeks?|mos?|months?|days?|mg|ml|cc|mm|cm|min|minutes?|sec|"
    r"seconds?|hours?|hrs?|yrs?|years?|/))",
    re.I,
)
_SITES_IN = re.compile(r"\b(\d)\s+in\s+(?:the\s+)?(?:[LR]\b|left|right|bilateral)?", re.I)
_SITES_TOTAL = re.compile(
    r"\btotal\s+(?:of\s+)?"
    + _NUMBER
    + r"\s+(?:trigger\s+points?|TrPs?|points?|sites?|injections?)\b"
    r"|\b"
    + _NUMBER
    + r"\s+(?:trigger\s+points?|TrPs?|points?|sites?|injections?)\s+(?:in\s+)?total\b",
    re.I,
)
_EACH_SIDE = re.compile(r"\s*\)?\s*(?:each side|per side|on each side)\b", re.I)
_DURATION = re.compile(
    r"\b(?:for|x|lasting|lasted)\s+(?:about\s+|approximately\s+|nearly\s+|almost\s+|~\s?)?"
    r"(\d+|one|two|three|four|five|six|several|a few|a couple of)\s*-?\s*(days?|weeks?|wks?|months?|mos?|years?)\b",
    re.I,
)
_PERCENT = re.compile(r"\b(\d{1,3})\s?%\s*(?:relief|improvement|reduction|better|decrease)", re.I)
_PERCENT_ALT = re.compile(
    r"(?:relief|improvement|reduction|better)\s+(?:of\s+)?(?:about\s+)?(\d{1,3})\s?%", re.I
)
_PAIN_CHANGE = re.compile(
    r"\b(\d{1,2})\s?/\s?10\b.{0,40}?\b(?:to|down to|->)\s*(\d{1,2})\s?/\s?10\b", re.I
)
_ICD10 = re.compile(r"\b([A-TV-Z]\d{2}\.[0-9A-Z]{1,4})\b")
_RATIONALE = re.compile(
    r"\b(rationale|medically necessary|medical necessity|necessary because|justif\w+|"
    r"although (?:this|the) diagnosis is not|not on the (?:covered|listed)|unlisted)\b",
    re.I,
)
_NUMERIC_DATE = re.compile(r"\b(?P<m>\d{1,2})/(?:(?P<d>\d{1,2})/)?(?P<y>\d{4}|\d{2})\b")
_DATE = re.compile(
    r"\b(\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{4})\b",
    re.I,
)

EXCLUDED_TREATMENTS = {"acupuncture": "acupuncture", "dry_needling": "dry_needling"}
EXCLUDED_INJECTATES = {"botulinum_toxin": "botulinum_toxin", "proliferant": "prolotherapy"}


@dataclass
class _Sent:
    """A sentence with the mentions inside it and what it is about."""

    doc: ParsedDocument
    sentence: Sentence
    mentions: list[Mention]
    mode: str = "neutral"  # performed | planned | historical | negated | neutral
    section: str | None = None  # the parsed section, or "procedure" inside a procedure block
    continues: _Sent | None = None  # a list item continuing this injection sentence
    text: str = ""
    evidence: Evidence | None = None
    by_label: dict[str, list[Mention]] = field(default_factory=dict)


def extract_facts(
    parsed: list[ParsedDocument],
    date_of_service: dt.date | None = None,
    tpi_billed: bool = False,
) -> Facts:
    """Read every parsed document of a case into one Facts object.

    ``tpi_billed``: the claim bills 20552/20553, so an injection into muscle documented for the
    date of service is taken as the billed service even when the note never says "trigger point"
    (the rules then judge it); without a claim, only trigger point wording counts."""
    sents = [s for doc in parsed for s in _sentences(doc, date_of_service)]
    _procedure_narratives(sents, date_of_service)
    _procedure_blocks(sents, date_of_service)
    _continue_lists(sents)
    facts = Facts()
    performed = [s for s in sents if s.mode == "performed"]
    _procedure(facts, sents, performed, tpi_billed)
    _sites(facts, sents)
    _injectate(facts, sents)
    _exam(facts, sents)
    _treatments(facts, sents)
    _prior_injections(facts, sents)
    _diagnoses(facts, sents)
    _excluded(facts, sents)
    _other_service_only(facts, sents)
    return sort_facts(facts)


def _procedure_blocks(sents: list[_Sent], dos: dt.date | None) -> None:
    """A note without a procedure heading ("P: TPI performed today." then the details) still has a
    procedure block: the rest of that section reads as procedure text."""
    block: tuple[str, str | None] | None = None
    for s in sents:
        here = (s.doc.document_id, s.section)
        if block == here and s.section != "procedure":
            s.section = "procedure"
            _set_mode(s, dos)
            continue
        block = None
        tpi = any(m.name == "trigger_point_injection" for m in s.by_label.get("procedure", []))
        if s.mode == "performed" and tpi and s.section not in ("procedure",):
            block = here


def _procedure_narratives(sents: list[_Sent], dos: dt.date | None) -> None:
    """A procedure told inside the plan (or an untitled part) of a note: consent, prep, needle,
    "injected ... 40 mg". When a section holds two such detail sentences and an injection with a
    dose, it reads as procedure text from the first sentence naming the procedure on."""
    groups: dict[tuple[str, str | None], list[_Sent]] = defaultdict(list)
    for s in sents:
        if s.section in _NARRATIVE_SECTIONS:
            groups[(s.doc.document_id, s.section)].append(s)
    for group in groups.values():
        details = [s for s in group if _DETAIL.search(s.text)]
        stated = any(  # "P: Trigger point injections, 3 muscles: ..." with no future word
            _names_tpi(s) and not _PLANNED.search(_HEADING_PREFIX.sub("", s.text)) for s in group
        )
        dosed = [s for s in group if s.by_label.get("injectate") and _DOSE.search(s.text)]
        enough = len(details) >= (1 if stated else 2)
        if not enough or not dosed or dosed[0].mode in ("planned", "negated", "historical"):
            continue
        first = next(
            i
            for i, s in enumerate(group)
            if s in details or _injection_mentions(s) or s.by_label.get("excluded_service")
        )
        for s in group[first:]:
            if (
                s.by_label.get("treatment")
                and not _injection_mentions(s)
                and not s.by_label.get("injectate")
            ):
                continue  # "- Continue PT and HEP": a plan item, not the procedure
            s.section = "procedure"
            _set_mode(s, dos)


_NARRATIVE_SECTIONS = (None, "plan", "assessment", "diagnoses")
_DETAIL = re.compile(
    r"\b(consent\w*|prepped|prep|chlorhexidine|povidone|betadine|alcohol|needle|aspirat\w*|tolerated|"
    r"tol well|complications|band-?aids?|hemostasis|sterile)\b",
    re.I,
)


def _continue_lists(sents: list[_Sent]) -> None:
    """List items naming muscles right after today's injection sentence ("injected:" then
    "- R QL: 3 points") are injection sites too."""
    for prev, s in itertools.pairwise(sents):
        if (
            s.mode == "neutral"
            and prev.doc is s.doc
            and prev.mode == "performed"
            and _LIST_START.match(s.text)
            and s.by_label.get("muscle")
            and not s.by_label.get("treatment")
        ):
            s.mode = "performed"
            s.continues = prev


def _other_service_only(facts: Facts, sents: list[_Sent]) -> None:
    """A nerve block, joint, tendon sheath or ligament injection with no trigger point injection
    documented as performed: the muscles named are landmarks, not injection sites."""
    if not any(e.performed and e.kind in NON_MUSCLE_SERVICES for e in facts.excluded_services):
        return
    tpi_done = any(
        s.mode == "performed"
        and any(
            m.name == "trigger_point_injection" and _usable(m)
            for m in s.by_label.get("procedure", [])
        )
        for s in sents
    )
    if not tpi_done:
        facts.procedure_performed = False
        facts.procedure_status = "other_service"
        facts.procedure_evidence = []
        facts.injected_muscles = []
        facts.injected_regions = []


# --------------------------------------------------------------------------- sentence modes


def _sentences(doc: ParsedDocument, dos: dt.date | None) -> Iterable[_Sent]:
    by_sentence: dict[int, list[Mention]] = defaultdict(list)
    for m in doc.mentions:
        by_sentence[m.sentence].append(m)
    for sentence in doc.sentences:
        mentions = sorted(by_sentence.get(sentence.id, []), key=lambda m: m.start)
        text = doc.sentence_text(sentence)
        s = _Sent(
            doc=doc, sentence=sentence, mentions=mentions, text=text, section=sentence.section
        )
        s.evidence = Evidence(
            document_id=doc.document_id, start=sentence.start, end=sentence.end, text=text
        )
        for m in mentions:
            s.by_label.setdefault(m.label, []).append(m)
        _set_mode(s, dos)
        yield s


def _set_mode(s: _Sent, dos: dt.date | None) -> None:
    s.mode = _mode(s)
    if s.mode in ("performed", "neutral") and _injection_mentions(s) and _dated_before(s.text, dos):
        s.mode = "historical"  # "First TPI on 11/18/2025 ..." in today's note
    if s.mode == "performed" and dos is not None and s.doc.date is not None and s.doc.date < dos:
        s.mode = "historical"  # a procedure note from an earlier visit


def _dated_before(text: str, dos: dt.date | None) -> bool:
    """The sentence carries a date earlier than the date of service."""
    if dos is None:
        return False
    for match in _NUMERIC_DATE.finditer(text):
        month, day, year = match.group("m"), match.group("d"), match.group("y")
        year_n = int(year) + (2000 if len(year) == 2 else 0)
        try:
            when = dt.date(year_n, int(month), int(day) if day else 1)
        except ValueError:
            continue
        if when < dos.replace(day=1) if not day else when < dos:
            return True
    return False


NEEDLE_SERVICES = {"acupuncture", "dry_needling", "electrical_stimulation", "botulinum_toxin"}
"""Excluded services that still put needles into muscles: their sentences name injected muscles."""
NON_MUSCLE_SERVICES = {
    "joint_injection",
    "bursa_injection",
    "tendon_sheath_injection",
    "nerve_block",
    "epidural",
    "trigger_finger",
    "prolotherapy",
}
"""Excluded services whose needle goes elsewhere (joint, nerve, tendon sheath, ligament)."""


def _injection_mentions(s: _Sent) -> list[Mention]:
    out = [
        m
        for m in s.by_label.get("procedure", [])
        if m.name in ("trigger_point_injection", "injection_verb")
    ]
    out += [m for m in s.by_label.get("excluded_service", []) if m.name in NEEDLE_SERVICES]
    out += [m for m in s.by_label.get("treatment", []) if m.name in EXCLUDED_TREATMENTS]
    return out


def _mode(s: _Sent) -> str:
    """What an injection sentence reports: today's procedure, a plan, an earlier one, or none."""
    injections = [m for m in _injection_mentions(s) if not m.family]
    section = s.section
    in_procedure = section == "procedure"
    text = _HEADING_PREFIX.sub("", s.text)  # "Plan: TPI were performed today" is no plan
    performed_cue = bool(_PERFORMED.search(text))
    today = bool(_DONE.search(text)) and bool(
        _TODAY.search(text)
    )  # "performed today" outranks a plan
    if not injections:
        site_only = (
            in_procedure
            and s.by_label.get("muscle")
            and not s.by_label.get("treatment")
            and not s.by_label.get("exam_finding")
            and not _PLANNED.search(text)
        )
        return "performed" if site_only else "neutral"
    if all(m.negated for m in injections):
        return "negated"
    if any(m.hypothetical for m in injections) or (section == "plan" and not performed_cue):
        return "planned" if not today else "performed"
    if _PLANNED.search(text) and not ((in_procedure or today) and performed_cue):
        return "planned"
    if any(m.historical for m in injections) or _HISTORICAL.search(text):
        return "performed" if today or (in_procedure and "today" in text.lower()) else "historical"
    if section in ("past_history", "medications"):
        return "historical"
    if in_procedure or performed_cue:
        return "performed"
    if s.by_label.get("injectate") and _DOSE.search(text):
        return "performed"  # "TPI L upper trap x1 pt, 2cc 1% lido."
    if s.doc.kind == "procedure_note" and section in (None, "unknown", "assessment", "indications"):
        return "performed" if section != "indications" else "neutral"
    return "neutral"


def _names_tpi(s: _Sent) -> bool:
    """The sentence is about a trigger point procedure: TPI wording, trigger points with an
    injection verb, or a needle service (dry needling, acupuncture) into trigger points."""
    names = {m.name for m in s.by_label.get("procedure", []) if _usable(m)}
    if s.continues is not None:  # "Injected today with 1% lidocaine:" / "- R QL, 3 trigger points"
        names |= {m.name for m in s.continues.by_label.get("procedure", []) if _usable(m)}
    if "trigger_point_injection" in names or {"trigger_point", "injection_verb"} <= names:
        return True
    needles = [
        m
        for m in s.by_label.get("excluded_service", [])
        if m.name in NEEDLE_SERVICES - {"botulinum_toxin"}
    ]
    needles += [m for m in s.by_label.get("treatment", []) if m.name in EXCLUDED_TREATMENTS]
    return any(_usable(m) for m in needles)


def _usable(m: Mention) -> bool:
    return not (m.negated or m.hypothetical or m.family)


# --------------------------------------------------------------------------- procedure and sites


def _procedure(facts: Facts, sents: list[_Sent], performed: list[_Sent], tpi_billed: bool) -> None:
    tpi = [
        s
        for s in sents
        if any(m.name == "trigger_point_injection" for m in s.by_label.get("procedure", []))
    ]
    done = [
        s for s in performed if _injection_mentions(s) or s.section == "procedure" or s.continues
    ]
    tpi_done = [s for s in done if _names_tpi(s)]
    if not tpi_done and tpi_billed and any(_injection_mentions(s) for s in done):
        tpi_done = [
            s
            for s in done
            if (s.by_label.get("muscle") or s.by_label.get("region"))
            and not any(m.family for m in s.mentions)
        ]
    if tpi_done:
        facts.procedure_performed = True
        facts.procedure_status = "performed"
        facts.procedure_evidence = _evidence(tpi_done)
    else:
        done = []  # injections today, but none into trigger points: no injected muscles either
        for status in ("planned", "historical", "negated"):
            hits = [s for s in tpi if s.mode == status]
            if hits:
                facts.procedure_status = status  # type: ignore[assignment]
                facts.procedure_evidence = _evidence(hits)
                break
    muscles = entry_attributes("muscles")
    regions = entry_attributes("regions")
    found_muscles: dict[str, InjectedMuscle] = {}
    found_regions: dict[str, InjectedRegion] = {}
    for s in done:
        exam_only = s.by_label.get("exam_finding") and not _injection_mentions(s)
        if exam_only:
            continue
        sides = _sides(s)
        for m in s.by_label.get("muscle", []):
            if not _usable(m) or (m.historical and s.section != "procedure") or _landmark(s, m):
                continue
            entry = muscles.get(m.name)
            item = found_muscles.setdefault(
                m.name,
                InjectedMuscle(
                    name=m.name, side=sides[m.start], body_area=entry.body_area if entry else None
                ),
            )
            item.side = merge_side(item.side, sides[m.start])
            _add_evidence(item.evidence, s.evidence)
        for m in s.by_label.get("region", []):
            if not _usable(m):
                continue
            if s.by_label.get("muscle"):
                continue  # the sentence names the muscle too: the region only qualifies it
            entry = regions.get(m.name)
            item_r = found_regions.setdefault(
                m.name,
                InjectedRegion(
                    name=m.name, side=sides[m.start], body_area=entry.body_area if entry else None
                ),
            )
            item_r.side = merge_side(item_r.side, sides[m.start])
            _add_evidence(item_r.evidence, s.evidence)
    facts.injected_muscles = list(found_muscles.values())
    # a region in the same body area as a named muscle describes where that muscle is
    # ("Pelvic Floor Trigger Point Injection" ... "L coccygeus"), not another unnamed site
    areas = {m.body_area for m in found_muscles.values() if m.body_area}
    facts.injected_regions = [
        r for r in found_regions.values() if r.body_area not in areas or not r.body_area
    ]
    for s in performed:
        if s.by_label.get("procedure"):
            for m in s.by_label["procedure"]:
                if m.name == "imaging_guidance" and _usable(m):
                    facts.imaging_guidance = True
                    _add_evidence(facts.imaging_evidence, s.evidence)


_LANDMARK_BEFORE = re.compile(
    r"(?:deep to|superficial to|through|beneath|underneath|under|via|traversing|lateral to|medial to|"
    r"adjacent to|overlying|between)\s+(?:the\s+)?(?:\w+\s+){0,2}$",
    re.I,
)


def _landmark(s: _Sent, m: Mention) -> bool:
    """A muscle named as a landmark ("deep to gluteus maximus", "through the deltoid") or as a
    part in parentheses ("levator ani (iliococcygeus)") is not a muscle injected."""
    before = s.doc.text[max(s.sentence.start, m.start - 40) : m.start]
    if _LANDMARK_BEFORE.search(before):
        return True
    previous = [o for o in s.by_label.get("muscle", []) if o.end <= m.start]
    return (
        bool(previous)
        and re.fullmatch(r"\s*\(\s*", s.doc.text[previous[-1].end : m.start]) is not None
    )


def _sides(s: _Sent) -> dict[int, str]:
    """Side of every muscle/region mention in a sentence; a side word carries along a list."""
    out: dict[int, str] = {}
    sites = [m for m in s.mentions if m.label in ("muscle", "region")]
    current = "unspecified"
    base = s.sentence.start
    prev_end = s.sentence.start
    for m in sites:
        before = s.doc.text[prev_end : m.start]
        words = _SIDE_WORD.findall(before)
        if words:
            current = _side_of(words[-1])
            if re.search(
                r"\b(left|lt|l)\b.{0,12}\b(and|&|/)\s*(right|rt|r)\b|\b(right|rt|r)\b.{0,12}\b(and|&|/)\s*(left|lt|l)\b",
                before,
                re.I,
            ):
                current = "bilateral"
        elif re.search(r"[;.]", before):
            current = "unspecified"
        out[m.start] = current
        prev_end = m.end
    # a trailing "bilaterally" / "(L)" applies to the sites before it that had no side
    for i, m in enumerate(sites):
        nxt = sites[i + 1].start if i + 1 < len(sites) else s.sentence.end
        after = _SIDE_AFTER.match(s.doc.text[m.end : nxt])
        if after:
            side = _side_of(after.group(1) or after.group(2))
            for prev in sites[: i + 1]:
                if out[prev.start] == "unspecified" or prev is m:
                    out[prev.start] = side
    del base
    return out


def _side_of(word: str) -> str:
    w = word.lower().strip(" ,-").replace("on the ", "").replace("on ", "").replace("-sided", "")
    if w in ("left", "lt", "l"):
        return "left"
    if w in ("right", "rt", "r"):
        return "right"
    return "bilateral"


def merge_side(a: str, b: str) -> str:
    if a == b or b == "unspecified":
        return a
    if a == "unspecified":
        return b
    return "bilateral"


def _sites(facts: Facts, sents: list[_Sent]) -> None:
    """Injection points today: a stated total wins ("total of 5 trigger points"), else the sum of
    per-muscle counts ("2 TrPs", "x2", "2 in the L upper trapezius", "2 points each side")."""
    if not facts.procedure_performed:
        if facts.procedure_status in ("planned", "historical", "negated", "not_mentioned"):
            facts.injection_sites = 0  # no injection today
        return
    total: int | None = None
    counted = 0
    for s in sents:
        if s.mode != "performed" or (
            s.section != "procedure" and not _injection_mentions(s) and not s.continues
        ):
            continue
        for match in _SITES_TOTAL.finditer(s.text):
            total = max(total or 0, _count(next(g for g in match.groups() if g)))
        if _SITES_TOTAL.search(s.text):
            continue
        inside = [(m.start(), m.end()) for m in re.finditer(r"\([^)]*\)", s.text)]
        matches = list(
            _SITES.finditer(s.text)
        ) + [  # "(2 in L rhomboids, 1 in ...)" restates a count
            m for m in _SITES_IN.finditer(s.text) if not any(a <= m.start() < b for a, b in inside)
        ]
        for match in matches:
            n = _count(next(g for g in match.groups() if g))
            tail = s.text[match.end() : match.end() + 20]
            counted += n * 2 if _EACH_SIDE.match(tail) else n
    facts.injection_sites = total or counted or None


def _count(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else _COUNT_WORDS[word]


# --------------------------------------------------------------------------- injectate


_DOSE_GAP = re.compile(
    r"(?:\s|,|\(|\)|of|\d+(?:\.\d+)?\s?(?:%|mg/ml|mg|ml|cc|mcg|units?|u|iu)(?![a-z]))*", re.I
)


def _assign_doses(s: _Sent, agents: list[Mention]) -> dict[int, list[str]]:
    """Each amount goes to one agent: the one it reads into ("3 mL of 1% lidocaine"), else the one
    it follows ("lidocaine 1%, 2 mL"), else the nearest within 30 characters."""
    text = s.doc.text
    out: dict[int, list[str]] = {}
    for match in _DOSE.finditer(text, s.sentence.start, s.sentence.end):
        after = next((m for m in agents if m.start >= match.end()), None)
        before = next((m for m in reversed(agents) if m.end <= match.start()), None)
        owner = None
        if after is not None and _DOSE_GAP.fullmatch(text[match.end() : after.start]):
            owner = after
        elif before is not None and _DOSE_GAP.fullmatch(text[before.end : match.start()]):
            owner = before
        else:
            near = [
                (after.start - match.end(), after) if after else None,
                (match.start() - before.end, before) if before else None,
            ]
            near = [n for n in near if n is not None and n[0] <= 30]
            owner = min(near, key=lambda n: n[0])[1] if near else None
        if owner is not None:
            out.setdefault(owner.start, []).append(" ".join(match.group(0).split()))
    return out


def _injectate(facts: Facts, sents: list[_Sent]) -> None:
    found: dict[str, Injectate] = {}
    for s in sents:
        if s.mode != "performed" and s.section != "procedure":
            continue
        if s.mode in ("planned", "historical", "negated"):
            continue
        agents = [m for m in s.by_label.get("injectate", []) if _usable(m) and not m.historical]
        doses = _assign_doses(s, agents)
        for m in agents:
            item = found.setdefault(m.name, Injectate(name=m.name, category=m.category or "other"))
            if doses.get(m.start) and item.dose is None:
                item.dose = " ".join(doses[m.start])
            _add_evidence(item.evidence, s.evidence)
    dosed_other = any(i.dose and i.category != "botulinum_toxin" for i in found.values())
    facts.injectate = [
        i
        for i in found.values()
        # "TPI with Botox" in a title while the procedure doses another agent: not injected
        if not (i.category == "botulinum_toxin" and not i.dose and dosed_other)
    ]


# --------------------------------------------------------------------------- exam


def _exam(facts: Facts, sents: list[_Sent]) -> None:
    found: dict[tuple[str, bool], ExamFinding] = {}
    for s in sents:
        if s.section in ("plan", "medications", "allergies", "social_history"):
            continue
        if s.mode in ("planned",):
            continue
        for m in s.by_label.get("exam_finding", []):
            if m.family or m.hypothetical:
                continue
            present = not m.negated  # "no taut band palpated" documents the feature as absent
            item = found.setdefault((m.name, present), ExamFinding(kind=m.name, present=present))
            _add_evidence(item.evidence, s.evidence)
    facts.exam_findings = list(found.values())


# --------------------------------------------------------------------------- treatments


def _treatments(facts: Facts, sents: list[_Sent]) -> None:
    prior: dict[str, Treatment] = {}
    concurrent: dict[str, Treatment] = {}
    for s in sents:
        treatments = [m for m in s.by_label.get("treatment", []) if not m.family]
        if not treatments:
            continue
        outcome = _outcome(s)
        duration = _duration(s.text)
        is_plan = s.section == "plan" or s.mode == "planned"
        for m in treatments:
            if m.name in EXCLUDED_TREATMENTS and s.mode == "performed":
                continue  # today's acupuncture/dry needling is an excluded service, not a prior treatment
            if is_plan or (m.hypothetical and outcome is None):
                # "continue PT" runs alongside; "consider PT referral if not improving" does not
                if not m.negated and not m.hypothetical and not _CONDITIONAL.search(s.text):
                    _ongoing(concurrent, m, s)
                continue
            if m.negated and outcome is None:
                result = "not_tried"  # "has not tried PT"
            else:
                result = outcome or ("ongoing" if s.section == "medications" else "unknown")
            item = prior.get(m.name)
            if item is None:
                item = prior[m.name] = Treatment(
                    name=m.name,
                    category=m.category or "noninvasive",
                    outcome=result,
                    duration=duration,
                )
            elif _OUTCOME_RANK[result] > _OUTCOME_RANK[item.outcome]:
                item.outcome = result  # type: ignore[assignment]
                item.duration = duration or item.duration
            _add_evidence(item.evidence, s.evidence)
            if result == "ongoing" and not m.negated:  # current therapy continues alongside
                _ongoing(concurrent, m, s)
    facts.prior_treatments = list(prior.values())
    facts.concurrent_therapies = list(concurrent.values())


def _ongoing(concurrent: dict[str, Treatment], m: Mention, s: _Sent) -> None:
    """Record a therapy that continues alongside the injections, citing this sentence."""
    item = concurrent.setdefault(
        m.name, Treatment(name=m.name, category=m.category or "noninvasive", outcome="ongoing")
    )
    _add_evidence(item.evidence, s.evidence)


_OUTCOME_RANK = {
    "not_tried": -1,
    "unknown": 0,
    "ongoing": 1,
    "effective": 2,
    "partial": 3,
    "not_tolerated": 4,
    "contraindicated": 5,
    "failed": 6,
}


def _outcome(s: _Sent) -> str | None:
    names = [_outcome_name(m) for m in s.by_label.get("outcome", [])]
    if not names:
        return None
    return max(names, key=lambda n: _OUTCOME_RANK.get(n, 0))


def _outcome_name(m: Mention) -> str:
    """A negated good outcome ("no meaningful improvement") is a failure."""
    if m.negated and m.name in ("effective", "partial"):
        return "failed"
    return m.name


def _duration(text: str) -> str | None:
    match = _DURATION.search(text)
    return " ".join(match.group(0).split()) if match else None


# --------------------------------------------------------------------------- prior injections


def _prior_injections(facts: Facts, sents: list[_Sent]) -> None:
    for i, s in enumerate(sents):
        tpi = [m for m in s.by_label.get("procedure", []) if m.name == "trigger_point_injection"]
        earlier = tpi and s.mode == "historical"
        repeat_today = tpi and s.mode == "performed" and _REPEAT.search(s.text)
        if not (earlier or repeat_today):
            continue
        context = [s]
        for nxt in sents[i + 1 :]:  # the next sentence, or a whole log of list items
            if nxt.doc is not s.doc or (
                nxt.by_label.get("procedure") and not _LIST_START.match(nxt.text)
            ):
                break
            context.append(nxt)
            if not _LIST_START.match(nxt.text):
                break
        text = " ".join(c.text for c in context)
        outcomes = [_outcome_name(m) for c in context for m in c.by_label.get("outcome", [])]
        percent = _PERCENT.search(text) or _PERCENT_ALT.search(text)
        pain = _PAIN_CHANGE.search(text)
        # numbers outrank words: "after failing PT ... about 70% relief" is an improvement
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
        if s.mode == "performed" and response == "unknown":
            continue  # "repeat TPI today" with no word on the last one: nothing to record here
        dates = list(dict.fromkeys(m.group(0) for m in _DATE.finditer(text))) or [None]
        for date in dates:  # a log of earlier sessions: one record per dated session
            facts.prior_injections.append(
                PriorInjection(
                    date=date,
                    muscles=sorted({m.name for c in context for m in c.by_label.get("muscle", [])}),
                    response=response,  # type: ignore[arg-type]
                    percent_relief=int(percent.group(1)) if percent else None,
                    duration=_duration(text),
                    evidence=[c.evidence for c in context if c.evidence],
                )
            )
    for s in sents:
        ordinal = _SESSION_ORDINAL.search(s.text)
        if ordinal and s.mode != "planned":
            number = int(ordinal.group(1))
            if facts.stated_session_number is None or number > facts.stated_session_number:
                facts.stated_session_number = number
            _add_evidence(facts.stated_session_evidence, s.evidence)


# --------------------------------------------------------------------------- diagnoses


def _diagnoses(facts: Facts, sents: list[_Sent]) -> None:
    found: dict[str, NoteDiagnosis] = {}
    for s in sents:
        for match in _ICD10.finditer(s.text):
            item = found.setdefault(match.group(1), NoteDiagnosis(code=match.group(1)))
            _add_evidence(item.evidence, s.evidence)
        if _RATIONALE.search(s.text):
            _add_evidence(facts.diagnosis_rationale, s.evidence)
    facts.diagnoses_in_note = list(found.values())


# --------------------------------------------------------------------------- excluded services


def _excluded(facts: Facts, sents: list[_Sent]) -> None:
    found: dict[tuple[str, bool], ExcludedService] = {}
    has_documented_other_agent = any(
        i.category != "botulinum_toxin" and i.dose for i in facts.injectate
    )
    for s in sents:
        signals: list[tuple[str, Mention]] = []
        for m in s.by_label.get("excluded_service", []):
            signals.append((m.name, m))
        for m in s.by_label.get("treatment", []):
            if m.name in EXCLUDED_TREATMENTS:
                signals.append((EXCLUDED_TREATMENTS[m.name], m))
        for m in s.by_label.get("injectate", []):
            if m.category in EXCLUDED_INJECTATES:
                signals.append((EXCLUDED_INJECTATES[m.category], m))
        for kind, m in signals:
            performed = (
                _usable(m)
                and not m.historical
                and s.mode not in ("planned", "historical", "negated")
                and (
                    s.section == "procedure"
                    or s.mode == "performed"
                    or bool(_PERFORMED.search(s.text))
                )
            )
            if performed and kind == "botulinum_toxin" and m.label == "injectate":
                # "TPI with Botox" in a title, while the procedure documents another agent with a
                # dose and no toxin dose: the toxin was named, not injected.
                dosed = bool(
                    _DOSE.search(s.doc.text[m.start : min(m.end + 30, s.sentence.end)])
                    or _DOSE.search(s.doc.text[max(s.sentence.start, m.start - 30) : m.start])
                )
                performed = dosed or not has_documented_other_agent
            item = found.setdefault(
                (kind, performed), ExcludedService(kind=kind, performed=performed)
            )
            _add_evidence(item.evidence, s.evidence)
    facts.excluded_services = list(found.values())


# --------------------------------------------------------------------------- helpers


def _evidence(sents: Iterable[_Sent]) -> list[Evidence]:
    out: list[Evidence] = []
    for s in sents:
        if s.evidence is not None:
            _add_evidence(out, s.evidence)
    return out


def _add_evidence(items: list[Evidence], ev: Evidence | None) -> None:
    if ev is not None and ev not in items:
        items.append(ev)


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
