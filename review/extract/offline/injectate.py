"""What was injected today, with its dose, read from the sentences that tell today's procedure.

Each amount goes to one agent: the one it reads into ("3 mL of 1% lidocaine"), else the one it
follows ("lidocaine 1%, 2 mL"), else the nearest within 30 characters. A "-free" word in the
preparation ("preservative-free lidocaine") negates nothing (context.yaml has no "free" cue).
"""

from __future__ import annotations

import re

from review.extract.cues import status_cue
from review.extract.offline.reading import Sent, add_evidence, usable
from review.schema import Facts, Injectate, Mention

DOSE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|mg/ml|mg|ml|cc|mcg|units?|u\b|iu)(?![a-z])", re.I)
_DOSE_GAP = re.compile(
    r"(?:\s|,|\(|\)|of|\d+(?:\.\d+)?\s?(?:%|mg/ml|mg|ml|cc|mcg|units?|u|iu)(?![a-z]))*", re.I
)


_RECONSTITUTED = re.compile(r"\b(reconstitut\w*)\b[^;]*$", re.I)
_UNITS = re.compile(r"\b\d+(?:\.\d+)?\s?(?:units?|u|iu)\b", re.I)
GENERIC_AGENTS = ("local anesthetic", "corticosteroid", "botulinum toxin", "proliferant")
"""Injectate entries naming a class, not an agent (injectates.yaml)."""


def assign_doses(s: Sent, agents: list[Mention]) -> dict[int, list[str]]:
    text = s.doc.text
    out: dict[int, list[str]] = {}
    for match in DOSE.finditer(text, s.sentence.start, s.sentence.end):
        after = next((m for m in agents if m.start >= match.end()), None)
        before = next((m for m in reversed(agents) if m.end <= match.start()), None)
        owner = None
        if after is not None and _DOSE_GAP.fullmatch(text[match.end() : after.start]):
            owner = after
        elif before is not None and _DOSE_GAP.fullmatch(text[before.end : match.start()]):
            owner = before
        else:
            candidates = [
                (after.start - match.end(), after) if after else None,
                (match.start() - before.end, before) if before else None,
            ]
            near = [n for n in candidates if n is not None and n[0] <= 30]
            owner = min(near, key=lambda n: n[0])[1] if near else None
        if (
            owner is not None
            and _UNITS.fullmatch(match.group(0))
            and owner.category != "botulinum_toxin"
        ):
            owner = None  # units dose a toxin, never a local anaesthetic or a diluent
        if owner is not None:
            out.setdefault(owner.start, []).append(" ".join(match.group(0).split()))
    return out


def given_agents(s: Sent) -> list[Mention]:
    """Injectate mentions given today in this sentence: not negated, planned or earlier, and
    not the diluent a powder was reconstituted with."""
    out = []
    for m in s.labelled("injectate"):
        if _RECONSTITUTED.search(s.doc.text[max(s.sentence.start, m.start - 70) : m.start]):
            continue  # "100 U vial reconstituted with 2 mL preservative-free saline"
        if re.match(r"\s?-\s?free\b", s.doc.text[m.end : m.end + 8], re.I):
            continue  # "(epinephrine-free)": the agent is what the preparation lacks
        status, _ = status_cue(m)
        if usable(m) and not m.historical and status not in ("negated", "planned", "historical"):
            item = s.item_of(m)
            if item is None or item.polarity >= 0:
                out.append(m)
    return out


def read_injectate(facts: Facts, today: list[Sent]) -> None:
    found: dict[str, Injectate] = {}
    for s in today:
        agents = given_agents(s)
        doses = assign_doses(s, agents)
        for m in agents:
            item = found.setdefault(m.name, Injectate(name=m.name, category=m.category or "other"))
            if doses.get(m.start) and item.dose is None:
                item.dose = " ".join(doses[m.start])
            add_evidence(item, s.evidence)
    dosed_other = any(i.dose and i.category != "botulinum_toxin" for i in found.values())
    dosed_other = dosed_other and not any(_UNITS.search(s.text) for s in today)
    specific = {i.category for i in found.values() if i.name not in GENERIC_AGENTS}
    facts.injectate = [
        i
        for i in found.values()
        # "TPI with Botox" in a title while the procedure doses another agent: not injected
        if not (i.category == "botulinum_toxin" and not i.dose and dosed_other)
        # "a corticosteroid (betamethasone 6 mg)": the class named beside its agent
        and not (i.name in GENERIC_AGENTS and i.category in specific)
    ]
