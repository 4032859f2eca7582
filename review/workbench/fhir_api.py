"""The workbench's FHIR API, mounted at ``/fhir``: a Da Vinci PAS-style prior-authorization front.

- ``POST /fhir/Claim/$submit``: a PAS Bundle in, the review as a ClaimResponse Bundle out (200);
  the case joins the workbench queue for a nurse.
- ``GET /fhir/ClaimResponse/{id}``: the response in force: the nurse's final one
  (``wasHumanReviewed`` true) once a nurse accepted or overrode, else the engine's.
- ``GET /fhir/metadata``: a minimal CapabilityStatement.

The browser rules (Origin and CSRF token) are for the workbench's HTML forms and do not apply to
this JSON API, which a payer's system calls; the rest is the workbench's: loopback unless
``--allow-remote``, the Host check, no access log, no PHI in any log line. Bodies are read up to
``MAX_BUNDLE_BYTES`` and refused past it (413) before anything is parsed. Errors are FHIR
``OperationOutcome``s carrying the coded one-line message.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from review.errors import ReviewError
from review.workbench.blind import blind_for
from review.workbench.cases import CaseEntry, CaseSource, clock_inputs

FHIR_JSON = "application/fhir+json"
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
"""A PAS request with its notes as text is far smaller; 16 MiB leaves room for a few scanned
attachments (which are listed as unreadable, not read)."""


def _outcome(status: int, code: str, message: str) -> JSONResponse:
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    body = OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "too-long"
                    if status == 413
                    else ("invalid" if status < 500 else "exception"),
                    "details": {"coding": [{"system": "urn:tpi-review:error", "code": code}]},
                    "diagnostics": message,
                }
            ],
        }
    )
    return JSONResponse(
        json.loads(body.model_dump_json()), status_code=status, media_type=FHIR_JSON
    )


def _fhir(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def capability_statement() -> dict[str, Any]:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    from review import __version__

    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-02",
        "kind": "instance",
        "software": {"name": "tpi-review", "version": __version__},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": "Claim",
                        "operation": [
                            {
                                "name": "submit",
                                "definition": "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit",
                            }
                        ],
                    },
                    {"type": "ClaimResponse", "interaction": [{"code": "read"}]},
                ],
            }
        ],
    }
    return json.loads(CapabilityStatement.model_validate(statement).model_dump_json())


def create_fhir_app(source: CaseSource, store, review=None) -> FastAPI:
    """The sub-application; ``review`` is :func:`review.pipeline.review_case` unless a test
    gives another."""
    from review.fhir.bundle import case_from_bundle, claim_of
    from review.fhir.response import fhir_id, request_info, response_bundle

    if review is None:
        from review.pipeline import review_case as review

    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    claims: dict[str, dict[str, Any]] = {}  # response id -> what the response echoes
    cases: dict[str, Any] = {}
    keys: dict[str, str] = {}  # response id -> workbench case key

    @api.get("/metadata")
    def metadata() -> JSONResponse:
        return _fhir(capability_statement())

    @api.post("/Claim/$submit")
    async def submit(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BUNDLE_BYTES:
            return _outcome(
                413, "F006", f"request body over {MAX_BUNDLE_BYTES:,} bytes; send the notes as text"
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BUNDLE_BYTES:
                return _outcome(
                    413,
                    "F006",
                    f"request body over {MAX_BUNDLE_BYTES:,} bytes; send the notes as text",
                )
            chunks.append(chunk)
        try:
            text = b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            return _outcome(400, "C002", "[C002] request body is not UTF-8; send FHIR JSON")
        try:
            from review.case import parse_json

            data = parse_json(text, "request body")
            case = await run_in_threadpool(case_from_bundle, data, source="request body")
            rec = await run_in_threadpool(review, case)
        except ReviewError as exc:
            return _outcome(400, exc.code, str(exc))
        rid = fhir_id(case.case_id)
        claim = claim_of(data) or {}
        echo: dict[str, Any] = {
            k: claim[k]
            for k in (
                "id",
                "patient",
                "insurer",
                "provider",
                "type",
                "use",
                "created",
                "item",
                "identifier",
            )
            if k in claim
        }
        claims[rid] = request_info(echo, case.case_id)
        cases[rid] = case
        key = f"fhir-{rid}"
        keys[rid] = key
        entry = CaseEntry(
            key=key,
            case_id=rec.case_id,
            source="POST /fhir/Claim/$submit",
            rec=rec,
            documents={doc.id: doc.text for doc in case.documents},
            date_of_service=case.claim.date_of_service.isoformat()
            if case.claim and case.claim.date_of_service
            else None,
            **clock_inputs(case),
        )
        source.replace(entry)
        return _fhir(response_bundle(rec, case, claims[rid]))

    @api.get("/ClaimResponse/{rid}")
    def read(rid: str, request: Request) -> JSONResponse:
        base = rid.removesuffix("-final")
        entry = next((e for e in source.entries if e.key == keys.get(base)), None)
        if entry is None or entry.rec is None:
            return _outcome(404, "F007", f"no ClaimResponse {rid!r}; submit the Claim first")
        who = getattr(request.state, "identity", None)  # set by the sign-in gate, if any
        if who is not None and blind_for(store.snapshot().rows, entry.key, who.subject):
            return _outcome(
                403,
                "F009",
                "this case is assigned to you for a blind second review: its decision is not "
                "shown to you",
            )
        row = store.latest().get(entry.key)
        review_info = None
        if row is not None:
            review_info = {
                "decision": row.to_decision,
                "supported_code": row.to_code,
                "reason": row.reason,
                "reviewer": row.reviewer,
                "at": row.at,
            }
        bundle = response_bundle(entry.rec, cases[base], claims[base], review=review_info)
        return _fhir(bundle["entry"][0]["resource"])

    return api
