"""Injected muscles counted as a coder counts them, the regions named instead of a muscle, the
number of injection sites and image guidance, all read from the sentences that tell today's
procedure.

- A side word carries along a coordinated list ("left upper trapezius and levator scapulae"
  are both left), a new side word starts a new run ("right upper trapezius, left upper
  trapezius and right levator scapulae" is 3), a trailing side applies to the sites before it
  that had none ("... trapezius and levator scapulae on the right"), a table row takes its side
  column.
- A muscle is one entry per name: a later short mention ("the traps") resolves to the one
  already named, and the left and right of one muscle make it bilateral (counted as two).
- Not injected: a table row or checkbox marked no, a site the sentence says was not injected, a
  muscle named as a landmark ("deep to the gluteus maximus") or only in an exam sentence.
"""

from __future__ import annotations

import re

from review.extract.facts import merge_side
from review.extract.offline.reading import Sent, add_evidence, usable
from review.extract.offline.status import procedure_mentions
from review.lexicon import entry_attributes
from review.schema import Facts, InjectedMuscle, InjectedRegion, Mention, Side

_SIDE_WORD = re.compile(
    r"\b(left|right|bilateral(?:ly)?|both|lt|rt|b/l|bilat|(?<![\w/])[LR](?![\w/]))\b", re.I
)
_BOTH_SIDES = re.compile(
    r"\b(left|lt|l)\b.{0,12}\b(and|&|/)\s*(right|rt|r)\b|\b(right|rt|r)\b.{0,12}\b(and|&|/)\s*(left|lt|l)\b",
    re.I,
)
_SIDE_AFTER = re.compile(
    r"^[\s,]*(?:muscles?\s+)?(?:\(\s*([LRB])\s*\)|(bilaterally|bilateral|on both sides|on the left|"
    r"on the right|on left|on right|left-sided|right-sided|,? left|,? right))",
    re.I,
)
_LANDMARK_BEFORE = re.compile(
    r"(?:deep to|superficial to|through|beneath|underneath|under|via|traversing|lateral to|medial to|"
    r"adjacent to|overlying|between|avoiding|away from|anterior to|posterior to)\s+(?:the\s+)?"
    r"(?:\w+\s+){0,2}$",
    re.I,
)
_NOT_INJECTED = re.compile(
    r"\b(not injected|was not injected|were not injected|no injection|not treated|skipped|"
    r"spared|deferred|held|not done|declined)\b",
    re.I,
)


def read_muscles(facts: Facts, today: list[Sent]) -> None:
    muscles = entry_attributes("muscles")
    regions = entry_attributes("regions")
    found: dict[str, InjectedMuscle] = {}
    found_regions: dict[str, InjectedRegion] = {}
    for s in today:
        if s.labelled("exam_finding") and not procedure_mentions(s) and not _site_item(s):
            continue  # "A ropy band is felt in the left rhomboid": an exam finding
        sides = _sides(s)
        for m in s.labelled("muscle"):
            if not _injected(s, m) or _landmark(s, m):
                continue
            entry = muscles.get(m.name)
            item = found.setdefault(
                m.name,
                InjectedMuscle(
                    name=m.name, side=sides[m.start], body_area=entry.body_area if entry else None
                ),
            )
            item.side = merge_side(item.side, sides[m.start])
            add_evidence(item, s.evidence)
        for m in s.labelled("region"):
            if not _injected(s, m) or s.labelled("muscle"):
                continue  # the sentence names the muscle too: the region only qualifies it
            entry = regions.get(m.name)
            region = found_regions.setdefault(
                m.name,
                InjectedRegion(
                    name=m.name, side=sides[m.start], body_area=entry.body_area if entry else None
                ),
            )
            region.side = merge_side(region.side, sides[m.start])
            add_evidence(region, s.evidence)
    # a group named beside its members ("scalenes: anterior and middle scalene") is not another
    # muscle: the members are what was injected
    facts.injected_muscles = [
        m
        for m in found.values()
        if not any(o is not m and _member_of(o.name, m.name) for o in found.values())
    ]
    # a region in the same body area as a named muscle describes where that muscle is
    areas = {m.body_area for m in found.values() if m.body_area}
    facts.injected_regions = [
        r for r in found_regions.values() if r.body_area not in areas or not r.body_area
    ]


def _member_of(member: str, group: str) -> bool:
    """ "anterior scalene" is a member of "scalene", "rhomboid major" of "rhomboid"."""
    return member != group and f" {group} " in f" {member} "


def _site_item(s: Sent) -> bool:
    return any(i.kind == "row" for i in s.items)


def _injected(s: Sent, m: Mention) -> bool:
    if not usable(m) or (m.historical and s.section != "procedure"):
        return False
    item = s.item_of(m)
    if item is not None and item.polarity < 0:
        return False  # a table row or box marked not injected
    start, end = s.clause_of(m.start)
    clause = s.doc.text[start:end]
    return not _NOT_INJECTED.search(clause)


def _landmark(s: Sent, m: Mention) -> bool:
    """A muscle named as a landmark ("deep to gluteus maximus", "through the deltoid") or as a
    part in parentheses ("levator ani (iliococcygeus)") is not a muscle injected."""
    before = s.doc.text[max(s.sentence.start, m.start - 40) : m.start]
    if _LANDMARK_BEFORE.search(before):
        return True
    previous = [o for o in s.labelled("muscle") if o.end <= m.start]
    return (
        bool(previous)
        and re.fullmatch(r"\s*\(\s*", s.doc.text[previous[-1].end : m.start]) is not None
    )


def _sides(s: Sent) -> dict[int, Side]:
    """Side of every muscle/region mention in a sentence."""
    out: dict[int, Side] = {}
    sites = [m for m in s.mentions if m.label in ("muscle", "region")]
    current: Side = "unspecified"
    prev_end = s.sentence.start
    for m in sites:
        before = s.doc.text[prev_end : m.start]
        words = _SIDE_WORD.findall(before)
        if words:
            current = side_of(words[-1])
            if _BOTH_SIDES.search(before):
                current = "bilateral"
        elif re.search(r"[;.|]|\n", before):
            current = "unspecified"
        out[m.start] = current
        prev_end = m.end
    for i, m in enumerate(sites):  # a trailing "bilaterally" / "(L)" / "on the right"
        nxt = sites[i + 1].start if i + 1 < len(sites) else s.sentence.end
        after = _SIDE_AFTER.match(s.doc.text[m.end : nxt])
        if after and after.group(2) and i + 1 < len(sites):
            # "left splenius capitis, right infraspinatus": a side word that runs straight into
            # the next muscle is that muscle's side, not a trailing one
            rest = s.doc.text[m.end + after.end() : nxt]
            if not re.search(r"[,;.()\n|]|\band\b|\bor\b", rest) and not after.group(2).endswith(
                ("bilaterally", "sides", "sided")
            ):
                after = None
        if after:
            side = side_of(after.group(1) or after.group(2))
            for prev in sites[: i + 1]:
                if out[prev.start] == "unspecified" or prev is m:
                    out[prev.start] = side
    for m in sites:  # a table row's side column is the row's side, whatever precedes the row
        item = s.item_of(m)
        if item is not None and item.side and (item.kind == "row" or out[m.start] == "unspecified"):
            out[m.start] = item.side
    return out


def side_of(word: str) -> Side:
    w = word.lower().strip(" ,-").replace("on the ", "").replace("on ", "").replace("-sided", "")
    if w in ("left", "lt", "l"):
        return "left"
    if w in ("right", "rt", "r"):
        return "right"
    return "bilateral"


# --------------------------------------------------------------------------- sites, guidance

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
_BILLED = re.compile(r"\b\d{5}\s*$")
_EACH_SIDE = re.compile(r"\s*\)?\s*(?:each side|per side|on each side)\b", re.I)


def count_sites(facts: Facts, today: list[Sent]) -> None:
    """Injection points today: a stated total wins ("total of 5 trigger points"), else the sum of
    per-muscle counts ("2 TrPs", "x2", "2 in the L upper trapezius", "2 points each side")."""
    if not facts.procedure_performed:
        other = any(e.performed for e in facts.excluded_services)
        if not other and facts.procedure_status not in ("other_service", "unclear"):
            facts.injection_sites = 0  # no injection today
        return
    total: int | None = None
    counted = 0
    for s in today:
        for match in _SITES_TOTAL.finditer(s.text):
            total = max(total or 0, _count(next(g for g in match.groups() if g)))
        if _SITES_TOTAL.search(s.text):
            continue
        inside = [(m.start(), m.end()) for m in re.finditer(r"\([^)]*\)", s.text)]
        matches = list(_SITES.finditer(s.text)) + [
            m for m in _SITES_IN.finditer(s.text) if not any(a <= m.start() < b for a, b in inside)
        ]
        named = bool(s.labelled("muscle") or s.labelled("region"))
        for match in matches:
            n = _count(next(g for g in match.groups() if g))
            if _BILLED.search(s.text[: match.start()]):
                continue  # "20553 x 2": units billed, not points injected
            if not named and match.group(1):
                total = max(total or 0, n)  # "31 sites, 5 U per site:" before a breakdown
                continue
            tail = s.text[match.end() : match.end() + 20]
            counted += n * 2 if _EACH_SIDE.match(tail) else n
    facts.injection_sites = total or counted or None


def _count(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else _COUNT_WORDS[word]


def read_guidance(facts: Facts, today: list[Sent]) -> None:
    for s in today:
        for m in s.named("procedure", "imaging_guidance"):
            if usable(m):
                facts.imaging_guidance = True
                add_evidence(facts.imaging_evidence, s.evidence)
