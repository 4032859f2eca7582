"""The workbench's FHIR API over real HTTP: uvicorn on a free 127.0.0.1 port, started here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_bundles import b64, bundle_from_case
from live_server import serve

from review.workbench.app import create_app
from review.workbench.cases import load_cases

ROOT = Path(__file__).resolve().parents[1]
FHIR = ROOT / "examples" / "fhir"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("fhir-api") / "audit.sqlite"
    app = create_app(load_cases(ROOT / "examples" / "deny-dry-needling"), db)
    with serve(app) as base:
        yield base


def post(base: str, body: bytes, **headers) -> httpx.Response:
    return httpx.post(
        f"{base}/fhir/Claim/$submit",
        content=body,
        headers={"Content-Type": "application/fhir+json", **headers},
        timeout=120,
    )


def test_metadata_is_a_capability_statement(server):
    r = httpx.get(f"{server}/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    statement = CapabilityStatement.model_validate(r.json())
    assert statement.fhirVersion == "4.0.1"
    assert {res.type for res in statement.rest[0].resource} == {"Claim", "ClaimResponse"}


def test_submit_then_nurse_override_gives_the_final_response(server):
    body = (FHIR / "pend-no-conservative-care.bundle.json").read_bytes()
    r = post(server, body)  # no Origin, no CSRF token: a payer system, not a browser form
    assert r.status_code == 200, r.text
    bundle = Bundle.model_validate(r.json())
    response = bundle.entry[0].resource
    assert isinstance(response, ClaimResponse) and response.outcome == "queued"
    assert [e.resource.get_resource_type() for e in bundle.entry] == ["ClaimResponse", "Task"]
    read = httpx.get(f"{server}/fhir/ClaimResponse/{response.id}")
    assert read.status_code == 200
    flag = [e for e in read.json()["extension"] if e["url"].endswith("wasHumanReviewed")]
    assert flag[0]["valueBoolean"] is False

    # the case is in the workbench queue; a nurse approves it through the browser form
    with httpx.Client(base_url=server, headers={"Origin": server}) as browser:
        queue = browser.get("/").text
        slug = re.search(r'href="/case/(fhir-[^"#]+)"', queue).group(1)
        page = browser.get(f"/case/{slug}").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        done = browser.post(
            f"/case/{slug}/review",
            data={
                "csrf_token": token,
                "action": "override",
                "decision": "approve",
                "supported_code": "20552",
                "reason": "PT notes received by fax.",
                "reviewer": "R. Nurse",
            },
        )
        assert done.status_code in (200, 303), done.text[:200]
    final = ClaimResponse.model_validate(
        httpx.get(f"{server}/fhir/ClaimResponse/{response.id}").json()
    )
    assert final.outcome == "complete"
    flag = [e.valueBoolean for e in final.extension if e.url.endswith("wasHumanReviewed")]
    assert flag == [True]
    action = final.item[0].adjudication[0].extension[0].extension[1].valueCodeableConcept
    assert action.coding[0].code == "A1"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "C003"),
        (b"\xff\xfe", "C002"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "F002"),
        (b'{"resourceType": "Claim"}', "F001"),
    ],
    ids=["malformed-json", "not-utf8", "no-claim", "not-a-bundle"],
)
def test_malformed_post_is_an_operation_outcome(server, body, code):
    r = post(server, body)
    assert r.status_code == 400
    outcome = OperationOutcome.model_validate(r.json())
    assert outcome.issue[0].details.coding[0].code == code
    assert outcome.issue[0].diagnostics.startswith(f"[{code}]")


def test_a_10_mb_bundle_is_answered_without_reading_the_big_attachment(server):
    bundle = bundle_from_case(ROOT / "examples" / "approve-cervical-tpi")
    bundle["entry"][0]["resource"]["id"] = "BIG-1"
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:doc-scan",
            "resource": {
                "resourceType": "DocumentReference",
                "id": "scan",
                "status": "current",
                "content": [
                    {"attachment": {"contentType": "text/plain", "data": b64(b"a" * 7_500_000)}}
                ],
            },
        }
    )
    bundle["entry"][0]["resource"]["supportingInfo"].append(
        {
            "sequence": 3,
            "category": {"text": "scan"},
            "valueReference": {"reference": "urn:uuid:doc-scan"},
        }
    )
    body = json.dumps(bundle).encode()
    assert len(body) > 10_000_000
    r = post(server, body)
    assert r.status_code == 200, r.text[:300]
    response = Bundle.model_validate(r.json()).entry[0].resource
    assert response.outcome == "queued"  # pended: attachment 3 was too big to read
    assert any("attachment 3 is 7,500,000 bytes" in n.text for n in response.processNote)


def test_a_body_over_the_limit_is_refused(server):
    r = post(server, b" " * (17 * 1024 * 1024))
    assert r.status_code == 413
    assert OperationOutcome.model_validate(r.json()).issue[0].code == "too-long"


def test_unknown_claim_response_is_404(server):
    r = httpx.get(f"{server}/fhir/ClaimResponse/nope")
    assert r.status_code == 404
