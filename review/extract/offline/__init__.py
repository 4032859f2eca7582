"""Offline extractor: lexicon mentions + ConText cues -> Facts, with no model and no network.

The families read the case in this order, each in its own module:

    reading      sentences, mentions, the cue nearest to each mention, template items
    status       today's procedure: performed / planned / deferred / cancelled / declined /
                 historical / negated / unclear, and the sentences that tell it
    muscles      injected muscles with side, regions, injection sites, image guidance
    injectate    agents and doses
    exam         features present or documented absent
    treatments   prior treatments with outcomes, concurrent therapies
    prior_injections   earlier injections and the response to them
    diagnoses    codes and rationale written in the notes
    excluded     services that are not a trigger point injection, named or described

Every fact cites the sentence(s) it came from, as exact character spans.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from review.extract.base import Extraction, Family
from review.extract.facts import merge_side, sort_facts
from review.extract.offline.diagnoses import read_diagnoses
from review.extract.offline.exam import read_exam
from review.extract.offline.excluded import other_service_only, read_excluded
from review.extract.offline.injectate import read_injectate
from review.extract.offline.muscles import count_sites, read_guidance, read_muscles
from review.extract.offline.prior_injections import read_prior_injections
from review.extract.offline.reading import Sent, evidence_of, read_case
from review.extract.offline.status import (
    NOT_DONE,
    ProcedureReading,
    billing_matters,
    read_procedure,
)
from review.extract.offline.treatments import read_treatments
from review.schema import Facts, ParsedDocument

if TYPE_CHECKING:
    from review.extract.runtime import Runtime

__all__ = ["OfflineExtractor", "extract_facts", "merge_side", "sort_facts"]

NOTHING_GIVEN = (*NOT_DONE, "planned", "historical")


def extract_facts(
    parsed: list[ParsedDocument],
    date_of_service: dt.date | None = None,
) -> tuple[Facts, Facts | None]:
    """Read every parsed document of a case into Facts: the strict reading, and the reading
    knowing a trigger point injection was billed when it differs (else None).

    Billed, an injection into muscle documented for the date of service is taken as the billed
    service even when the note never says "trigger point" (the rules then judge it); without a
    claim for it, only trigger point wording counts. Which reading applies is the pipeline's
    choice: it sees the claim, the extractor does not."""
    sents = read_case(parsed, date_of_service)
    strict = read_procedure(sents, date_of_service, tpi_billed=False)
    as_billed = None
    if billing_matters(strict, sents):  # most notes: no mention whose reading the billing changes
        billed = read_procedure(sents, date_of_service, tpi_billed=True)
        if _signature(billed) != _signature(strict):
            as_billed = _facts(sents, billed)
    return _facts(sents, strict), as_billed


def _signature(reading: ProcedureReading) -> tuple:
    """Everything the facts are built from (the blocks do not depend on the billing)."""

    def ids(sents: list) -> list[int]:
        return [id(s) for s in sents]

    events = [
        (id(e.sent), e.mention.label, e.mention.name, e.mention.start, e.status, e.tpi)
        for e in reading.events
    ]
    return (
        reading.status,
        reading.reason,
        ids(reading.evidence),
        ids(reading.today),
        ids(reading.service_today),
        events,
    )


def _facts(sents: list[Sent], procedure: ProcedureReading) -> Facts:
    facts = Facts(
        procedure_performed=procedure.status == "performed",
        procedure_status=procedure.status,
        procedure_status_reason=procedure.reason,
        procedure_evidence=evidence_of(procedure.evidence),
    )
    # what was injected today, whatever the service, unless the notes say nothing was
    given = [] if procedure.status in NOTHING_GIVEN else procedure.service_today
    read_muscles(facts, procedure.today)
    read_guidance(facts, procedure.today)
    read_injectate(facts, given)
    read_exam(facts, sents)
    read_treatments(facts, sents, facts.procedure_performed)
    read_prior_injections(facts, sents, procedure)
    read_diagnoses(facts, sents)
    read_excluded(facts, sents, procedure)
    other_service_only(facts, procedure)
    count_sites(facts, procedure.today)
    return sort_facts(facts)


class OfflineExtractor:
    """The embedded default: lexicons, matchers and ConText cues; no model, no network."""

    id = "offline.v1"
    family: Family = "offline"

    def extract(
        self, documents: list[ParsedDocument], date_of_service: dt.date | None, runtime: Runtime
    ) -> Extraction:
        facts, as_billed = extract_facts(documents, date_of_service)
        return Extraction(facts, if_billed=None if as_billed is None else Extraction(as_billed))
