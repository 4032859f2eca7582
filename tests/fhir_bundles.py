"""Build PAS Claim/$submit Bundles from the example case folders (tests and examples/fhir).

Plain dicts in the FHIR JSON shape; every Bundle made here is validated by ``fhir.resources``
when it is read, so a mistake here fails the tests instead of hiding in them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

LOINC_KIND = {"procedure_note": "28570-0", "progress_note": "11506-3"}


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def bundle_from_case(folder: Path, *, binary_for: set[str] = frozenset()) -> dict:
    """The case folder as a Bundle: each note a DocumentReference with inline text/plain data,
    or (ids in ``binary_for``) pointing at a Binary entry."""
    case = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    claim = case["claim"]
    dxs = sorted({dx for line in claim["lines"] for dx in line["diagnoses"]})
    entries: list[dict] = []
    supporting = []
    for n, doc in enumerate(case["documents"], start=1):
        text = (folder / doc["path"]).read_text(encoding="utf-8")
        attachment: dict = {"contentType": "text/plain"}
        if doc["id"] in binary_for:
            entries.append(
                {
                    "fullUrl": f"urn:uuid:binary-{doc['id']}",
                    "resource": {
                        "resourceType": "Binary",
                        "id": f"binary-{doc['id']}",
                        "contentType": "text/plain",
                        "data": b64(text),
                    },
                }
            )
            attachment["url"] = f"urn:uuid:binary-{doc['id']}"
        else:
            attachment["data"] = b64(text)
        entries.append(
            {
                "fullUrl": f"urn:uuid:doc-{doc['id']}",
                "resource": {
                    "resourceType": "DocumentReference",
                    "id": doc["id"],
                    "status": "current",
                    "type": {
                        "coding": [{"system": "http://loinc.org", "code": LOINC_KIND[doc["kind"]]}]
                    },
                    "subject": {"reference": "urn:uuid:patient-1"},
                    "date": f"{doc['date']}T12:00:00Z",
                    "content": [{"attachment": attachment}],
                },
            }
        )
        supporting.append(
            {
                "sequence": n,
                "category": {
                    "coding": [
                        {
                            "system": "http://hl7.org/us/davinci-pas/CodeSystem/PASSupportingInfoType",
                            "code": "additionalInformation",
                        }
                    ]
                },
                "valueReference": {"reference": f"urn:uuid:doc-{doc['id']}"},
            }
        )
    claim_res = {
        "resourceType": "Claim",
        "id": case["case_id"],
        "identifier": [{"system": "urn:example:provider-claims", "value": case["case_id"]}],
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "preauthorization",
        "patient": {"reference": "urn:uuid:patient-1"},
        "created": f"{claim['date_of_service']}T09:00:00Z",
        "insurer": {"reference": "urn:uuid:payer-1"},
        "provider": {"reference": "urn:uuid:practitioner-1"},
        "priority": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                    "code": "normal",
                }
            ]
        },
        "insurance": [
            {"sequence": 1, "focal": True, "coverage": {"reference": "urn:uuid:coverage-1"}}
        ],
        "diagnosis": [
            {
                "sequence": i,
                "diagnosisCodeableConcept": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": dx}]
                },
            }
            for i, dx in enumerate(dxs, start=1)
        ],
        "supportingInfo": supporting,
        "item": [
            {
                "sequence": i,
                "diagnosisSequence": [dxs.index(dx) + 1 for dx in line["diagnoses"]],
                "productOrService": {
                    "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": line["code"]}]
                },
                "servicedDate": claim["date_of_service"],
                "quantity": {"value": line["units"]},
            }
            for i, line in enumerate(claim["lines"], start=1)
        ],
    }
    if claim.get("authorization"):
        claim_res["insurance"][0]["preAuthRef"] = [claim["authorization"]]
    common = [
        {
            "fullUrl": "urn:uuid:patient-1",
            "resource": {
                "resourceType": "Patient",
                "id": "patient-1",
                "name": [{"family": "Example", "given": ["Synthetic"]}],
                "birthDate": "1970-01-01",
            },
        },
        {
            "fullUrl": "urn:uuid:practitioner-1",
            "resource": {
                "resourceType": "Practitioner",
                "id": "practitioner-1",
                "name": [{"family": "Provider", "given": ["Example"]}],
            },
        },
        {
            "fullUrl": "urn:uuid:payer-1",
            "resource": {
                "resourceType": "Organization",
                "id": "payer-1",
                "name": "Harvard Pilgrim Health Care",
            },
        },
        {
            "fullUrl": "urn:uuid:coverage-1",
            "resource": {
                "resourceType": "Coverage",
                "id": "coverage-1",
                "status": "active",
                "type": {"text": "commercial"},
                "beneficiary": {"reference": "urn:uuid:patient-1"},
                "payor": [{"reference": "urn:uuid:payer-1"}],
            },
        },
    ]
    return {
        "resourceType": "Bundle",
        "id": f"submit-{case['case_id']}",
        "type": "collection",
        "timestamp": f"{claim['date_of_service']}T09:00:00Z",
        "entry": [
            {"fullUrl": f"urn:uuid:claim-{case['case_id']}", "resource": claim_res},
            *common,
            *entries,
        ],
    }


EXAMPLES = {  # examples/fhir/<name>.json <- examples/<case folder>
    "approve-cervical-tpi": ("approve-cervical-tpi", {"visit"}),
    "pend-no-conservative-care": ("pend-no-conservative-care", set()),
    "deny-dry-needling": ("deny-dry-needling", set()),
}


def write_examples(root: Path) -> None:
    for name, (folder, binary) in EXAMPLES.items():
        bundle = bundle_from_case(root / "examples" / folder, binary_for=binary)
        path = root / "examples" / "fhir" / f"{name}.bundle.json"
        path.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_examples(Path(__file__).resolve().parents[1])
