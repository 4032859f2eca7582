"""Properties of the whole pipeline on notes assembled from random synthetic fragments: every
evidence span slices back to its document, and the JSON output is the same bytes on every run."""

from __future__ import annotations

import json

from conftest import evidence_items
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review.case import case_from_dict
from review.pipeline import review_case
from review.report import render_json

FRAGMENTS = [
    # trigger point injection sentences, today / planned / historical / negated
    "Trigger point injections were performed today into the left upper trapezius.",
    "TPI x3 to R QL, L glute med and R piriformis with 2 mL 1% lidocaine each.",
    "The trapezius muscles bilaterally were injected with 3 mL of 0.5% bupivacaine.",
    "A series of trigger point injections is planned at the next visit.",
    "Her previous trigger point injection gave 60% relief for 6 weeks.",
    "No trigger point injection was given today.",
    "Injections into the paraspinal musculature; the area over the spasm was injected.",
    "Right erector spinae plane block with 20 mL of 0.25% bupivacaine.",
    "Trigger finger injection of the A1 pulley.",
    "Dry needling of the left trapezius, no injectate.",
    "Trigger point injection with Botox.",
    # exam, history, treatments
    "Exam: palpable taut band with a local twitch response in the left trapezius.",
    "There is no taut band. Tender to palpation over the R levator scapulae.",
    "Cervical rotation is limited to the right; pain began after a motor vehicle accident.",
    "She reports no relief from physical therapy for 8 weeks.",
    "NSAIDs are contraindicated because of her kidney disease.",
    "Dx: myalgia of the neck (M79.12).",
    # headings, list items, letters, placeholders
    "PROCEDURE PERFORMED",
    "PHYSICAL EXAMINATION",
    "PLAN:",
    "S:",
    "A/P:",
    "- L upper trap",
    "1. R levator",
    "Dear Dr. ***,",
    "DATE OF SERVICE: MM/DD/YYYY",
    "Sincerely,",
    # unicode and odd characters
    "Caf\u00e9 owner, 5 \u00b5g, na\u00efve, \u00bd tablet \u2014 fine.",
    "Pain 8/10 \U0001f622 \u2192 3/10 \U0001f642 after the injection.",
    "\u4e2d\u6587 note \u0645\u0631\u062d\u0628\u0627 trapezius",
    "e\u0301 combining accent, zero\u200bwidth, nbsp\u00a0here",
]

SEPARATORS = ["", " ", "  ", "\n", "\n\n", "\r\n", "\t", " \t\n", "\n   ", "\u00a0", "\u2028"]

fragment = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=20,
    ),
)
note = st.lists(st.tuples(fragment, st.sampled_from(SEPARATORS)), min_size=1, max_size=14).map(
    lambda parts: "".join(f + sep for f, sep in parts)
)


def _case(proc: str, visit: str, claim: bool):
    data = {
        "case_id": "P-1",
        "documents": [
            {"id": "proc", "kind": "procedure_note", "date": "2026-03-14", "text": proc},
            {"id": "visit", "kind": "progress_note", "date": "2026-02-20", "text": visit},
        ],
    }
    if claim:
        data["claim"] = {
            "date_of_service": "2026-03-14",
            "lines": [{"code": "20553", "units": 1, "diagnoses": ["M79.18"]}],
        }
    return case_from_dict(data, source="hypothesis")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proc=note, visit=note, claim=st.booleans())
def test_evidence_slices_back_and_json_is_reproducible(nlp, proc, visit, claim):
    if not (proc.strip() or visit.strip()):
        proc = "Trigger point injection performed today."
    case = _case(proc, visit, claim)
    texts = {d.id: d.text for d in case.documents}
    rec = review_case(case)

    items = list(evidence_items(rec.model_dump(mode="json")))
    assert rec.ungrounded == []
    for ev in items:
        text = texts[ev["document_id"]]
        assert 0 <= ev["start"] < ev["end"] <= len(text), ev
        assert ev["text"] == text[ev["start"] : ev["end"]], ev

    first = render_json(rec)
    second = render_json(review_case(_case(proc, visit, claim)))
    assert first == second
    assert json.loads(first)["case_id"] == "P-1"
