"""``review rules check`` and ``review rules test``: a policy folder checked end to end.

``check_policy`` loads the folder (which checks every rule, see load.py) and verifies every
covered diagnosis code against the current ICD-10-CM. ``run_rule_tests`` runs the test cases kept
beside the rules (``tests.yaml``: derived symbols in, expected statuses out).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from review.errors import RulesError
from review.policy.evaluate import evaluate, rule_inputs
from review.policy.load import load_file, load_policy
from review.policy.model import Policy
from review.schema import Derived, Facts, Strict

M = TypeVar("M", bound=BaseModel)


class RuleTestCase(Strict):
    name: str
    symbols: dict[str, object] = Field(default_factory=dict)  # derived symbols
    settings: dict[str, object] = Field(default_factory=dict)  # overrides of settings.yaml
    facts: dict[str, object] = Field(default_factory=dict)  # extracted facts
    expect: dict[str, str]


class RuleTestFile(Strict):
    version: str
    base: dict[str, object] = Field(default_factory=dict)  # a YAML anchor the cases merge from
    anchors: dict[str, dict[str, object]] = Field(default_factory=dict)  # more of them
    cases: list[RuleTestCase]


def check_policy(policy_id: str) -> str:
    from review.codes import icd_index

    policy = load_policy(policy_id)
    index = icd_index()
    path = policy.folder / "covered_diagnoses.yaml"
    for i, entry in enumerate(policy.codes.covered):
        if not index.is_valid(entry.code):
            raise RulesError(
                "R016",
                f"{entry.code!r} is not an ICD-10-CM code in release {index.version}; fix or remove it",
                source=str(path),
                field=f"covered[{i}]",
            )
    for code in policy.codes.nonspecific:
        if not index.is_valid(code):
            raise RulesError(
                "R016", f"{code!r} is not an ICD-10-CM code", source=str(path), field="nonspecific"
            )
    tests = load_rule_tests(policy_id)
    return (
        f"{len(policy.rules)} rules, {len(policy.codes.covered)} covered codes valid in ICD-10-CM "
        f"{index.version}, {len(tests.cases)} rule test cases"
    )


def load_rule_tests(policy_id: str) -> RuleTestFile:
    policy = load_policy(policy_id)
    return load_file(policy.folder / "tests.yaml", RuleTestFile)


def run_rule_tests(policy_id: str) -> tuple[list[str], int]:
    """Returns (failure lines, number of checks)."""
    return run_policy_tests(load_policy(policy_id))


def run_policy_tests(policy: Policy) -> tuple[list[str], int]:
    failures: list[str] = []
    total = 0
    tests = load_file(policy.folder / "tests.yaml", RuleTestFile)
    for case in tests.cases:
        statuses = case_statuses(policy, case)
        for rule_id, expected in sorted(case.expect.items()):
            total += 1
            policy.rule(rule_id)  # unknown ids fail loudly with a suggestion
            if statuses.get(rule_id) != expected:
                failures.append(
                    f"FAIL {case.name}: {rule_id} expected {expected}, got {statuses.get(rule_id)}"
                )
    return failures, total


def rule_statuses(policy_id: str, symbols: dict[str, object], name: str = "test") -> dict[str, str]:
    return case_statuses(
        load_policy(policy_id), RuleTestCase(name=name, symbols=symbols, expect={})
    )


def case_statuses(policy: Policy, case: RuleTestCase) -> dict[str, str]:
    """One rule test case under ``policy``'s own settings, with the case's overrides."""
    inputs, facts = case_inputs(policy, case)
    return {f.rule_id: f.status for f in evaluate(inputs, facts, policy)}


def case_inputs(policy: Policy, case: RuleTestCase) -> tuple[dict[str, Any], Facts]:
    """The rule inputs a test case stands for: its symbols (exclusion groups it leaves out are
    empty), the policy's settings with the case's overrides, and its facts."""
    source = str(policy.folder / "tests.yaml")
    symbols = dict(case.symbols)
    signals = symbols.get("exclusion_signals") or {}
    if isinstance(signals, dict):  # anything else is left to Derived's validation (R017)
        unknown_groups = set(signals) - set(policy.settings.exclusion_groups)
        if unknown_groups:
            raise RulesError(
                "R017",
                f"test case {case.name!r} sets unknown exclusion groups {sorted(unknown_groups)}",
                source=source,
            )
        symbols["exclusion_signals"] = {
            g: signals.get(g, []) for g in policy.settings.exclusion_groups
        }
    derived = _validated(Derived, symbols, case.name, source, "")
    unknown = set(symbols) - set(Derived.model_fields)
    if unknown:
        raise RulesError(
            "R017", f"test case {case.name!r} sets unknown symbols {sorted(unknown)}", source=source
        )
    settings = _validated(
        type(policy.settings),
        {**policy.settings.model_dump(), **case.settings},
        case.name,
        source,
        "settings.",
    )
    facts = _validated(Facts, case.facts, case.name, source, "facts.")
    return rule_inputs(derived, facts, policy, settings=settings.model_dump(mode="json")), facts


def _validated(model: type[M], data: dict[str, object], name: str, source: str, prefix: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RulesError(
            "R017",
            f"test case {name!r}: {err['msg']}",
            source=source,
            field=prefix + ".".join(str(p) for p in err["loc"]),
        ) from None
