"""A recommendation as FHIR: a Da Vinci PAS-shaped ``ClaimResponse`` (and, for a pend that asks
for documentation, a CDex-style ``Task``) in a ``collection`` Bundle.

Built as plain FHIR JSON and validated through ``fhir.resources`` (R4B models) before it is
serialised, so nothing invalid leaves. Codes used:

- X12 306 review action (``https://codesystem.x12.org/005010/306``): A1 certified in total
  (approve), A3 not certified (deny), A4 pended (pend).
- Reason codes: X12 Claim Adjustment Reason Codes (``https://x12.org/codes/claim-adjustment-reason-codes``),
  per finding that is not met: the rule's ``carc`` in its policy's rules.yaml (meanings in ``CARC`` below).
- Evidence spans: FHIR has no standard element for character offsets into an attachment, so
  the whole recommendation (findings with ``document_id``/``start``/``end``/``text``) travels
  loss-free as a contained ``Binary`` (application/json) that an extension points at.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from review.schema import Case, Recommendation

X12_306 = "https://codesystem.x12.org/005010/306"
CARC_SYSTEM = "https://x12.org/codes/claim-adjustment-reason-codes"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
OURS = "urn:tpi-review:fhir"
LOINC = "http://loinc.org"
REVIEW_ACTION = {
    "approve": ("A1", "Certified in total"),
    "deny": ("A3", "Not Certified"),
    "pend": ("A4", "Pended"),
}
CARC = {
    # code: meaning (X12 CARC)
    "16": "Claim/service lacks information or has submission/billing error(s).",
    "50": "These are non-covered services because this is not deemed a 'medical necessity' by the payer.",
    "96": "Non-covered charge(s).",
    "150": "Payer deems the information submitted does not support this level of service.",
    "151": "Payer deems the information submitted does not support this many/frequency of services.",
    "197": "Precertification/authorization/notification/pre-treatment absent.",
    "252": "An attachment/other documentation is required to adjudicate this claim/service.",
    "11": "The diagnosis is inconsistent with the procedure.",
}


def _rule_specs(rec: Recommendation) -> dict:
    """The rules of the policy a recommendation was made under: each rule's ``carc`` and
    ``requested_document`` are policy data (rules.yaml). A policy outside the registry (an
    analyst's folder) gives none, and every unmet finding falls back to 252 / 16."""
    from review.errors import RulesError
    from review.policy.load import load_policy

    try:
        policy = load_policy(rec.provenance.policy)
    except RulesError:
        return {}
    return {rule.spec.id: rule.spec for rule in policy.rules}


def fhir_id(text: str) -> str:
    """A FHIR id (``[A-Za-z0-9.-]{1,64}``) for any case id, stable across runs."""
    clean = re.sub(r"[^A-Za-z0-9.-]", "-", text)[:40].strip("-.") or "case"
    return f"{clean}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def unmet(rec: Recommendation):
    return [f for f in rec.findings if f.status in ("not_met", "insufficient")]


def reason_code(finding, specs: dict | None = None) -> str:
    """The rule's own CARC (rules.yaml ``carc``); else 252 when it asks for documentation, else 16."""
    spec = (specs or {}).get(finding.rule_id)
    return (spec.carc if spec else None) or ("252" if finding.missing_documentation else "16")


def response_bundle(
    rec: Recommendation,
    case: Case,
    request: dict[str, Any] | None = None,
    *,
    review: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response Bundle (ClaimResponse first, then a Task for a pend asking for documents).

    ``request``: what the Claim said that the response echoes (patient, insurer, type, created,
    item sequences; :func:`request_info`). ``review``: a nurse's decision
    (``decision``, ``supported_code``, ``reason``, ``reviewer``, ``at``): the final response with
    ``wasHumanReviewed`` true; without it the response is the engine's, ``wasHumanReviewed`` false.
    """
    request = request or request_info(None, rec.case_id)
    decision = review["decision"] if review else rec.decision
    response = claim_response(rec, case, request, decision, review)
    entries = [{"fullUrl": f"urn:uuid:{response['id']}", "resource": response}]
    task = documentation_task(rec, request, response["id"]) if decision == "pend" else None
    if task is not None:
        entries.append({"fullUrl": f"urn:uuid:{task['id']}", "resource": task})
    bundle = {
        "resourceType": "Bundle",
        "id": f"{response['id']}-bundle",
        "type": "collection",
        "timestamp": response["created"],
        "entry": entries,
    }
    from fhir.resources.R4B.bundle import Bundle

    return json.loads(Bundle.model_validate(bundle).model_dump_json())


def request_info(claim: dict[str, Any] | None, case_id: str) -> dict[str, Any]:
    """What the response echoes from the Claim (a case folder has no Claim: placeholders)."""
    claim = claim or {}
    return {
        "claim_ref": f"Claim/{claim['id']}" if claim.get("id") else None,
        "patient": claim.get("patient") or {"display": f"member of case {case_id}"},
        "insurer": claim.get("insurer") or {"display": "payer"},
        "requestor": claim.get("provider"),
        "type": claim.get("type")
        or {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": claim.get("use") or "preauthorization",
        "created": claim.get("created") or "1970-01-01T00:00:00Z",
        "items": [i.get("sequence") for i in claim.get("item") or [] if i.get("sequence")],
        "identifier": claim.get("identifier") or [],
    }


def claim_response(rec, case, request, decision, review) -> dict[str, Any]:
    rid = fhir_id(rec.case_id) + ("-final" if review else "")
    action, action_text = REVIEW_ACTION[decision]
    open_findings = unmet(rec)
    if review:
        reasons = ["16"] if decision != "approve" else []
    else:
        specs = _rule_specs(rec)
        reasons = sorted({reason_code(f, specs) for f in open_findings}, key=int)
    pa_number = (
        "PA-"
        + hashlib.sha256(f"{rec.case_id}|{rec.provenance.rules_sha256}".encode())
        .hexdigest()[:12]
        .upper()
    )
    review_action: list[dict[str, Any]] = [
        {"url": "number", "valueString": pa_number},
        {
            "url": f"{PAS}/extension-reviewActionCode",
            "valueCodeableConcept": {
                "coding": [{"system": X12_306, "code": action, "display": action_text}]
            },
        },
    ]
    review_action += [
        {
            "url": "reasonCode",
            "valueCodeableConcept": {
                "coding": [{"system": CARC_SYSTEM, "code": code, "display": CARC[code]}]
            },
        }
        for code in reasons
    ]
    adjudication = {
        "category": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/adjudication",
                    "code": "submitted",
                }
            ]
        },
        "extension": [{"url": f"{PAS}/extension-reviewAction", "extension": review_action}],
    }
    items = request["items"] or [1]
    notes = []
    for n, finding in enumerate(open_findings, start=1):
        notes.append(
            {
                "number": n,
                "type": "display",
                "text": f'{finding.rule_id}: {finding.reason} Policy: "{finding.policy_text}"',
            }
        )
    if review:
        notes.append(
            {
                "number": len(notes) + 1,
                "type": "display",
                "text": f"Nurse review by {review['reviewer']}: {review['decision']}"
                + (
                    f" (supported code {review['supported_code']})"
                    if review.get("supported_code")
                    else ""
                )
                + f": {review['reason']}",
            }
        )
    payload = base64.b64encode(
        json.dumps(rec.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode()
    ).decode()
    response: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": rid,
        "contained": [
            {
                "resourceType": "Binary",
                "id": "recommendation",
                "contentType": "application/json",
                "data": payload,
            }
        ],
        "extension": [
            {"url": f"{OURS}:wasHumanReviewed", "valueBoolean": bool(review)},
            {"url": f"{OURS}:evidence", "valueReference": {"reference": "#recommendation"}},
            {
                "url": f"{OURS}:supportedCode",
                "valueString": (review.get("supported_code") if review else rec.supported_code)
                or "none",
            },
        ],
        "identifier": [{"system": f"{OURS}:preauth", "value": pa_number}],
        "status": "active",
        "type": request["type"],
        "use": request["use"],
        "patient": request["patient"],
        "created": review["at"] if review else request["created"],
        "insurer": request["insurer"],
        "outcome": "complete" if decision != "pend" else "queued",
        "disposition": (
            f"Nurse {review['decision']}: {review['reason']}" if review else rec.summary
        ),
        "preAuthRef": pa_number,
        "item": [{"itemSequence": seq, "adjudication": [adjudication]} for seq in items],
    }
    if request.get("requestor"):
        response["requestor"] = request["requestor"]
    if request.get("claim_ref"):
        response["request"] = {"reference": request["claim_ref"]}
    if notes:
        response["processNote"] = notes
    return response


def documentation_task(rec: Recommendation, request, response_id: str) -> dict[str, Any] | None:
    """A CDex-style Task asking the provider for exactly the missing documentation."""
    asks = []
    specs = _rule_specs(rec)
    for finding in unmet(rec):
        if not finding.missing_documentation:
            continue
        spec = specs.get(finding.rule_id)
        code = spec.requested_document if spec else None
        concept: dict[str, Any] = {"text": finding.missing_documentation}
        if code:
            concept["coding"] = [{"system": LOINC, "code": code[0], "display": code[1]}]
        asks.append((finding.rule_id, concept))
    if not asks:
        return None
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"{response_id}-docs",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-attachment-request"
            ]
        },
        "status": "requested",
        "intent": "order",
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp",
                    "code": "attachment-request-code",
                }
            ]
        },
        "description": "Send the documentation listed in input for the pended prior authorization.",
        "for": request["patient"],
        "authoredOn": request["created"],
        "requester": request["insurer"],
        "reasonReference": {"reference": f"urn:uuid:{response_id}"},
        "input": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp",
                            "code": "attachments-needed",
                        }
                    ],
                    "text": rule_id,
                },
                "valueCodeableConcept": concept,
            }
            for rule_id, concept in asks
        ],
    }
    if request.get("requestor"):
        task["owner"] = request["requestor"]
    if request.get("claim_ref"):
        task["focus"] = {"reference": request["claim_ref"]}
    return task


def render_fhir(rec: Recommendation, case: Case, path=None) -> str:
    """``--format fhir``: the response Bundle as JSON. When the input was a Bundle its Claim is
    echoed (patient, insurer, items); a case folder gets placeholders."""
    claim = None
    if path is not None and str(path).endswith(".json"):
        from pathlib import Path

        from review.case import parse_json
        from review.fhir.bundle import claim_of

        claim = claim_of(parse_json(Path(path).read_text(encoding="utf-8"), str(path)))
    return (
        json.dumps(
            response_bundle(rec, case, request_info(claim, rec.case_id)),
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        )
        + "\n"
    )
