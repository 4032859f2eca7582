"""What every extractor returns, and the one interface the pipeline calls.

An extractor reads a case's parsed documents and its date of service; it never sees the claim
or the policy. Where the reading of the documents depends on whether a trigger point injection
was billed (an injection into a muscle documented for the date of service, in a note that never
says "trigger point"), the extractor returns both readings and the pipeline, which sees the
claim, picks one (:meth:`Extraction.reading`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from review.schema import ExtractorFamily as Family
from review.schema import Facts, LlmUsage, ParsedDocument, Ungrounded, Unverified

if TYPE_CHECKING:
    from review.extract.runtime import Runtime


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
    if_billed: Extraction | None = None
    """The documents read knowing a trigger point injection was billed for the date of service,
    when that reading differs (None: the same reading either way)."""

    def reading(self, billed: bool) -> Extraction:
        """The reading for a claim that does (``billed``) or does not bill the injection."""
        return self.if_billed if billed and self.if_billed is not None else self


class Extractor(Protocol):
    """A named, versioned way of reading documents into facts (review.extract.registry)."""

    id: str  # "offline.v1": what provenance records
    family: Family  # what the recommendation contract calls the extractor

    def extract(
        self, documents: list[ParsedDocument], date_of_service: dt.date | None, runtime: Runtime
    ) -> Extraction: ...
