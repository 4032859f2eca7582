"""Blind second review (review/workbench/blind.py, routes/agreement.py's sample form, routes/case.py's
second-review form, review/agreement.py's blind pairs, migration 0003). Tests that take ``db`` run
on an SQLite file and on a real PostgreSQL server (conftest.py)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import audit_db as shell
import pytest
from cli_run import run_main

pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("argon2", reason="argon2-cffi is not installed (the workbench extra)")

from test_auth import EXAMPLES, _quick_argon2, form_token, make_app, signed_in  # noqa: F401 (fixture)

from review.agreement import agreement_report, render_text
from review.workbench import chain
from review.workbench.blind import draw, eligible
from review.workbench.cases import load_cases
from review.workbench.store import AuditStore

FIRST = "first-nurse-alice"
SECOND = "second-nurse-bob"
SUPERVISOR = "the-supervisor"
FIRST_REASON = "FIRST-DECISION-REASON-the-notes-show-six-weeks-of-PT"


@pytest.fixture(scope="module")
def source():
    return load_cases(EXAMPLES)


@dataclass(frozen=True)
class Row:
    id: int
    reviewer: str
    case_key: str
    action: str
    to_decision: str = "approve"
    to_code: str | None = "20552"
    from_decision: str | None = "approve"
    from_code: str | None = "20552"
    rec_sha256: str | None = None
    provenance: str = "{}"


def assigned(id_, key, who, by=SUPERVISOR):
    return Row(
        id_,
        by,
        key,
        "second_assign",
        provenance=json.dumps({"workbench": {"second_reviewer": who, "seed": "s"}}),
    )


# --------------------------------------------------------------------------- the sample


def test_the_sample_is_deterministic_for_a_seed_and_varies_with_it():
    keys = [f"case-{i:02d}" for i in range(30)]
    assert draw(keys, 5, "2026-03-01") == draw(list(keys), 5, "2026-03-01")
    assert len(draw(keys, 5, "x")) == 5 and set(draw(keys, 5, "x")) <= set(keys)
    assert len({tuple(draw(keys, 5, f"seed-{i}")) for i in range(10)}) > 1
    assert draw(keys[:3], 5, "x") == keys[:3]  # fewer than asked: all of them


def test_the_sample_never_picks_the_first_reviewer_nor_an_undecided_or_sent_case():
    rows = [
        Row(1, FIRST, "a", "accept"),
        Row(2, SECOND, "b", "accept"),  # the second reviewer decided it: not theirs to check
        Row(3, FIRST, "c", "override"),
        Row(4, FIRST, "d", "refer"),  # referred, not decided
        Row(5, SECOND, "e", "assign"),  # undecided, and touched by them
        Row(6, FIRST, "f", "accept"),
        assigned(7, "f", "someone-else"),  # sent already
        Row(8, FIRST, "g", "accept"),
    ]
    keys = "abcdefg"
    assert eligible(rows, SECOND, keys) == ["a", "c", "g"]
    assert eligible(rows, FIRST, keys) == ["b"]
    assert eligible(rows, SECOND, "ac") == ["a", "c"]  # only the workbench's cases


# --------------------------------------------------------------------------- the workbench


def decide(store, source, slug, *, reviewer=FIRST, decision=None, reason=FIRST_REASON) -> int:
    entry = source.get(slug)
    return store.insert(
        reviewer=reviewer,
        case_key=entry.key,
        case_id=entry.case_id,
        action="override" if decision else "accept",
        from_decision=entry.rec.decision,
        from_code=entry.rec.supported_code,
        to_decision=decision or entry.rec.decision,
        to_code=entry.rec.supported_code,
        reason=reason,
        provenance={},
        rec_sha256=None,
    )


def post(client, path, fields, page="/"):
    token = form_token(client, page)
    return client.post(path, data={**fields, "csrf_token": token}, follow_redirects=False)


USERS = [
    (FIRST, "nurse"),
    (SECOND, "nurse"),
    (SUPERVISOR, "supervisor"),
    ("a-physician", "physician"),
]
SLUGS = ("approve-cervical-tpi", "pend-no-conservative-care", "downcode-20553-two-muscles")


@pytest.fixture
def workbench(source, audit_db):
    app, store = make_app(source, audit_db, users=USERS)
    decide(store, source, SLUGS[0])
    decide(store, source, SLUGS[1], decision="approve")
    decide(store, source, SLUGS[2])
    return app, store


@pytest.mark.parametrize("who", [FIRST, "a-physician"])
def test_only_a_supervisor_may_send_a_sample(workbench, audit_db, who):
    app, _ = workbench
    before = shell.rows(audit_db)
    client = signed_in(app, who)
    r = post(client, "/agreement/second-reviews", {"reviewer": SECOND, "size": "2", "seed": "s"})
    assert r.status_code == 403, r.text
    assert shell.rows(audit_db) == before


def test_a_sample_is_recorded_with_its_seed_and_never_goes_to_the_first_reviewer(
    workbench, audit_db, source
):
    app, store = workbench
    sup = signed_in(app, SUPERVISOR)
    before = shell.rows(audit_db)
    r = post(sup, "/agreement/second-reviews", {"reviewer": FIRST, "size": "3"}, "/agreement")
    assert r.status_code == 409  # every decided case is the first reviewer's own
    assert shell.rows(audit_db) == before
    r = post(sup, "/agreement/second-reviews", {"reviewer": "nobody", "size": "3"}, "/agreement")
    assert r.status_code == 400 and shell.rows(audit_db) == before

    r = post(
        sup,
        "/agreement/second-reviews",
        {"reviewer": SECOND, "size": "2", "seed": "abc"},
        "/agreement",
    )
    assert r.status_code == 303, r.text
    new = shell.rows(audit_db)[len(before) :]
    assert [(x["action"], x["reviewer"]) for x in new] == [("second_assign", SUPERVISOR)] * 2
    details = [json.loads(x["provenance"])["workbench"] for x in new]
    assert all(d["second_reviewer"] == SECOND and d["seed"] == "abc" for d in details)
    picked = {x["case_key"] for x in new}
    assert picked < {source.get(s).key for s in SLUGS}
    assert store.verify().ok
    # the same draw again: the sent cases are no longer eligible, one is left
    r = post(
        sup,
        "/agreement/second-reviews",
        {"reviewer": SECOND, "size": "2", "seed": "abc"},
        "/agreement",
    )
    assert r.status_code == 303
    assert len(shell.rows(audit_db)) == len(before) + 3
    page = sup.get("/agreement").text
    assert 'id="second-reviews"' in page and page.count('class="second-review-row"') == 3


def test_the_same_seed_draws_the_same_cases_on_a_fresh_trail(source, tmp_path):
    picked = []
    for i in range(2):
        app, store = make_app(source, tmp_path / f"audit{i}.sqlite", users=USERS)
        for slug in SLUGS:
            decide(store, source, slug)
        sup = signed_in(app, SUPERVISOR)
        r = post(
            sup,
            "/agreement/second-reviews",
            {"reviewer": SECOND, "size": "2", "seed": "k"},
            "/agreement",
        )
        assert r.status_code == 303
        picked.append([x["case_key"] for x in shell.rows(tmp_path / f"audit{i}.sqlite")[3:]])
    assert picked[0] == picked[1] and len(picked[0]) == 2


def _send_all(app):
    sup = signed_in(app, SUPERVISOR)
    r = post(sup, "/agreement/second-reviews", {"reviewer": SECOND, "size": "3"}, "/agreement")
    assert r.status_code == 303
    return sup


def test_the_second_reviewers_view_is_blind(workbench, source):
    app, _ = workbench
    sup = _send_all(app)
    slug = SLUGS[1]  # the first reviewer overrode it to approve
    assert FIRST_REASON in sup.get(f"/case/{slug}").text  # others still see everything
    bob = signed_in(app, SECOND)
    html = bob.get(f"/case/{slug}").text
    assert 'id="second-review-form"' in html
    assert FIRST_REASON not in html
    assert FIRST not in html and SUPERVISOR not in html
    assert 'id="review-form"' not in html  # no accept/override form to leak the decision
    queue = bob.get("/").text
    assert FIRST not in queue and FIRST_REASON not in queue
    # the queue does not show the decision in force for the blind cases
    row = next(line for line in queue.split("<tr") if source.get(slug).case_id in line)
    assert 'data-review="blind"' in row and "approve / " not in row


def test_a_second_review_changes_nothing_in_force_and_is_refused_twice(workbench, audit_db):
    app, store = workbench
    _send_all(app)
    slug = SLUGS[0]
    latest = store.latest()
    bob = signed_in(app, SECOND)
    fields = {"decision": "deny", "supported_code": "", "reason": "no trigger points documented"}
    r = post(bob, f"/case/{slug}/second-review", fields, f"/case/{slug}")
    assert r.status_code == 303, r.text
    last = shell.rows(audit_db)[-1]
    assert (last["action"], last["reviewer"], last["to_decision"]) == (
        "second_review",
        SECOND,
        "deny",
    )
    assert store.latest() == latest  # the decision in force is the first reviewer's still
    n = len(shell.rows(audit_db))
    r = post(bob, f"/case/{slug}/second-review", fields, f"/case/{slug}")
    assert r.status_code == 409 and len(shell.rows(audit_db)) == n
    for other in (FIRST, SUPERVISOR):  # not assigned to them
        r = post(signed_in(app, other), f"/case/{slug}/second-review", fields, f"/case/{slug}")
        assert r.status_code == 409 and len(shell.rows(audit_db)) == n
    # the blind reviewer cannot accept or override the case instead
    r = post(bob, f"/case/{SLUGS[1]}/review", {"action": "accept", "reason": "x"}, "/")
    assert r.status_code == 409 and len(shell.rows(audit_db)) == n
    assert "recorded" in bob.get(f"/case/{slug}").text
    page = signed_in(app, SUPERVISOR).get("/agreement").text
    assert 'id="kappa-blind"' in page and "1</strong> reviewed" in page


# --------------------------------------------------------------------------- agreement


def hand_built_trail():
    """alice decides a, b, c, d; bob is sent all four blind and reviews three; carol writes a
    second review she was not sent (ignored); dave reviews a openly (the non-blind pair)."""
    rows = [
        Row(1, "alice", "a", "accept", to_decision="approve"),
        Row(2, "alice", "b", "accept", to_decision="approve"),
        Row(3, "alice", "c", "override", to_decision="deny", to_code=None),
        Row(4, "alice", "d", "accept", to_decision="pend"),
        assigned(5, "a", "bob"),
        assigned(6, "b", "bob"),
        assigned(7, "c", "bob"),
        assigned(8, "d", "bob"),
        Row(9, "bob", "a", "second_review", to_decision="approve"),
        Row(10, "bob", "b", "second_review", to_decision="pend"),
        Row(11, "bob", "c", "second_review", to_decision="deny", to_code=None),
        Row(12, "bob", "c", "second_review", to_decision="approve"),  # a second one: ignored
        Row(13, "carol", "a", "second_review", to_decision="deny"),
        Row(14, "dave", "a", "override", to_decision="pend"),
    ]
    return rows


def test_agreement_reports_the_blind_pair_with_counts():
    report = agreement_report(hand_built_trail())
    blind = report["blind_reviewer_vs_reviewer"]
    assert blind["blind"] is True
    assert (blind["sent"], blind["reviewed"], blind["pending"]) == (4, 3, 1)
    (pair,) = blind["pairs"]
    assert pair["reviewers"] == ["alice", "bob"] and pair["blind"] is True
    k = pair["decision"]
    # alice: approve, approve, deny; bob: approve, pend, deny -> agree 2 of 3;
    # chance n*n*p_e = 2*1 (approve) + 1*1 (deny) = 3; kappa = (3*2 - 3) / (9 - 3) = 0.5
    assert k["n"] == 3 and k["kappa"] == 0.5 and k["observed"] == round(2 / 3, 4)
    assert k["confusion"]["approve"] == {"approve": 1, "pend": 1, "deny": 0}
    assert pair["supported_code"]["n"] == 3 and pair["cases"] == 3
    assert blind["all"]["decision"]["n"] == 3
    # the non-blind pairs are decisions only: alice and dave on case a; bob and carol not there
    assert [p["reviewers"] for p in report["reviewer_vs_reviewer"]] == [["alice", "dave"]]
    assert report["reviewers"] == ["alice", "dave"]
    text = render_text(report)
    assert "Reviewer vs reviewer, blind" in text and "alice / bob (3 cases)" in text
    assert "4 sent, 3 reviewed, 1 pending" in text


def test_the_cli_reports_the_blind_pair(tmp_path, monkeypatch, capsys, source):
    db = tmp_path / "audit.sqlite"
    store = AuditStore(db)
    for i, slug in enumerate(SLUGS):
        decide(store, source, slug, reviewer="alice")
        entry = source.get(slug)
        store.insert_many(
            [
                {
                    "reviewer": SUPERVISOR,
                    "case_key": entry.key,
                    "case_id": entry.case_id,
                    "action": "second_assign",
                    "from_decision": "approve",
                    "from_code": None,
                    "to_decision": "approve",
                    "to_code": None,
                    "reason": "sample",
                    "provenance": {"workbench": {"second_reviewer": "bob", "seed": "s"}},
                    "rec_sha256": None,
                }
            ]
        )
        if i < 2:
            decide(store, source, slug, reviewer="bob")  # an open review is not the blind one
    code, out, _ = run_main(monkeypatch, capsys, "results", "agreement", "--db", str(db))
    assert code == 0
    assert "3 sent, 0 reviewed, 3 pending" in out
    code, out, _ = run_main(
        monkeypatch, capsys, "results", "agreement", "--db", str(db), "--format", "json"
    )
    report = json.loads(out)
    assert report["blind_reviewer_vs_reviewer"]["pairs"] == []
    assert [p["reviewers"] for p in report["reviewer_vs_reviewer"]] == [["alice", "bob"]]


# --------------------------------------------------------------------------- migration 0003


def test_0003_widens_the_check_keeping_rows_and_counter(tmp_path):
    """A trail at 0002 (with workflow rows and the counter ahead of the last row, as after a
    deletion) upgrades to 0003 with every row and the counter as they were."""
    from alembic import command
    from sqlalchemy import text

    from review.workbench.database import _config, make_engine, parse_target

    path = tmp_path / "at-0002.sqlite"
    engine = make_engine(parse_target(path), mode="rwc")
    with engine.connect() as conn, conn.begin():
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        prev = chain.GENESIS
        for i, action in enumerate(("accept", "assign", "refer"), start=1):
            row = {
                "id": i,
                "at": f"2026-02-0{i}T08:00:00Z",
                "reviewer": "n",
                "case_key": "k",
                "case_id": "C-1",
                "action": action,
                "from_decision": "pend",
                "from_code": None,
                "to_decision": "pend",
                "to_code": None,
                "reason": f"r{i}",
                "provenance": "{}",
                "rec_sha256": None,
                "prev_hash": prev,
            }
            row["row_hash"] = prev = chain.row_hash(row)
            conn.execute(
                text(
                    f"INSERT INTO audit ({', '.join(row)}) VALUES "
                    f"({', '.join(':' + k for k in row)})"
                ),
                row,
            )
        conn.exec_driver_sql("UPDATE sqlite_sequence SET seq = 7 WHERE name = 'audit'")
    engine.dispose()
    before = shell.tuples(path)
    with pytest.raises(sqlite3.IntegrityError):
        shell.execute(
            path,
            "INSERT INTO audit (at, reviewer, case_key, case_id, action, to_decision, reason, "
            "provenance, prev_hash, row_hash) VALUES ('t', 'n', 'k', 'C', 'second_review', "
            "'pend', 'r', '{}', 'p', 'h')",
        )
    store = AuditStore(path)
    assert shell.tuples(path) == before
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone() == (
            7,
        )
        (sql,) = con.execute("SELECT sql FROM sqlite_master WHERE name = 'audit'").fetchone()
    finally:
        con.close()
    assert "'second_assign', 'second_review'" in sql
    broken = store.snapshot().check.broken  # the counter is evidence still: rows 4-7 are gone
    assert broken is not None and "end" in broken.problem


def test_the_new_actions_are_accepted_on_both_backends(audit_db):
    store = AuditStore(audit_db)
    for action in ("second_assign", "second_review"):
        store.insert(
            reviewer="s",
            case_key="k",
            case_id="C-1",
            action=action,
            from_decision="pend",
            from_code=None,
            to_decision="pend",
            to_code=None,
            reason="r",
            provenance={},
            rec_sha256=None,
        )
    assert [r["action"] for r in shell.rows(audit_db)] == ["second_assign", "second_review"]
    assert store.verify().ok
