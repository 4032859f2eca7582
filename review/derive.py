"""Derive stage: facts + claim + history -> the flat, typed symbols the policy rules test.

Counts and timelines live here (distinct muscles, sessions in a window, diagnosis coverage), so
rules stay one-line expressions. The field names of :class:`Derived` are the only names a rule
may use; ``review rules check`` rejects anything else with a suggestion.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, Field

from review.schema import Case, Facts

TPI_CODES = ("20552", "20553")
EXCLUSION_KINDS = {
    "acupuncture": "TPI-A04",
    "dry_needling": "TPI-A04",
    "electrical_stimulation": "TPI-A04",
    "prolotherapy": "TPI-A05",
    "botulinum_toxin": "TPI-A06",
    "joint_injection": "TPI-A06",
    "bursa_injection": "TPI-A06",
    "tendon_sheath_injection": "TPI-A06",
    "nerve_block": "TPI-A06",
    "epidural": "TPI-A06",
    "trigger_finger": "TPI-A06",
}
EXCLUDED_CODES = {
    "97810": "acupuncture",
    "97811": "acupuncture",
    "97813": "acupuncture",
    "97814": "acupuncture",
    "20560": "dry_needling",
    "20561": "dry_needling",
    "M0076": "prolotherapy",
}


class Derived(BaseModel):
    """Every symbol a rule condition or reason template may use."""

    # claim
    has_claim: bool = False
    billed_code: str = ""
    billed_codes: list[str] = Field(default_factory=list)
    claim_codes: list[str] = Field(default_factory=list)
    tpi_line_count: int = 0
    tpi_units: int = 0
    same_day_history_tpi: int = 0
    excluded_codes_billed: list[str] = Field(default_factory=list)
    authorization_required: bool = False
    authorization_present: bool = False
    # procedure and sites
    procedure_performed: bool = False
    procedure_status: str = "not_mentioned"
    procedure_status_reason: str = ""
    muscles: list[str] = Field(default_factory=list)
    distinct_muscle_count: int = 0
    region_sites: list[str] = Field(default_factory=list)
    region_only_site_count: int = 0
    body_areas: list[str] = Field(default_factory=list)
    body_area_count: int = 0
    supported_code: str = ""
    code_supported: bool = False
    # exclusions
    excluded_performed: list[str] = Field(default_factory=list)
    excluded_mentioned_not_performed: list[str] = Field(default_factory=list)
    acupuncture_signals: list[str] = Field(default_factory=list)
    prolotherapy_signals: list[str] = Field(default_factory=list)
    other_service_signals: list[str] = Field(default_factory=list)
    # diagnoses
    claim_diagnoses: list[str] = Field(default_factory=list)
    invalid_diagnoses: list[str] = Field(default_factory=list)
    nonbillable_diagnoses: list[str] = Field(default_factory=list)
    covered_diagnoses: list[str] = Field(default_factory=list)
    uncovered_diagnoses: list[str] = Field(default_factory=list)
    nonspecific_diagnoses_only: bool = False
    diagnosis_rationale_documented: bool = False
    # exam
    exam_features: list[str] = Field(default_factory=list)
    exam_feature_count: int = 0
    exam_features_absent: list[str] = Field(default_factory=list)
    min_exam_features: int = 2
    # conservative care
    noninvasive_tried: list[str] = Field(default_factory=list)
    noninvasive_failed: list[str] = Field(default_factory=list)
    noninvasive_effective: list[str] = Field(default_factory=list)
    noninvasive_contraindicated: list[str] = Field(default_factory=list)
    noninvasive_outcome_unknown: list[str] = Field(default_factory=list)
    noninvasive_not_tried: list[str] = Field(default_factory=list)
    first_line_muscles_injected: list[str] = Field(default_factory=list)
    concurrent_therapies: list[str] = Field(default_factory=list)
    # repeat injections and frequency
    is_repeat: bool = False
    prior_injection_count: int = 0
    prior_response: str = "none"  # improved | no_relief | unknown | none
    no_relief_injections: int = 0
    prior_sessions_in_window: int = 0
    sessions_in_window: int = 0
    max_sessions_per_window: int = 3
    max_injections_without_relief: int = 2
    # injectate
    injectate: list[str] = Field(default_factory=list)
    injectate_with_dose: list[str] = Field(default_factory=list)
    injectate_count: int = 0
    # extraction
    extraction_failed: bool = False
    extraction_error: str = ""
    extractor_disagreements: list[str] = Field(default_factory=list)
    # LLM facts whose quotes did not show the claim (set by the pipeline, review/extract/verify.py)
    unverified_facts: list[str] = Field(default_factory=list)  # kinds, e.g. injected_muscles
    unverified_fact_count: int = 0
    decision_rests_on_unverified: bool = False  # decision or supported code changes with them
    # documents sent with the case that could not be read (a PDF, bad base64, empty): TPI-X05
    unreadable_attachments: list[str] = Field(default_factory=list)


def derive(case: Case, facts: Facts, policy) -> Derived:
    """Compute the rule symbols for one case under one policy's settings and code lists."""
    settings = policy.settings
    d = Derived(
        authorization_required=settings.authorization_required,
        min_exam_features=settings.min_exam_features,
        max_sessions_per_window=settings.max_sessions_per_window,
        max_injections_without_relief=settings.max_injections_without_relief,
    )
    dos = date_of_service(case)
    _claim(d, case, dos)
    _sites(d, facts, settings.count_sides_separately, policy)
    _exclusions(d, facts)
    _diagnoses(d, facts, policy)
    _exam(d, facts, policy)
    _conservative(d, facts)
    _repeat(d, case, facts, dos, settings)
    _injectate(d, facts)
    d.extraction_failed = facts.extraction_error is not None
    d.unreadable_attachments = sorted(case.unreadable_attachments)
    d.extraction_error = facts.extraction_error or ""
    d.extractor_disagreements = [
        f"{x.fact}: offline {', '.join(x.offline) or 'none'} vs LLM {', '.join(x.llm) or 'none'}"
        for x in facts.extractor_disagreements
    ]
    return d


def date_of_service(case: Case) -> dt.date | None:
    """The claim's date of service; without a claim, the latest procedure note's date."""
    if case.claim and case.claim.date_of_service:
        return case.claim.date_of_service
    dates = [doc.date for doc in case.documents if doc.date and doc.kind == "procedure_note"]
    dates = dates or [doc.date for doc in case.documents if doc.date]
    return max(dates) if dates else None


def _claim(d: Derived, case: Case, dos: dt.date | None) -> None:
    claim = case.claim
    if claim is None:
        return
    d.has_claim = True
    d.claim_codes = sorted({line.code for line in claim.lines})
    tpi_lines = [line for line in claim.lines if line.code in TPI_CODES]
    d.billed_codes = sorted({line.code for line in tpi_lines})
    d.billed_code = max(d.billed_codes) if d.billed_codes else ""
    d.tpi_line_count = len(tpi_lines)
    d.tpi_units = sum(line.units for line in tpi_lines)
    d.same_day_history_tpi = sum(
        1 for h in case.history if h.code in TPI_CODES and dos and h.date_of_service == dos
    )
    d.excluded_codes_billed = sorted(code for code in d.claim_codes if code in EXCLUDED_CODES)
    d.authorization_present = bool(claim.authorization and claim.authorization.strip())
    d.claim_diagnoses = sorted(
        {dx.strip().upper() for line in (tpi_lines or claim.lines) for dx in line.diagnoses}
    )


def _sites(d: Derived, facts: Facts, count_sides: bool, policy) -> None:
    d.procedure_performed = facts.procedure_performed
    d.procedure_status = facts.procedure_status
    d.procedure_status_reason = facts.procedure_status_reason or ""
    d.muscles = sorted(
        f"{m.side} {m.name}" if m.side != "unspecified" else m.name for m in facts.injected_muscles
    )
    d.distinct_muscle_count = sum(
        2 if count_sides and m.side == "bilateral" else 1 for m in facts.injected_muscles
    )
    d.region_sites = sorted(r.name for r in facts.injected_regions)
    d.region_only_site_count = len(facts.injected_regions)
    areas = {m.body_area for m in facts.injected_muscles if m.body_area}
    areas |= {r.body_area for r in facts.injected_regions if r.body_area}
    d.body_areas = sorted(areas)
    d.body_area_count = len({policy.settings.coarse_area(a) for a in areas})
    if facts.procedure_performed and d.distinct_muscle_count:
        d.supported_code = policy.settings.code_for_muscles(d.distinct_muscle_count)
    d.code_supported = bool(d.billed_code) and d.billed_code == d.supported_code


def _exclusions(d: Derived, facts: Facts) -> None:
    performed = sorted({e.kind for e in facts.excluded_services if e.performed})
    d.excluded_performed = performed
    d.excluded_mentioned_not_performed = sorted(
        {e.kind for e in facts.excluded_services if not e.performed} - set(performed)
    )
    billed = [EXCLUDED_CODES[c] for c in d.excluded_codes_billed]
    by_rule: dict[str, set[str]] = {"TPI-A04": set(), "TPI-A05": set(), "TPI-A06": set()}
    for kind in [*performed, *billed]:
        by_rule[EXCLUSION_KINDS[kind]].add(kind)
    d.acupuncture_signals = sorted(by_rule["TPI-A04"])
    d.prolotherapy_signals = sorted(by_rule["TPI-A05"])
    d.other_service_signals = sorted(by_rule["TPI-A06"])
    if d.acupuncture_signals or d.prolotherapy_signals or d.other_service_signals:
        d.supported_code = ""


def _diagnoses(d: Derived, facts: Facts, policy) -> None:
    if not d.claim_diagnoses:
        d.diagnosis_rationale_documented = bool(facts.diagnosis_rationale)
        return
    from review.codes import icd_index

    index = icd_index()
    for code in d.claim_diagnoses:
        if not index.is_valid(code):
            d.invalid_diagnoses.append(code)
        elif not index.is_billable(code):
            d.nonbillable_diagnoses.append(code)
        elif policy.codes.covers(index.normalise(code)):
            d.covered_diagnoses.append(code)
        else:
            d.uncovered_diagnoses.append(code)
    billable = [c for c in d.claim_diagnoses if index.is_billable(c)]
    d.nonspecific_diagnoses_only = bool(billable) and all(
        policy.codes.is_nonspecific(index.normalise(c)) for c in billable
    )
    d.diagnosis_rationale_documented = bool(facts.diagnosis_rationale)


def _exam(d: Derived, facts: Facts, policy) -> None:
    first_line = set(policy.settings.first_line_muscles)
    d.first_line_muscles_injected = sorted(
        {m.name for m in facts.injected_muscles if m.name in first_line}
    )
    d.exam_features = sorted({f.kind for f in facts.exam_findings if f.present})
    d.exam_feature_count = len(d.exam_features)
    d.exam_features_absent = sorted(
        {f.kind for f in facts.exam_findings if not f.present} - set(d.exam_features)
    )


def _conservative(d: Derived, facts: Facts) -> None:
    noninvasive = [t for t in facts.prior_treatments if t.category == "noninvasive"]
    d.noninvasive_tried = sorted({t.name for t in noninvasive})
    d.noninvasive_failed = sorted(
        {t.name for t in noninvasive if t.outcome in ("failed", "partial", "not_tolerated")}
    )
    d.noninvasive_contraindicated = sorted(
        {t.name for t in noninvasive if t.outcome == "contraindicated"}
    )
    d.noninvasive_effective = sorted({t.name for t in noninvasive if t.outcome == "effective"})
    d.noninvasive_outcome_unknown = sorted(
        {t.name for t in noninvasive if t.outcome in ("unknown", "ongoing")}
    )
    d.noninvasive_not_tried = sorted({t.name for t in noninvasive if t.outcome == "not_tried"})
    d.concurrent_therapies = sorted(
        {t.name for t in facts.concurrent_therapies if t.category == "noninvasive"}
    )


def _repeat(d: Derived, case: Case, facts: Facts, dos: dt.date | None, settings) -> None:
    prior_history = [
        h for h in case.history if h.code in TPI_CODES and (dos is None or h.date_of_service < dos)
    ]
    d.prior_injection_count = max(len(prior_history), len(facts.prior_injections))
    d.is_repeat = d.prior_injection_count > 0
    responses = [p.response for p in facts.prior_injections]
    if "improved" in responses:
        d.prior_response = "improved"
    elif "no_relief" in responses:
        d.prior_response = "no_relief"
    elif d.is_repeat:
        d.prior_response = "unknown"
    # without relief: every documented response says no relief; the count comes from history
    if responses and all(r == "no_relief" for r in responses):
        d.no_relief_injections = max(len(prior_history), responses.count("no_relief"))
    if dos is not None:
        start = settings.window_start(dos)
        dates = {h.date_of_service for h in prior_history}
        dates |= {when for p in facts.prior_injections if (when := note_date(p.date)) is not None}
        d.prior_sessions_in_window = len({when for when in dates if start <= when < dos})
    d.sessions_in_window = d.prior_sessions_in_window + (
        1 if (d.procedure_performed or d.billed_code) else 0
    )
    # "today is his 4th TPI session in 12 months": the note's own count when it is higher
    d.sessions_in_window = max(d.sessions_in_window, facts.stated_session_number or 0)


def note_date(text: str | None) -> dt.date | None:
    """A date as notes write it: 05/21/2025, 5/21/25, 2025-05-21 or 05/2025 (first of month)."""
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text.strip())
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = re.fullmatch(r"(\d{1,2})/(?:(\d{1,2})/)?(\d{4}|\d{2})", text.strip())
        if not match:
            return None
        month, day, year = int(match.group(1)), int(match.group(2) or 1), int(match.group(3))
        year += 2000 if year < 100 else 0
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _injectate(d: Derived, facts: Facts) -> None:
    d.injectate = sorted({i.name for i in facts.injectate})
    d.injectate_with_dose = sorted({i.name for i in facts.injectate if i.dose})
    d.injectate_count = len(d.injectate)
