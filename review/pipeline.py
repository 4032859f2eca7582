"""The whole data flow for one case: case -> parse -> extract -> derive -> evaluate -> recommend.

:func:`review_case` is the one entry point the CLI, batch runner, notebooks and workbench call.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from review import __version__
from review.derive import TPI_CODES, date_of_service, derive
from review.lexicon import lexicons_sha256
from review.policy import evaluate, load_policy, recommend
from review.schema import Case, Evidence, Facts, Provenance, Recommendation


class ReviewConfig(BaseModel):
    policy: str | None = None  # default: the case's own policy field
    extractor: Literal["offline"] = "offline"


def review_case(case: Case, config: ReviewConfig | None = None) -> Recommendation:
    config = config or ReviewConfig()
    policy = load_policy(config.policy or case.policy)
    facts = extract(case, config)
    ungrounded = drop_ungrounded(case, facts)
    derived = derive(case, facts, policy)
    findings = evaluate(derived, facts, policy)
    provenance = Provenance(
        version=__version__,
        policy=policy.id,
        rules_sha256=policy.sha256,
        extractor=config.extractor,
        lexicons_sha256=lexicons_sha256(),
        settings=policy.settings.model_dump(mode="json", exclude={"coarse_areas"}),
    )
    rec = recommend(case.case_id, findings, derived, facts, policy, provenance)
    rec.ungrounded = ungrounded
    return rec


def extract(case: Case, config: ReviewConfig) -> Facts:
    from review.extract.offline import extract_facts
    from review.parse import parse_documents

    parsed = parse_documents(case.documents)
    tpi_billed = bool(case.claim and any(line.code in TPI_CODES for line in case.claim.lines))
    return extract_facts(parsed, date_of_service(case), tpi_billed)


def drop_ungrounded(case: Case, facts: Facts) -> list[Evidence]:
    """Enforce the evidence invariant: a span that does not slice back to its text is removed
    from the facts (so no rule relies on it) and reported."""
    texts = {doc.id: doc.text for doc in case.documents}
    dropped: list[Evidence] = []

    def ok(ev: Evidence) -> bool:
        good = texts.get(ev.document_id, "")[ev.start : ev.end] == ev.text and ev.end > ev.start
        if not good:
            dropped.append(ev)
        return good

    for name in Facts.model_fields:
        value = getattr(facts, name)
        if not isinstance(value, list):
            continue
        if value and isinstance(value[0], Evidence):
            value[:] = [ev for ev in value if ok(ev)]
            continue
        for item in value:
            item.evidence = [ev for ev in item.evidence if ok(ev)]
    return dropped
