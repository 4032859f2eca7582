"""The whole data flow for one case: case -> parse -> extract -> derive -> evaluate -> recommend.

:func:`review_case` is the one entry point the CLI, batch runner, notebooks and workbench call.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from review import __version__
from review.derive import derive
from review.extract.base import Extraction
from review.extract.llm.client import LLMSettings
from review.extract.registry import DEFAULT as DEFAULT_EXTRACTOR
from review.extract.registry import extractor_spec
from review.extract.runtime import Runtime, RuntimeSettings, runtime_for
from review.lexicon import lexicons_sha256
from review.policy import evaluate, load_policy, recommend
from review.policy.evaluate import rule_inputs
from review.policy.load import resolve_policy
from review.policy.model import Policy
from review.schema import (
    Case,
    Derived,
    Evidence,
    Fact,
    Facts,
    Provenance,
    Recommendation,
    Ungrounded,
    date_of_service,
)


class ReviewConfig(BaseModel):
    """The settings of a review: plain, typed values only (the live objects they describe, such
    as the answer cache and the rate limiter, are the runtime's: review.extract.runtime)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: str | None = None  # operator's choice (registry id or folder); default: the case's id
    extractor: str = DEFAULT_EXTRACTOR  # a name from review.extract.registry
    prompt: str = "extract_facts/v1"
    llm: LLMSettings | None = None  # the model endpoint; loaded from the environment when None
    cache_path: str | None = None  # SQLite cache of LLM answers reused across runs
    requests_per_minute: int | None = None  # LLM budgets shared by this process's reviews
    tokens_per_minute: int | None = None
    rate_window_seconds: float = 60.0

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, name: str) -> str:
        extractor_spec(name)  # an unknown name is an error naming the known ones
        return name

    @property
    def runtime_settings(self) -> RuntimeSettings:
        return RuntimeSettings(
            cache_path=self.cache_path,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            rate_window_seconds=self.rate_window_seconds,
        )


def review_case(
    case: Case, config: ReviewConfig | None = None, runtime: Runtime | None = None
) -> Recommendation:
    config = config or ReviewConfig()
    policy = case_policy(case, config)
    extraction = extract(case, config, runtime)
    return decide(case, extraction, policy, config)


def compare_case(
    case: Case,
    first: Policy,
    second: Policy,
    config: ReviewConfig | None = None,
    runtime: Runtime | None = None,
) -> tuple[Recommendation, Recommendation]:
    """The same facts (extracted once) decided under two policies."""
    config = config or ReviewConfig()
    extraction = extract(case, config, runtime)
    return (
        decide(case, copy.deepcopy(extraction), first, config),
        decide(case, copy.deepcopy(extraction), second, config),
    )


def decide(
    case: Case, extraction: Extraction, policy: Policy, config: ReviewConfig
) -> Recommendation:
    """derive -> evaluate -> recommend for one policy, on facts already extracted."""
    extraction = reading_for(case, extraction, policy)
    facts = extraction.facts
    ungrounded = extraction.ungrounded + drop_ungrounded(case, facts)
    spec = extractor_spec(config.extractor)
    provenance = Provenance(
        version=__version__,
        policy=policy.id,
        rules_sha256=policy.sha256,
        policy_version=policy.meta.version,
        extractor=spec.family,
        extractor_id=spec.id,
        model=extraction.model,
        prompt=extraction.prompt,
        lexicons_sha256=lexicons_sha256(),
        settings=policy.settings.model_dump(
            mode="json", exclude={"coarse_areas", "exclusion_groups"}, exclude_none=True
        ),
        prompt_sha256=extraction.prompt_sha256,
        grounding_rate=extraction.grounding_rate,
        verification_rate=extraction.verification_rate,
        llm_usage=extraction.usage,
    )
    derived = derive(case, facts, policy)
    if extraction.unverified:
        # The rules decide on the verified facts. Would the decision or the code change if the
        # unverified facts were believed? Then it rests on them and a nurse decides (TPI-X03).
        restored = extraction.with_unverified or facts
        drop_ungrounded(case, restored)
        verified_outcome = _outcome(case, derived, facts, policy, provenance)
        restored_derived = derive(case, restored, policy)
        restored_outcome = _outcome(case, restored_derived, restored, policy, provenance)
        derived.unverified_facts = sorted({u.fact for u in extraction.unverified})
        derived.unverified_fact_count = len(extraction.unverified)
        derived.decision_rests_on_unverified = verified_outcome != restored_outcome
    findings = evaluate(_inputs(case, derived, facts, policy), facts, policy)
    rec = recommend(case.case_id, findings, derived, facts, policy, provenance)
    rec.ungrounded = sorted(ungrounded, key=lambda u: (u.document_id, u.fact, u.quote))
    rec.unverified = sorted(
        extraction.unverified, key=lambda u: (u.document_id, u.fact, u.sentence_ids, u.quote)
    )
    return rec


def _outcome(
    case: Case, derived: Derived, facts: Facts, policy: Policy, provenance: Provenance
) -> tuple[str, str | None]:
    """The decision and supported code these facts lead to (TPI-X03 not yet applied)."""
    rec = recommend(
        case.case_id,
        evaluate(_inputs(case, derived, facts, policy), facts, policy),
        derived,
        facts,
        policy,
        provenance,
    )
    return rec.decision, rec.supported_code


def reading_for(case: Case, extraction: Extraction, policy: Policy) -> Extraction:
    """The extraction's reading for this claim: whether it bills a code the policy reviews."""
    codes = set(policy.settings.procedure_codes)
    billed = bool(case.claim and any(line.code in codes for line in case.claim.lines))
    return extraction.reading(billed)


def case_policy(case: Case, config: ReviewConfig) -> Policy:
    """The policy a case is reviewed under: the operator's ``--policy`` (a registry id or a
    folder), else the one the case names (only ever a registry id), else the registry's choice
    by payer and date of service (review/policy/registry.py)."""
    from review.policy.registry import select_policy_id

    return resolve_policy(config.policy) if config.policy else load_policy(select_policy_id(case))


def _inputs(case: Case, derived: Derived, facts: Facts, policy: Policy) -> dict[str, Any]:
    return rule_inputs(derived, facts, policy, case, date_of_service(case))


def extract(case: Case, config: ReviewConfig, runtime: Runtime | None = None) -> Extraction:
    """Parse once, then run the configured extractor on the documents and the date of service
    (never the claim: where billing matters, the extraction holds both readings)."""
    from review.parse.documents import parse_documents

    parsed = parse_documents(case.documents)
    runtime = runtime or runtime_for(config.runtime_settings)
    extractor = runtime.extractor(config.extractor, config.prompt, config.llm)
    return extractor.extract(parsed, date_of_service(case), runtime)


def drop_ungrounded(case: Case, facts: Facts) -> list[Ungrounded]:
    """Enforce the evidence invariant: a span that does not slice back to its text is removed
    from the facts (so no rule relies on it) and reported."""
    texts = {doc.id: doc.text for doc in case.documents}
    dropped: list[Ungrounded] = []

    def ok(ev: Evidence, fact: str) -> bool:
        good = texts.get(ev.document_id, "")[ev.start : ev.end] == ev.text and ev.end > ev.start
        if not good:
            dropped.append(Ungrounded(fact=fact, document_id=ev.document_id, quote=ev.text))
        return good

    for name in Facts.model_fields:
        value = getattr(facts, name)
        if not isinstance(value, list):
            continue
        if value and isinstance(value[0], Evidence):
            value[:] = [ev for ev in value if ok(ev, name)]
            continue
        for item in value:
            if isinstance(item, Fact):
                item.evidence = [ev for ev in item.evidence if ok(ev, name)]
    return dropped
