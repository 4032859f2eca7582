"""Rules as data: the test cases kept beside the rules, and the checks made when rules load."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from review.errors import RulesError
from review.policy.check import case_statuses, check_policy, load_rule_tests
from review.policy.load import clear_policy_caches, load_policy

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("hphc-tpi", "medicare-lcd-tpi")
RULE_CASES = load_rule_tests("hphc-tpi").cases
ALL_RULE_CASES = [(p, c) for p in POLICIES for c in load_rule_tests(p).cases]


def test_every_policy_in_the_registry_is_tested_here():
    from review.policy.load import available_policies

    assert tuple(available_policies()) == POLICIES


def test_the_policy_package_needs_no_extraction_code():
    """Loading, checking and choosing policies imports neither the extract and derive stages nor
    an LLM client: the policy reads the rule symbols' schema from review.schema."""
    code = (
        "import sys, review.policy; from review.policy.registry import registry; "
        "[review.policy.load_policy(p) for p in review.policy.available_policies()]; registry(); "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('review.extract', 'review.derive', 'langchain', 'openai', 'spacy'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("policy_id", "case"), ALL_RULE_CASES, ids=[f"{p}:{c.name}" for p, c in ALL_RULE_CASES]
)
def test_rule_cases_beside_the_rules(policy_id, case):
    statuses = case_statuses(load_policy(policy_id), case)
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
        if rule.spec.source == "policy":
            for quote in rule.spec.policy_text:
                assert " ".join(quote.split()).lower() in text, rule.spec.id


@pytest.mark.parametrize("policy_id", POLICIES)
def test_rule_cases_exercise_every_status_of_every_rule(policy_id):
    policy = load_policy(policy_id)
    seen = {}
    for case in load_rule_tests(policy_id).cases:
        for rule_id, status in case.expect.items():
            seen.setdefault(rule_id, set()).add(status)
    for rule in policy.rules:
        never_met = rule.spec.met_when.strip() == "false"  # a flag rule: it only ever pends
        assert "met" in seen.get(rule.spec.id, set()) or never_met, rule.spec.id
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
    clear_policy_caches()
    yield tmp_path / "hphc-tpi"
    clear_policy_caches()


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
    ("unknown namespace", {"met_when": "fact.exam_findings.size() > 0"}, "R012", "'facts'"),
    (
        "unknown name in facts",
        {"met_when": "facts.exam_finding.size() > 0"},
        "R012",
        "facts has no 'exam_finding'; did you mean 'exam_findings'?",
    ),
    (
        "unknown name inside a macro",
        {"met_when": "facts.exam_findings.exists(f, f.kinds == 'taut_band')"},
        "R012",
        "facts.exam_findings[] has no 'kinds'; did you mean 'kind'?",
    ),
    (
        "unknown name in claim lines",
        {"met_when": "claim.lines.all(l, l.unit == 1)"},
        "R012",
        "did you mean 'units'?",
    ),
    (
        "unknown name in history",
        {"met_when": "history.all(h, h.days_ago > 42)"},
        "R012",
        "did you mean 'days_before'?",
    ),
    (
        "unknown setting",
        {"met_when": "exam_feature_count >= settings.min_exam_feature"},
        "R012",
        "did you mean 'min_exam_features'?",
    ),
    (
        "unknown derived symbol by its namespace",
        {"met_when": "derived.exam_feature_counts >= 2"},
        "R012",
        "did you mean 'exam_feature_count'?",
    ),
    (
        "unknown exclusion group",
        {"met_when": "size(derived.exclusion_signals.acupunture) == 0"},
        "R012",
        "did you mean 'acupuncture'?",
    ),
    (
        "reason names an unknown setting",
        {
            "reasons": {
                "met": "{settings.min_exam_feature}",
                "not_met": "x",
                "insufficient": "x",
                "not_applicable": "x",
            }
        },
        "R015",
        "settings.min_exam_feature",
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


def test_rules_over_namespaces_evaluate_on_the_case(policy_copy):
    """A rule may test the claim, the history and the facts directly, with CEL macros."""
    from review.policy.check import RuleTestCase, case_statuses

    _edit_rule(
        policy_copy,
        "TPI-M04",
        met_when="facts.exam_findings.filter(f, f.present).size() >= settings.min_exam_features",
    )
    policy = load_policy("hphc-tpi", policy_copy.parent)
    finding = {"kind": "taut_band", "present": True}
    absent = {"kind": "twitch_response", "present": False}
    base = load_rule_tests("hphc-tpi").base
    two = RuleTestCase(
        name="two",
        symbols=base,
        facts={"exam_findings": [finding, {**finding, "kind": "tenderness"}]},
        expect={},
    )
    one = RuleTestCase(
        name="one", symbols=base, facts={"exam_findings": [finding, absent]}, expect={}
    )
    assert case_statuses(policy, two)["TPI-M04"] == "met"
    assert case_statuses(policy, one)["TPI-M04"] != "met"


def test_a_runtime_error_is_a_coded_finding_not_a_pass(policy_copy):
    """An ERROR value (here: a key the facts do not have at run time) is R020, never false."""
    from review.policy.check import RuleTestCase, case_statuses

    _edit_rule(policy_copy, "TPI-M04", met_when="facts.injection_sites > 2")
    policy = load_policy("hphc-tpi", policy_copy.parent)
    with pytest.raises(RulesError) as info:  # injection_sites is null: no overload for null > int
        case_statuses(
            policy, RuleTestCase(name="x", symbols=load_rule_tests("hphc-tpi").base, expect={})
        )
    assert str(info.value).startswith("[R020]")


def test_exclusion_signals_that_are_not_a_mapping_are_a_coded_error():
    """A rule test case whose exclusion_signals is a list is R017 at that field, not a crash."""
    from review.policy.check import RuleTestCase

    case = RuleTestCase(name="x", symbols={"exclusion_signals": ["acupuncture"]}, expect={})
    with pytest.raises(RulesError) as info:
        case_statuses(load_policy("hphc-tpi"), case)
    assert str(info.value).startswith("[R017]")
    assert info.value.field == "exclusion_signals"


@pytest.mark.parametrize(
    ("setting", "value", "case_name", "rule", "was", "now"),
    [
        (
            "min_exam_features",
            5,
            "well documented first injection meets every applicable rule",
            "TPI-M04",
            "met",
            "insufficient",
        ),
        (
            "authorization_required",
            True,
            "well documented first injection meets every applicable rule",
            "TPI-A08",
            "not_applicable",
            "not_met",
        ),
    ],
)
def test_a_changed_setting_changes_the_rule_test_that_depends_on_it(
    policy_copy, setting, value, case_name, rule, was, now
):
    """Rule tests run with the policy's own settings: a copy of the policy with a changed
    setting gives a different status on the same test case."""
    from review.policy.check import case_statuses

    case = next(c for c in load_rule_tests("hphc-tpi").cases if c.name == case_name)
    assert case_statuses(load_policy("hphc-tpi"), case)[rule] == was
    settings = policy_copy / "settings.yaml"
    data = yaml.safe_load(settings.read_text())
    data["settings"][setting] = value
    settings.write_text(yaml.safe_dump(data, sort_keys=False))
    assert case_statuses(load_policy("hphc-tpi", policy_copy.parent), case)[rule] == now


def test_a_fourth_session_fails_frequency_once_the_limit_is_lowered(policy_copy):
    from review.policy.check import RuleTestCase, case_statuses

    base = load_rule_tests("hphc-tpi").base
    case = RuleTestCase(name="second session", symbols={**base, "sessions_in_window": 2}, expect={})
    assert case_statuses(load_policy("hphc-tpi"), case)["TPI-M08"] == "met"
    settings = policy_copy / "settings.yaml"
    settings.write_text(
        settings.read_text().replace("max_sessions_per_window: 3", "max_sessions_per_window: 1")
    )
    assert case_statuses(load_policy("hphc-tpi", policy_copy.parent), case)["TPI-M08"] == "not_met"


def test_an_exclusion_group_naming_an_unknown_service_fails_at_load(policy_copy):
    settings = policy_copy / "settings.yaml"
    settings.write_text(
        settings.read_text().replace("kinds: [prolotherapy]", "kinds: [prolotherapie]")
    )
    with pytest.raises(RulesError) as info:
        load_policy("hphc-tpi", policy_copy.parent)
    assert str(info.value).startswith("[R022]") and "did you mean 'prolotherapy'?" in str(
        info.value
    )


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
    clear_policy_caches()
    assert derive(case, facts, load_policy("hphc-tpi")).supported_code == "20553"


def test_no_python_string_names_a_rule_or_a_policy():
    """Policy knowledge is data: no string in the package's code (docstrings and comments aside)
    names a rule id or a policy id; the one default policy is chosen in rules/registry.yaml."""
    import ast
    import re

    from review.policy.load import available_policies

    ids = set(available_policies())
    rule_ids = {r.spec.id for p in ids for r in load_policy(p).rules}
    pattern = re.compile(
        "|".join(re.escape(i) for i in sorted(ids | rule_ids, key=len, reverse=True))
    )
    found = []
    for path in sorted((ROOT / "review").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {  # a bare string statement: a module, class, function or attribute docstring
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and pattern.search(node.value)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, "\n".join(found)
