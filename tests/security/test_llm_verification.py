"""Attacks on the LLM extractor with quotes that occur in the note but prove nothing.

Grounding only proves a quote occurs somewhere; before verification (review/extract/llm/verify.py) an
answer citing every fact with the quote "the" approved a 20552 claim on a well-child note. Each
attack below approved before; now the fact is left out of the decision, listed in
``Recommendation.unverified`` with a fixed reason, and the case pends through TPI-X03 because
the decision would change with it. Answers come from the scripted fake model (tests/fakes.py):
these test the pipeline's checks, not any model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import approve_cervical_facts, cite
from llm_standin import ok

from review.case import case_from_dict, load_case
from review.extract.llm.grounding import ground
from review.extract.llm.schema import LLMFacts
from review.extract.llm.verify import REASONS, verify_answer
from review.parse.documents import parse_documents
from review.pipeline import ReviewConfig, review_case
from review.report import render_json, render_text
from review.report.html import render_html
from review.schema import Document, Recommendation

ROOT = Path(__file__).resolve().parents[2]
APPROVE = ROOT / "examples" / "approve-cervical-tpi"

WELL_CHILD = """WELL CHILD VISIT
Date of visit: 03/14/2026
Patient: Synthetic, Avery    Age: 4 years

The child is here with the mother for the 4-year well visit.
Growth: height and weight track along the 60th percentile.
Development: speaks in full sentences, hops on one foot, draws a cross.
Immunizations: DTaP, IPV, MMR and varicella given per the schedule.
Exam: well appearing; the heart and lungs are normal.
Plan: return in one year for the 5-year visit; anticipatory guidance on car seats.
"""


@pytest.fixture
def llm(standin):
    """``llm(answer, ...)``: a config whose model (the stand-in server) gives these answers."""

    def config(*answers: dict, extractor: str = "llm") -> ReviewConfig:
        standin.script(*[ok(a) for a in answers])
        return ReviewConfig(extractor=extractor, llm=standin.settings())

    return config


def finding(rec: Recommendation, rule_id: str):
    return next(f for f in rec.findings if f.rule_id == rule_id)


def sentence_with(case, doc_id: str, text: str) -> int:
    (doc,) = [d for d in parse_documents(case.documents) if d.document_id == doc_id]
    return next(s.id for s in doc.sentences if text in doc.text[s.start : s.end])


def assert_pends_on_unverified(rec: Recommendation, fact: str, reason: str) -> None:
    assert rec.decision == "pend", rec.summary
    x03 = finding(rec, "TPI-X03")
    assert x03.status == "not_met", x03.reason
    assert fact in x03.reason
    assert (fact, reason) in {(u.fact, u.reason) for u in rec.unverified}
    assert all(u.reason in REASONS for u in rec.unverified)
    assert rec.provenance.verification_rate is not None and rec.provenance.verification_rate < 1


# --------------------------------------------------------------------------- "the"


def the_answer(sentence: int) -> dict:
    the = cite("visit", sentence, "the")
    return {
        "procedure_status": "performed",
        "procedure_citations": [the],
        "injected_muscles": [
            {"name": "trapezius", "side": "left", "citation": the},
            {"name": "levator scapulae", "side": "left", "citation": the},
        ],
        "injection_sites": 3,
        "injectate": [
            {"name": "lidocaine", "category": "local_anesthetic", "dose": "1%", "citation": the}
        ],
        "exam_findings": [
            {"kind": "taut_band", "present": True, "citation": the},
            {"kind": "twitch_response", "present": True, "citation": the},
            {"kind": "referred_pain", "present": True, "citation": the},
        ],
        "prior_treatments": [
            {
                "name": "physical_therapy",
                "category": "noninvasive",
                "outcome": "failed",
                "citation": the,
            },
            {"name": "nsaid", "category": "noninvasive", "outcome": "failed", "citation": the},
        ],
    }


def well_child_case():
    return case_from_dict(
        {
            "case_id": "ATTACK-THE",
            "claim": {
                "date_of_service": "2026-03-14",
                "lines": [{"code": "20552", "units": 1, "diagnoses": ["M79.12"]}],
            },
            "documents": [
                {"id": "visit", "kind": "progress_note", "date": "2026-03-14", "text": WELL_CHILD}
            ],
        },
        source="test",
    )


def test_every_fact_quoting_the_on_a_well_child_note_pends(llm):
    case = well_child_case()
    cited = sentence_with(case, "visit", "The child is here")  # "the" is in it: (a) holds
    rec = review_case(case, llm(the_answer(cited)))

    assert rec.decision == "pend"  # before: approve, supported 20552
    assert rec.supported_code is None
    assert not rec.facts.procedure_performed and rec.facts.injected_muscles == []
    assert rec.facts.exam_findings == [] and rec.facts.prior_treatments == []
    x03 = finding(rec, "TPI-X03")
    assert x03.status == "not_met"
    assert x03.reason.startswith("9 fact(s) proposed by the model were not verified")
    for kind in ("procedure", "injected_muscles", "injectate", "exam_findings"):
        assert kind in x03.reason
    assert len(rec.unverified) == 9
    assert {(u.fact, u.reason) for u in rec.unverified} == {
        ("procedure", "quote does not describe a trigger point injection"),
        ("injected_muscles", "quote does not name this muscle"),
        ("injectate", "quote does not name this injectate"),
        ("exam_findings", "quote does not document this exam finding"),
        ("prior_treatments", "quote does not name this treatment"),
    }
    assert all(
        (u.document_id, u.quote, u.sentence_ids) == ("visit", "the", [cited])
        for u in rec.unverified
    )
    assert rec.ungrounded == []  # every quote was found: grounding alone let them all through
    assert rec.provenance.grounding_rate == 1.0
    assert rec.provenance.verification_rate == 0.0


def test_the_cited_anywhere_fails_the_sentence_check_first(llm):
    case = well_child_case()
    rec = review_case(case, llm(the_answer(1)))  # sentence 1 is the title: no "the" in it
    assert rec.decision == "pend"
    assert {u.reason for u in rec.unverified} == {"quote is not in the cited sentence(s)"}


def test_unverified_facts_in_the_reports(llm):
    case = well_child_case()
    rec = review_case(case, llm(the_answer(4)))
    data = json.loads(render_json(rec))
    assert set(data["unverified"][0]) == {"fact", "document_id", "quote", "sentence_ids", "reason"}
    assert data["provenance"]["verification_rate"] == 0.0
    assert "Unverified facts left out of the decision: 9" in render_text(rec)
    html = render_html(rec, {d.id: d.text for d in case.documents})
    assert 'id="unverified"' in html and "quote does not name this muscle" in html


# --------------------------------------------------------------------------- variants


def _approve_copy(tmp_path: Path, visit_extra: str = "", code: str | None = None):
    folder = tmp_path / "case"
    shutil.copytree(APPROVE, folder)
    if visit_extra:
        visit = folder / "visit.txt"
        visit.write_text(visit.read_text(encoding="utf-8") + visit_extra, encoding="utf-8")
    if code:
        path = folder / "case.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["claim"]["lines"][0]["code"] = code
        path.write_text(json.dumps(data), encoding="utf-8")
    return load_case(folder)


def test_legitimate_answer_on_the_bundled_example_approves_fully_verified(llm):
    rec = review_case(load_case(APPROVE), llm(approve_cervical_facts()))
    assert rec.decision == "approve" and rec.supported_code == "20552"
    assert rec.unverified == []
    assert rec.provenance.verification_rate == 1.0
    assert finding(rec, "TPI-X03").status == "not_applicable"


def test_quote_from_another_sentence_than_cited(llm, tmp_path):
    case = load_case(APPROVE)
    facts = approve_cervical_facts()
    # the only conservative care, quoted from sentence 10 while citing the cyclobenzaprine one
    facts["prior_treatments"] = [
        {
            "name": "physical_therapy",
            "category": "noninvasive",
            "outcome": "failed",
            "citation": cite("visit", 12, "no relief from physical therapy"),
        }
    ]
    rec = review_case(case, llm(facts))
    assert_pends_on_unverified(rec, "prior_treatments", "quote is not in the cited sentence(s)")
    assert rec.facts.prior_treatments == []
    assert finding(rec, "TPI-M05").status != "met"


def test_muscle_quote_naming_another_muscle(llm, tmp_path):
    case = _approve_copy(tmp_path, code="20553")
    facts = approve_cervical_facts()
    facts["injected_muscles"].append(
        {
            "name": "rhomboid",
            "side": "left",
            "citation": cite("proc", 14, "1 in the L levator scapulae"),
        }
    )
    rec = review_case(case, llm(facts))
    assert_pends_on_unverified(rec, "injected_muscles", "quote does not name this muscle")
    assert rec.supported_code == "20552"  # before: 20553 approved on three "muscles"
    assert {m.name for m in rec.facts.injected_muscles} == {"trapezius", "levator scapulae"}


def test_one_side_quoted_as_bilateral_to_reach_20553(llm, tmp_path):
    """Left and right count as two muscles: "bilateral" on a left-only quote upcodes to 20553."""
    case = _approve_copy(tmp_path, code="20553")
    facts = approve_cervical_facts()
    facts["injected_muscles"][0]["side"] = "bilateral"  # "2 in the L upper trapezius"
    rec = review_case(case, llm(facts))
    assert_pends_on_unverified(rec, "injected_muscles", "quote does not name both sides")
    assert rec.supported_code == "20552"  # before: 20553 approved


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("No trigger point injections today.", "quote says it was not done (negated)"),
        (
            "Will schedule TPI for the L upper trapezius.",
            "quote describes a plan or possibility (hypothetical)",
        ),
    ],
)
def test_negated_or_planned_injection_cited_as_performed(llm, tmp_path, sentence, reason):
    case = _approve_copy(tmp_path, visit_extra=f"\nADDENDUM: {sentence}\n")
    facts = approve_cervical_facts()
    quote = sentence.rstrip(".")
    facts["procedure_citations"] = [cite("visit", sentence_with(case, "visit", quote), quote)]
    rec = review_case(case, llm(facts))
    assert_pends_on_unverified(rec, "procedure", reason)
    assert not rec.facts.procedure_performed and rec.supported_code is None


def test_the_plan_of_an_earlier_visit_cited_as_performed(llm):
    case = load_case(APPROVE)  # the visit note (02/24) planned the injections done on 03/10
    facts = approve_cervical_facts()
    quote = "Trigger point injections to the L upper trapezius and L levator scapulae"
    facts["procedure_citations"] = [cite("visit", sentence_with(case, "visit", quote), quote)]
    rec = review_case(case, llm(facts))
    assert_pends_on_unverified(
        rec, "procedure", "quote is from a note dated before the date of service"
    )


def test_a_soap_plan_that_documents_the_injection_today_verifies(llm, tmp_path):
    """ "P: TPI performed today." is how SOAP notes document the procedure: no plan-section rule."""
    extra = "\nP: TPI performed today, L upper trapezius and L levator scapulae.\n"
    folder = tmp_path / "soap"
    shutil.copytree(APPROVE, folder)
    (folder / "proc.txt").write_text(
        (APPROVE / "proc.txt").read_text(encoding="utf-8") + extra, encoding="utf-8"
    )
    case = load_case(folder)
    facts = approve_cervical_facts()
    quote = "TPI performed today"
    facts["procedure_citations"] = [cite("proc", sentence_with(case, "proc", quote), quote)]
    rec = review_case(case, llm(facts))
    assert rec.unverified == [] and rec.decision == "approve"


def test_pt_helped_a_lot_cited_as_failed_pt(llm, tmp_path):
    case = _approve_copy(tmp_path, visit_extra="\nADDENDUM: PT helped a lot.\n")
    facts = approve_cervical_facts()
    facts["prior_treatments"] = [
        {
            "name": "physical_therapy",
            "category": "noninvasive",
            "outcome": "failed",
            "citation": cite("visit", sentence_with(case, "visit", "PT helped"), "PT helped a lot"),
        }
    ]
    rec = review_case(case, llm(facts))
    assert_pends_on_unverified(rec, "prior_treatments", "quote does not state the claimed outcome")
    assert rec.facts.prior_treatments == []


def test_negated_taut_band_cited_as_present(llm, tmp_path):
    extra = "\nADDENDUM: No taut band in the L levator scapulae.\n"
    case = _approve_copy(tmp_path, visit_extra=extra)
    facts = approve_cervical_facts()
    quote = "No taut band in the L levator scapulae"
    facts["exam_findings"] = [
        {
            "kind": "taut_band",
            "present": True,
            "citation": cite("visit", sentence_with(case, "visit", quote), quote),
        },
        {
            "kind": "twitch_response",
            "present": True,
            "citation": cite("visit", 18, "local twitch response"),
        },
    ]
    rec = review_case(case, llm(facts))
    assert_pends_on_unverified(rec, "exam_findings", "quote documents the finding as absent")
    assert [f.kind for f in rec.facts.exam_findings] == ["twitch_response"]
    assert finding(rec, "TPI-M04").status != "met"


def test_unverified_fact_the_decision_does_not_need_is_listed_and_the_case_approves(llm):
    facts = approve_cervical_facts()
    facts["concurrent_therapies"].append(
        {
            "name": "yoga",
            "category": "noninvasive",
            "outcome": "ongoing",
            "citation": cite("proc", 14, "the"),
        }
    )
    rec = review_case(load_case(APPROVE), llm(facts))
    assert rec.decision == "approve"
    assert finding(rec, "TPI-X03").status == "met"
    (u,) = rec.unverified
    assert (u.fact, u.reason) == ("concurrent_therapies", "quote does not name this treatment")
    assert "yoga" not in {t.name for t in rec.facts.concurrent_therapies}


def test_an_unverified_exclusion_cannot_tip_an_approval_either(llm, tmp_path):
    """Dropping a fact can hide a denial as well as invent an approval: a toxin injectate whose
    quote names no toxin is left out, and the case pends instead of approving or denying."""
    facts = approve_cervical_facts()
    facts["injectate"].append(
        {
            "name": "onabotulinumtoxinA",
            "category": "botulinum_toxin",
            "citation": cite("proc", 17, "1% lidocaine without epinephrine"),
        }
    )
    rec = review_case(load_case(APPROVE), llm(facts))
    assert_pends_on_unverified(rec, "injectate", "quote does not name this injectate")


def test_hybrid_mode_verifies_the_llm_facts(llm, tmp_path):
    case = _approve_copy(tmp_path, code="20553")
    facts = approve_cervical_facts()
    facts["injected_muscles"].append(
        {
            "name": "rhomboid",
            "side": "left",
            "citation": cite("proc", 14, "1 in the L levator scapulae"),
        }
    )
    rec = review_case(case, llm(facts, extractor="hybrid"))
    assert rec.provenance.extractor == "hybrid"
    assert [u.fact for u in rec.unverified] == ["injected_muscles"]
    assert rec.facts.extractor_disagreements == []  # the verified LLM facts agree with offline
    assert_pends_on_unverified(rec, "injected_muscles", "quote does not name this muscle")


# --------------------------------------------------------------------------- the checks one by one


def _verify(text: str, item: dict):
    doc = parse_documents([Document(id="n", kind="procedure_note", text=text)])[0]
    answer = LLMFacts.model_validate({"procedure_status": "not_mentioned", **item})
    return verify_answer(answer, [doc], lambda c: ground(c, {"n": doc})[0])


def _one(field: str, text: str, **item) -> str | None:
    quote = item.pop("quote", text.rstrip("."))
    entry = {**item, "citation": cite("n", 1, quote)}
    result = _verify(text, {field: [entry]})
    assert result.grounded == 1
    return result.unverified[0].reason if result.unverified else None


@pytest.mark.parametrize(
    ("field", "text", "item", "reason"),
    [
        ("exam_findings", "No taut band palpated.", {"kind": "taut_band", "present": False}, None),
        (
            "exam_findings",
            "Palpable taut band.",
            {"kind": "taut_band", "present": False},
            "quote does not document the finding as absent",
        ),
        (
            "injectate",
            "Injected 1% xylocaine, 2 mL.",
            {"name": "lidocaine", "category": "local_anesthetic"},
            None,
        ),
        (
            "injectate",
            "Injected 1% xylocaine, 2 mL.",
            {"name": "bupivacaine", "category": "local_anesthetic"},
            None,  # same category: the brief accepts name or category
        ),
        (
            "injectate",
            "Injected 1% xylocaine, 2 mL.",
            {"name": "triamcinolone", "category": "corticosteroid"},
            "quote does not name this injectate",
        ),
        (
            "injected_muscles",
            "Injected the L QL.",
            {"name": "Quadratus Lumborum", "side": "left"},
            None,  # abbreviation and case: mentions carry the canonical name
        ),
        (
            "injected_muscles",
            "Injected the upper trapezius bilaterally.",
            {"name": "trapezius", "side": "bilateral"},
            None,
        ),
        (
            "injected_muscles",
            "Injected the L and R upper trapezius.",
            {"name": "trapezius", "side": "bilateral"},
            None,
        ),
        (
            "injected_muscles",
            "Injected the L upper trapezius.",
            {"name": "trapezius", "side": "bilateral"},
            "quote does not name both sides",
        ),
        (
            "excluded_services",
            "Dry needling was not performed.",
            {"kind": "dry_needling", "performed": True},
            "quote says it was not done (negated)",
        ),
        (
            "excluded_services",
            "Dry needling was not performed.",
            {"kind": "dry_needling", "performed": False},
            None,
        ),
        (
            "excluded_services",
            "Botox 100 units injected.",
            {"kind": "botulinum_toxin", "performed": True},
            None,  # a toxin injectate is that excluded service
        ),
        (
            "prior_treatments",
            "PT helped but NSAIDs failed.",
            {"name": "nsaid", "category": "noninvasive", "outcome": "failed"},
            None,  # each treatment takes its nearest outcome cue
        ),
        (
            "prior_treatments",
            "PT helped but NSAIDs failed.",
            {"name": "physical_therapy", "category": "noninvasive", "outcome": "failed"},
            "quote does not state the claimed outcome",
        ),
        (
            "prior_treatments",
            "Naproxen for 4 weeks did not help.",  # ConText marks "did not help" negated
            {"name": "nsaid", "category": "noninvasive", "outcome": "failed"},
            None,
        ),
        (
            "prior_treatments",
            "PT was started without any improvement.",  # a negated good outcome is a failure
            {"name": "physical_therapy", "category": "noninvasive", "outcome": "failed"},
            None,
        ),
        (
            "prior_treatments",
            "PT gave no meaningful improvement.",
            {"name": "physical_therapy", "category": "invasive", "outcome": "failed"},
            "treatment category differs from the lexicon's",
        ),
        (
            "prior_injections",
            "Prior TPI gave 70% relief for 3 months.",
            {"response": "improved"},
            None,
        ),
        (
            "prior_injections",
            "Prior TPI: pain 7/10 to 3/10.",
            {"response": "no_relief"},
            "quote does not state the claimed response",
        ),
        (
            "prior_injections",
            "Prior TPI gave 70% relief for 3 months.",
            {"response": "improved", "quote": "70% relief for 3 months"},
            "quote does not describe a trigger point injection",
        ),
    ],
)
def test_check(field, text, item, reason):
    assert _one(field, text, **item) == reason


def test_verification_does_not_import_the_offline_extractor():
    code = (
        "import sys, review.extract.llm.verify; "
        "print(sorted(m for m in sys.modules if m.startswith('review.extract.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "review.extract.offline" not in out and "review.extract.llm.verify" in out
