"""What the model must return: the facts schema with a citation on every fact.

The model sees each document as numbered sentences (``[proc.3] ...``) and cites, for every fact,
the document, the sentence ids and a verbatim quote. Grounding (grounding.py) turns each quote
into exact character offsets; a fact whose quote cannot be found never reaches the rules.
This module imports no LLM library, so ``review prompts check`` and grounding run without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from review.lexicon import excluded_service_kinds
from review.schema import Outcome, Side

LLMProcedureStatus = Literal[
    "performed", "planned", "historical", "negated", "other_service", "not_mentioned"
]
"""What prompt v1 asks the model for (a released prompt's schema never changes; the offline
extractor's finer statuses, ``review.schema.ProcedureStatus``, are a superset)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Citation(_Model):
    document_id: str
    sentence_ids: list[int] = Field(min_length=1)
    quote: str = Field(min_length=1, description="Verbatim text copied from the cited sentences.")


class CitedMuscle(_Model):
    name: str = Field(
        description="Canonical lowercase muscle name, e.g. 'trapezius', 'levator scapulae'."
    )
    side: Side
    citation: Citation


class CitedRegion(_Model):
    name: str = Field(description="A site named only as a region, e.g. 'paraspinal musculature'.")
    side: Side
    citation: Citation


InjectateCategory = Literal[
    "local_anesthetic",
    "corticosteroid",
    "saline",
    "dextrose",
    "botulinum_toxin",
    "proliferant",
    "other",
]


class CitedInjectate(_Model):
    name: str
    category: InjectateCategory
    dose: str | None = None
    citation: Citation


class CitedExamFinding(_Model):
    kind: Literal[
        "tenderness",
        "taut_band",
        "twitch_response",
        "referred_pain",
        "restricted_rom",
        "weakness",
        "onset_history",
    ]
    present: bool = True
    citation: Citation


class CitedTreatment(_Model):
    name: str = Field(
        description="e.g. physical_therapy, nsaid, muscle_relaxant, home_exercise, heat_ice."
    )
    category: Literal["noninvasive", "invasive"]
    outcome: Outcome
    duration: str | None = None
    citation: Citation


class CitedPriorInjection(_Model):
    date: str | None = None
    muscles: list[str] = Field(default_factory=list)
    response: Literal["improved", "no_relief", "unknown"]
    percent_relief: int | None = None
    duration: str | None = None
    citation: Citation


# the lexicon's kinds, in its order (the schema the model is sent lists them as an enum)
if TYPE_CHECKING:
    ExcludedKind = str  # the kinds are only known at run time: to mypy, a string
else:
    ExcludedKind = Literal[excluded_service_kinds()]


class CitedExcludedService(_Model):
    kind: ExcludedKind
    performed: bool
    citation: Citation


class LLMFacts(_Model):
    """The model's answer. Lists may be empty; every item carries its citation."""

    procedure_status: LLMProcedureStatus
    procedure_citations: list[Citation] = Field(default_factory=list)
    injected_muscles: list[CitedMuscle] = Field(default_factory=list)
    injected_regions: list[CitedRegion] = Field(default_factory=list)
    injection_sites: int | None = None
    injectate: list[CitedInjectate] = Field(default_factory=list)
    exam_findings: list[CitedExamFinding] = Field(default_factory=list)
    prior_treatments: list[CitedTreatment] = Field(default_factory=list)
    concurrent_therapies: list[CitedTreatment] = Field(default_factory=list)
    prior_injections: list[CitedPriorInjection] = Field(default_factory=list)
    diagnosis_rationale: list[Citation] = Field(default_factory=list)
    excluded_services: list[CitedExcludedService] = Field(default_factory=list)
    imaging_guidance: list[Citation] = Field(default_factory=list)
