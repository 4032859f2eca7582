"""A SIMULATED model for the prompt-evaluation notebook: it answers with the offline extractor's
facts, rewritten as the LLM schema with citations. It is not a language model.

Why it exists: no LLM endpoint is reachable where this project is developed, yet the notebook's
LLM path (prompt rendering, HTTP, structured output, grounding, scoring) should run end to end in
CI. ``record_eval_cassette.py`` serves these answers from the test suite's OpenAI-compatible
stand-in server and records the HTTP exchange with vcrpy; the notebook replays it. Figures from
that replay measure the plumbing and equal the offline extractor's by construction. Point the
notebook at a real endpoint (REVIEW_LLM_BASE_URL) to measure a model.
"""

from __future__ import annotations

from typing import get_args

from review.extract.llm.schema import InjectateCategory, LLMFacts
from review.schema import Evidence, Facts, ParsedDocument


def _citation(ev: Evidence, parsed: dict[str, ParsedDocument]) -> dict:
    doc = parsed[ev.document_id]
    ids = [s.id for s in doc.sentences if s.start < ev.end and ev.start < s.end] or [1]
    return {"document_id": ev.document_id, "sentence_ids": ids, "quote": ev.text}


def answer_from_facts(facts: Facts, parsed: list[ParsedDocument]) -> dict:
    """The JSON a perfect copy of the offline extractor would send."""
    docs = {d.document_id: d for d in parsed}

    def first(items: list[Evidence]) -> dict | None:
        return _citation(items[0], docs) if items else None

    def treatment(t) -> dict:
        return {
            "name": t.name,
            "category": t.category,
            "outcome": t.outcome,
            "duration": t.duration,
            "citation": first(t.evidence),
        }

    out: dict = {
        "procedure_status": facts.procedure_status,
        "procedure_citations": [_citation(e, docs) for e in facts.procedure_evidence],
        "injected_muscles": [
            {"name": m.name, "side": m.side, "citation": first(m.evidence)}
            for m in facts.injected_muscles
            if m.evidence
        ],
        "injected_regions": [
            {"name": r.name, "side": r.side, "citation": first(r.evidence)}
            for r in facts.injected_regions
            if r.evidence
        ],
        "injection_sites": facts.injection_sites,
        "injectate": [
            {
                "name": i.name,
                "category": i.category if i.category in _INJECTATE_CATEGORIES else "other",
                "dose": i.dose,
                "citation": first(i.evidence),
            }
            for i in facts.injectate
            if i.evidence
        ],
        "exam_findings": [
            {"kind": f.kind, "present": f.present, "citation": first(f.evidence)}
            for f in facts.exam_findings
            if f.evidence
        ],
        "prior_treatments": [treatment(t) for t in facts.prior_treatments if t.evidence],
        "concurrent_therapies": [treatment(t) for t in facts.concurrent_therapies if t.evidence],
        "prior_injections": [
            {
                "date": p.date,
                "muscles": p.muscles,
                "response": p.response,
                "percent_relief": p.percent_relief,
                "duration": p.duration,
                "citation": first(p.evidence),
            }
            for p in facts.prior_injections
            if p.evidence
        ],
        "diagnosis_rationale": [_citation(e, docs) for e in facts.diagnosis_rationale],
        "excluded_services": [
            {"kind": x.kind, "performed": x.performed, "citation": first(x.evidence)}
            for x in facts.excluded_services
            if x.evidence
        ],
        "imaging_guidance": [_citation(e, docs) for e in facts.imaging_evidence],
    }
    return LLMFacts.model_validate(out).model_dump(mode="json")


_INJECTATE_CATEGORIES = set(get_args(InjectateCategory))
