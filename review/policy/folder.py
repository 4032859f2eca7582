"""Load and check a policy folder: ``rules.yaml``, ``settings.yaml``, ``covered_diagnoses.yaml`` and
``policy.txt`` (the policy text every rule quotes).

Checks at load, each failing with a stable code and what to do: unknown keys, conditions that do
not compile as CEL, unknown symbols (with a "did you mean"), reason templates naming unknown
symbols, policy quotes that are not verbatim in ``policy.txt``, duplicate rule ids, evidence
sources that are not facts, and covered codes that are not ICD-10-CM (``check_codes``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import string
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from review.derive import Derived
from review.errors import RulesError, did_you_mean
from review.policy.names import NAMESPACES, Names, Node, check_names, node_of, policy_names
from review.schema import Facts, Strict
from review.yamlfile import load_yaml


class RuleSpec(Strict):
    id: str = Field(pattern=r"^[A-Z]+-[A-Z]\d{2}$")
    title: str
    # the criterion a rule enforces, shared by rules of different policies that enforce the same
    # one ("exam", "frequency"): how `review rules diff` and `--compare` pair them
    topic: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["administrative", "medical_necessity", "extraction"]
    policy_text: str | list[str]  # several sentences when a rule enforces more than one
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


def rules_root() -> Path:
    """Where policy folders live: ``$REVIEW_RULES_DIR``, else the bundled ``rules/``
    (review/resources.py: inside the wheel, or the checkout's)."""
    from review.resources import bundled_dir

    env = os.environ.get("REVIEW_RULES_DIR")
    return Path(env) if env else bundled_dir("rules")


def available_policies(root: Path | None = None) -> list[str]:
    root = root or rules_root()
    return (
        sorted(p.name for p in root.iterdir() if (p / "rules.yaml").is_file())
        if root.is_dir()
        else []
    )


@cache
def load_policy(policy_id: str | None = None, root: Path | None = None) -> Policy:
    """A policy from the registry (``rules_root()``) by its id (none: the registry's default).
    Never a path: a case names its policy, and what it names must not choose a folder
    (``load_policy_folder`` is the operator's)."""
    from review.policy.registry import default_policy
    from review.schema import POLICY_ID

    root = root or rules_root()
    policy_id = policy_id or default_policy(root)
    if not POLICY_ID.match(policy_id) or not (root / policy_id / "rules.yaml").is_file():
        known = available_policies(root)
        msg = f"unknown policy {policy_id!r}" + did_you_mean(
            policy_id, known, f"; known: {', '.join(known) or 'none'}"
        )
        raise RulesError("R001", msg, source=str(root))
    return _load_folder(root / policy_id, policy_id)


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
    meta = _load_yaml(folder / "settings.yaml", SettingsFile)
    return _load_folder(folder, meta.policy)


def resolve_policy(ref: str) -> Policy:
    """The operator's ``--policy``: a registry id, else a path to a policy folder."""
    from review.schema import POLICY_ID

    if POLICY_ID.match(ref) and ref in available_policies():
        return load_policy(ref)
    if Path(ref).is_dir():
        return load_policy_folder(Path(ref).resolve())
    return load_policy(ref)  # R001 with the known ids


def _load_folder(folder: Path, policy_id: str) -> Policy:
    meta = _load_yaml(folder / "settings.yaml", SettingsFile)
    rules_file = _load_yaml(folder / "rules.yaml", RulesFile)
    codes = _load_yaml(folder / "covered_diagnoses.yaml", CodesFile)
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
    policy counts are ones the extractors report (R022)."""
    from review.lexicon import entry_attributes

    def known(values, lexicon: str, what: str, field: str) -> None:
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
                "R022",
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


def _load_yaml(path: Path, model):
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
    import celpy

    env = celpy.Environment()
    names = rule_names(settings)
    facts_fields = set(Facts.model_fields)
    seen: set[str] = set()
    rules = []
    for rule in rules_file.rules:
        if rule.id in seen:
            raise RulesError("R006", f"rule {rule.id} is defined twice", source=str(path))
        seen.add(rule.id)
        quotes = [rule.policy_text] if isinstance(rule.policy_text, str) else rule.policy_text
        quoted = policy_text if rule.source == "policy" else (sources or {}).get(rule.source)
        if quoted is not None and any(_normalise(q) not in quoted for q in quotes):
            where = "the policy file" if rule.source == "policy" else rule.source
            raise RulesError(
                "R007",
                f"rule {rule.id}: policy_text is not verbatim in {where}; quote the sentence exactly",
                source=str(path),
            )
        programs = {}
        for name in ("applies_when", "met_when", "insufficient_when"):
            expr = getattr(rule, name)
            try:
                ast = env.compile(expr)
            except Exception as exc:  # celpy raises its own CELParseError
                first = str(exc).splitlines()[0]
                raise RulesError(
                    "R008", f"rule {rule.id}: {name} is not valid CEL: {first}", source=str(path)
                ) from None
            check_names(ast, names, f"rule {rule.id} {name}", str(path))
            # a literal needs no interpreter (most rules leave two of their three conditions as one)
            literal = expr.strip()
            programs[name] = (
                literal == "true"
                if literal in ("true", "false")
                else compile_condition(expr, f"rule {rule.id}: {name}", str(path))
            )
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
        for status, template in rule.reasons.items():
            for _, field_name, _, _ in string.Formatter().parse(template):
                if field_name and not template_path_known(field_name, names):
                    top = names.top()
                    raise RulesError(
                        "R015",
                        f"rule {rule.id} reason '{status}' names unknown symbol {field_name!r}"
                        + did_you_mean(field_name.split(".")[-1], _template_paths(top)),
                        source=str(path),
                        field="reasons",
                    )
        rules.append(Rule(rule, programs))
    return rules


def rule_names(settings: Settings) -> Names:
    """What this policy's conditions may name: the five namespaces, with ``derived``'s
    exclusion groups as the fields the policy declares."""
    derived = node_of(Derived, "derived")
    derived.fields["exclusion_signals"] = Node(
        "derived.exclusion_signals",
        fields={
            g: Node(f"derived.exclusion_signals.{g}", item=Node(""))
            for g in settings.exclusion_groups
        },
    )
    return policy_names(Settings, derived)


def template_path_known(field_name: str, names: Names) -> bool:
    node: Node | None = Node("", fields=names.top())
    for part in field_name.split("."):
        if node is None or node.fields is None or part not in node.fields:
            return False
        node = node.fields[part]
    return True


def _template_paths(top: dict[str, Node]) -> list[str]:
    out = list(top)
    for name, node in top.items():
        out += [f"{name}.{f}" for f in (node.fields or {})]
    return out


@cache
def cel_env():
    """The compiled-CEL environment: every bare Derived symbol declared with its type, and the
    namespaces as maps (their paths are checked by ``check_names``), so a condition is
    type-checked once, at load."""
    from cel_expr_python import cel

    T = cel.Type
    types = {bool: T.BOOL, int: T.INT, str: T.STRING, list[str]: T.List(T.STRING)}
    types[dict[str, list[str]]] = T.Map(T.STRING, T.List(T.STRING))
    variables = {name: types[f.annotation] for name, f in Derived.model_fields.items()}
    for namespace in NAMESPACES:
        variables[namespace] = T.List(T.DYN) if namespace == "history" else T.Map(T.STRING, T.DYN)
    return cel.NewEnv(variables=variables)


def compile_condition(expr: str, what: str, source: str):
    """One condition as a compiled, type-checked CEL expression returning bool (R021). A
    condition over a namespace may be ``dyn`` at load; it must still give a bool (R020)."""
    from cel_expr_python import cel

    try:
        program = cel_env().compile(expr)
    except RuntimeError as exc:
        detail = str(exc).removeprefix("INVALID_ARGUMENT: ").replace("ERROR: <input>:", "at ")
        raise RulesError(
            "R021", f"{what} does not type-check: {detail.splitlines()[0]}", source=source
        ) from None
    if program.return_type() not in (cel.Type.BOOL, cel.Type.DYN):
        raise RulesError(
            "R021",
            f"{what} does not type-check: it gives {program.return_type().name().lower()}, not bool",
            source=source,
        )
    return program
