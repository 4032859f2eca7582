"""The compiled CEL runtime (cel-expr-python) against cel-python as a test oracle: every
condition of every rule, on every rule test case and on the rule inputs (claim, history, facts,
derived, settings) of every golden case, gives the same truth value in both. A divergence would silently change decisions."""

from __future__ import annotations

from pathlib import Path

import celpy
import pytest

from review.case import load_case
from review.derive import derive
from review.pipeline import ReviewConfig, extract, reading_for
from review.policy.check import case_inputs, load_rule_tests
from review.policy.evaluate import rule_inputs
from review.policy.expressions import cel_env
from review.policy.load import load_policy
from review.schema import date_of_service

POLICIES = ("hphc-tpi", "medicare-lcd-tpi")
CONDITIONS = ("applies_when", "met_when", "insufficient_when")
CASES = Path(__file__).parent / "golden" / "cases"
GOLDEN = sorted(p.parent for p in CASES.glob("*/case.json"))


def _both(policy_id: str, inputs: dict) -> list[tuple[str, bool, bool]]:
    env = celpy.Environment()
    oracle_activation = celpy.json_to_cel(inputs)
    compiled_activation = cel_env().Activation(inputs)
    out = []
    for rule in load_policy(policy_id).rules:
        for name in CONDITIONS:
            program = rule.programs[name]
            if isinstance(program, bool):
                continue
            expr = getattr(rule.spec, name)
            oracle = env.program(env.compile(expr)).evaluate(oracle_activation)
            assert not isinstance(oracle, Exception), f"{rule.spec.id} {name}: {oracle}"
            compiled = program.eval(compiled_activation)
            out.append((f"{rule.spec.id}.{name}", bool(oracle), compiled.value() is True))
    return out


def _symbol_sets() -> list[tuple[str, str, dict]]:
    cases = []
    for policy_id in POLICIES:
        policy = load_policy(policy_id)
        for c in load_rule_tests(policy_id).cases:
            inputs, _ = case_inputs(policy, c)
            cases.append((f"{policy_id}:tests.yaml:{c.name}", policy_id, inputs))
    for folder in GOLDEN:  # real inputs: each golden case through extract and derive, both policies
        case = load_case(folder)
        for policy_id in POLICIES:
            policy = load_policy(policy_id)
            facts = reading_for(case, extract(case, ReviewConfig()), policy).facts
            derived = derive(case, facts, policy)
            inputs = rule_inputs(derived, facts, policy, case, date_of_service(case))
            cases.append((f"{policy_id}:golden:{folder.name}", policy_id, inputs))
    return cases


@pytest.mark.parametrize(
    ("name", "policy_id", "inputs"),
    _symbol_sets(),
    ids=lambda v: v if isinstance(v, str) and ":" in v else "",
)
def test_compiled_cel_agrees_with_cel_python(name, policy_id, inputs):
    differ = [(cond, o, c) for cond, o, c in _both(policy_id, inputs) if o != c]
    assert not differ, f"{name}: oracle vs compiled differ on {differ}"


def test_the_oracle_sees_every_rule_test_case():
    # the comparison is only as good as its inputs: the rule test cases must all be there
    names = [n for n, _, _ in _symbol_sets()]
    for policy_id in POLICIES:
        tests = [n for n in names if n.startswith(f"{policy_id}:tests.yaml:")]
        assert len(tests) == len(load_rule_tests(policy_id).cases) > 20
