"""Today's procedure: performed, planned, deferred, cancelled, declined, an earlier one only,
negated, or unclear.

Every mention of the procedure (trigger point injection wording, injection verbs, "the
procedure", needle services) gets a reading from the ConText cue nearest to it, else from its
template item ("Injected today: Yes"), a date before the service, the document's date and its
section. A procedure counts as performed today only with positive evidence: a cue that says it
was done ("performed", "were injected", "tolerated"), or an injection mention inside a
procedure block that itself shows the work (an injectate with a dose, a post-procedure
statement). Then, across the case:

- positive evidence and nothing against it: performed;
- a cancellation, refusal, deferral or "not done" about today's procedure and no positive
  evidence: that status; after the positive evidence in the same note (an addendum): it wins;
- both, in different documents: unclear (a nurse decides), with the reason;
- only plans / only earlier injections: planned / historical;
- the procedure named for today without any of this: unclear.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field

from review.extract.cues import STATUS_OF_CATEGORY, status_cue
from review.extract.offline.reading import (
    Sent,
    before_service,
    dates_in,
    usable,
)
from review.schema import Mention, ProcedureStatus

INJECTION_NAMES = ("trigger_point_injection", "injection_verb", "procedure_word")
NEEDLE_SERVICES = {"acupuncture", "dry_needling", "electrical_stimulation", "botulinum_toxin"}
"""Excluded services that still put needles into muscles: their sentences name injected muscles."""
NEEDLE_TREATMENTS = {"acupuncture": "acupuncture", "dry_needling": "dry_needling"}
NOT_DONE: tuple[ProcedureStatus, ...] = ("declined", "cancelled", "deferred", "negated")

_RESPONSE_TO = re.compile(
    r"\b(response|responded|relief|benefit|improvement|better|helped|after)\b.{0,30}\b(?:to|from|after|with)\b",
    re.I,
)
_PAST_FORM = re.compile(r"(?:ed|was|were)\b", re.I)
_POST_PROCEDURE = re.compile(
    r"\b(tolerated|tol well|no (?:immediate )?complications|without (?:immediate )?complications?|"
    r"hemostasis|band-?aids?|bandages?|dressing applied|post-?procedure|pressure (?:was )?held|"
    r"ice (?:was )?applied)\b",
    re.I,
)
_DOSE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|mg/ml|mg|ml|cc|mcg|units?|u\b|iu)(?![a-z])", re.I)
_DETAIL = re.compile(
    r"\b(consent\w*|prepped|prep|chlorhexidine|povidone|betadine|alcohol|needle|aspirat\w*|"
    r"tolerated|tol well|complications|band-?aids?|hemostasis|sterile)\b",
    re.I,
)
NARRATIVE_SECTIONS = (None, "plan", "assessment", "diagnoses", "hpi", "unknown")


@dataclass(eq=False)
class Event:
    sent: Sent
    mention: Mention
    status: str | None
    tpi: bool  # the sentence (or its block) names a trigger point procedure or a needle service


@dataclass
class ProcedureReading:
    status: ProcedureStatus = "not_mentioned"
    reason: str | None = None
    evidence: list[Sent] = field(default_factory=list)
    today: list[Sent] = field(default_factory=list)  # sentences telling today's TPI
    service_today: list[Sent] = field(default_factory=list)  # today's procedure, whatever it is
    events: list[Event] = field(default_factory=list)
    blocks: list[list[Sent]] = field(default_factory=list)


def procedure_mentions(s: Sent) -> list[Mention]:
    out = [m for m in s.labelled("procedure") if m.name in INJECTION_NAMES]
    out += [m for m in s.labelled("excluded_service") if m.name in NEEDLE_SERVICES]
    out += [m for m in s.labelled("treatment") if m.name in NEEDLE_TREATMENTS]
    return [m for m in out if not m.family]


def names_tpi(s: Sent) -> bool:
    """The sentence is about a trigger point procedure: TPI wording, trigger points with an
    injection verb, or a needle service (dry needling, acupuncture)."""
    names = {m.name for m in s.labelled("procedure") if not m.family}
    if "trigger_point_injection" in names or {"trigger_point", "injection_verb"} <= names:
        return True
    needles = [
        m for m in s.labelled("excluded_service") if m.name in NEEDLE_SERVICES - {"botulinum_toxin"}
    ]
    needles += [m for m in s.labelled("treatment") if m.name in NEEDLE_TREATMENTS]
    return any(usable(m) for m in needles)


def _block_names_tpi(block: list[Sent], sents: list[Sent]) -> bool:
    """A procedure block about trigger points: a sentence naming the procedure; trigger points
    and an injection verb anywhere in it ("Total of 5 trigger points" / "injected:"); or
    trigger points in a note whose procedure title names the injections."""
    if any(names_tpi(s) for s in block):
        return True
    names = {m.name for s in block for m in s.labelled("procedure") if usable(m)}
    if {"trigger_point", "injection_verb"} <= names:
        return True
    doc = block[0].doc
    titled = any(
        names_tpi(s) and s.section == "procedure" and not _any_cue(s)
        for s in sents
        if s.doc is doc and s.index < block[0].index
    )
    return titled and "trigger_point" in names


def read_procedure(sents: list[Sent], dos: dt.date | None, tpi_billed: bool) -> ProcedureReading:
    blocks = procedure_blocks(sents)
    in_block = {id(s): block for block in blocks for s in block}
    evidenced = {id(s) for block in blocks if block_evidence(block) for s in block}
    block_tpi = {id(s) for block in blocks if _block_names_tpi(block, sents) for s in block}
    events = []
    for s in sents:
        for m in procedure_mentions(s):
            status = _mention_status(m, s, dos, id(s) in in_block, id(s) in evidenced)
            tpi = (
                names_tpi(s)
                or id(s) in block_tpi
                or m.label != "procedure"  # a needle service into muscle (toxin, dry needling)
                or (tpi_billed and _billing_reads_sites(s, sents))
            )
            events.append(Event(s, m, status, tpi))
    for block in blocks:  # a block that shows the work but names no injection: itself evidence
        first = block[0]
        if id(first) not in evidenced or id(first) not in block_tpi or first.day == "earlier":
            continue
        if not any(e.sent in block and e.status in ("performed", *AGAINST_TODAY) for e in events):
            s = next(
                x for x in block if _dosed(x) or _POST_PROCEDURE.search(x.text) or _positive(x)
            )
            probe = Mention(
                label="procedure",
                name="procedure_block",
                start=s.sentence.start,
                end=s.sentence.start,
                sentence=s.sentence.id,
            )
            events.append(Event(s, probe, "performed", True))
    reading = _resolve(events)
    reading.events, reading.blocks = events, blocks
    # today's procedure whatever the service (the injectate and the points of a joint or nerve
    # injection are documented too): evidenced blocks about today and sentences stating it done
    done_any = {
        id(e.sent)
        for e in events
        if e.status == "performed" and (e.sent.about_today or e.sent.day == "later")
    }
    reading.service_today = [
        s
        for block in blocks
        if block[0].day != "earlier"
        and (id(block[0]) in evidenced or any(id(x) in done_any for x in block))
        for s in block
    ]
    reading.service_today += [s for s in sents if id(s) in done_any and id(s) not in in_block]
    reading.service_today.sort(key=lambda s: s.index)
    if reading.status == "performed":
        done = {id(e.sent) for e in events if e.status == "performed" and e.tpi}
        reading.today = [s for block in blocks if any(id(x) in done for x in block) for s in block]
        reading.today += [s for s in sents if id(s) in done and id(s) not in in_block]
        reading.today += _list_continuations(sents, reading.today)
        reading.today.sort(key=lambda s: s.index)
    return reading


def billing_matters(reading: ProcedureReading, sents: list[Sent]) -> bool:
    """Whether the reading for a billed injection could differ from this strict one: some
    procedure mention not already about a trigger point procedure sits in a sentence that names
    muscles or regions (or introduces a list of sites), which billing would make one. Nothing
    else in :func:`read_procedure` depends on the billing."""
    return any(not e.tpi and _billing_reads_sites(e.sent, sents) for e in reading.events)


def _billing_reads_sites(s: Sent, sents: list[Sent]) -> bool:
    """A sentence a billed trigger point injection is read into: it names muscles or regions,
    or introduces a list of the sites."""
    return bool(s.labelled("muscle") or s.labelled("region")) or _list_names_sites(s, sents)


def _mention_status(
    m: Mention, s: Sent, dos: dt.date | None, in_block: bool, evidenced: bool
) -> str | None:
    status, reach = status_cue(m)
    if m.name == "procedure_word" and reach is not None and reach.distance > 3:
        status, reach = None, None  # "declined sedation for the procedure" is not about it
    own = _own_cue(m, s)
    if own is not None:
        status = own  # the cue contains the mention: "not injected", "injected today"
    if (
        status == "performed"
        and s.section not in ("procedure", "addendum")
        and (m.historical or _historical_clause(m, s))
    ):
        status = "historical"  # "received TPIs from a prior physician last year"
    item = s.item_of(m)
    if item is not None and item.kind in ("field", "checkbox"):
        if item.polarity < 0 and status in (None, "performed"):
            status = "negated"  # "Injected today: No", "[ ] Trigger point injections"
        elif item.polarity > 0 and status is None:
            status = "performed"  # "Procedure performed: Yes", "[X] TPI"
    if status is None and m.label == "procedure" and _PAST_FORM.search(s.doc.text[m.start : m.end]):
        status = "performed"  # "injected", "trigger points were injected"
    if status in (None, "performed", "none_before") and _dated_before(m, s, dos, reach):
        status = "historical"  # "TPI on 11/18/2025", "Last TPI: 01/05/2026", "First TPI on ..."
    if status == "none_before" and _RESPONSE_TO.search(s.clause_text(m)):
        status = "historical"  # "partial response to first TPI": the first one was earlier
    if status is None:
        if in_block:
            status = "performed" if evidenced else "unclear"
        elif s.section == "plan":
            status = "planned"
        elif s.section in ("past_history", "medications"):
            status = "historical"
    if s.day == "earlier":  # a note from an earlier visit: what it did is an earlier injection
        if status == "performed":
            return "historical"
        return None if status is None else "earlier_" + status
    return status


def _own_cue(m: Mention, s: Sent) -> str | None:
    """A status cue that contains the mention itself (ConText does not let a cue modify a
    target it overlaps)."""
    for c in s.doc.cues:
        if c.sentence == m.sentence and c.start <= m.start and m.end <= c.end:
            value = STATUS_OF_CATEGORY.get(c.category)
            if value is not None:
                return value
    return None


def _historical_clause(m: Mention, s: Sent) -> bool:
    """An earlier-time cue in the mention's own clause, up to the next comma: "received TPIs
    from a prior physician last year", not "performed today ..., as she had relief last time"."""
    start, end = s.clause_of(m.start)
    comma = s.doc.text.find(",", m.end, end)
    end = comma if comma != -1 else end
    return any(
        c.category in ("HISTORICAL", "STATUS_HISTORICAL") and start <= c.start < end
        for c in s.doc.cues
        if c.sentence == m.sentence
    )


def _dated_before(m: Mention, s: Sent, dos: dt.date | None, reach) -> bool:
    """A date earlier than the service in the mention's clause, nearer to it than its status
    cue: the sentence tells an earlier injection ("First TPI on 11/18/2025 ..."), while a
    header carrying today's date or a date in another clause does not."""
    if dos is None:
        return False
    start, end = s.clause_of(m.start)
    for d_start, d_end, when, grain in dates_in(s.doc.text[start:end], start):
        if not before_service(when, grain, dos):
            continue
        gap = m.start - d_end if d_end <= m.start else d_start - m.end
        if reach is None or gap <= abs(reach.start - m.start):
            return True
    return False


def _resolve(events: list[Event]) -> ProcedureReading:
    today = [e for e in events if e.sent.about_today or e.sent.day == "later"]
    positives = [e for e in today if e.status == "performed" and e.tpi]
    # "Injection of the right trapezius postponed": a site-level statement is the procedure's
    # status when nothing says the procedure was done
    not_done = [e for e in today if e.status in NOT_DONE and (e.tpi or _procedure_level(e))]
    negatives = [e for e in not_done if _procedure_level(e)]
    tpi_named = [e for e in events if e.tpi]
    if positives and negatives:
        docs_pos = {e.sent.doc.document_id for e in positives}
        docs_neg = {e.sent.doc.document_id for e in negatives}
        if len(docs_pos | docs_neg) == 1:  # one note: what it says last stands (an addendum)
            last = max(e.sent.index for e in positives)
            after = [e for e in negatives if e.sent.index > last]
            if not after:
                return ProcedureReading("performed", evidence=_sents(positives))
            status = _first(after)
            return ProcedureReading(status, evidence=_sents(positives + after))
        pos_docs = ", ".join(sorted(docs_pos))
        neg_docs = ", ".join(sorted(docs_neg - docs_pos) or sorted(docs_neg))
        status = _first(negatives)
        return ProcedureReading(
            "unclear",
            reason=(
                f"document(s) {pos_docs} record the injections as performed today, while "
                f"{neg_docs} say(s) they were {status}"
            ),
            evidence=_sents(positives + negatives),
        )
    if positives:
        return ProcedureReading("performed", evidence=_sents(positives))
    if not_done:
        return ProcedureReading(_first(not_done), evidence=_sents(not_done))
    earlier_or_later: tuple[ProcedureStatus, ...] = ("planned", "historical")
    for status in earlier_or_later:
        hits = [e for e in tpi_named if e.status == status and e in today]
        if status == "historical":
            hits += [e for e in tpi_named if e.sent.day == "earlier" and e.status == "historical"]
        if hits:
            return ProcedureReading(status, evidence=_sents(hits))
    unclear = [e for e in today if e.tpi and e.status in (None, "unclear")]
    unclear = [e for e in unclear if e.mention.name != "procedure_word" and usable(e.mention)]
    if unclear:
        return ProcedureReading(
            "unclear",
            reason="a trigger point injection is named for the date of service, but the notes do "
            "not show it was done (no action, injectate dose or post-procedure statement)",
            evidence=_sents(unclear),
        )
    return ProcedureReading()


def _procedure_level(e: Event) -> bool:
    """A statement about the whole procedure, not about one site: "TPI cancelled", "no
    injections were given", not "no injection into the right trapezius"."""
    if e.mention.name == "trigger_point_injection" or e.mention.label != "procedure":
        return True
    if e.mention.name == "procedure_word":
        return True
    clause = e.sent.clause_of(e.mention.start)
    return not any(
        clause[0] <= m.start < clause[1]
        for m in e.sent.labelled("muscle") + e.sent.labelled("region")
    ) and (e.tpi or e.sent.section in ("procedure", "addendum", "plan", None, "unknown"))


def _first(events: list[Event]) -> ProcedureStatus:
    """The first of NOT_DONE that one of ``events`` has (each has one of them)."""
    return next(s for s in NOT_DONE if any(e.status == s for e in events))


def _sents(events: list[Event]) -> list[Sent]:
    seen, out = set(), []
    for e in sorted(events, key=lambda e: e.sent.index):
        if id(e.sent) not in seen:
            seen.add(id(e.sent))
            out.append(e.sent)
    return out


# --------------------------------------------------------------------------- procedure blocks


def procedure_blocks(sents: list[Sent]) -> list[list[Sent]]:
    """Runs of sentences that tell a procedure: a procedure section, the rest of a section
    after "P: TPI performed today.", or a procedure told inside the plan (consent, prep, needle,
    an injectate with a dose)."""
    blocks: list[list[Sent]] = []
    current: list[Sent] = []
    for s in sents:
        if (
            s.section == "procedure"
            and s.about_today
            and current
            and current[-1].doc is s.doc
            and (current[-1].index == s.index - 1)
        ):
            current.append(s)
            continue
        if current:
            blocks.append(current)
            current = []
        if s.section == "procedure" and s.about_today:
            current = [s]
    if current:
        blocks.append(current)
    blocks += _narratives(sents, {id(s) for b in blocks for s in b})
    return _merge_adjacent(sorted(blocks, key=lambda b: b[0].index))


def _merge_adjacent(blocks: list[list[Sent]]) -> list[list[Sent]]:
    """A procedure told in the plan that runs on into an "Injectate:" heading is one block."""
    out: list[list[Sent]] = []
    for block in blocks:
        if out and out[-1][-1].doc is block[0].doc and block[0].index <= out[-1][-1].index + 1:
            out[-1] = out[-1] + block
        else:
            out.append(block)
    return out


def _narratives(sents: list[Sent], taken: set[int]) -> list[list[Sent]]:
    groups: dict[tuple[str, str | None], list[Sent]] = {}
    for s in sents:
        if id(s) not in taken and s.section in NARRATIVE_SECTIONS:
            groups.setdefault((s.doc.document_id, s.section), []).append(s)
    out = []
    for group in groups.values():
        # "P: TPI performed today"; "TPI L upper trap x1 pt, 2cc 1% lido." (the procedure named
        # with the injectate given); or consent, prep, needle and a dosed injection
        # a sentence whose procedure carries a cue against today ("... at the next visit",
        # "cancelled") shows no work, whatever dose it names
        group = [s for s in group if not _against_today(s)]
        stated = [s for s in group if names_tpi(s) and (_positive(s) or _dosed(s))]
        bare = [s for s in group if names_tpi(s) and not _any_cue(s)]  # "P: Trigger point
        details = [s for s in group if _DETAIL.search(s.text)]  # injections, 3 muscles: ..."
        dosed = [s for s in group if _dosed(s)]
        if not stated and not (dosed and (len(details) >= 2 or (bare and details))):
            continue
        first = next(
            (
                i
                for i, s in enumerate(group)
                if s in stated
                or s in details
                or _dosed(s)
                or procedure_mentions(s)
                or s.labelled("excluded_service")
            ),
            None,
        )
        if first is None:
            continue
        block = [
            s
            for s in group[first:]
            if not (
                s.labelled("treatment")
                and not procedure_mentions(s)
                and not s.labelled("injectate")
            )
        ]
        if block and (stated or dosed):
            out.append(block)
    return out


AGAINST_TODAY = ("planned", "historical", "none_before", *NOT_DONE)


def _against_today(s: Sent) -> bool:
    return any(status_cue(m)[0] in AGAINST_TODAY for m in procedure_mentions(s))


def _any_cue(s: Sent) -> bool:
    return any(status_cue(m)[0] for m in procedure_mentions(s))


def _positive(s: Sent) -> bool:
    """A sentence stating a procedure without a cue against it ("P: TPI performed today")."""
    for m in procedure_mentions(s):
        status, _ = status_cue(m)
        if status == "performed":
            return True
    return False


def _dosed(s: Sent) -> bool:
    return any(usable(m) and not m.historical for m in s.labelled("injectate")) and bool(
        _DOSE.search(s.text)
    )


def block_evidence(block: list[Sent]) -> bool:
    """The block itself shows the work: an injectate given with a dose, a post-procedure
    statement, or an injection stated as done."""
    for s in block:
        if _dosed(s) or _POST_PROCEDURE.search(s.text):
            return True
        if _positive(s):
            return True
    return False


_LIST_START = re.compile(r"^\s*(?:\d{1,2}[.)]|#\d{1,2}|[-*\u2022]|[a-z][.)])\s")


def _list_names_sites(s: Sent, sents: list[Sent]) -> bool:
    """ "Injected today with 1% lidocaine:" followed by list items naming the muscles: the
    sentence is about those sites."""
    if not s.text.rstrip().endswith(":"):
        return False
    for nxt in sents[s.index + 1 : s.index + 13]:
        if nxt.doc is not s.doc or not _LIST_START.match(nxt.text):
            return False
        if (
            nxt.labelled("muscle")
            or nxt.labelled("region")
            or nxt.named("procedure", "trigger_point")
        ):
            return True
    return False


def _list_continuations(sents: list[Sent], today: list[Sent]) -> list[Sent]:
    """List items naming muscles right after today's injection sentence ("injected:" then
    "- R QL: 3 points") are injection sites too."""
    chosen = {id(s) for s in today}
    out: list[Sent] = []
    for prev, s in itertools.pairwise(sents):
        if (
            (
                (id(prev) in chosen or any(prev is o for o in out))
                and id(s) not in chosen
                and prev.doc is s.doc
                and _LIST_START.match(s.text)
            )
            and s.labelled("muscle")
            and not s.labelled("treatment")
        ):
            out.append(s)
    return out
