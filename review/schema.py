"""Shared pydantic types: the data that crosses every stage of the pipeline.

case -> parse -> extract -> derive -> evaluate -> recommend -> report. Models loaded from files use
``extra="forbid"`` so a misspelt key fails loudly; models the pipeline emits keep a stable field
order so the JSON output is byte-for-byte reproducible.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    """Base for anything read from a file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- case input


class ClaimLine(Strict):
    code: str
    units: int = 1
    modifiers: list[str] = Field(default_factory=list)
    diagnoses: list[str] = Field(default_factory=list)


class Claim(Strict):
    date_of_service: dt.date | None = None
    authorization: str | None = None
    lines: list[ClaimLine] = Field(default_factory=list)


class HistoryItem(Strict):
    """An earlier paid or billed service for the same member."""

    date_of_service: dt.date
    code: str
    muscles: list[str] = Field(default_factory=list)


class Document(Strict):
    id: str
    kind: str = "note"
    date: dt.date | None = None
    path: str | None = None
    text: str = ""


POLICY_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
"""A policy registry id ("hphc-tpi"): what a case may name. Folders come only from the operator."""


class Case(Strict):
    case_id: str
    # a registry id; none: chosen from payer and date of service (review/policy/registry.py)
    policy: str | None = None
    payer: str | None = None  # the health plan (FHIR Coverage.payor); chooses a policy with it
    line_of_business: str | None = None  # e.g. commercial, medicare_advantage, medicaid
    claim: Claim | None = None
    history: list[HistoryItem] = Field(default_factory=list)
    documents: list[Document]
    unreadable_attachments: list[str] = Field(default_factory=list)
    """Attachments that came with the case but could not be read ("attachment 3 is
    application/pdf: not read"); rule TPI-X05 pends the case with them. Set by the FHIR reader."""

    @field_validator("policy")
    @classmethod
    def _policy_is_a_registry_id(cls, value: str | None) -> str | None:
        if value is not None and not POLICY_ID.match(value):
            raise ValueError(
                "a case names its policy by registry id (`review rules policies`), never by a path; "
                "a policy folder can only be chosen by the operator (--policy PATH)"
            )
        return value

    def document(self, document_id: str) -> Document:
        for doc in self.documents:
            if doc.id == document_id:
                return doc
        raise KeyError(document_id)


def date_of_service(case: Case) -> dt.date | None:
    """The claim's date of service; without a claim, the latest procedure note's date."""
    if case.claim and case.claim.date_of_service:
        return case.claim.date_of_service
    dates = [doc.date for doc in case.documents if doc.date and doc.kind == "procedure_note"]
    dates = dates or [doc.date for doc in case.documents if doc.date]
    return max(dates) if dates else None


# --------------------------------------------------------------------------- parse


Side = Literal["left", "right", "bilateral", "unspecified"]
ProcedureStatus = Literal[
    "performed",
    "planned",
    "deferred",
    "cancelled",
    "declined",
    "historical",
    "negated",
    "other_service",
    "not_mentioned",
    "unclear",
]
"""Today's trigger point injection: done; only planned; put off (deferred); called off after it
was set up (cancelled); refused by the patient (declined); an earlier one only (historical); said
not to have been done (negated); another service instead; never mentioned; or ``unclear``: the
notes do not settle it (no positive evidence, or documents that contradict each other)."""
PriorResponse = Literal["improved", "no_relief", "unknown"]
Outcome = Literal[
    "failed",
    "partial",
    "effective",
    "ongoing",
    "contraindicated",
    "not_tolerated",
    "not_tried",
    "unknown",
]


class Section(BaseModel):
    category: str
    title: str
    start: int
    end: int


class Sentence(BaseModel):
    """A numbered sentence; ``id`` is 1-based within its document."""

    id: int
    start: int
    end: int
    section: str | None = None


class Cue(BaseModel):
    """A ConText modifier found in a note: a phrase that says something about the concepts near
    it (negation, a plan, a cancellation, how a treatment went, ...). Categories: context.yaml."""

    category: str
    start: int
    end: int
    sentence: int
    direction: str


class Reach(BaseModel):
    """A cue whose scope covers a mention, and how many tokens lie between the two."""

    category: str
    start: int
    end: int
    distance: int


class Mention(BaseModel):
    """A lexicon match with its medspaCy ConText flags and every cue that reaches it."""

    label: str  # lexicon kind: muscle, region, injectate, exam_finding, treatment, ...
    name: str  # canonical entry name
    category: str | None = None
    start: int
    end: int
    sentence: int
    section: str | None = None
    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    uncertain: bool = False
    family: bool = False
    modifiers: list[Reach] = Field(default_factory=list)


class ParsedDocument(BaseModel):
    document_id: str
    kind: str
    date: dt.date | None = None
    text: str
    sentences: list[Sentence]
    sections: list[Section]
    mentions: list[Mention]
    cues: list[Cue] = Field(default_factory=list)

    def sentence_text(self, sentence: Sentence) -> str:
        return self.text[sentence.start : sentence.end]


# --------------------------------------------------------------------------- extracted facts


class Evidence(BaseModel):
    """A cited span. Invariant: ``text == document_text[start:end]``."""

    document_id: str
    start: int
    end: int
    text: str


class Fact(BaseModel):
    evidence: list[Evidence] = Field(default_factory=list)


class InjectedMuscle(Fact):
    name: str
    side: Side = "unspecified"
    body_area: str | None = None


class InjectedRegion(Fact):
    """A site named only as a region ("paraspinal musculature"), not as a muscle."""

    name: str
    side: Side = "unspecified"
    body_area: str | None = None


class Injectate(Fact):
    name: str
    category: str
    dose: str | None = None


class ExamFinding(Fact):
    kind: str
    present: bool = True  # False: documented as absent ("no taut band")


class Treatment(Fact):
    """A prior or concurrent treatment and how it went."""

    name: str
    category: str  # noninvasive | invasive
    outcome: Outcome = "unknown"
    duration: str | None = None


class PriorInjection(Fact):
    date: str | None = None
    muscles: list[str] = Field(default_factory=list)
    response: PriorResponse = "unknown"
    percent_relief: int | None = None
    duration: str | None = None


class ExcludedService(Fact):
    kind: str
    performed: bool = True  # False when the wording is negated, planned or historical


class NoteDiagnosis(Fact):
    code: str


class Disagreement(BaseModel):
    """Hybrid mode: what the offline and LLM extractors said differently about one fact."""

    fact: str
    offline: list[str]
    llm: list[str]


class Facts(BaseModel):
    """What the documentation says, each item with the spans that say it."""

    procedure_performed: bool = False
    procedure_status: ProcedureStatus = "not_mentioned"
    procedure_status_reason: str | None = None  # why the status is unclear, for the nurse
    procedure_evidence: list[Evidence] = Field(default_factory=list)
    injected_muscles: list[InjectedMuscle] = Field(default_factory=list)
    injected_regions: list[InjectedRegion] = Field(default_factory=list)
    injection_sites: int | None = None
    injectate: list[Injectate] = Field(default_factory=list)
    exam_findings: list[ExamFinding] = Field(default_factory=list)
    prior_treatments: list[Treatment] = Field(default_factory=list)
    concurrent_therapies: list[Treatment] = Field(default_factory=list)
    prior_injections: list[PriorInjection] = Field(default_factory=list)
    diagnoses_in_note: list[NoteDiagnosis] = Field(default_factory=list)
    diagnosis_rationale: list[Evidence] = Field(default_factory=list)
    excluded_services: list[ExcludedService] = Field(default_factory=list)
    imaging_guidance: bool = False
    imaging_evidence: list[Evidence] = Field(default_factory=list)
    stated_session_number: int | None = None  # "today is his 4th TPI session in 12 months"
    stated_session_evidence: list[Evidence] = Field(default_factory=list)
    extractor_disagreements: list[Disagreement] = Field(default_factory=list)
    extraction_error: str | None = None


# --------------------------------------------------------------------------- derived symbols


class Derived(BaseModel):
    """Every symbol a rule condition or reason template may use, as ``review/derive.py``
    computes them for one case."""

    # claim
    has_claim: bool = False
    billed_code: str = ""
    billed_codes: list[str] = Field(default_factory=list)
    claim_codes: list[str] = Field(default_factory=list)
    tpi_line_count: int = 0
    tpi_units: int = 0
    same_day_history_tpi: int = 0
    excluded_codes_billed: list[str] = Field(default_factory=list)
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
    # per exclusion group of the policy (settings.exclusion_groups): the kinds performed or billed
    exclusion_signals: dict[str, list[str]] = Field(default_factory=dict)
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
    # days from the last earlier injection to the date of service (-1: none or no dates)
    days_since_last_injection: int = -1
    # the same for an earlier injection of a muscle injected today (-1: none known)
    days_since_last_injection_same_site: int = -1
    # the best documented response to an earlier injection (-1: not documented)
    prior_percent_relief: int = -1
    prior_relief_weeks: int = -1
    # injectate
    injectate: list[str] = Field(default_factory=list)
    injectate_with_dose: list[str] = Field(default_factory=list)
    injectate_count: int = 0
    # extraction
    extraction_failed: bool = False
    extraction_error: str = ""
    extractor_disagreements: list[str] = Field(default_factory=list)
    # LLM facts whose quotes did not show the claim (set by the pipeline, review/extract/llm/verify.py)
    unverified_facts: list[str] = Field(default_factory=list)  # kinds, e.g. injected_muscles
    unverified_fact_count: int = 0
    decision_rests_on_unverified: bool = False  # decision or supported code changes with them
    # documents sent with the case that could not be read (a PDF, bad base64, empty): TPI-X05
    unreadable_attachments: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- findings and output


Status = Literal["met", "not_met", "insufficient", "not_applicable"]
Decision = Literal["approve", "pend", "deny"]


class Finding(BaseModel):
    rule_id: str
    status: Status
    reason: str
    policy_text: str  # the rule's policy text on one line (RuleSpec.quote)
    evidence: list[Evidence] = Field(default_factory=list)
    title: str = ""
    kind: str = ""
    missing_documentation: str | None = None


class Ungrounded(BaseModel):
    """A cited quote that could not be located in its note: its fact was dropped."""

    fact: str
    document_id: str
    quote: str
    sentence_ids: list[int] = Field(default_factory=list)
    grounding: Literal["unmatched"] = "unmatched"


class Unverified(BaseModel):
    """A grounded quote that does not show what the model claimed (review.extract.llm.verify): its
    fact was left out of the decision. ``reason`` is one of a fixed set of short phrases."""

    fact: str
    document_id: str
    quote: str
    sentence_ids: list[int] = Field(default_factory=list)
    reason: str


class LlmUsage(BaseModel):
    calls: int = 0
    failed_attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


ExtractorFamily = Literal["offline", "llm", "hybrid"]


class Provenance(BaseModel):
    version: str
    policy: str
    rules_sha256: str
    policy_version: str | None = None  # the policy's registry version (settings.yaml)
    extractor: ExtractorFamily = "offline"  # the extractor's family (review.extract.registry)
    model: str | None = None
    prompt: str | None = None
    lexicons_sha256: str | None = None
    settings: dict[str, object] = Field(default_factory=dict)
    prompt_sha256: str | None = None
    grounding_rate: float | None = None
    verification_rate: float | None = None  # verified / grounded LLM facts
    llm_usage: LlmUsage | None = None
    extractor_id: str | None = None  # the versioned extractor that ran (review.extract.registry)


class Recommendation(BaseModel):
    case_id: str
    decision: Decision
    billed_code: str | None
    supported_code: str | None
    summary: str
    findings: list[Finding]
    facts: Facts
    missing_documentation: list[str]
    provenance: Provenance
    ungrounded: list[Ungrounded] = Field(default_factory=list)
    unverified: list[Unverified] = Field(default_factory=list)
