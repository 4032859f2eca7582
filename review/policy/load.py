"""Find and load policy folders: ``rules.yaml``, ``settings.yaml``, ``covered_diagnoses.yaml`` and
``policy.txt`` (the policy text every rule quotes), and the folder's hash.

Checks at load, each failing with a stable code and what to do: unknown keys, conditions that do
not compile as CEL, unknown symbols (with a "did you mean"), reason templates naming unknown
symbols, policy quotes that are not verbatim in ``policy.txt``, duplicate rule ids, evidence
sources that are not facts, and exclusion groups or exam features the extractors do not know.
Covered codes are checked against ICD-10-CM by ``review rules check`` (check.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from review.errors import RulesError, did_you_mean
from review.policy.expressions import check_reason_templates, compile_conditions, rule_names
from review.policy.model import CodesFile, Policy, Rule, RulesFile, Settings, SettingsFile
from review.resources import bundled_dir
from review.schema import POLICY_ID, Facts
from review.yamlfile import load_yaml

M = TypeVar("M", bound=BaseModel)


def rules_root() -> Path:
    """Where the product's policy folders live: ``$REVIEW_RULES_DIR``, else the bundled ``rules/``
    (review/resources.py: inside the wheel, or the checkout's)."""
    env = os.environ.get("REVIEW_RULES_DIR")
    return Path(env) if env else bundled_dir("rules")


def user_policy_dir() -> Path | None:
    """The operator's own policy folders, added to the registry beside the bundled ones:
    ``$REVIEW_POLICY_DIR`` (empty: none), else ``~/.config/tpi-review/policies`` when it exists."""
    env = os.environ.get("REVIEW_POLICY_DIR")
    if env is not None:
        if not env:
            return None
        path = Path(env).expanduser()
        if not path.is_dir():
            raise RulesError(
                "R001",
                "REVIEW_POLICY_DIR is not a folder; create it or unset the variable",
                source=str(path),
            )
        return path
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = config / "tpi-review" / "policies"
    return path if path.is_dir() else None


def policy_roots(root: Path | None = None) -> tuple[Path, ...]:
    """The folders policies are looked up in: ``root`` when given, else the product's and the
    operator's, for the environment as it is now (a changed variable is seen at once); the
    caches below are keyed on the result."""
    if root is not None:
        return (root,)
    env = os.environ
    return _roots(
        env.get("REVIEW_RULES_DIR"),
        env.get("REVIEW_POLICY_DIR"),
        env.get("XDG_CONFIG_HOME"),
        env.get("HOME"),
    )


@cache
def _roots(*environment: str | None) -> tuple[Path, ...]:
    """The roots for these environment values (every review asks: finding the bundled folder
    and checking the user's took a visible share of a review). A user folder created while the
    process runs is seen after a restart."""
    user = user_policy_dir()
    return (rules_root(),) if user is None else (rules_root(), user)


def policy_folders(root: Path | None = None) -> dict[str, Path]:
    """Policy id -> folder (an id in two roots is an error: which one a case got would depend
    on the order)."""
    return folders_in(policy_roots(root))


def folders_in(roots: tuple[Path, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base in roots:
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if (p / "rules.yaml").is_file()):
            if folder.name in found:
                raise RulesError(
                    "R028",
                    f"policy id {folder.name!r} is both in {found[folder.name].parent} and in "
                    f"{base}; rename one of the folders (and the id its files declare)",
                    source=str(folder),
                )
            found[folder.name] = folder
    return dict(sorted(found.items()))


def available_policies(root: Path | None = None) -> list[str]:
    return list(policy_folders(root))


def load_policy(policy_id: str | None = None, root: Path | None = None) -> Policy:
    """A policy from the registry (``policy_folders()``) by its id (none: the registry's default).
    Never a path: a case names its policy, and what it names must not choose a folder
    (``load_policy_folder`` is the operator's)."""
    return _load_policy(policy_id, policy_roots(root))


@cache
def _load_policy(policy_id: str | None, roots: tuple[Path, ...]) -> Policy:
    from review.policy.registry import default_policy_in

    policy_id = policy_id or default_policy_in(roots)
    folders = folders_in(roots)
    if not POLICY_ID.match(policy_id) or policy_id not in folders:
        known = list(folders)
        msg = f"unknown policy {policy_id!r}" + did_you_mean(
            policy_id, known, f"; known: {', '.join(known) or 'none'}"
        )
        raise RulesError("R001", msg, source=str(roots[0]))
    return _load_folder(folders[policy_id], policy_id)


def clear_policy_caches() -> None:
    """Forget loaded policies and registries (after editing policy files in place)."""
    from review.policy.registry import default_policy_in, registry_in

    for cached in (_roots, _load_policy, load_policy_folder, registry_in, default_policy_in):
        cached.cache_clear()


@cache
def load_policy_folder(folder: Path) -> Policy:
    """A policy folder the operator named (``--policy PATH``: an analyst's draft). Its id is the
    one its files declare; the folder may be called anything."""
    folder = Path(folder)
    if not (folder / "rules.yaml").is_file():
        raise RulesError(
            "R001",
            "not a policy folder (no rules.yaml); give a registry id (`review rules policies`) or a folder holding rules.yaml",
            source=str(folder),
        )
    meta = load_file(folder / "settings.yaml", SettingsFile)
    return _load_folder(folder, meta.policy)


def resolve_policy(ref: str) -> Policy:
    """The operator's ``--policy``: a registry id, else a path to a policy folder."""
    if POLICY_ID.match(ref) and ref in available_policies():
        return load_policy(ref)
    if Path(ref).is_dir():
        return load_policy_folder(Path(ref).resolve())
    return load_policy(ref)  # R001 with the known ids


def _load_folder(folder: Path, policy_id: str) -> Policy:
    meta = load_file(folder / "settings.yaml", SettingsFile)
    rules_file = load_file(folder / "rules.yaml", RulesFile)
    codes = load_file(folder / "covered_diagnoses.yaml", CodesFile)
    text_path = folder / meta.policy_file
    if not text_path.is_file():
        raise RulesError(
            "R002", "policy text file is missing; every rule quotes it", source=str(text_path)
        )
    policy_text = text_path.read_text(encoding="utf-8")
    for doc, name in ((meta, "settings.yaml"), (rules_file, "rules.yaml")):
        if doc.policy != policy_id:
            raise RulesError(
                "R003",
                f"policy is {doc.policy!r} but expected {policy_id!r}",
                source=str(folder / name),
            )
    _check_exclusion_groups(meta.settings, folder / "settings.yaml")
    sources = {
        p.name: _normalise(p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("*.txt"))
        if p.name != meta.policy_file
    }
    rules = _check_rules(
        rules_file, folder / "rules.yaml", _normalise(policy_text), meta.settings, sources
    )
    return Policy(
        policy_id,
        folder,
        meta,
        rules,
        codes,
        policy_text,
        policy_sha256(folder),
        rules_file.version,
    )


def _check_exclusion_groups(settings: Settings, path: Path) -> None:
    """Each group names excluded-service kinds the extractors know, and the exam features a
    policy counts are ones the extractors report (R022); codes billed are listed kinds (R025)."""
    from review.lexicon import entry_attributes

    def known(values: list[str], lexicon: str, what: str, field: str) -> None:
        names = sorted(entry_attributes(lexicon))
        for value in values:
            if value not in names:
                raise RulesError(
                    "R022",
                    f"{what} {value!r}"
                    + did_you_mean(value, names, f"; known: {', '.join(names)}"),
                    source=str(path),
                    field=field,
                )

    known(
        settings.counted_exam_features,
        "exam_findings",
        "counted_exam_features names unknown exam feature",
        "settings.counted_exam_features",
    )
    for name, group in settings.exclusion_groups.items():
        known(
            [*group.kinds, *group.codes.values()],
            "excluded_services",
            f"exclusion group {name!r} names unknown service kind",
            f"settings.exclusion_groups.{name}",
        )
        stray = sorted(set(group.codes.values()) - set(group.kinds))
        if stray:
            raise RulesError(
                "R025",
                f"exclusion group {name!r} bills {stray} by code but does not list them in kinds",
                source=str(path),
                field=f"settings.exclusion_groups.{name}",
            )


def policy_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(
        p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_file(path: Path, model: type[M]) -> M:
    """One YAML file of a policy folder as ``model``: missing (R002), malformed (R004) or not
    what the model allows (R005)."""
    if not path.is_file():
        raise RulesError("R002", "file is missing from the policy folder", source=str(path))
    try:
        return model.model_validate(load_yaml(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise RulesError(
            "R004", f"malformed YAML: {str(exc).splitlines()[0]}", source=str(path)
        ) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RulesError("R005", f"{err['msg']}", source=str(path), field=loc) from None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip().lower()


def _check_rules(
    rules_file: RulesFile,
    path: Path,
    policy_text: str,
    settings: Settings,
    sources: dict[str, str] | None = None,
) -> list[Rule]:
    names = rule_names(settings)
    facts_fields = set(Facts.model_fields)
    seen: set[str] = set()
    rules = []
    for rule in rules_file.rules:
        if rule.id in seen:
            raise RulesError("R006", f"rule {rule.id} is defined twice", source=str(path))
        seen.add(rule.id)
        quoted = policy_text if rule.source == "policy" else (sources or {}).get(rule.source)
        if quoted is not None and any(_normalise(q) not in quoted for q in rule.policy_text):
            where = "the policy file" if rule.source == "policy" else rule.source
            raise RulesError(
                "R007",
                f"rule {rule.id}: policy_text is not verbatim in {where}; quote the sentence exactly",
                source=str(path),
            )
        programs = compile_conditions(rule, names, str(path))
        for source in rule.evidence:
            if source not in facts_fields:
                raise RulesError(
                    "R013",
                    f"rule {rule.id} cites evidence from unknown fact {source!r}"
                    + did_you_mean(source, facts_fields),
                    source=str(path),
                    field="evidence",
                )
        missing = {"met", "not_met", "insufficient", "not_applicable"} - set(rule.reasons)
        if missing:
            raise RulesError(
                "R014",
                f"rule {rule.id} has no reason for {', '.join(sorted(missing))}",
                source=str(path),
                field="reasons",
            )
        check_reason_templates(rule, names, str(path))
        rules.append(Rule(rule, programs))
    return rules
