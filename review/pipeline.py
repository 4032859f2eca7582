"""The whole data flow for one case: case -> parse -> extract -> derive -> evaluate -> recommend.

:func:`review_case` is the one entry point the CLI, batch runner, notebooks and workbench call.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from review import __version__
from review.derive import derive
from review.extract.llm.cache import cache_key
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
    LlmUsage,
    ParsedDocument,
    Provenance,
    Recommendation,
    Ungrounded,
    Unverified,
    date_of_service,
)

Extractor = Literal["offline", "llm", "hybrid"]


class ReviewConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    policy: str | None = None  # operator's choice (registry id or folder); default: the case's id
    extractor: Extractor = "offline"
    prompt: str = "extract_facts/v1"
    llm: Any = None  # review.extract.llm.LLMSettings; loaded from the environment when None
    chat_model: Any = None  # a ready langchain chat model (tests, notebooks); overrides llm
    cache: Any = None  # review.extract.llm.cache.AnswerCache: LLM answers reused across runs
    limiter: Any = None  # review.extract.llm.ratelimit.RateLimiter shared by concurrent reviews


@dataclass
class Extraction:
    facts: Facts
    ungrounded: list[Ungrounded] = field(default_factory=list)
    model: str | None = None
    prompt: str | None = None
    prompt_sha256: str | None = None
    grounding_rate: float | None = None
    usage: LlmUsage | None = None
    unverified: list[Unverified] = field(default_factory=list)
    verification_rate: float | None = None
    with_unverified: Facts | None = None
    """The facts with the unverified ones put back: what the decision would have rested on."""


def review_case(case: Case, config: ReviewConfig | None = None) -> Recommendation:
    config = config or ReviewConfig()
    policy = case_policy(case, config)
    extraction = extract(case, config, policy.settings.procedure_codes)
    return decide(case, extraction, policy, config)


def compare_case(
    case: Case, first: Policy, second: Policy, config: ReviewConfig | None = None
) -> tuple[Recommendation, Recommendation]:
    """The same facts (extracted once) decided under two policies."""
    config = config or ReviewConfig()
    codes = sorted({*first.settings.procedure_codes, *second.settings.procedure_codes})
    extraction = extract(case, config, codes)
    return (
        decide(case, copy.deepcopy(extraction), first, config),
        decide(case, copy.deepcopy(extraction), second, config),
    )


def decide(
    case: Case, extraction: Extraction, policy: Policy, config: ReviewConfig
) -> Recommendation:
    """derive -> evaluate -> recommend for one policy, on facts already extracted."""
    facts = extraction.facts
    ungrounded = extraction.ungrounded + drop_ungrounded(case, facts)
    provenance = Provenance(
        version=__version__,
        policy=policy.id,
        rules_sha256=policy.sha256,
        policy_version=policy.meta.version,
        extractor=config.extractor,
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


def case_policy(case: Case, config: ReviewConfig) -> Policy:
    """The policy a case is reviewed under: the operator's ``--policy`` (a registry id or a
    folder), else the one the case names (only ever a registry id), else the registry's choice
    by payer and date of service (review/policy/registry.py)."""
    from review.policy.registry import select_policy_id

    return resolve_policy(config.policy) if config.policy else load_policy(select_policy_id(case))


def _inputs(case: Case, derived: Derived, facts: Facts, policy: Policy) -> dict:
    return rule_inputs(derived, facts, policy, case, date_of_service(case))


def extract(
    case: Case, config: ReviewConfig, procedure_codes: list[str] | tuple[str, ...] = ()
) -> Extraction:
    """Parse once, then run the configured extractor(s). ``procedure_codes``: the codes the
    policy reviews; a claim billing one tells the offline extractor an injection is claimed."""
    from review.parse import parse_documents

    parsed = parse_documents(case.documents)
    if config.extractor == "offline":
        return Extraction(_offline(case, parsed, procedure_codes))
    llm = _llm(parsed, config, date_of_service(case))
    if config.extractor == "llm":
        return llm
    from review.extract.hybrid import reconcile

    offline = _offline(case, parsed, procedure_codes)
    if llm.facts.extraction_error:
        offline.extraction_error = llm.facts.extraction_error
        llm.facts = offline
    else:
        llm.facts = reconcile(offline, llm.facts)
        if llm.with_unverified is not None:
            llm.with_unverified = reconcile(offline, llm.with_unverified)
    return llm


def _offline(
    case: Case, parsed: list[ParsedDocument], procedure_codes: list[str] | tuple[str, ...] = ()
) -> Facts:
    from review.extract.offline import extract_facts

    codes = set(procedure_codes)
    tpi_billed = bool(case.claim and any(line.code in codes for line in case.claim.lines))
    return extract_facts(parsed, date_of_service(case), tpi_billed)


def _llm(
    parsed: list[ParsedDocument], config: ReviewConfig, dos: dt.date | None = None
) -> Extraction:
    from review.extract.llm.client import LLMResult, LLMSettings, extract_with_llm
    from review.extract.llm.grounding import facts_from_llm, ground
    from review.extract.llm.prompts import load_prompt, render_documents
    from review.extract.llm.schema import LLMFacts
    from review.extract.llm.verify import verify_answer

    prompt = load_prompt(config.prompt)
    settings = config.llm
    if settings is None and config.chat_model is None:
        settings = LLMSettings.load()
    model = (
        settings.model
        if settings is not None
        else getattr(config.chat_model, "model_name", None) or type(config.chat_model).__name__
    )
    key = None
    cached = None
    if config.cache is not None:
        sampling = (
            settings.model_dump(include={"temperature", "seed", "structured_output"})
            if settings
            else {}
        )
        key = cache_key(prompt.sha256, model, sampling, render_documents(parsed))
        cached = config.cache.get(key)
    if cached is not None:
        result = LLMResult(LLMFacts.model_validate_json(cached), LlmUsage())
    else:
        result = extract_with_llm(
            parsed, prompt, settings, chat_model=config.chat_model, limiter=config.limiter
        )
        if key is not None and result.answer is not None:
            config.cache.put(key, result.answer.model_dump_json())
    out = Extraction(
        Facts(), model=model, prompt=prompt.ref, prompt_sha256=prompt.sha256, usage=result.usage
    )
    if result.answer is None:
        out.facts = Facts(extraction_error=result.error)
        return out
    # Ground every quote, then check each grounded fact against its span (verify.py): the
    # decision rests on the verified facts only; the full answer is kept to see whether the
    # decision would change with the unverified ones.
    docs = {d.document_id: d for d in parsed}
    verification = verify_answer(result.answer, parsed, lambda c: ground(c, docs)[0], dos)
    out.facts, _ = facts_from_llm(verification.answer, parsed)
    everything, stats = facts_from_llm(result.answer, parsed)
    out.ungrounded = stats.ungrounded
    out.grounding_rate = stats.rate
    out.unverified = verification.unverified
    out.verification_rate = verification.rate
    out.with_unverified = everything if verification.unverified else None
    return out


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
