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
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from review.errors import ResourceError, did_you_mean
from review.schema import Strict
from review.yamlfile import load_yaml

TARGET_KINDS = (
    "procedure",
    "muscles",
    "regions",
    "injectates",
    "exam_findings",
    "treatments",
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
    token_patterns: list[str] = Field(default_factory=list)
    """Compositional token patterns over the word classes of vocab.yaml (see its header)."""

    @model_validator(mode="after")
    def _has_something_to_match(self) -> Entry:
        if not self.phrases and not self.patterns and not self.token_patterns:
            raise ValueError("an entry needs phrases, patterns or token_patterns")
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


CONTEXT_CATEGORIES = (
    "NEGATED_EXISTENCE",
    "POSSIBLE_EXISTENCE",
    "HYPOTHETICAL",
    "HISTORICAL",
    "FAMILY",
    "STATUS_PERFORMED",
    "STATUS_PLANNED",
    "STATUS_DEFERRED",
    "STATUS_CANCELLED",
    "STATUS_DECLINED",
    "STATUS_NEGATED",
    "STATUS_HISTORICAL",
    "STATUS_NONE_BEFORE",
    "OUTCOME_FAILED",
    "OUTCOME_PARTIAL",
    "OUTCOME_EFFECTIVE",
    "OUTCOME_NOT_TOLERATED",
    "OUTCOME_CONTRAINDICATED",
    "OUTCOME_ONGOING",
    "OUTCOME_LOW",
    "OUTCOME_HIGH",
    "CLAUSE_BREAK",
    "FIELD_BREAK",
    "PSEUDO",
)
"""Every ConText modifier category the extractor reads (context.yaml may use no other)."""


class ContextEntry(Strict):
    """One ConText modifier rule family (context.yaml)."""

    category: str
    direction: Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"]
    allowed_types: list[str] | None = None
    terminated_by: list[str] = Field(default_factory=list)
    max_scope: int | None = Field(default=None, ge=1)
    max_targets: int | None = Field(default=None, ge=1)
    phrases: list[str] = Field(default_factory=list)
    token_patterns: list[str] = Field(default_factory=list)


class ContextLexicon(Strict):
    version: int
    kind: Literal["context"]
    entries: list[ContextEntry] = Field(min_length=1)


class Vocab(Strict):
    version: int
    kind: Literal["vocab"]
    classes: dict[str, list[str]]


_QUANTIFIER = re.compile(r"^(.*?)(\?|\*|\+|\{\d*,\d*\}|\{\d+\})$")


def token_pattern(text: str, classes: dict[str, list[str]]) -> list[dict]:
    """A token pattern written in the vocab.yaml notation -> a spaCy Matcher pattern.
    Raises ValueError naming the problem (an unknown class, an empty token)."""
    out: list[dict] = []
    for raw in text.split():
        match = _QUANTIFIER.match(raw)
        body, op = (match.group(1), match.group(2)) if match and match.group(1) else (raw, "")
        if body == "_":
            token: dict = {}
        elif body == "#num":
            token = {"LIKE_NUM": True}
        elif body.startswith("@") or "|" in body:
            words: set[str] = set()
            for part in body.split("|"):
                if not part:
                    raise ValueError(f"empty alternative in {text!r}")
                if part.startswith("@"):
                    name = part[1:]
                    if name not in classes:
                        raise ValueError(
                            f"unknown word class {name!r} in {text!r}"
                            + did_you_mean(name, classes, "; classes are in vocab.yaml")
                        )
                    words.update(w.lower() for w in classes[name])
                else:
                    words.add(part.lower())
            token = {"LOWER": {"IN": sorted(words)}}
        else:
            token = {"LOWER": body.lower()}
        if op:
            token["OP"] = op
        out.append(token)
    if not out or all(
        t.get("OP") in ("?", "*") or str(t.get("OP", "")).startswith("{0") for t in out
    ):
        raise ValueError(f"pattern {text!r} can match nothing")
    return out


@cache
def load_vocab() -> Vocab:
    path = lexicon_dir() / "vocab.yaml"
    return _load_model(path, Vocab, "vocab")


@cache
def load_context() -> ContextLexicon:
    """context.yaml, checked: known categories and target types, every token pattern compiles,
    and no phrase belongs to two rules (medspaCy keeps one match per span, so the second rule
    would silently never fire)."""
    path = lexicon_dir() / "context.yaml"
    lexicon = _load_model(path, ContextLexicon, "context")
    classes = load_vocab().classes
    labels = set(LABELS.values())
    seen: dict[str, int] = {}
    for i, entry in enumerate(lexicon.entries):
        where = f"entries[{i}]"
        if entry.category not in CONTEXT_CATEGORIES:
            raise ResourceError(
                "L003",
                f"unknown category {entry.category!r}"
                + did_you_mean(entry.category, CONTEXT_CATEGORIES),
                source=str(path),
                field=where,
            )
        for name in [*(entry.allowed_types or []), *entry.terminated_by]:
            known = labels if name in (entry.allowed_types or []) else set(CONTEXT_CATEGORIES)
            if name not in known:
                raise ResourceError(
                    "L003",
                    f"unknown target type or category {name!r}" + did_you_mean(name, known),
                    source=str(path),
                    field=where,
                )
        for pattern in entry.token_patterns:
            try:
                token_pattern(pattern, classes)
            except ValueError as exc:
                raise ResourceError("L005", str(exc), source=str(path), field=where) from None
        for phrase in entry.phrases:
            key = " ".join(phrase.lower().split())
            if key in seen:
                raise ResourceError(
                    "L004",
                    f"phrase {phrase!r} is in entries[{seen[key]}] and {where}; a span takes one "
                    "rule, so keep it in one",
                    source=str(path),
                )
            seen[key] = i
    return lexicon


def _load_model(path: Path, model, kind: str):
    if not path.is_file():
        raise ResourceError(
            "L001", "lexicon file is missing; reinstall the package", source=str(path)
        )
    try:
        return model.model_validate(load_yaml(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise ResourceError("L002", f"invalid {kind} file: {first}", source=str(path)) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        hint = (
            ' (YAML reads a bare no/yes/on/off as true/false: quote it, "no")'
            if isinstance(err.get("input"), bool)
            else ""
        )
        raise ResourceError(
            "L002",
            f"invalid {kind} file: {err['msg']}{hint}",
            source=str(path),
            field=".".join(str(part) for part in err["loc"]),
        ) from None


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
    for i, entry in enumerate(lexicon.entries):
        for pattern in entry.token_patterns:
            try:
                token_pattern(pattern, load_vocab().classes)
            except ValueError as exc:
                raise ResourceError(
                    "L005", str(exc), source=str(path), field=f"entries[{i}]"
                ) from None
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
def excluded_service_kinds() -> tuple[str, ...]:
    """The kinds of excluded service, in lexicon order: the one vocabulary the extractors, the
    LLM schema and the policies' exclusion groups share (``facts.excluded_services[].kind``)."""
    return tuple(dict.fromkeys(e.name for e in load_lexicon("excluded_services").entries if e.name))


@cache
def _canonical_names(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in load_lexicon(kind).entries:
        if entry.name:
            out[entry.name.lower()] = entry.name
    for entry in load_lexicon(kind).entries:
        if not entry.name:
            continue
        for phrase in entry.phrases:
            out.setdefault(phrase.lower(), entry.name)
    return out


def canonical_name(kind: str, text: str) -> str:
    """A lexicon's canonical entry name for a name or phrase ("Upper  Trapezius" -> "trapezius",
    "QL" -> "quadratus lumborum"); text that names no entry comes back lower-cased and spaced."""
    key = " ".join(text.lower().split())
    return _canonical_names(kind).get(key, key)
