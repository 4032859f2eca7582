"""Versioned lexicons (YAML under ``review/lexicons/``), validated on load.

A lexicon is data, not code: each file has a version, a kind and entries with phrases. The parse
stage turns them into medspaCy target and ConText rules; the recommendation records their hash.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from review.errors import ResourceError
from review.schema import Strict
from review.yamlfile import load_yaml

TARGET_KINDS = (
    "procedure",
    "muscles",
    "regions",
    "injectates",
    "exam_findings",
    "treatments",
    "outcomes",
    "excluded_services",
)
"""Lexicons matched as targets, in priority order when phrases collide across files."""

LABELS = {
    "procedure": "procedure",
    "muscles": "muscle",
    "regions": "region",
    "injectates": "injectate",
    "exam_findings": "exam_finding",
    "treatments": "treatment",
    "outcomes": "outcome",
    "excluded_services": "excluded_service",
}


class Entry(Strict):
    name: str | None = None
    category: str | None = None
    body_area: str | None = None
    direction: str | None = None
    max_scope: int | None = None  # ConText: how many tokens a modifier reaches
    phrases: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    """Regular expressions over the note text, for wording a phrase list cannot enumerate
    ("cervical rotation limited", "erector spinae plane (ESP) block"); case-sensitive unless
    they start with (?i)."""

    @model_validator(mode="after")
    def _has_something_to_match(self) -> Entry:
        if not self.phrases and not self.patterns:
            raise ValueError("an entry needs phrases or patterns")
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {pattern!r} is not a valid regular expression: {exc}"
                ) from None
        return self


class Lexicon(Strict):
    version: int
    kind: str
    entries: list[Entry] = Field(min_length=1)


def lexicon_dir() -> Path:
    return Path(str(resources.files("review") / "lexicons"))


@cache
def load_lexicon(kind: str) -> Lexicon:
    path = lexicon_dir() / f"{kind}.yaml"
    if not path.is_file():
        raise ResourceError(
            "L001", "lexicon file is missing; reinstall the package", source=str(path)
        )
    try:
        lexicon = Lexicon.model_validate(load_yaml(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise ResourceError("L002", f"invalid lexicon: {first}", source=str(path)) from None
    if lexicon.kind != kind:
        raise ResourceError(
            "L002", f"kind is {lexicon.kind!r}, expected {kind!r}", source=str(path)
        )
    return lexicon


@cache
def lexicons_sha256() -> str:
    """One hash over every lexicon file, in name order, for the recommendation's provenance."""
    digest = hashlib.sha256()
    for path in sorted(lexicon_dir().glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def entry_attributes(kind: str) -> dict[str, Entry]:
    """Canonical entry name -> entry, for looking up body areas and categories."""
    return {entry.name: entry for entry in load_lexicon(kind).entries if entry.name}


@cache
def _canonical_names(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in load_lexicon(kind).entries:
        if entry.name:
            out[entry.name.lower()] = entry.name
    for entry in load_lexicon(kind).entries:
        for phrase in entry.phrases if entry.name else []:
            out.setdefault(phrase.lower(), entry.name)
    return out


def canonical_name(kind: str, text: str) -> str:
    """A lexicon's canonical entry name for a name or phrase ("Upper  Trapezius" -> "trapezius",
    "QL" -> "quadratus lumborum"); text that names no entry comes back lower-cased and spaced."""
    key = " ".join(text.lower().split())
    return _canonical_names(kind).get(key, key)
