"""The schemas of a policy folder (``rules.yaml``, ``settings.yaml``, ``covered_diagnoses.yaml``)
and the loaded policy: its settings, code lists and checked rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from review.errors import RulesError, did_you_mean
from review.schema import Strict


def _as_quotes(value: object) -> object:
    return (value,) if isinstance(value, str) else value


class RuleSpec(Strict):
    id: str = Field(pattern=r"^[A-Z]+-[A-Z]\d{2}$")
    title: str
    # the criterion a rule enforces, shared by rules of different policies that enforce the same
    # one ("exam", "frequency"): how `review rules diff` and `--compare` pair them
    topic: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["administrative", "medical_necessity", "extraction"]
    # the sentences a rule enforces: one string in rules.yaml, or a list when there are several
    policy_text: Annotated[tuple[str, ...], BeforeValidator(_as_quotes)]
    # "policy": quoted from policy.txt; the name of another .txt file in the policy folder: quoted
    # from it (a summary kept with its provenance); anything else: an outside source, not checked
    source: str = "policy"
    applies_when: str = "true"
    met_when: str
    insufficient_when: str = "false"
    on_not_met: Literal["deny", "pend"] = "pend"
    on_insufficient: Literal["deny", "pend"] = "pend"
    evidence: list[str] = Field(default_factory=list)
    reasons: dict[Literal["met", "not_met", "insufficient", "not_applicable"], str]
    missing_documentation: str | None = None
    # FHIR ClaimResponse (review/fhir/response.py): the X12 claim adjustment reason code an unmet
    # finding carries, and the LOINC document type that holds what the rule asks for
    carc: str | None = Field(default=None, pattern=r"^[A-Z]?\d{1,3}$")
    requested_document: tuple[str, str] | None = None  # (LOINC code, display)

    @property
    def quote(self) -> str:
        """The policy text as one line, as findings, reports and ``review rules explain`` show
        it: each sentence's whitespace collapsed, "[...]" between separate sentences."""
        return " [...] ".join(" ".join(p.split()) for p in self.policy_text)


class RulesFile(Strict):
    version: str
    policy: str
    rules: list[RuleSpec]


class ExclusionGroup(Strict):
    """Services a policy excludes together: the kinds (``facts.excluded_services[].kind``) and
    the claim codes that bill them (code -> kind)."""

    kinds: list[str]
    codes: dict[str, str] = Field(default_factory=dict)


class Settings(Strict):
    count_sides_separately: bool = True
    frequency_window: Literal["rolling_12_months", "calendar_year"] = "rolling_12_months"
    max_sessions_per_window: int = 3
    min_exam_features: int = 2
    authorization_required: bool = False
    max_injections_without_relief: int = 2
    first_line_muscles: list[str] = Field(default_factory=list)
    codes_by_muscle_count: dict[str, list[int | None]]
    coarse_areas: dict[str, list[str]] = Field(default_factory=dict)
    exclusion_groups: dict[str, ExclusionGroup] = Field(default_factory=dict)
    # LCD-style limits; a policy that does not use one leaves it unset
    min_weeks_between_injections: int | None = None
    min_percent_relief: int | None = None
    min_relief_weeks: int | None = None
    max_body_areas: int | None = None
    # exam features that count towards min_exam_features (empty: every feature counts)
    counted_exam_features: list[str] = Field(default_factory=list)

    @property
    def procedure_codes(self) -> list[str]:
        """The claim codes this policy reviews: those it maps muscle counts to."""
        return sorted(self.codes_by_muscle_count)

    def excluded_codes(self) -> dict[str, str]:
        return {
            code: kind for g in self.exclusion_groups.values() for code, kind in g.codes.items()
        }

    def code_for_muscles(self, count: int) -> str:
        for code, (low, high) in sorted(self.codes_by_muscle_count.items()):
            if count >= (low or 0) and (high is None or count <= high):
                return code
        return ""

    def window_start(self, dos: dt.date) -> dt.date:
        if self.frequency_window == "calendar_year":
            return dt.date(dos.year, 1, 1)
        try:
            return dos.replace(year=dos.year - 1) + dt.timedelta(days=1)
        except ValueError:  # 29 February
            return dt.date(dos.year - 1, 3, 1)

    def coarse_area(self, area: str) -> str:
        for coarse, members in self.coarse_areas.items():
            if area in members:
                return coarse
        return area


class AppliesTo(Strict):
    """Who a policy is for: a payer and, optionally, some of its lines of business (none listed:
    all of them)."""

    payer: str
    lines_of_business: list[str] = Field(default_factory=list)


class SettingsFile(Strict):
    version: str
    policy: str
    title: str
    policy_file: str = "policy.txt"
    # the registry entry (review/policy/registry.py): where the policy comes from, when and for whom
    source: str | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None  # inclusive; none: still in force
    applies_to: list[AppliesTo] = Field(default_factory=list)
    settings: Settings


class CodeEntry(Strict):
    code: str
    description: str


class CodesFile(Strict):
    version: str
    covered: list[CodeEntry]
    nonspecific: list[str] = Field(default_factory=list)

    def covers(self, code: str) -> bool:
        """A listed code covers itself and every code below it (M79.1 covers M79.18)."""
        return any(code == c.code or code.startswith(c.code) for c in self.covered)

    def is_nonspecific(self, code: str) -> bool:
        return any(code == c or code.startswith(c) for c in self.nonspecific)


class Rule:
    """A checked rule with its compiled CEL programs."""

    def __init__(self, spec: RuleSpec, programs: dict[str, Any]):
        self.spec = spec
        self.programs = programs


class Policy:
    """A loaded policy folder: its registry entry, settings, code lists, checked rules and the
    policy text they quote."""

    def __init__(
        self,
        policy_id: str,
        folder: Path,
        meta: SettingsFile,
        rules: list[Rule],
        codes: CodesFile,
        policy_text: str,
        sha256: str,
        rules_version: str,
    ):
        self.id = policy_id
        self.folder = folder
        self.meta = meta
        self.title = meta.title
        self.settings = meta.settings
        self.rules = rules
        self.codes = codes
        self.policy_text = policy_text
        self.sha256 = sha256
        self.rules_version = rules_version

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.spec.id == rule_id:
                return rule
        ids = [r.spec.id for r in self.rules]
        raise RulesError(
            "R010",
            f"no rule {rule_id!r}" + did_you_mean(rule_id, ids, f"; rules are {', '.join(ids)}"),
            source=str(self.folder),
        )
