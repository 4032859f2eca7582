"""The extractors, by name: the one place their names exist.

Names are versioned (``offline.v1``); the family name (``offline``) is an alias of the current
version, which is what the CLI, batch runs, evaluation and the workbench accept. A new version
of an extractor is a new entry, so a recorded ``extractor_id`` always names the code that ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from review.errors import ReviewError, did_you_mean

if TYPE_CHECKING:
    from review.extract.base import Extractor, Family
    from review.extract.llm.client import LLMSettings


@dataclass(frozen=True)
class ExtractorSpec:
    id: str
    family: Family
    uses_llm: bool
    summary: str
    build: Callable[[str, LLMSettings | None], Extractor]  # (prompt, LLM settings) -> extractor


def _offline(prompt: str, settings: LLMSettings | None) -> Extractor:
    from review.extract.offline import OfflineExtractor

    return OfflineExtractor()


def _llm(prompt: str, settings: LLMSettings | None) -> Extractor:
    from review.extract.llm.extractor import LLMExtractor

    return LLMExtractor(prompt, settings)


def _hybrid(prompt: str, settings: LLMSettings | None) -> Extractor:
    from review.extract.hybrid import HybridExtractor

    return HybridExtractor(prompt, settings)


EXTRACTORS: dict[str, ExtractorSpec] = {
    spec.id: spec
    for spec in (
        ExtractorSpec("offline.v1", "offline", False, "lexicons, matchers and ConText", _offline),
        ExtractorSpec("llm.v1", "llm", True, "an OpenAI-compatible model, grounded", _llm),
        ExtractorSpec("hybrid.v1", "hybrid", True, "both, disagreements pend", _hybrid),
    )
}
ALIASES: dict[str, str] = {"offline": "offline.v1", "llm": "llm.v1", "hybrid": "hybrid.v1"}
DEFAULT = "offline"


def extractor_names() -> list[str]:
    """Every name an operator may give: the aliases, then the versioned ids."""
    return [*ALIASES, *EXTRACTORS]


def extractor_spec(name: str) -> ExtractorSpec:
    spec = EXTRACTORS.get(ALIASES.get(name, name))
    if spec is None:
        known = ", ".join(extractor_names())
        raise ReviewError(
            "E003",
            f"unknown extractor {name!r}{did_you_mean(name, extractor_names())}; known: {known}",
        )
    return spec
