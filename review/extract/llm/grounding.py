"""Grounding: a model's verbatim quote -> exact character offsets in the source note.

Order: inside the cited sentences (each run of consecutive cited sentences, then the stretch
from the first to the last), then anywhere in the document; in each place an exact match first,
then a match on a whitespace/case/punctuation-normalised copy whose characters map back to
original offsets. So a quote the model copied loosely from the sentence it cited is found there,
not at an exact copy elsewhere (verification, verify.py, checks the span lies in the cited
sentences). A quote found nowhere is "unmatched": its fact is dropped before the rules run
and listed in the recommendation's ``ungrounded``. For every Evidence this returns,
``text == document_text[start:end]`` holds by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from review.extract.facts import merge_side, sort_facts
from review.extract.llm.schema import Citation, LLMFacts
from review.lexicon import canonical_name, load_lexicon
from review.schema import (
    Evidence,
    ExamFinding,
    ExcludedService,
    Facts,
    Injectate,
    InjectedMuscle,
    InjectedRegion,
    ParsedDocument,
    PriorInjection,
    Treatment,
    Ungrounded,
)

_WORD = re.compile(r"[0-9a-z]+", re.IGNORECASE)


@dataclass
class GroundingStats:
    exact: int = 0
    normalized: int = 0
    unmatched: int = 0
    ungrounded: list[Ungrounded] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        total = self.exact + self.normalized + self.unmatched
        return round((self.exact + self.normalized) / total, 4) if total else None


def ground(citation: Citation, docs: dict[str, ParsedDocument]) -> tuple[Evidence | None, str]:
    """Locate a quote; returns (evidence or None, "exact" | "normalized" | "unmatched")."""
    doc = docs.get(citation.document_id)
    quote = citation.quote.strip()
    if doc is None or not quote:
        return None, "unmatched"
    windows = cited_windows(doc, citation.sentence_ids)
    if len(windows) > 1:  # a quote that runs across sentences the model did not cite
        windows.append((windows[0][0], windows[-1][1]))
    for start, end in [*windows, (0, len(doc.text))]:
        at = doc.text.find(quote, start, end)
        if at != -1:
            return _evidence(doc, at, at + len(quote)), "exact"
        span = _normalised_find(doc.text, quote, start, end)
        if span is not None:
            return _evidence(doc, *span), "normalized"
    return None, "unmatched"


def cited_windows(doc: ParsedDocument, sentence_ids: list[int]) -> list[tuple[int, int]]:
    """The cited sentences as character windows, one per run of consecutive sentence ids, in
    document order: a quote is looked for in what the model cited before anywhere else."""
    wanted = set(sentence_ids)
    windows: list[tuple[int, int]] = []
    previous = None
    for s in doc.sentences:
        if s.id in wanted:
            if previous is not None and previous == s.id - 1:
                windows[-1] = (windows[-1][0], s.end)
            else:
                windows.append((s.start, s.end))
            previous = s.id
    return windows


def _evidence(doc: ParsedDocument, start: int, end: int) -> Evidence:
    return Evidence(document_id=doc.document_id, start=start, end=end, text=doc.text[start:end])


def _normalised_find(text: str, quote: str, start: int, end: int) -> tuple[int, int] | None:
    """Match word by word, ignoring case, whitespace and punctuation between words."""
    words = [w.group(0).lower() for w in _WORD.finditer(quote)]
    if not words:
        return None
    # offsets come from the original text: lower-casing first could change lengths ("İ")
    spans = [(m.start(), m.end(), m.group(0).lower()) for m in _WORD.finditer(text, start, end)]
    n = len(words)
    for i in range(len(spans) - n + 1):
        if all(spans[i + k][2] == words[k] for k in range(n)):
            return spans[i][0], spans[i + n - 1][1]
    return None


def canonical_muscle(name: str) -> str:
    return canonical_name("muscles", name)


def facts_from_llm(answer: LLMFacts, parsed: list[ParsedDocument]) -> tuple[Facts, GroundingStats]:
    """Ground every citation; facts whose quote cannot be located are dropped and reported."""
    docs = {d.document_id: d for d in parsed}
    stats = GroundingStats()
    body_areas = {e.name: e.body_area for e in load_lexicon("muscles").entries if e.name}

    def cite(citation: Citation, fact: str) -> Evidence | None:
        evidence, status = ground(citation, docs)
        if evidence is None:
            stats.unmatched += 1
            stats.ungrounded.append(
                Ungrounded(
                    fact=fact,
                    document_id=citation.document_id,
                    quote=citation.quote,
                    sentence_ids=sorted(citation.sentence_ids),
                )
            )
        elif status == "exact":
            stats.exact += 1
        else:
            stats.normalized += 1
        return evidence

    facts = Facts()
    facts.procedure_evidence = [
        e for c in answer.procedure_citations if (e := cite(c, "procedure"))
    ]
    performed = answer.procedure_status == "performed" and bool(facts.procedure_evidence)
    facts.procedure_performed = performed
    facts.procedure_status = (
        answer.procedure_status
        if (performed or answer.procedure_status != "performed")
        else "not_mentioned"
    )

    muscles: dict[str, InjectedMuscle] = {}
    for m in answer.injected_muscles:
        if (ev := cite(m.citation, "injected_muscles")) is None:
            continue
        name = canonical_muscle(m.name)
        item = muscles.setdefault(
            name, InjectedMuscle(name=name, side=m.side, body_area=body_areas.get(name))
        )
        if item.side != m.side:
            item.side = merge_side(item.side, m.side)
        _add(item.evidence, ev)
    facts.injected_muscles = list(muscles.values()) if performed else []
    regions: dict[str, InjectedRegion] = {}
    for r in answer.injected_regions:
        if (ev := cite(r.citation, "injected_regions")) is None:
            continue
        item_r = regions.setdefault(
            r.name.lower(), InjectedRegion(name=r.name.lower(), side=r.side)
        )
        _add(item_r.evidence, ev)
    facts.injected_regions = list(regions.values()) if performed else []
    facts.injection_sites = answer.injection_sites
    facts.injectate = [
        Injectate(name=i.name.lower(), category=_injectate_category(i), dose=i.dose, evidence=[ev])
        for i in answer.injectate
        if (ev := cite(i.citation, "injectate"))
    ]
    facts.exam_findings = [
        ExamFinding(kind=f.kind, present=f.present, evidence=[ev])
        for f in answer.exam_findings
        if (ev := cite(f.citation, "exam_findings"))
    ]
    facts.prior_treatments, facts.concurrent_therapies = (
        [
            Treatment(
                name=t.name,
                category=t.category,
                outcome=t.outcome,
                duration=t.duration,
                evidence=[ev],
            )
            for t in getattr(answer, field)
            if (ev := cite(t.citation, field))
        ]
        for field in ("prior_treatments", "concurrent_therapies")
    )
    facts.prior_injections = [
        PriorInjection(
            date=p.date,
            muscles=sorted(canonical_muscle(m) for m in p.muscles),
            response=p.response,
            percent_relief=p.percent_relief,
            duration=p.duration,
            evidence=[ev],
        )
        for p in answer.prior_injections
        if (ev := cite(p.citation, "prior_injections"))
    ]
    facts.diagnosis_rationale = [
        e for c in answer.diagnosis_rationale if (e := cite(c, "diagnosis_rationale"))
    ]
    facts.excluded_services = [
        ExcludedService(kind=x.kind, performed=x.performed, evidence=[ev])
        for x in answer.excluded_services
        if (ev := cite(x.citation, "excluded_services"))
    ]
    # a toxin or proliferant documented as injectate is that excluded service, whichever words
    # the model filed it under (the offline extractor does the same)
    for agent in facts.injectate:
        kind = {"botulinum_toxin": "botulinum_toxin", "proliferant": "prolotherapy"}.get(
            agent.category
        )
        if kind and not any(x.kind == kind and x.performed for x in facts.excluded_services):
            facts.excluded_services.append(
                ExcludedService(kind=kind, performed=performed, evidence=list(agent.evidence))
            )
    facts.imaging_evidence = [
        e for c in answer.imaging_guidance if (e := cite(c, "imaging_guidance"))
    ]
    facts.imaging_guidance = bool(facts.imaging_evidence)
    return sort_facts(facts), stats


def _add(items: list[Evidence], ev: Evidence) -> None:
    if ev not in items:
        items.append(ev)


def _injectate_category(injectate) -> str:
    """The lexicon's category for a substance it knows (it is the authority: "platelet-rich
    plasma" is a biologic whatever the model called it); the model's otherwise."""
    from review.lexicon import entry_attributes

    entry = entry_attributes("injectates").get(canonical_name("injectates", injectate.name))
    return entry.category if entry is not None and entry.category else injectate.category
