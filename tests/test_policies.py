"""Two policies on the same facts: end-to-end cases whose outcome differs, the registry that
chooses a policy for a case, `review rules diff` and `review case --compare`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from review.errors import RulesError
from review.pipeline import ReviewConfig, compare_case, review_case
from review.policy.compare import case_diff, policy_diff
from review.policy.load import clear_policy_caches, load_policy
from review.policy.registry import registry, select_policy_id

sys.path.insert(0, str(Path(__file__).parent / "policies"))
from variants import HPHC, LCD, VARIANTS, build

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compared():
    a, b = load_policy(HPHC), load_policy(LCD)
    return {v.name: compare_case(build(v), a, b, ReviewConfig()) for v in VARIANTS}


def test_at_least_ten_cases_whose_decision_differs():
    assert sum(v.hphc[0] != v.lcd[0] for v in VARIANTS) >= 10


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_the_same_facts_give_the_expected_outcome_under_each_policy(variant, compared):
    rec_a, rec_b = compared[variant.name]
    assert (rec_a.decision, rec_b.decision) == (variant.hphc[0], variant.lcd[0]), variant.why
    for rec, (_, rule_id, status) in ((rec_a, variant.hphc), (rec_b, variant.lcd)):
        if rule_id:
            finding = next(f for f in rec.findings if f.rule_id == rule_id)
            assert finding.status == status, f"{rule_id}: {finding.reason}"


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_the_comparison_names_the_finding_that_differs(variant, compared):
    rec_a, rec_b = compared[variant.name]
    diffs = case_diff(load_policy(HPHC), load_policy(LCD), rec_a, rec_b)
    assert diffs, "no finding differs"
    # the rule that moves the decision away from the other policy's shows up in the diff
    decisive = variant.lcd if variant.lcd[2] not in ("met", "not_applicable") else variant.hphc
    assert any(d.first.startswith(decisive[1]) or d.second.startswith(decisive[1]) for d in diffs)


def test_the_facts_are_extracted_once_and_are_the_same_under_both(compared):
    for rec_a, rec_b in compared.values():
        assert rec_a.facts == rec_b.facts


# ----------------------------------------------------------------------------- registry


def _case(**changes):
    case = build(VARIANTS[0])
    for name, value in changes.items():
        setattr(case, name, value)
    return case


def test_a_case_names_its_policy():
    assert select_policy_id(_case(policy=LCD, payer="Harvard Pilgrim Health Care")) == LCD


def test_payer_and_date_of_service_choose_the_policy():
    assert select_policy_id(_case(payer="Medicare")) == LCD
    assert select_policy_id(_case(payer="palmetto gba")) == LCD  # case and spacing do not matter
    assert select_policy_id(_case(payer="Harvard Pilgrim Health Care")) == HPHC
    rec = review_case(_case(payer="Medicare"))
    assert rec.provenance.policy == LCD


def test_no_payer_and_no_policy_is_the_registry_default():
    assert select_policy_id(_case()) == HPHC


def test_an_unknown_payer_is_a_coded_error():
    with pytest.raises(RulesError) as info:
        select_policy_id(_case(payer="Acme Health"))
    assert str(info.value).startswith("[R023]") and "no policy in the registry" in str(info.value)


def test_a_date_before_the_lcd_is_in_force_matches_no_policy():
    case = _case(payer="Medicare")
    case.claim.date_of_service = case.claim.date_of_service.replace(year=2023)
    with pytest.raises(RulesError) as info:
        select_policy_id(case)
    assert "[R023]" in str(info.value) and "2023" in str(info.value)


@pytest.fixture
def rules_copy(tmp_path):
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    clear_policy_caches()
    yield tmp_path / "rules"
    clear_policy_caches()


def _edit_settings(folder: Path, **changes):
    path = folder / "settings.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_overlapping_entries_for_the_same_payer_fail_at_load(rules_copy):
    _edit_settings(rules_copy / HPHC, applies_to=[{"payer": "Medicare"}])
    with pytest.raises(RulesError) as info:
        registry(rules_copy)
    assert str(info.value).startswith("[R024]") and "overlapping dates" in str(info.value)


def test_entries_that_follow_each_other_do_not_overlap(rules_copy):
    _edit_settings(rules_copy / HPHC, applies_to=[{"payer": "Medicare"}], effective_to="2024-03-31")
    entries = {e.id: e for e in registry(rules_copy)}
    assert entries[HPHC].effective_to.isoformat() == "2024-03-31"
    case = _case(payer="Medicare")
    case.claim.date_of_service = case.claim.date_of_service.replace(year=2023)
    assert select_policy_id(case, rules_copy) == HPHC


def test_lines_of_business_split_a_payer_between_policies(rules_copy):
    """Different lines of business of one payer do not overlap; a line neither serves matches
    nothing. (Two entries that could both match one case are refused at load, R024, so a
    case never matches several.)"""
    _edit_settings(
        rules_copy / HPHC,
        applies_to=[{"payer": "Medicare", "lines_of_business": ["medicare_advantage"]}],
    )
    _edit_settings(
        rules_copy / LCD,
        applies_to=[{"payer": "Medicare", "lines_of_business": ["part_b"]}],
    )
    assert select_policy_id(_case(payer="Medicare", line_of_business="part_b"), rules_copy) == LCD
    with pytest.raises(RulesError) as info:
        select_policy_id(_case(payer="Medicare", line_of_business="medicaid"), rules_copy)
    assert "[R023]" in str(info.value)


def test_a_covered_code_that_is_not_icd10cm_fails_the_check(rules_copy, monkeypatch):
    from review.policy.check import check_policy

    path = rules_copy / LCD / "covered_diagnoses.yaml"
    path.write_text(path.read_text().replace("code: M79.18", "code: M79.19"))
    monkeypatch.setenv("REVIEW_RULES_DIR", str(rules_copy))
    with pytest.raises(RulesError) as info:
        check_policy(LCD)
    assert str(info.value).startswith("[R016]") and "'M79.19'" in str(info.value)


def test_the_recommendation_records_policy_id_version_and_rules_hash():
    rec = review_case(_case(payer="Medicare"))
    policy = load_policy(LCD)
    assert (rec.provenance.policy, rec.provenance.policy_version, rec.provenance.rules_sha256) == (
        LCD,
        policy.meta.version,
        policy.sha256,
    )


def test_an_entry_that_ends_before_it_starts_fails(rules_copy):
    _edit_settings(rules_copy / LCD, effective_to="2020-01-01")
    with pytest.raises(RulesError) as info:
        registry(rules_copy)
    assert str(info.value).startswith("[R027]")


# ----------------------------------------------------------------------------- the commands


def test_rules_diff_names_what_an_analyst_needs():
    sections = {s.title: s.lines for s in policy_diff(load_policy(HPHC), load_policy(LCD))}
    text = "\n".join(line for lines in sections.values() for line in lines)
    assert "only medicare-lcd-tpi covers 6: G44.201" in text
    assert "both cover 4: M79.10, M79.11, M79.12, M79.18" in text
    assert (
        "nerve_block: hphc-tpi denied (TPI-A06); medicare-lcd-tpi pended for review (LCD-M09)"
        in text
    )
    assert any(
        line.startswith("min_weeks_between_injections: hphc-tpi none; medicare-lcd-tpi 6")
        for line in sections["Settings"]
    )
    assert any(
        "TPI-M04" in line and "LCD-M04" in line and "counted_exam_features" in line
        for line in sections["Rules"]
    )
    assert any(
        line.startswith("only medicare-lcd-tpi: LCD-A08 Not a biologic injectate")
        for line in sections["Rules"]
    )


def test_a_policy_has_no_differences_from_itself():
    assert policy_diff(load_policy(HPHC), load_policy(HPHC)) == []


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "review.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_review_case_compare_prints_both_decisions_and_the_findings_that_differ():
    out = _cli(
        "case",
        str(ROOT / "tests/golden/cases/g20-m542-rationale-documented"),
        "--policy",
        HPHC,
        "--compare",
        LCD,
        "--format",
        "json",
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["decisions"] == {HPHC: "approve", LCD: "pend"}
    assert any(d[LCD].startswith("LCD-M01 not_met") for d in body["differences"])


def test_rules_list_for_each_policy():
    for policy_id, prefix in ((HPHC, "TPI-"), (LCD, "LCD-")):
        out = _cli("rules", "list", "--policy", policy_id)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(policy_id) and f"  {prefix}M04" in out.stdout


def test_review_case_compare_out_to_a_folder_is_bad_input_not_a_crash(tmp_path):
    out = _cli(
        "case",
        str(ROOT / "examples/approve-cervical-tpi"),
        "--compare",
        LCD,
        "--out",
        str(tmp_path),
    )
    assert out.returncode == 2, out.stderr
    assert "[C010]" in out.stderr and "it is a folder" in out.stderr
    assert list(tmp_path.iterdir()) == []  # nothing partial left beside it


def _user_policy(base, policy_id: str, payer: str):
    """A copy of the bundled HPHC policy under another id and payer: an analyst's own policy."""
    import shutil

    folder = base / policy_id
    shutil.copytree(ROOT / "rules" / HPHC, folder)
    for name in ("settings.yaml", "rules.yaml"):
        path = folder / name
        text = path.read_text(encoding="utf-8").replace(f"policy: {HPHC}", f"policy: {policy_id}")
        path.write_text(text.replace("Harvard Pilgrim Health Care  #", f"{payer}  #"), "utf-8")
    return folder


def _cli_env(env: dict, *args):
    import os

    return subprocess.run(
        [sys.executable, "-m", "review.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def test_a_user_policy_directory_adds_policies_to_the_registry(tmp_path):
    _user_policy(tmp_path, "acme-tpi", "Acme Health")
    env = {"REVIEW_POLICY_DIR": str(tmp_path)}
    listed = _cli_env(env, "rules", "policies")
    assert listed.returncode == 0, listed.stderr
    assert "acme-tpi" in listed.stdout and HPHC in listed.stdout and LCD in listed.stdout
    out = _cli_env(
        env,
        "case",
        str(ROOT / "examples/approve-cervical-tpi"),
        "--policy",
        "acme-tpi",
        "-f",
        "json",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["provenance"]["policy"] == "acme-tpi"
    # without the variable the id is unknown again: nothing but the operator's setting adds it
    plain = _cli_env({"REVIEW_POLICY_DIR": ""}, "rules", "list", "--policy", "acme-tpi")
    assert plain.returncode == 2 and "[R001]" in plain.stderr


def test_a_user_policy_reusing_a_bundled_id_is_an_error_naming_both_places(tmp_path):
    _user_policy(tmp_path, HPHC, "Acme Health")
    out = _cli_env({"REVIEW_POLICY_DIR": str(tmp_path)}, "rules", "policies")
    assert out.returncode == 2, out.stdout
    assert "[R028]" in out.stderr and str(tmp_path) in out.stderr and "rename" in out.stderr


def test_a_missing_user_policy_directory_is_an_error_not_silence(tmp_path):
    out = _cli_env({"REVIEW_POLICY_DIR": str(tmp_path / "nope")}, "rules", "policies")
    assert out.returncode == 2 and "REVIEW_POLICY_DIR is not a folder" in out.stderr


def test_the_registry_follows_the_user_policy_directory_without_a_restart(tmp_path, monkeypatch):
    """The policy caches are keyed on the folders looked in: pointing REVIEW_POLICY_DIR at a
    folder (or away from it) is seen by the next selection, in the same process."""
    _user_policy(tmp_path, "acme-tpi", "Acme Health")
    assert select_policy_id(_case(payer="Medicare")) == LCD  # fills the caches first
    monkeypatch.setenv("REVIEW_POLICY_DIR", str(tmp_path))
    assert select_policy_id(_case(payer="Acme Health")) == "acme-tpi"
    assert load_policy("acme-tpi").id == "acme-tpi"
    monkeypatch.setenv("REVIEW_POLICY_DIR", "")
    with pytest.raises(RulesError, match=r"\[R023\]"):
        select_policy_id(_case(payer="Acme Health"))


def test_a_user_policy_never_becomes_the_default_by_being_one_more(tmp_path, monkeypatch):
    """A product folder with one policy and no registry.yaml defaults to that policy; adding
    an operator's policy beside it does not take the default away (or give it to the draft)."""
    product = tmp_path / "rules"
    product.mkdir()
    shutil.copytree(ROOT / "rules" / HPHC, product / HPHC)
    user = tmp_path / "mine"
    user.mkdir()
    _user_policy(user, "acme-tpi", "Acme Health")
    monkeypatch.setenv("REVIEW_RULES_DIR", str(product))
    monkeypatch.setenv("REVIEW_POLICY_DIR", str(user))
    assert load_policy().id == HPHC
