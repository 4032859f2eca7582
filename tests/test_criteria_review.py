"""Per-criterion review (issue #14: agreement per decision and per criterion): the reviewer's own
status per finding on the override and blind second-review forms (routes/case.py), kept in the
chained provenance under ``provenance["workbench"]``, and the per-criterion kappas of
review/agreement.py. Tests that take ``db`` run on SQLite and on PostgreSQL (conftest.py)."""

from __future__ import annotations

import json
import sqlite3

import audit_db as shell
import pytest

pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("argon2", reason="argon2-cffi is not installed (the workbench extra)")

from test_auth import _quick_argon2, make_app, signed_in  # noqa: F401 (fixture)
from test_blind_review import FIRST, SECOND, SLUGS, SUPERVISOR, USERS, Row, post
from test_workbench import ORIGIN, PEND, SECRET, override

from review.agreement import PER_CRITERION_NOTE, agreement_report, render_text
from review.workbench.app import create_app
from review.workbench.cases import load_cases
from review.workbench.store import AuditStore


@pytest.fixture(scope="module")
def source():
    from test_auth import EXAMPLES

    return load_cases(EXAMPLES)


@pytest.fixture
def db(audit_db):
    return audit_db


@pytest.fixture
def client(source, db):
    """The workbench without sign-in (typed reviewer names), as tests/test_workbench.py has it."""
    from fastapi.testclient import TestClient

    app = create_app(source, db, secret=SECRET)
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}) as c:
        assert c.get("/").status_code == 200
        yield c


def wb(engine, criteria=None, **extra):
    detail = {"engine_criteria": engine, **extra}
    if criteria is not None:
        detail["criteria"] = criteria
    return json.dumps({"workbench": detail})


# --------------------------------------------------------------------------- the report


def criteria_trail():
    """ann and bob review with criteria recorded; c4 was reviewed before criteria were (no
    engine_criteria); alice's two cases go to bob blind."""
    return [
        Row(1, "ann", "c1", "override", provenance=wb({"R1": "met", "R2": "not_met"}, {"R2": "met"})),
        Row(2, "ann", "c2", "accept", provenance=wb({"R1": "not_met", "R2": "met"}, {})),
        Row(3, "bob", "c3", "override", provenance=wb({"R1": "met", "R2": "insufficient"}, {"R1": "not_met"})),
        Row(4, "bob", "c4", "accept"),
        Row(5, "alice", "a", "accept", provenance=wb({"R1": "met", "R2": "met"}, {})),
        Row(6, "alice", "b", "override", provenance=wb({"R1": "not_met", "R2": "met"}, {"R2": "not_met"})),
        Row(7, SUPERVISOR, "a", "second_assign", provenance=json.dumps({"workbench": {"second_reviewer": "bob"}})),
        Row(8, SUPERVISOR, "b", "second_assign", provenance=json.dumps({"workbench": {"second_reviewer": "bob"}})),
        # bob leaves R2 blank on a: not judged
        Row(9, "bob", "a", "second_review", provenance=wb({"R1": "met", "R2": "met"}, {"R1": "not_met"})),
        Row(10, "bob", "b", "second_review", provenance=wb({"R1": "not_met", "R2": "met"}, {"R1": "not_met", "R2": "not_met"})),
    ]  # fmt: skip


def test_pipeline_vs_reviewer_per_criterion_uses_the_effective_judgment():
    pc = agreement_report(criteria_trail())["per_criterion"]
    assert pc["available"] is True and pc["note"] != PER_CRITERION_NOTE
    pooled = pc["pipeline_vs_reviewer"]["all"]
    # c1, c2, c3 and alice's a, b (c4 has nothing recorded); the blank R2 on c3 agrees
    assert pooled["judged"] == 5
    r1 = pooled["rules"]["R1"]
    # engine / reviewer: c1 met/met, c2 not_met/not_met, c3 met/not_met, a met/met,
    # b not_met/not_met -> agree 4 of 5; engine met 3 not_met 2, reviewers met 2 not_met 3;
    # n*n*p_e = 3*2 + 2*3 = 12; kappa = (5*4 - 12) / (25 - 12) = 8/13
    assert (r1["n"], r1["observed"], r1["expected"]) == (5, 0.8, 0.48)
    assert r1["kappa"] == round(8 / 13, 4)
    assert r1["confusion"]["met"] == {"met": 2, "not_met": 1}
    ann = pc["pipeline_vs_reviewer"]["by_reviewer"]["ann"]["rules"]["R2"]
    # c1 not_met/met, c2 met/met: agree 1 of 2; n*n*p_e = 1*0 + 1*2 = 2; kappa (2 - 2)/(4 - 2)
    assert (ann["n"], ann["kappa"]) == (2, 0.0)


def test_blind_pairs_per_criterion_compare_only_what_the_second_reviewer_judged():
    blind = agreement_report(criteria_trail())["per_criterion"]["blind_reviewer_vs_reviewer"]
    (pair,) = blind["pairs"]
    assert pair["reviewers"] == ["alice", "bob"] and pair["judged"] == 2
    r1 = pair["rules"]["R1"]
    # alice a met, b not_met; bob not_met on both: agree 1; n*n*p_e = 1*0 + 1*2 = 2 -> kappa 0
    assert (r1["n"], r1["kappa"], r1["observed"]) == (2, 0.0, 0.5)
    r2 = pair["rules"]["R2"]  # only b: alice's override not_met, bob not_met
    assert r2["n"] == 1 and r2["kappa"] is None and r2["undefined"]


def test_the_text_report_shows_per_criterion_tables():
    text = render_text(agreement_report(criteria_trail()))
    assert "not recorded yet" not in text
    assert "  pipeline vs all reviewers (5 judged reviews)" in text
    assert "  blind alice / bob (2 judged reviews)" in text
    assert "    R1                                   5     0.800     0.480   0.615" in text


def test_rows_without_criteria_keep_the_note():
    report = agreement_report([Row(1, "ann", "c1", "accept"), Row(2, "bob", "c1", "override")])
    assert report["per_criterion"]["available"] is False
    assert "not recorded yet" in render_text(report)


# --------------------------------------------------------------------------- the forms


def workbench_detail(trail) -> dict:
    return json.loads(shell.rows(trail)[-1]["provenance"])["workbench"]


def test_the_override_form_offers_a_select_per_finding(client, source):
    html = client.get(f"/case/{PEND}").text
    for f in source.get(PEND).rec.findings:
        assert f'name="criterion.{f.rule_id}"' in html
    assert "agree with the engine" in html


def test_an_override_records_the_judged_criteria_in_the_chain(client, db, source):
    r = override(client, **{"criterion.TPI-M05": "met", "criterion.TPI-A01": ""})
    assert r.status_code == 303, r.text
    detail = workbench_detail(db)
    assert detail["criteria"] == {"TPI-M05": "met"}  # the blank one agrees, not recorded
    engine = {f.rule_id: f.status for f in source.get(PEND).rec.findings}
    assert detail["engine_criteria"] == engine and engine["TPI-M05"] == "not_met"
    assert AuditStore(db).verify().ok
    pc = agreement_report(AuditStore(db).rows())["per_criterion"]
    m05 = pc["pipeline_vs_reviewer"]["by_reviewer"]["R. Nurse"]["rules"]["TPI-M05"]
    assert m05["confusion"]["not_met"]["met"] == 1 and m05["n"] == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"criterion.TPI-NOPE": "met"}, "is not one of this recommendation"),
        ({"criterion.TPI-M05": "maybe"}, "choose met, not_met, insufficient, not_applicable"),
        ({"action": "accept", "criterion.TPI-M05": "met"}, "use Override"),
    ],
)
def test_bad_criteria_are_refused_and_nothing_is_written(client, db, fields, message):
    r = override(client, **fields)
    assert r.status_code == 400 and message in r.text
    assert shell.rows(db) == []


def test_an_accept_agrees_with_every_criterion(client, db, source):
    r = override(client, action="accept", **{"criterion.TPI-M05": "not_met"})  # the engine's
    assert r.status_code == 303, r.text
    detail = workbench_detail(db)
    assert detail["criteria"] == {}
    assert detail["engine_criteria"]["TPI-M05"] == "not_met"


def test_editing_a_recorded_judgment_breaks_the_chain(tmp_path, source):
    path = tmp_path / "audit.sqlite"
    app, store = make_app(source, path, users=USERS)
    nurse = signed_in(app, FIRST)
    fields = {"action": "override", "decision": "approve", "supported_code": "20552"}
    fields |= {"reason": "PT notes arrived", "criterion.TPI-M05": "met"}
    r = post(nurse, f"/case/{PEND}/review", fields, f"/case/{PEND}")
    assert r.status_code == 303, r.text
    assert store.verify().ok
    con = sqlite3.connect(path)
    (prov,) = con.execute("SELECT provenance FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert '"TPI-M05": "met"' in prov
    con.executescript("DROP TRIGGER audit_no_update;")
    con.execute("UPDATE audit SET provenance = ?", (prov.replace('"met"}', '"not_met"}'),))
    con.commit()
    con.close()
    assert not AuditStore(path).verify().ok


def test_the_blind_second_review_records_its_criteria(source, audit_db):
    app, store = make_app(source, audit_db, users=USERS)
    nurse = signed_in(app, FIRST)
    for slug in SLUGS[:2]:
        fields = {"action": "accept", "reason": "fine"}
        assert post(nurse, f"/case/{slug}/review", fields, f"/case/{slug}").status_code == 303
    sup = signed_in(app, SUPERVISOR)
    r = post(sup, "/agreement/second-reviews", {"reviewer": SECOND, "size": "2"}, "/agreement")
    assert r.status_code == 303, r.text
    bob = signed_in(app, SECOND)
    html = bob.get(f"/case/{SLUGS[0]}").text
    assert 'name="criterion.TPI-M05"' in html and "not judged" in html
    n = len(shell.rows(audit_db))
    bad = {"decision": "approve", "supported_code": "", "reason": "x", "criterion.X": "met"}
    r = post(bob, f"/case/{SLUGS[0]}/second-review", bad, f"/case/{SLUGS[0]}")
    assert r.status_code == 400 and len(shell.rows(audit_db)) == n
    # the engine: TPI-M05 met on the first case, not_met on the second; the first nurse accepted
    engine = [{f.rule_id: f.status for f in source.get(s).rec.findings} for s in SLUGS[:2]]
    assert [e["TPI-M05"] for e in engine] == ["met", "not_met"]
    for slug, status in zip(SLUGS[:2], ("met", "not_met"), strict=True):
        fields = {"decision": "pend", "supported_code": "", "reason": "checked"}
        fields["criterion.TPI-M05"] = status
        r = post(bob, f"/case/{slug}/second-review", fields, f"/case/{slug}")
        assert r.status_code == 303, r.text
        assert workbench_detail(audit_db)["criteria"] == {"TPI-M05": status}
    assert store.verify().ok
    pc = agreement_report(store.rows())["per_criterion"]["blind_reviewer_vs_reviewer"]
    (pair,) = pc["pairs"]
    assert pair["reviewers"] == [FIRST, SECOND] and list(pair["rules"]) == ["TPI-M05"]
    m05 = pair["rules"]["TPI-M05"]
    # (met, met), (not_met, not_met): p_o 1, p_e 1/2, kappa 1
    assert (m05["n"], m05["observed"], m05["expected"], m05["kappa"]) == (2, 1.0, 0.5, 1.0)
    page = sup.get("/agreement").text
    assert 'id="kappa-criteria"' in page and 'data-label="TPI-M05"' in page
    assert "not recorded yet" not in page
