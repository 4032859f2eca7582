"""Rules as data: the test cases kept beside the rules, and the checks made when rules load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from review.errors import RulesError
from review.policy.check import check_policy, load_rule_tests, rule_statuses
from review.policy.folder import load_policy

ROOT = Path(__file__).resolve().parents[1]
RULE_CASES = load_rule_tests("hphc-tpi").cases


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.name for c in RULE_CASES])
def test_rule_cases_beside_the_rules(case):
    statuses = rule_statuses("hphc-tpi", case.symbols, case.name)
    assert {rule: statuses[rule] for rule in case.expect} == case.expect


def test_every_catalogue_rule_exists_and_quotes_the_policy(policy):
    ids = {rule.spec.id for rule in policy.rules}
    assert ids == {f"TPI-A0{i}" for i in range(1, 9)} | {f"TPI-M{i:02d}" for i in range(1, 11)} | {
        "TPI-X01",
        "TPI-X02",
        "TPI-X03",
        "TPI-X04",
        "TPI-X05",
    }
    text = " ".join(policy.policy_text.replace("\u2019", "'").split()).lower()
    for rule in policy.rules:
        quotes = (
            rule.spec.policy_text
            if isinstance(rule.spec.policy_text, list)
            else [rule.spec.policy_text]
        )
        if rule.spec.source == "policy":
            for quote in quotes:
                assert " ".join(quote.split()).lower() in text, rule.spec.id


def test_rule_cases_exercise_every_status_of_every_rule(policy):
    seen = {}
    for case in RULE_CASES:
        for rule_id, status in case.expect.items():
            seen.setdefault(rule_id, set()).add(status)
    for rule in policy.rules:
        never_met = rule.spec.met_when.strip() == "false"  # a flag rule: it only ever pends
        assert "met" in seen.get(rule.spec.id, set()) or never_met or rule.spec.id == "TPI-A01", (
            rule.spec.id
        )
        assert seen[rule.spec.id] - {"met", "not_applicable"}, (
            f"{rule.spec.id} never fails in tests.yaml"
        )


def test_medical_necessity_rules_never_deny(policy):
    for rule in policy.rules:
        if rule.spec.kind == "medical_necessity":
            assert rule.spec.on_not_met == "pend" and rule.spec.on_insufficient == "pend"


def test_check_policy_validates_codes_against_icd10cm():
    assert "38 covered codes valid" in check_policy("hphc-tpi")


@pytest.fixture
def policy_copy(tmp_path):
    shutil.copytree(ROOT / "rules" / "hphc-tpi", tmp_path / "hphc-tpi")
    load_policy.cache_clear()
    yield tmp_path / "hphc-tpi"
    load_policy.cache_clear()


def _edit_rule(folder: Path, rule_id: str, **changes):
    path = folder / "rules.yaml"
    data = yaml.safe_load(path.read_text())
    for rule in data["rules"]:
        if rule["id"] == rule_id:
            rule.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


BROKEN = [
    (
        "unknown symbol",
        {"met_when": "exam_feature_counts >= 2"},
        "R012",
        "did you mean 'exam_feature_count'?",
    ),
    ("not CEL", {"met_when": "exam_feature_count >= = 2"}, "R008", "not valid CEL"),
    (
        "int compared with a string",
        {"met_when": "exam_feature_count >= 'two'"},
        "R021",
        "does not type-check",
    ),
    ("not a bool", {"met_when": "exam_feature_count + 1"}, "R021", "gives int, not bool"),
    (
        "quote not in policy",
        {"policy_text": "Trigger points must be photographed."},
        "R007",
        "not verbatim",
    ),
    ("unknown evidence", {"evidence": ["exam_finding"]}, "R013", "did you mean 'exam_findings'?"),
    (
        "reason names unknown symbol",
        {
            "reasons": {
                "met": "{exam_count}",
                "not_met": "x",
                "insufficient": "x",
                "not_applicable": "x",
            }
        },
        "R015",
        "exam_count",
    ),
    ("missing reason", {"reasons": {"met": "x"}}, "R014", "no reason for"),
    ("misspelt key", {"met_whn": "true"}, "R005", "met_whn"),
    ("deny is not a status", {"on_not_met": "reject"}, "R005", "on_not_met"),
]


@pytest.mark.parametrize(
    ("label", "changes", "code", "fragment"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_rules_fail_at_load_with_a_stable_code(policy_copy, label, changes, code, fragment):
    _edit_rule(policy_copy, "TPI-M04", **changes)
    with pytest.raises(RulesError) as info:
        load_policy("hphc-tpi", policy_copy.parent)
    assert str(info.value).startswith(f"[{code}]")
    assert fragment in str(info.value)


def test_unknown_policy_suggests_the_closest(policy_copy):
    with pytest.raises(RulesError) as info:
        load_policy("hphc-tp", policy_copy.parent)
    assert "did you mean 'hphc-tpi'?" in str(info.value)


def test_settings_change_the_outcome_without_code_changes(policy_copy):
    """Left/right counting is a setting: with it off, bilateral trapezius is one muscle."""
    from review.derive import derive
    from review.schema import Case, Document, Facts, InjectedMuscle

    settings = policy_copy / "settings.yaml"
    settings.write_text(
        settings.read_text().replace(
            "count_sides_separately: true", "count_sides_separately: false"
        )
    )
    alt = load_policy("hphc-tpi", policy_copy.parent)
    case = Case(case_id="x", documents=[Document(id="d", text="x")])
    facts = Facts(
        procedure_performed=True,
        injected_muscles=[
            InjectedMuscle(name="trapezius", side="bilateral"),
            InjectedMuscle(name="rhomboid", side="left"),
        ],
    )
    assert derive(case, facts, alt).supported_code == "20552"
    load_policy.cache_clear()
    assert derive(case, facts, load_policy("hphc-tpi")).supported_code == "20553"
