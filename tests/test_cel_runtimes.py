"""The compiled CEL runtime (cel-expr-python) against cel-python as a test oracle: every
condition of every rule, on every rule test case and on the derived symbols of every golden
case, gives the same truth value in both. A divergence would silently change decisions."""

from __future__ import annotations

from pathlib import Path

import celpy
import pytest

from review.case import load_case
from review.derive import Derived, derive
from review.pipeline import ReviewConfig, extract
from review.policy.check import load_rule_tests
from review.policy.folder import cel_env, load_policy

POLICY = "hphc-tpi"
CONDITIONS = ("applies_when", "met_when", "insufficient_when")
CASES = Path(__file__).parent / "golden" / "cases"
GOLDEN = sorted(p.parent for p in CASES.glob("*/case.json"))


def _both(derived: Derived) -> list[tuple[str, bool, bool]]:
    env = celpy.Environment()
    oracle_activation = celpy.json_to_cel(derived.model_dump())
    compiled_activation = cel_env().Activation(derived.model_dump())
    out = []
    for rule in load_policy(POLICY).rules:
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


def _symbol_sets() -> list[tuple[str, dict]]:
    cases = [(f"tests.yaml:{c.name}", c.symbols) for c in load_rule_tests(POLICY).cases]
    for folder in GOLDEN:  # real derived symbols: each golden case through extract and derive
        case = load_case(folder)
        facts = extract(case, ReviewConfig()).facts
        derived = derive(case, facts, load_policy(case.policy))
        cases.append((f"golden:{folder.name}", derived.model_dump()))
    return cases


@pytest.mark.parametrize(
    ("name", "symbols"), _symbol_sets(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_compiled_cel_agrees_with_cel_python(name, symbols):
    derived = Derived.model_validate(symbols)
    differ = [(cond, o, c) for cond, o, c in _both(derived) if o != c]
    assert not differ, f"{name}: oracle vs compiled differ on {differ}"


def test_the_oracle_sees_every_rule_test_case():
    # the comparison is only as good as its inputs: the rule test cases must all be there
    assert (
        len([n for n, _ in _symbol_sets() if n.startswith("tests.yaml:")])
        == len(load_rule_tests(POLICY).cases)
        > 20
    )
