"""Read a Da Vinci PAS ``Claim/$submit`` Bundle into a :class:`~review.schema.Case`.

``fhir.resources`` (R4B models, see :mod:`review.fhir`) validates the whole Bundle; this module
only maps validated resources to the case contract. Attachments are read from inside the Bundle
only (inline ``Attachment.data`` or a ``Binary`` entry): a link outside it is never fetched. An
attachment that cannot be read (a PDF, an image, bad base64, empty, not UTF-8) is not an error: it
is listed in ``Case.unreadable_attachments`` and rule TPI-X05 pends the case with the reason.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import html.parser
import re
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

from pydantic import ValidationError

from review.errors import CaseError
from review.schema import Case, Claim, ClaimLine, Document

CPT_SYSTEMS = {
    "http://www.ama-assn.org/go/cpt",
    "urn:oid:2.16.840.1.113883.6.12",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "urn:oid:2.16.840.1.113883.6.285",
}
ICD10CM_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90"}
LOINC = "http://loinc.org"
DOCUMENT_KINDS = {  # LOINC document type -> our document kind
    "28570-0": "procedure_note",
    "11506-3": "progress_note",
    "34117-2": "history_physical",
    "11488-4": "consult_note",
    "18842-5": "discharge_summary",
}
TEXT_TYPES = {"text/plain", "text/markdown"}
HTML_TYPES = {"text/html", "application/xhtml+xml"}
CDA_TYPES = {"application/xml", "text/xml", "application/hl7-cda+xml", "application/cda+xml"}
CDA_NS = "{urn:hl7-org:v3}"
MAX_ATTACHMENT_BYTES = 4_000_000


def is_bundle(data: Any) -> bool:
    return isinstance(data, dict) and data.get("resourceType") == "Bundle"


def case_from_bundle(data: Any, *, source: str, max_note_chars: int = 1_000_000) -> Case:
    """Validate a Bundle with ``fhir.resources`` and map its Claim to a Case."""
    if not is_bundle(data):
        kind = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise CaseError(
            "F001",
            f"expected a FHIR Bundle, got {kind!r}; send the Claim/$submit Bundle",
            source=source,
        )
    data, bad_data = _take_out_bad_base64(data)
    bundle = _validate(data, source)
    resources = [e.resource for e in bundle.entry or [] if e.resource is not None]
    index = _index(bundle)
    claims = [(i, r) for i, r in enumerate(resources) if r.get_resource_type() == "Claim"]
    if not claims:
        raise CaseError(
            "F002",
            "the Bundle has no Claim entry; a PAS Claim/$submit Bundle starts with the Claim",
            source=source,
            field="Bundle.entry",
        )
    entry_no, claim = claims[0]
    where = f"Bundle.entry[{entry_no}].resource(Claim/{claim.id or '?'})"
    case_claim = _claim(claim, where, source)
    payer, line_of_business = _coverage(claim, index)
    order = {id(e.resource): i for i, e in enumerate(bundle.entry or []) if e.resource is not None}
    documents, unreadable = _documents(claim, index, order, bad_data, where, source, max_note_chars)
    return Case(
        case_id=claim.id or (claim.identifier[0].value if claim.identifier else None) or "claim",
        payer=payer,
        line_of_business=line_of_business,
        claim=case_claim,
        documents=documents,
        unreadable_attachments=unreadable,
    )


# --------------------------------------------------------------------------- validation


def _take_out_bad_base64(data: dict) -> tuple[dict, set[tuple[int, int]]]:
    """Base64 that does not decode would fail the whole Bundle's validation; it is one
    unreadable attachment (a pend), so it is removed before validating and remembered by
    (entry, content) position."""
    bad: set[tuple[int, int]] = set()
    entries = data.get("entry")
    if not isinstance(entries, list):
        return data, bad
    data = copy.deepcopy(data)
    for i, entry in enumerate(data["entry"]):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        holders: list[tuple[int, dict]] = []
        if res.get("resourceType") == "Binary":
            holders = [(-1, res)]
        elif res.get("resourceType") == "DocumentReference" and isinstance(
            res.get("content"), list
        ):
            holders = [
                (j, c["attachment"])
                for j, c in enumerate(res["content"])
                if isinstance(c, dict) and isinstance(c.get("attachment"), dict)
            ]
        for j, holder in holders:
            value = holder.get("data")
            if isinstance(value, str) and not _decodes(value):
                del holder["data"]
                bad.add((i, j))
    return data, bad


def _decodes(value: str) -> bool:
    try:
        base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return True


def _validate(data: dict, source: str):
    from fhir.resources.R4B.bundle import Bundle

    try:
        return Bundle.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CaseError(
            "F003",
            f"not valid FHIR R4: {err['msg']}; fix the resource at this path",
            source=source,
            field=_fhir_path(data, err["loc"]),
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:  # fhir.resources' own checks
        raise CaseError(
            "F003", f"not valid FHIR R4: {str(exc).splitlines()[0][:200]}", source=source
        ) from None


def _fhir_path(data: Any, loc: tuple) -> str:
    """``Bundle.entry[2].resource(DocumentReference/doc-1).content[0]`` from a pydantic loc."""
    out = "Bundle"
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}"
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
        if part == "resource" and isinstance(node, dict):
            out += f"({node.get('resourceType', '?')}/{node.get('id', '?')})"
    return out


def _index(bundle) -> dict[str, Any]:
    """Each resource by fullUrl and by ``Type/id`` (how PAS bundles reference one another)."""
    out: dict[str, Any] = {}
    for entry in bundle.entry or []:
        res = entry.resource
        if res is None:
            continue
        if entry.fullUrl:
            out[entry.fullUrl] = res
        if res.id:
            out[f"{res.get_resource_type()}/{res.id}"] = res
    return out


def _resolve(reference, index: dict[str, Any]):
    if reference is None or not reference.reference:
        return None
    ref = reference.reference
    if ref in index:
        return index[ref]
    tail = "/".join(ref.rstrip("/").split("/")[-2:])  # http://x/fhir/Coverage/1 -> Coverage/1
    return index.get(tail)


# --------------------------------------------------------------------------- claim


def _claim(claim, where: str, source: str) -> Claim:
    diagnoses: dict[int, str] = {}
    for i, dx in enumerate(claim.diagnosis or []):
        concept = dx.diagnosisCodeableConcept
        codes = (
            [c for c in (concept.coding or []) if c.system in ICD10CM_SYSTEMS] if concept else []
        )
        if not codes:
            systems = [c.system for c in (concept.coding or [])] if concept else []
            raise CaseError(
                "F004",
                f"diagnosis is not coded in ICD-10-CM (system {', '.join(map(str, systems)) or 'none'}); "
                "use http://hl7.org/fhir/sid/icd-10-cm",
                source=source,
                field=f"{where}.diagnosis[{i}].diagnosisCodeableConcept",
            )
        diagnoses[dx.sequence] = codes[0].code
    lines = []
    dates = []
    for i, item in enumerate(claim.item or []):
        path = f"{where}.item[{i}]"
        codes = [c for c in (item.productOrService.coding or []) if c.system in CPT_SYSTEMS]
        if not codes or not codes[0].code:
            systems = [str(c.system) for c in (item.productOrService.coding or [])]
            raise CaseError(
                "F004",
                f"productOrService is not coded in CPT or HCPCS (system {', '.join(systems) or 'none'}); "
                "use http://www.ama-assn.org/go/cpt",
                source=source,
                field=f"{path}.productOrService",
            )
        units = item.quantity.value if item.quantity and item.quantity.value is not None else 1
        if units != int(units):
            raise CaseError(
                "F005",
                f"quantity {units} is not a whole number of units",
                source=source,
                field=f"{path}.quantity",
            )
        sequences = item.diagnosisSequence or sorted(diagnoses)
        unknown = [s for s in sequences if s not in diagnoses]
        if unknown:
            raise CaseError(
                "F008",
                f"diagnosisSequence {unknown[0]} names no Claim.diagnosis; fix the sequence",
                source=source,
                field=f"{path}.diagnosisSequence",
            )
        modifiers = [c.code for m in item.modifier or [] for c in m.coding or [] if c.code]
        lines.append(
            ClaimLine(
                code=codes[0].code.strip().upper(),
                units=int(units),
                modifiers=modifiers,
                diagnoses=[diagnoses[s] for s in sequences],
            )
        )
        if item.servicedDate:
            dates.append(_as_date(item.servicedDate))
        elif item.servicedPeriod and item.servicedPeriod.start:
            dates.append(_as_date(item.servicedPeriod.start))
    authorization = None
    for ins in claim.insurance or []:
        if ins.preAuthRef:
            authorization = ins.preAuthRef[0]
            break
    claim_out = Claim(
        date_of_service=min(dates) if dates else None, authorization=authorization, lines=lines
    )
    from review.case import _check_codes

    _check_codes(Case(case_id="claim", claim=claim_out, documents=[]), f"{source}: {where}")
    return claim_out


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _coverage(claim, index) -> tuple[str | None, str | None]:
    """The payer (Coverage.payor, else Claim.insurer) and a line of business (Coverage.type)."""
    payer = None
    line = None
    for ins in sorted(claim.insurance or [], key=lambda i: (not i.focal, i.sequence)):
        coverage = _resolve(ins.coverage, index)
        if coverage is None:
            continue
        for payor in coverage.payor or []:
            org = _resolve(payor, index)
            payer = payer or (getattr(org, "name", None) if org else None) or payor.display
        if coverage.type is not None:
            line = coverage.type.text or next(
                (c.display or c.code for c in coverage.type.coding or []), None
            )
        break
    if payer is None and claim.insurer is not None:
        org = _resolve(claim.insurer, index)
        payer = (getattr(org, "name", None) if org else None) or claim.insurer.display
    return payer, line


# --------------------------------------------------------------------------- documents


def _documents(claim, index, order, bad_data, where, source, max_note_chars):
    """One document per supportingInfo that references a DocumentReference or Binary, in
    sequence order; ``attachment N`` is its supportingInfo sequence."""
    documents: list[Document] = []
    unreadable: list[str] = []
    seen_ids: set[str] = set()
    for info in sorted(claim.supportingInfo or [], key=lambda s: s.sequence):
        number = info.sequence
        target = _resolve(info.valueReference, index)
        if info.valueReference is None:
            continue  # a coded supportingInfo (e.g. patient event), not a document
        label = f"attachment {number}"
        if target is None:
            unreadable.append(
                f"{label} points at {info.valueReference.reference} outside the Bundle: not read"
            )
            continue
        kind = "note"
        date = None
        if target.get_resource_type() == "DocumentReference":
            kind = _kind(target)
            date = _doc_date(target)
            contents = list(enumerate(target.content or []))
            slot = order.get(id(target))
            text, problem = None, f"{label} has no content: not read"
            for j, content in contents:
                text, problem = _attachment_text(
                    content.attachment, index, label, (slot, j) in bad_data, order, bad_data
                )
                if text is not None:
                    break
        elif target.get_resource_type() == "Binary":
            text, problem = _binary_text(target, label, (order.get(id(target)), -1) in bad_data)
        else:
            unreadable.append(
                f"{label} is a {target.get_resource_type()}, not a document: not read"
            )
            continue
        if text is None:
            unreadable.append(problem)
            continue
        if len(text) > max_note_chars:  # as a case folder's note limit, but one attachment
            unreadable.append(
                f"{label} has {len(text):,} characters (limit {max_note_chars:,}): not read"
            )
            continue
        doc_id = _doc_id(target.id, number, seen_ids)
        documents.append(Document(id=doc_id, kind=kind, date=date, text=text))
    return documents, unreadable


def _doc_id(resource_id: str | None, number: int, seen: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "-", resource_id or "") or f"attachment-{number}"
    doc_id = base if base not in seen else f"{base}-{number}"
    seen.add(doc_id)
    return doc_id


def _kind(doc) -> str:
    for coding in (doc.type.coding or []) if doc.type else []:
        if coding.system == LOINC and coding.code in DOCUMENT_KINDS:
            return DOCUMENT_KINDS[coding.code]
    return "note"


def _doc_date(doc) -> dt.date | None:
    if doc.context and doc.context.period and doc.context.period.start:
        return _as_date(doc.context.period.start)
    return _as_date(doc.date) if doc.date else None


def _attachment_text(attachment, index, label, bad_base64, order, bad_data):
    """The attachment's text, or None and why it was not read."""
    ctype = (attachment.contentType or "").split(";")[0].strip().lower()
    if bad_base64:
        return None, f"{label}: its data is not valid base64: not read"
    if attachment.data is None and attachment.url:
        target = index.get(attachment.url) or index.get(attachment.url.removeprefix("#"))
        if target is None:
            target = index.get("/".join(attachment.url.split("/")[-2:]))
        if target is None or target.get_resource_type() != "Binary":
            return None, f"{label} is a link outside the Bundle (not fetched): not read"
        return _binary_text(target, label, (order.get(id(target)), -1) in bad_data, ctype)
    return _decode(attachment.data, ctype, label)


def _binary_text(binary, label, bad_base64, ctype=""):
    if bad_base64:
        return None, f"{label}: its data is not valid base64: not read"
    return _decode(binary.data, (binary.contentType or ctype).split(";")[0].strip().lower(), label)


def _decode(data: bytes | None, ctype: str, label: str):
    if not data:
        return None, f"{label} is empty: not read"
    if ctype not in TEXT_TYPES | HTML_TYPES | CDA_TYPES:
        return None, f"{label} is {ctype or 'of no content type'}: not read"
    if len(data) > MAX_ATTACHMENT_BYTES:
        return None, f"{label} is {len(data):,} bytes (limit {MAX_ATTACHMENT_BYTES:,}): not read"
    try:
        raw = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None, f"{label} ({ctype}) is not UTF-8: not read"
    if ctype in HTML_TYPES:
        text = html_text(raw)
    elif ctype in CDA_TYPES:
        narrative = cda_text(raw)
        if narrative is None:
            return None, f"{label} ({ctype}) is not a C-CDA document with narrative: not read"
        text = narrative
    else:
        text = raw
    if not text.strip():
        return None, f"{label} is empty: not read"
    return text, ""


class _TextOf(html.parser.HTMLParser):
    BLOCKS: ClassVar[set[str]] = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "table",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """Visible text of an HTML note, one block per line (scripts and styles dropped)."""
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line) + "\n"


NARRATIVE_BLOCKS = {"paragraph", "p", "br", "item", "tr", "list", "table", "content_block"}


def _narrative(element: ET.Element) -> str:
    """A CDA narrative block as text: one line per paragraph, list item or table row."""
    lines: list[str] = []
    current: list[str] = []

    def flush() -> None:
        line = " ".join("".join(current).split())
        if line:
            lines.append(line)
        current.clear()

    def walk(node: ET.Element) -> None:
        block = node.tag.rsplit("}", 1)[-1] in NARRATIVE_BLOCKS
        if block:
            flush()
        current.append(node.text or "")
        for child in node:
            walk(child)
            current.append(child.tail or "")
        if block:
            flush()

    walk(element)
    flush()
    return "\n".join(lines)


def cda_text(markup: str) -> str | None:
    """The human-readable narrative of a C-CDA document: each section's title and text block.
    Doctypes and entities are refused (no entity expansion from a submitted document)."""
    if "<!DOCTYPE" in markup or "<!ENTITY" in markup:
        return None
    try:
        root = ET.fromstring(markup)
    except ET.ParseError:
        return None
    if root.tag != f"{CDA_NS}ClinicalDocument":
        return None
    blocks = []
    for section in root.iter(f"{CDA_NS}section"):
        title = section.find(f"{CDA_NS}title")
        text = section.find(f"{CDA_NS}text")
        if title is not None and "".join(title.itertext()).strip():
            blocks.append(" ".join("".join(title.itertext()).split()).upper() + ":")
        if text is not None:
            blocks.append(_narrative(text).strip())
    return "\n".join(b for b in blocks if b) + "\n" if blocks else None


def claim_of(data: Any) -> dict[str, Any] | None:
    """The first Claim of a Bundle as submitted (what a response echoes), or None."""
    if not is_bundle(data):
        return None
    for entry in data.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Claim":
            return res
    return None
