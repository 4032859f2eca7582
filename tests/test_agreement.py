"""Inter-rater agreement (review/agreement.py) against hand-computed tables, with property tests;
the pairs it builds from an audit trail; ``review results agreement`` and
``review results export-overrides`` (export, then score the export with ``review eval``).

Audit trails are written through AuditStore's public insert API, never with SQL."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from cli_run import run_main
from hypothesis import given
from hypothesis import strategies as st

from review.agreement import (
    NO_ITEMS,
    agreement_report,
    cohen_kappa,
    criterion_kappas,
    decision_kappas,
    one_vs_rest,
    pipeline_pairs,
    reviewer_pairs,
)
from review.eval import case_dirs, evaluate_cases, load_labels
from review.workbench.overrides import export_overrides, labels_yaml, read_audit, slug
from review.workbench.store import AuditStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def table(rows: dict[str, dict[str, int]]) -> tuple[list[str], list[str]]:
    """The paired labels of a confusion table (rater A's label -> rater B's label -> count)."""
    a: list[str] = []
    b: list[str] = []
    for x, cols in rows.items():
        for y, count in cols.items():
            a += [x] * count
            b += [y] * count
    return a, b


# --------------------------------------------------------------------------- hand-computed


def test_two_by_two_textbook_table():
    # 50 items:           B yes  B no
    #            A yes      20     5    (A yes 25 = 0.5)
    #            A no       10    15    (B yes 30 = 0.6)
    # p_o = (20 + 15) / 50 = 0.70
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.30 + 0.20 = 0.50
    # kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40
    a, b = table({"yes": {"yes": 20, "no": 5}, "no": {"yes": 10, "no": 15}})
    k = cohen_kappa(a, b, ("yes", "no"))
    assert (k.n, k.observed, k.expected, k.kappa, k.undefined) == (50, 0.7, 0.5, 0.4, None)
    assert k.confusion == {"yes": {"yes": 20, "no": 5}, "no": {"yes": 10, "no": 15}}


THREE = {  # 30 cases, rows: pipeline, columns: reviewer
    "approve": {"approve": 8, "pend": 2, "deny": 0},  # 10
    "pend": {"approve": 1, "pend": 9, "deny": 2},  # 12
    "deny": {"approve": 0, "pend": 1, "deny": 7},  # 8
}  # column totals: approve 9, pend 12, deny 9


def test_three_by_three_table():
    # p_o = (8 + 9 + 7) / 30 = 24 / 30 = 0.8
    # p_e = (10 * 9 + 12 * 12 + 8 * 9) / 900 = (90 + 144 + 72) / 900 = 306 / 900 = 0.34
    # kappa = (0.8 - 0.34) / (1 - 0.34) = 0.46 / 0.66 = 23 / 33 = 0.69697
    a, b = table(THREE)
    k = cohen_kappa(a, b, ("approve", "pend", "deny"))
    assert (k.n, k.observed, k.expected, k.kappa) == (30, 0.8, 0.34, 0.697)
    assert k.confusion == THREE


def test_one_vs_rest_of_the_three_by_three_table():
    # approve vs not approve:   B approve   B not
    #              A approve        8          2     (A approve 10)
    #              A not            1         19     (B approve 9)
    # p_o = 27 / 30 = 0.9; p_e = (10 * 9 + 20 * 21) / 900 = 510 / 900 = 0.56667
    # kappa = (0.9 - 0.56667) / (1 - 0.56667) = 300 / 390 = 0.76923
    a, b = table(THREE)
    k = one_vs_rest(a, b, "approve")
    assert (k.observed, k.expected, k.kappa) == (0.9, 0.5667, 0.7692)
    assert k.confusion == {
        "approve": {"approve": 8, "not approve": 2},
        "not approve": {"approve": 1, "not approve": 19},
    }
    # deny vs not deny: A deny 8, B deny 9; agree 7 + (30 - 7 - 1 - 2) = 27
    # p_e = (8 * 9 + 22 * 21) / 900 = 534 / 900; kappa = (810 - 534) / (900 - 534) = 276 / 366
    assert decision_kappas(a, b)["one_vs_rest"]["deny"].kappa == round(276 / 366, 4)


def test_no_items_gives_no_kappa_and_says_why():
    k = cohen_kappa([], [], ("approve", "pend", "deny"))
    assert (k.n, k.observed, k.expected, k.kappa) == (0, None, None, None)
    assert k.undefined == NO_ITEMS
    assert k.confusion["pend"] == {"approve": 0, "pend": 0, "deny": 0}


def test_one_category_for_everything_is_undefined_not_a_division_by_zero():
    k = cohen_kappa(["pend"] * 4, ["pend"] * 4, ("approve", "pend", "deny"))
    assert (k.observed, k.expected, k.kappa) == (1.0, 1.0, None)
    assert "'pend'" in k.undefined and "expected agreement is 1" in k.undefined


def test_each_rater_with_its_own_single_category_is_defined():
    # p_o = 0, p_e = 1 * 0 + 0 * 1 = 0: kappa = 0
    k = cohen_kappa(["approve"] * 3, ["deny"] * 3)
    assert (k.observed, k.expected, k.kappa, k.undefined) == (0.0, 0.0, 0.0, None)


def test_perfect_disagreement_on_two_balanced_categories_is_minus_one():
    # p_o = 0, p_e = 0.5 * 0.5 + 0.5 * 0.5 = 0.5: kappa = -0.5 / 0.5 = -1
    k = cohen_kappa(["a", "b", "a", "b"], ["b", "a", "b", "a"])
    assert k.kappa == -1.0


def test_categories_keep_their_order_and_unknown_labels_are_added_sorted():
    k = cohen_kappa(["z", "pend"], ["y", "pend"], ("approve", "pend"))
    assert k.categories == ("approve", "pend", "y", "z")


def test_raters_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="different numbers"):
        cohen_kappa(["a"], ["a", "b"])


def test_criterion_kappas_compare_only_the_cases_both_judged():
    a = {"c1": {"M01": "met", "M02": "met"}, "c2": {"M01": "not_met"}, "c3": {"M01": "met"}}
    b = {"c1": {"M01": "met"}, "c2": {"M01": "met", "M02": "not_met"}, "c4": {"M01": "met"}}
    out = criterion_kappas(a, b)
    # M01 on c1, c2: (met, met), (not_met, met): p_o 1/2, p_e = (1 * 2 + 1 * 0) / 4 = 1/2 -> 0
    assert (out["M01"].n, out["M01"].observed, out["M01"].kappa) == (2, 0.5, 0.0)
    assert out["M02"].n == 0 and out["M02"].kappa is None


# --------------------------------------------------------------------------- properties

LABELS = st.sampled_from(["approve", "pend", "deny", "20552"])
PAIRS = st.lists(st.tuples(LABELS, LABELS), max_size=40)


@given(PAIRS)
def test_kappa_lies_between_minus_one_and_one(pairs):
    k = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs])
    if k.kappa is None:
        assert k.undefined
        assert k.n == 0 or k.expected == 1.0
    else:
        assert -1.0 <= k.kappa <= 1.0
        assert 0.0 <= k.observed <= 1.0 and 0.0 <= k.expected < 1.0


@given(st.lists(LABELS, max_size=40))
def test_identical_raters_agree_fully(labels):
    k = cohen_kappa(labels, list(labels))
    if len(set(labels)) >= 2:
        assert k.kappa == 1.0
    else:
        assert k.kappa is None and k.undefined


@given(PAIRS)
def test_kappa_is_symmetric_in_the_raters(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    ab, ba = cohen_kappa(a, b), cohen_kappa(b, a)
    assert (ab.kappa, ab.observed, ab.expected, ab.n) == (ba.kappa, ba.observed, ba.expected, ba.n)
    assert ab.categories == ba.categories
    assert all(
        ab.confusion[x][y] == ba.confusion[y][x] for x in ab.categories for y in ab.categories
    )


@given(PAIRS, st.randoms())
def test_kappa_does_not_depend_on_the_order_of_the_cases(pairs, rng):
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    k1 = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs])
    k2 = cohen_kappa([p[0] for p in shuffled], [p[1] for p in shuffled])
    assert k1 == k2


# --------------------------------------------------------------------------- audit trails

H1, H2 = "1" * 64, "2" * 64


def review_row(store, reviewer, key, case_id, action, before, after, *, rec=H1, reason="checked"):
    store.insert(
        reviewer=reviewer,
        case_key=key,
        case_id=case_id,
        action=action,
        from_decision=before[0],
        from_code=before[1],
        to_decision=after[0],
        to_code=after[1],
        reason=reason,
        provenance={"version": "0.1.0", "rules_sha256": "ab" * 32},
        rec_sha256=rec,
        at="2026-03-01T10:00:00Z",
    )


@pytest.fixture
def trail(tmp_path) -> Path:
    """Four cases, two nurses. The engine recommended: c1 pend, c2 approve, c3 deny, c4 approve."""
    db = tmp_path / "audit.sqlite"
    store = AuditStore(db)
    P, A, D = ("pend", "20552"), ("approve", "20552"), ("deny", None)
    review_row(store, "ann", "c1", "C-1", "accept", P, P)
    review_row(store, "bob", "c1", "C-1", "override", P, A)  # saw ann's pend, not the engine's
    review_row(store, "ann", "c2", "C-2", "override", A, P)
    review_row(store, "ann", "c2", "C-2", "override", P, D)  # ann's latest on c2: deny
    review_row(store, "bob", "c3", "C-3", "accept", D, D)
    review_row(store, "ann", "c4", "C-4", "accept", A, A)
    review_row(store, "bob", "c4", "C-4", "override", A, P, rec=H2)  # another recommendation
    review_row(store, "ann", "c1", "C-1", "override", A, ("deny", None))  # ann's latest on c1
    return db


def test_pipeline_pairs_take_the_engine_from_the_first_review_and_each_reviewers_latest(trail):
    pairs, excluded = pipeline_pairs(AuditStore(trail).rows())
    got = {r: [(p.case_key, p.decision_a, p.decision_b) for p in ps] for r, ps in pairs.items()}
    assert got == {
        "ann": [("c1", "pend", "deny"), ("c2", "approve", "deny"), ("c4", "approve", "approve")],
        # c1: bob's from_decision (pend) was ann's review, but so was the engine's; c4 left out
        "bob": [("c1", "pend", "approve"), ("c3", "deny", "deny")],
    }
    assert list(excluded.values()) == [1]


def test_reviewer_pairs_use_each_reviewers_first_review(trail):
    pairs = reviewer_pairs(AuditStore(trail).rows())
    assert list(pairs) == [("ann", "bob")]
    got = [
        (p.case_key, p.decision_a, p.decision_b, p.code_a, p.code_b) for p in pairs[("ann", "bob")]
    ]
    # c1: ann first pend (later deny), bob approve; c4: ann approve, bob pend
    assert got == [
        ("c1", "pend", "approve", "20552", "20552"),
        ("c4", "approve", "pend", "20552", "20552"),
    ]


def test_report_figures_for_the_trail(trail):
    report = agreement_report(AuditStore(trail).rows())
    assert (report["reviews"], report["cases"], report["reviewers"]) == (8, 4, ["ann", "bob"])
    pooled = report["pipeline_vs_reviewer"]["all"]["decision"]
    # 5 pairs (pipeline, reviewer): (pend, deny) (approve, deny) (approve, approve)
    #                               (pend, approve) (deny, deny)
    # agree 2 -> p_o = 0.4; pipeline approve 2, pend 2, deny 1; reviewers approve 2, pend 0, deny 3
    # p_e = (2 * 2 + 2 * 0 + 1 * 3) / 25 = 7 / 25 = 0.28; kappa = (10 - 7) / (25 - 7) = 1/6
    assert (pooled["n"], pooled["observed"], pooled["expected"]) == (5, 0.4, 0.28)
    assert pooled["kappa"] == round(1 / 6, 4)
    assert pooled["confusion"]["approve"] == {"approve": 1, "pend": 0, "deny": 1}
    bob = report["pipeline_vs_reviewer"]["by_reviewer"]["bob"]["supported_code"]
    # bob: (20552, 20552) on c1, (none, none) on c3: p_o 1, p_e 1/2, kappa 1
    assert (bob["n"], bob["kappa"]) == (2, 1.0)
    between = report["reviewer_vs_reviewer"][0]
    assert between["reviewers"] == ["ann", "bob"] and between["cases"] == 2
    # (pend, approve), (approve, pend): p_o 0, p_e = (1 * 1 + 1 * 1) / 4 = 0.5 -> kappa -1
    assert between["decision"]["kappa"] == -1.0
    assert between["supported_code"]["kappa"] is None  # 20552 on both sides, both cases
    assert report["per_criterion"]["available"] is False
    assert "not recorded yet" in report["per_criterion"]["note"]


def test_an_empty_trail_reports_no_kappa_with_reasons(tmp_path):
    report = agreement_report(AuditStore(tmp_path / "a.sqlite").rows())
    assert report["pipeline_vs_reviewer"]["all"]["decision"]["kappa"] is None
    assert report["pipeline_vs_reviewer"]["all"]["decision"]["undefined"] == NO_ITEMS
    assert report["reviewer_vs_reviewer"] == []


# --------------------------------------------------------------------------- CLI


def test_agreement_text_is_a_table_with_counts(monkeypatch, capsys, trail):
    code, out, err = run_main(monkeypatch, capsys, "results", "agreement", "--db", str(trail))
    assert (code, err) == (0, "")
    assert "8 reviews of 4 cases by 2 reviewers" in out
    assert "decision (approve/pend/deny)         5     0.400     0.280   0.167" in out
    assert "  ann / bob (2 cases)" in out
    assert "per-criterion review (not recorded yet)" in out
    assert "n/a*" in out  # the undefined supported-code kappa, with its reason below
    assert "expected agreement is 1" in out


def test_agreement_json_is_sorted_and_deterministic(monkeypatch, capsys, trail):
    args = ("results", "agreement", "--db", str(trail), "--format", "json")
    first, second = run_main(monkeypatch, capsys, *args), run_main(monkeypatch, capsys, *args)
    assert first == second and first[0] == 0
    data = json.loads(first[1])
    assert first[1].strip() == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    assert data["pipeline_vs_reviewer"]["all"]["decision"]["n"] == 5


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _not_audit(tmp_path: Path) -> Path:
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda p: p / "missing.sqlite", "A001"),
        (lambda p: p, "A001"),  # a folder
        (lambda p: _file(p / "e.sqlite", b""), "A002"),
        (lambda p: _file(p / "t.sqlite", b"not sqlite"), "A002"),
        (_not_audit, "A002"),
    ],
)
def test_bad_audit_files_are_one_line_errors_exit_2(monkeypatch, capsys, tmp_path, make, code):
    path = make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    for command in (
        ("results", "agreement", "--db", str(path)),
        (
            "results",
            "export-overrides",
            "--db",
            str(path),
            "--cases",
            str(EXAMPLES),
            "--out",
            str(tmp_path / "o"),
        ),
    ):
        status, out, err = run_main(monkeypatch, capsys, *command)
        assert status == 2 and out == ""
        assert len(err.splitlines()) == 1 and err.startswith(f"error: [{code}] ")
    if before is not None:
        assert path.read_bytes() == before  # never created, upgraded or written
    assert not (tmp_path / "missing.sqlite").exists()
    assert not (tmp_path / "o").exists()


def test_a_broken_chain_is_refused(monkeypatch, capsys, trail):
    con = sqlite3.connect(trail)  # tampering, as someone with the sqlite3 shell would
    con.executescript(
        "DROP TRIGGER audit_no_update; UPDATE audit SET to_decision = 'approve' WHERE id = 3;"
    )
    con.close()
    status, _, err = run_main(monkeypatch, capsys, "results", "agreement", "--db", str(trail))
    assert status == 2 and err.startswith("error: [A003] ")


# --------------------------------------------------------------------------- overrides as eval cases


@pytest.fixture
def example_trail(tmp_path) -> Path:
    """Reviews of the example cases: EX-002 overridden to approve 20553 (latest), EX-001
    overridden then accepted (latest: accept, not exported), EX-003 overridden to pend."""
    db = tmp_path / "audit.sqlite"
    store = AuditStore(db)
    review_row(
        store,
        "Ann Nurse",
        "pend-no-conservative-care",
        "EX-002",
        "accept",
        ("pend", "20552"),
        ("pend", "20552"),
    )
    review_row(
        store,
        "Bob Nurse",
        "pend-no-conservative-care",
        "EX-002",
        "override",
        ("pend", "20552"),
        ("approve", "20553"),
        reason="PT failed per the\nattached letter",
    )
    review_row(
        store,
        "Ann Nurse",
        "approve-cervical-tpi",
        "EX-001",
        "override",
        ("approve", "20552"),
        ("pend", "20552"),
    )
    review_row(
        store,
        "Ann Nurse",
        "approve-cervical-tpi",
        "EX-001",
        "accept",
        ("pend", "20552"),
        ("pend", "20552"),
    )
    review_row(
        store,
        "Ann Nurse",
        "deny-dry-needling",
        "EX-003",
        "override",
        ("deny", None),
        ("pend", None),
    )
    return db


def test_export_then_eval_scores_against_the_reviewers_labels(tmp_path, example_trail):
    out = tmp_path / "reviewed"
    results = export_overrides(read_audit(example_trail), EXAMPLES, out)
    assert [(r.case_id, r.status) for r in results] == [
        ("EX-002", "written"),
        ("EX-003", "written"),
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "EX-002",
        "EX-003",
    ]  # no temporary folders left
    for name, source in (("EX-002", "pend-no-conservative-care"), ("EX-003", "deny-dry-needling")):
        original = sorted(
            p.name for p in (EXAMPLES / source).iterdir() if p.name != "expected.yaml"
        )
        assert sorted(p.name for p in (out / name).iterdir()) == sorted(
            [*original, "expected.yaml"]
        )
        for note in original:
            assert (out / name / note).read_bytes() == (EXAMPLES / source / note).read_bytes()
    run_ = evaluate_cases(case_dirs([out]))
    got = {c.case: (c.gold_decision, c.gold_code, c.error) for c in run_.cases}
    assert got == {"EX-002": ("approve", "20553", None), "EX-003": ("pend", None, None)}
    labels = load_labels(out / "EX-002")
    assert labels.procedure_performed is None and labels.injected_muscles is None
    text = (out / "EX-002" / "expected.yaml").read_text()
    assert "# reviewer: Bob Nurse" in text and "# audit id: 2" in text
    assert "# case: EX-002 (workbench key pend-no-conservative-care)" in text
    assert "# reason: PT failed per the attached letter" in text  # one comment line
    assert f"# rules sha256: {'ab' * 32}" in text
    assert "# pipeline recommendation: pend 20552" in text
    # the unlabelled keys are not scored: procedure_performed has no counts at all
    assert run_.fields["procedure_performed"]["tp"] + run_.fields["procedure_performed"]["fn"] == 0


def test_review_eval_loads_the_export(monkeypatch, capsys, tmp_path, example_trail):
    out = tmp_path / "reviewed"
    args = ["--db", str(example_trail), "--cases", str(EXAMPLES), "--out", str(out)]
    code, text, err = run_main(monkeypatch, capsys, "results", "export-overrides", *args)
    assert code == 0 and err == ""
    assert "2 written, 0 skipped" in text
    code, text, err = run_main(
        monkeypatch, capsys, "eval", str(out), "--out", str(tmp_path / "run.json")
    )
    assert code == 0, err
    saved = json.loads((tmp_path / "run.json").read_text())
    assert {c["case"]: c["gold_decision"] for c in saved["cases"]} == {
        "EX-002": "approve",
        "EX-003": "pend",
    }


def test_an_existing_folder_is_never_overwritten(tmp_path, example_trail):
    out = tmp_path / "reviewed"
    (out / "EX-002").mkdir(parents=True)
    (out / "EX-002" / "mine.txt").write_text("keep me")
    results = export_overrides(read_audit(example_trail), EXAMPLES, out)
    assert [(r.case_id, r.status) for r in results] == [
        ("EX-002", "skipped"),
        ("EX-003", "written"),
    ]
    assert "exists" in results[0].message
    assert sorted(p.name for p in (out / "EX-002").iterdir()) == ["mine.txt"]
    again = export_overrides(read_audit(example_trail), EXAMPLES, out)
    assert [r.status for r in again] == ["skipped", "skipped"]


def test_an_empty_existing_folder_is_not_replaced_either(tmp_path, example_trail):
    out = tmp_path / "reviewed"
    (out / "EX-003").mkdir(parents=True)
    results = export_overrides(read_audit(example_trail), EXAMPLES, out)
    assert dict((r.case_id, r.status) for r in results)["EX-003"] == "skipped"
    assert list((out / "EX-003").iterdir()) == []


def test_cases_that_cannot_be_found_or_do_not_match_are_skipped(tmp_path):
    db = tmp_path / "audit.sqlite"
    store = AuditStore(db)
    P, A = ("pend", "20552"), ("approve", "20552")
    review_row(store, "ann", "../pend-no-conservative-care", "EX-002", "override", P, A)
    review_row(store, "ann", "approve-cervical-tpi", "EX-999", "override", A, P)  # not this case
    review_row(store, "ann", "gone", "EX-404", "override", A, P)
    results = export_overrides(read_audit(db), EXAMPLES / "fhir", tmp_path / "o")
    assert [r.status for r in results] == ["skipped"] * 3
    results = export_overrides(read_audit(db), EXAMPLES, tmp_path / "o")
    assert [r.status for r in results] == ["skipped"] * 3
    by_id = {r.case_id: r.message for r in results}
    assert "no case named" in by_id["EX-002"]  # a key never leads out of --cases
    assert "holds case 'EX-001'" in by_id["EX-999"]
    assert list((tmp_path / "o").iterdir()) == []


def test_a_fhir_bundle_case_is_exported_as_case_json(tmp_path):
    db = tmp_path / "audit.sqlite"
    store = AuditStore(db)
    key = "pend-no-conservative-care.bundle.json"
    review_row(store, "ann", key, "EX-002", "override", ("pend", "20552"), ("approve", "20552"))
    results = export_overrides(read_audit(db), EXAMPLES / "fhir", tmp_path / "o")
    assert [r.status for r in results] == ["written"]
    run_ = evaluate_cases(case_dirs([tmp_path / "o"]))
    assert [(c.case, c.gold_decision, c.error) for c in run_.cases] == [("EX-002", "approve", None)]


def test_a_note_that_links_out_of_its_case_folder_is_not_copied(tmp_path):
    cases = tmp_path / "cases"
    shutil.copytree(EXAMPLES / "pend-no-conservative-care", cases / "leaky")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the case folder")
    (cases / "leaky" / "visit.txt").unlink()
    (cases / "leaky" / "visit.txt").symlink_to(secret)
    db = tmp_path / "audit.sqlite"
    review_row(
        AuditStore(db),
        "ann",
        "leaky",
        "EX-002",
        "override",
        ("pend", "20552"),
        ("approve", "20552"),
    )
    results = export_overrides(read_audit(db), cases, tmp_path / "o")
    assert results[0].status == "skipped" and "C011" in results[0].message
    assert list((tmp_path / "o").iterdir()) == []


def test_labels_yaml_keeps_free_text_out_of_the_yaml_structure(tmp_path):
    db = tmp_path / "audit.sqlite"
    review_row(
        AuditStore(db),
        "eve\ndecision: approve",
        "k",
        "K-1",
        "override",
        ("approve", "20552"),
        ("deny", None),
        reason="fine\u2028decision: approve\x85supported_code: '20553'",
    )
    row = AuditStore(db).rows()[0]
    data = yaml.safe_load(labels_yaml(row, row))
    assert (data["decision"], data["supported_code"]) == ("deny", None)
    assert slug("../EX 1/..") == "EX-1" and slug("...") == "case"


# --------------------------------------------------------------------------- workbench page


def test_the_workbench_agreement_page_is_read_only_and_escaped(tmp_path, trail):
    pytest.importorskip("fastapi", reason="the workbench extra is not installed")
    pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")
    from fastapi.testclient import TestClient

    from review.workbench.app import create_app
    from review.workbench.cases import load_cases

    store = AuditStore(trail)
    evil = "<script>alert(1)</script>"
    review_row(store, evil, "c3", "C-3", "override", ("deny", None), ("pend", None))
    before = [r.row_hash for r in store.rows()]
    app = create_app(load_cases(EXAMPLES / "approve-cervical-tpi"), trail, secret=b"s" * 32)
    origin = "http://127.0.0.1"
    with TestClient(app, base_url=origin, headers={"Origin": origin}) as client:
        html = client.get("/agreement").text
        assert client.get("/agreement").status_code == 200
        assert client.post("/agreement").status_code in (403, 405)
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "9 reviews of 4 cases by 3 reviewers" in html
    assert 'data-scope="all reviewers" data-label="decision (approve/pend/deny)"' in html
    assert "per-criterion review (not recorded yet)" in html
    assert [r.row_hash for r in store.rows()] == before  # nothing written


def test_the_agreement_page_shows_no_figures_for_a_broken_trail(trail):
    pytest.importorskip("fastapi", reason="the workbench extra is not installed")
    pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")
    from fastapi.testclient import TestClient

    from review.workbench.app import create_app
    from review.workbench.cases import load_cases

    app = create_app(load_cases(EXAMPLES / "approve-cervical-tpi"), trail, secret=b"s" * 32)
    con = sqlite3.connect(trail)
    con.executescript("DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'x' WHERE id = 2;")
    con.close()
    origin = "http://127.0.0.1"
    with TestClient(app, base_url=origin, headers={"Origin": origin}) as client:
        html = client.get("/agreement").text
    assert 'id="agreement-unavailable"' in html and "kappa-row" not in html


def test_export_needs_a_cases_folder(monkeypatch, capsys, tmp_path, example_trail):
    args = [
        "--db",
        str(example_trail),
        "--cases",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "o"),
    ]
    code, out, err = run_main(monkeypatch, capsys, "results", "export-overrides", *args)
    assert code == 2 and out == "" and err.startswith("error: [W002] ")
    assert not (tmp_path / "o").exists()
