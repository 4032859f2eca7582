"""FHIR in and out: example Bundles review like their case folders; bad Bundles are coded
one-line errors or pends with the reason; responses validate with fhir.resources."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.task import Task
from fhir_bundles import EXAMPLES, b64, bundle_from_case

from review.case import case_from_dict, load_case
from review.errors import CaseError
from review.fhir.response import render_fhir, response_bundle
from review.pipeline import review_case

ROOT = Path(__file__).resolve().parents[1]
FHIR = ROOT / "examples" / "fhir"


def _outcome(rec):
    return (
        rec.decision,
        rec.supported_code,
        rec.missing_documentation,
        [(f.rule_id, f.status, f.reason, f.evidence) for f in rec.findings],
    )


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_bundle_reviews_like_its_case_folder(name):
    folder = ROOT / "examples" / EXAMPLES[name][0]
    bundle_path = FHIR / f"{name}.bundle.json"
    from_bundle = review_case(load_case(bundle_path))
    from_folder = review_case(load_case(folder))
    assert _outcome(from_bundle) == _outcome(from_folder)
    # the committed example is what the builder makes (regenerate: python tests/fhir_bundles.py)
    assert json.loads(bundle_path.read_text()) == bundle_from_case(
        folder, binary_for=EXAMPLES[name][1]
    )


@pytest.mark.parametrize(
    ("name", "action", "task"),
    [
        ("approve-cervical-tpi", "A1", False),
        ("pend-no-conservative-care", "A4", True),
        ("deny-dry-needling", "A3", False),
    ],
)
def test_claim_response_validates_and_carries_the_decision(name, action, task):
    path = FHIR / f"{name}.bundle.json"
    case = load_case(path)
    rec = review_case(case)
    out = json.loads(render_fhir(rec, case, path))
    bundle = Bundle.model_validate(out)
    response = bundle.entry[0].resource
    assert isinstance(response, ClaimResponse)
    review_action = response.item[0].adjudication[0].extension[0].extension
    codes = [e.valueCodeableConcept.coding[0].code for e in review_action if e.valueCodeableConcept]
    assert codes[0] == action
    unmet = [f for f in rec.findings if f.status in ("not_met", "insufficient")]
    assert [n.text.split(":")[0] for n in response.processNote or []] == [f.rule_id for f in unmet]
    human = [e for e in response.extension if e.url.endswith("wasHumanReviewed")]
    assert human[0].valueBoolean is False
    # evidence spans survive loss-free in the contained Binary
    binary = response.contained[0]
    carried = json.loads(binary.data)
    assert carried["findings"] == json.loads(rec.model_dump_json())["findings"]
    tasks = [e.resource for e in bundle.entry if isinstance(e.resource, Task)]
    assert bool(tasks) == task
    if task:
        asked = [i.valueCodeableConcept.text for i in tasks[0].input]
        assert asked == rec.missing_documentation
        assert tasks[0].input[0].valueCodeableConcept.coding[0].system == "http://loinc.org"
    assert response.request.reference == f"Claim/{case.case_id}"


def test_nurse_decision_makes_the_final_response_human_reviewed():
    path = FHIR / "pend-no-conservative-care.bundle.json"
    case = load_case(path)
    rec = review_case(case)
    review = {
        "decision": "approve",
        "supported_code": "20552",
        "reason": "PT notes faxed",
        "reviewer": "rn1",
        "at": "2026-02-20T10:00:00Z",
    }
    out = response_bundle(rec, case, review=review)
    response = Bundle.model_validate(out).entry[0].resource
    assert [e.valueBoolean for e in response.extension if e.url.endswith("wasHumanReviewed")] == [
        True
    ]
    assert response.outcome == "complete" and len(out["entry"]) == 1  # no Task after approval


# --------------------------------------------------------------------------- bad input


def _bundle() -> dict:
    return bundle_from_case(ROOT / "examples" / "approve-cervical-tpi")


def _doc(bundle: dict, doc_id: str) -> dict:
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == doc_id:
            return entry["resource"]
    raise KeyError(doc_id)


def _with_third(attachment: dict) -> dict:
    """The approve bundle plus a third supportingInfo pointing at a DocumentReference."""
    bundle = _bundle()
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:doc-extra",
            "resource": {
                "resourceType": "DocumentReference",
                "id": "extra",
                "status": "current",
                "content": [{"attachment": attachment}],
            },
        }
    )
    bundle["entry"][0]["resource"]["supportingInfo"].append(
        {
            "sequence": 3,
            "category": {"coding": [{"code": "additionalInformation"}]},
            "valueReference": {"reference": "urn:uuid:doc-extra"},
        }
    )
    return bundle


def _no_claim():
    b = _bundle()
    b["entry"] = b["entry"][1:]
    return b


def _unknown_system():
    b = _bundle()
    b["entry"][0]["resource"]["item"][0]["productOrService"]["coding"][0]["system"] = "urn:x:local"
    return b


def _unknown_dx_system():
    b = _bundle()
    b["entry"][0]["resource"]["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["system"] = (
        "http://snomed.info/sct"
    )
    return b


def _invalid_fhir():
    b = _bundle()
    del b["entry"][0]["resource"]["patient"]
    return b


@pytest.mark.parametrize(
    ("make", "code", "where"),
    [
        (lambda: {"resourceType": "Patient"}, "F001", ""),
        (_no_claim, "F002", "Bundle.entry"),
        (
            _unknown_system,
            "F004",
            "Bundle.entry[0].resource(Claim/EX-001).item[0].productOrService",
        ),
        (_unknown_dx_system, "F004", "diagnosis[0]"),
        (_invalid_fhir, "F003", "Bundle.entry[0].resource(Claim/EX-001).patient"),
    ],
    ids=["not-a-bundle", "no-claim", "unknown-code-system", "unknown-dx-system", "invalid-fhir"],
)
def test_bad_bundle_is_a_coded_error_naming_the_path(make, code, where):
    with pytest.raises(CaseError) as info:
        case_from_dict(make(), source="b.json")
    message = str(info.value)
    assert message.startswith(f"[{code}] b.json") and where in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("attachment", "reason"),
    [
        (
            {"contentType": "application/pdf", "data": b64(b"%PDF-1.4 ...")},
            "attachment 3 is application/pdf: not read",
        ),
        (
            {"contentType": "text/plain", "data": "!!!notbase64"},
            "attachment 3: its data is not valid base64: not read",
        ),
        ({"contentType": "text/plain"}, "attachment 3 is empty: not read"),
        ({"contentType": "text/plain", "data": b64("   ")}, "attachment 3 is empty: not read"),
        (
            {"contentType": "text/plain", "data": b64(b"\xff\xfe\x00")},
            "attachment 3 (text/plain) is not UTF-8: not read",
        ),
        (
            {"contentType": "text/plain", "url": "https://elsewhere.example/note.txt"},
            "attachment 3 is a link outside the Bundle (not fetched): not read",
        ),
        (
            {"contentType": "text/plain", "data": b64("a" * 1_000_001)},
            "attachment 3 has 1,000,001 characters (limit 1,000,000): not read",
        ),
    ],
    ids=["pdf", "bad-base64", "no-data", "blank", "not-utf8", "external-link", "too-long"],
)
def test_unreadable_attachment_pends_with_the_reason(attachment, reason):
    case = case_from_dict(_with_third(attachment), source="b.json")
    assert case.unreadable_attachments == [reason]
    rec = review_case(case)
    finding = next(f for f in rec.findings if f.rule_id == "TPI-X05")
    assert rec.decision == "pend" and finding.status == "not_met"
    assert reason in finding.reason


def test_only_a_pdf_still_pends_and_never_crashes():
    bundle = _bundle()
    for doc_id in ("proc", "visit"):
        doc = _doc(bundle, doc_id)
        doc["content"] = [{"attachment": {"contentType": "application/pdf", "data": b64(b"%PDF")}}]
    rec = review_case(case_from_dict(bundle, source="b.json"))
    assert rec.decision == "pend"
    assert {f.rule_id for f in rec.findings if f.status == "not_met"} >= {"TPI-X05"}


def test_html_and_cda_attachments_are_read_as_their_narrative():
    note = (ROOT / "examples" / "approve-cervical-tpi" / "proc.txt").read_text()
    paragraphs = "".join(f"<p>{line}</p>" for line in note.splitlines() if line.strip())
    html_bundle = _bundle()
    _doc(html_bundle, "proc")["content"] = [
        {
            "attachment": {
                "contentType": "text/html",
                "data": b64(f"<html><script>x()</script><body>{paragraphs}</body></html>"),
            }
        }
    ]
    cda = (
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><component><structuredBody><component>'
        f"<section><title>Procedure</title><text>{paragraphs}</text></section>"
        "</component></structuredBody></component></ClinicalDocument>"
    )
    cda_bundle = _bundle()
    _doc(cda_bundle, "proc")["content"] = [
        {"attachment": {"contentType": "application/xml", "data": b64(cda)}}
    ]
    want = review_case(load_case(ROOT / "examples" / "approve-cervical-tpi"))
    for bundle in (html_bundle, cda_bundle):
        case = case_from_dict(bundle, source="b.json")
        assert "x()" not in case.document("proc").text
        rec = review_case(case)
        assert (rec.decision, rec.supported_code) == (want.decision, want.supported_code)


def test_cda_with_entities_is_not_expanded():
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><ClinicalDocument>&a;</ClinicalDocument>'
    case = case_from_dict(
        _with_third({"contentType": "text/xml", "data": b64(bomb)}), source="b.json"
    )
    assert case.unreadable_attachments == [
        "attachment 3 (text/xml) is not a C-CDA document with narrative: not read"
    ]


def test_binary_entry_is_read_and_bundle_maps_payer(tmp_path):
    case = load_case(FHIR / "approve-cervical-tpi.bundle.json")
    assert case.payer == "Harvard Pilgrim Health Care" and case.line_of_business == "commercial"
    assert [d.id for d in case.documents] == ["proc", "visit"]
    assert case.documents[1].text.startswith(
        (ROOT / "examples" / "approve-cervical-tpi" / "visit.txt").read_text()[:40]
    )


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{not json", "C003"), (b'{"resourceType": "Bundle", "type": "collection"}', "F002")],
    ids=["non-json", "empty-bundle"],
)
def test_cli_bad_bundle_is_one_line(tmp_path, content, code):
    path = tmp_path / "b.json"
    path.write_bytes(content)
    run = subprocess.run(
        [sys.executable, "-m", "review.cli", "case", str(path), "--format", "fhir"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: [{code}] ")


def test_cli_fhir_output_is_deterministic():
    path = FHIR / "deny-dry-needling.bundle.json"
    runs = [
        subprocess.run(
            [sys.executable, "-m", "review.cli", "case", str(path), "--format", "fhir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert Bundle.model_validate_json(runs[0]).entry[0].resource.outcome == "complete"


def test_bad_base64_does_not_change_the_submitted_bundle():
    bundle = _with_third({"contentType": "text/plain", "data": "!!!notbase64"})
    before = copy.deepcopy(bundle)
    case_from_dict(bundle, source="b.json")
    assert bundle == before
    assert base64  # used by the builder's b64


def test_batch_reviews_a_folder_and_an_ndjson_of_bundles(tmp_path):
    from review.batch.options import BatchOptions
    from review.batch.run import run_batch

    ndjson = tmp_path / "bundles.ndjson"
    lines = [json.dumps(json.loads(p.read_text())) for p in sorted(FHIR.glob("*.json"))]
    lines.append('{"resourceType": "Bundle", "id": "empty", "type": "collection"}')
    ndjson.write_text("\n".join(lines) + "\n")
    for source, out in ((ndjson, tmp_path / "a"), (FHIR, tmp_path / "b")):
        run_batch(source, out, BatchOptions())
        records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
        got = {r["case_id"]: r.get("decision") or r["error"]["code"] for r in records}
        want = {"EX-001": "approve", "EX-002": "pend", "EX-003": "deny"}
        if source == ndjson:
            want["empty"] = "F002"
        assert got == want
