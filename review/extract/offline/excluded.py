"""Services that are not a trigger point injection, named or described.

Two kinds of lexicon entry (excluded_services.yaml): a SERVICE ("nerve block", "ESI",
"prolotherapy", "dry needling", "current passed through the needles", botulinum toxin given as
chemodenervation) is performed when its own reading is: a cue that it was done, or its place in
today's procedure, and no cue against it. A SITE (a joint, a bursa, a tendon sheath or ligament,
the epidural space, "around the suprascapular nerve") is performed only when an injection in the
same clause was done today and the site is its target, not a landmark ("avoiding the sciatic
nerve"). So a negative exam of a joint or bursa, a "-free" word, or a comorbidity noted as not
treated today never creates a service.

Described rather than named: a proliferant (or dextrose) injected at ligaments or tendon
insertions is prolotherapy; a toxin or proliferant given as the injectate is that service;
needling with no injectate and current through the needles are token patterns in the lexicon.
"""

from __future__ import annotations

import re

from review.extract.cues import status_cue
from review.extract.offline.injectate import DOSE
from review.extract.offline.reading import Sent, add_evidence, usable
from review.extract.offline.status import NEEDLE_TREATMENTS, ProcedureReading, names_tpi
from review.schema import ExcludedService, Facts, Mention

EXCLUDED_INJECTATES = {"botulinum_toxin": "botulinum_toxin", "proliferant": "prolotherapy"}
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
_NOT_TODAY = (
    "negated",
    "planned",
    "historical",
    "declined",
    "cancelled",
    "deferred",
    "none_before",
)
_LANDMARK = re.compile(
    r"(?:avoid\w*|away from|sparing|spared|protect\w*|lateral to|medial to|deep to|superficial to|"
    r"not into|rather than|instead of|without entering|outside)\s+(?:the\s+)?(?:\w+\s+){0,3}$",
    re.I,
)
_NAMED_SERVICE = re.compile(r"\s*(?:blocks?|injections?|aspiration|release)\b", re.I)
_INTO = re.compile(
    r"\b(?:into|within|inside|in|to|entered|entering|enters)\s+(?:the\s+)?(?:[\w-]+\s+){0,3}$", re.I
)
_LIGAMENT = re.compile(r"\b(ligament\w*|tendon insertions?|insertions?|enthes\w+)\b", re.I)
_HYPERTONIC = re.compile(
    r"\b(1[2-9]|[2-5]\d)(?:\.\d+)?\s?%\s*(?:hypertonic\s+)?dextrose"
    r"|dextrose\s*(1[2-9]|[2-5]\d)(?:\.\d+)?\s?%|\bhypertonic\s+dextrose",
    re.I,
)


def read_excluded(facts: Facts, sents: list[Sent], procedure: ProcedureReading) -> None:
    in_block = {id(s) for block in procedure.blocks for s in block}
    done = {
        (id(e.sent), e.mention.start)
        for e in procedure.events
        if e.status == "performed" and e.mention.label == "procedure"
    }
    done_sents = {sid for sid, _ in done}
    dosed_other = any(i.category != "botulinum_toxin" and i.dose for i in facts.injectate)
    found: dict[tuple[str, bool], ExcludedService] = {}

    def record(kind: str, performed: bool, s: Sent) -> None:
        item = found.setdefault((kind, performed), ExcludedService(kind=kind, performed=performed))
        add_evidence(item, s.evidence)

    for s in sents:
        today = s.about_today or s.day == "later"
        context = id(s) in in_block or id(s) in done_sents
        for m in s.labelled("excluded_service"):
            if m.category == "site" and not _NAMED_SERVICE.match(s.doc.text[m.end : m.end + 14]):
                performed = today and _site_injected(s, m, done, context)
            else:  # a service, or a site named as one ("occipital nerve blocks")
                performed = today and _service_done(m, s, context)
            record(m.name, performed, s)
        for m in s.labelled("treatment"):
            if m.name in NEEDLE_TREATMENTS:
                record(NEEDLE_TREATMENTS[m.name], today and _service_done(m, s, context), s)
        for m in s.labelled("injectate"):
            kind = EXCLUDED_INJECTATES.get(m.category or "")
            hypertonic = m.name == "dextrose" and _HYPERTONIC.search(s.text)
            if kind is None and not hypertonic:
                continue
            performed = today and _service_done(m, s, context)
            if performed and kind == "botulinum_toxin":
                # "TPI with Botox" in a title, while the procedure documents another agent with
                # a dose and no toxin dose: the toxin was named, not injected.
                near = s.doc.text[
                    max(s.sentence.start, m.start - 30) : min(m.end + 30, s.sentence.end)
                ]
                performed = bool(DOSE.search(near)) or not dosed_other
            record(kind or "prolotherapy", performed, s)
    _prolotherapy_described(facts, sents, procedure, record)
    facts.excluded_services = list(found.values())


def _service_done(m: Mention, s: Sent, context: bool) -> bool:
    if not usable(m) or m.historical or s.section in ("past_history", "medications"):
        return False
    status, _ = status_cue(m)
    if status in _NOT_TODAY:
        return False
    item = s.item_of(m)
    if item is not None and item.polarity < 0:
        return False
    return status == "performed" or context


def _site_injected(s: Sent, m: Mention, done: set[tuple[int, int]], context: bool) -> bool:
    """The site is the target of an injection done today: an injection done in the same
    clause, or, inside today's procedure, the needle going into it ("directed ... into the
    subacromial bursa")."""
    if not usable(m) or m.historical:
        return False
    before = s.doc.text[max(s.sentence.start, m.start - 40) : m.start]
    if _LANDMARK.search(before):
        return False
    clause = s.clause_of(m.start)
    if any(sid == id(s) and clause[0] <= start < clause[1] for sid, start in done):
        return True
    return context and bool(_INTO.search(before))


def _prolotherapy_described(facts: Facts, sents: list[Sent], procedure, record) -> None:
    """Dextrose or a proliferant injected today at ligaments or tendon insertions."""
    agents = {i.name for i in facts.injectate if i.category in ("dextrose", "proliferant")}
    if not agents:
        return
    for s in procedure.today:
        if _LIGAMENT.search(s.text) and any(
            m.name in agents or m.category == "proliferant" for m in s.labelled("injectate")
        ):
            record("prolotherapy", True, s)


def other_service_only(facts: Facts, procedure: ProcedureReading) -> None:
    """A nerve block, joint, tendon sheath or ligament injection and no trigger point injection
    named as performed: the muscles named are landmarks, not injection sites."""
    services = {e.kind for e in facts.excluded_services if e.performed}
    tpi_done = any(e.status == "performed" and names_tpi(e.sent) for e in procedure.events)
    if services & NON_MUSCLE_SERVICES and not tpi_done:
        facts.procedure_performed = False
        facts.procedure_status = "other_service"
        facts.procedure_status_reason = None
        facts.procedure_evidence = []
        facts.injected_muscles = []
        facts.injected_regions = []
