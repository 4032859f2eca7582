"""The reviewer workbench through FastAPI's test client: queue, case page, accept/override with an
append-only audit trail, CSRF, CSP, documentation requests, exports, and the bind-address guard.

Posts go the way a browser sends them: the token read from the page's form, the session cookie the
server set, and ``Origin`` naming the workbench (tests/security/ attacks the CSRF and audit
defences themselves). Every test that uses the ``db`` fixture runs twice: on an SQLite file and on
a real PostgreSQL server (conftest.py; tests/test_audit_backends.py tests the store on both)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "fastapi", reason="the workbench extra is not installed: pip install -e '.[workbench]'"
)
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

import audit_db as shell
from fastapi.testclient import TestClient

from review.workbench.app import create_app
from review.workbench.cases import load_cases, load_results
from review.workbench.security import csrf_token
from review.workbench.serve import check_host, is_loopback

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PEND = "pend-no-conservative-care"  # EX-002: pend, 20552 supported, TPI-M05 not met
DOWNCODE = "downcode-20553-two-muscles"  # EX-004: pend, billed 20553, supports 20552
APPROVE = "approve-cervical-tpi"  # EX-001
DENY = "deny-dry-needling"  # EX-003
ORIGIN = "http://127.0.0.1"
SECRET = b"test-secret-for-the-workbench-csrf-hmac"


@pytest.fixture(scope="module")
def source():
    return load_cases(EXAMPLES)


@pytest.fixture
def db(audit_db):
    """The audit database, on each backend: an SQLite path or a PostgreSQL URL (conftest.py)."""
    return audit_db


@pytest.fixture
def client(source, db):
    app = create_app(source, db, secret=SECRET)
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}) as c:
        assert c.get("/").status_code == 200  # sets the session cookie
        yield c


def token(client) -> str:
    """The CSRF token as a browser has it: from the hidden field of a page's form."""
    html = client.get(f"/case/{PEND}").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def audit_rows(db) -> list[tuple]:
    return shell.tuples(db)


def queue_ids(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-case-id="([^"]+)" data-decision="([^"]+)"', html)


def count(html: str, name: str) -> int:
    m = re.search(rf'id="count-{name}"><span class="n">(\d+)</span>', html)
    assert m, name
    return int(m.group(1))


def override(client, slug=PEND, **fields):
    data = {
        "csrf_token": token(client),
        "action": "override",
        "decision": "approve",
        "supported_code": "20552",
        "reason": "PT notes received by fax show 6 weeks of failed therapy.",
        "reviewer": "R. Nurse",
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"/case/{slug}/review", data=data, follow_redirects=False)


# --------------------------------------------------------------------------- queue


def test_queue_puts_pended_first_and_counts(client):
    html = client.get("/").text
    rows = queue_ids(html)
    assert sorted(rows) == [
        ("EX-001", "approve"),
        ("EX-002", "pend"),
        ("EX-003", "deny"),
        ("EX-004", "pend"),
    ]
    decisions = [d for _, d in rows]
    assert decisions[:2] == ["pend", "pend"]
    assert count(html, "total") == 4
    assert (count(html, "pend"), count(html, "deny"), count(html, "approve")) == (2, 1, 1)
    assert count(html, "unreviewed") == 4 and count(html, "overridden") == 0


@pytest.mark.parametrize("sort", ["status", "decision", "code", "date", "case"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_sort_keeps_pended_first(client, sort, order):
    rows = queue_ids(client.get("/", params={"sort": sort, "order": order}).text)
    assert [d for _, d in rows][:2] == ["pend", "pend"] and len(rows) == 4


def test_queue_sort_and_filters(client):
    rows = queue_ids(client.get("/", params={"sort": "date", "order": "desc"}).text)
    # pended by date (EX-004 2026-03-03, EX-002 2026-02-18), then the rest (EX-001 03-10, EX-003 01-27)
    assert [c for c, _ in rows] == ["EX-004", "EX-002", "EX-001", "EX-003"]
    assert queue_ids(client.get("/", params={"decision": "deny"}).text) == [("EX-003", "deny")]
    assert queue_ids(client.get("/", params={"code": "none"}).text) == [("EX-003", "deny")]
    assert {c for c, _ in queue_ids(client.get("/", params={"code": "20552"}).text)} == {
        "EX-001",
        "EX-002",
        "EX-004",
    }
    assert override(client).status_code == 303
    html = client.get("/", params={"review": "overridden"}).text
    assert queue_ids(html) == [("EX-002", "pend")]
    assert count(html, "overridden") == 1 and count(html, "unreviewed") == 3
    assert len(queue_ids(client.get("/", params={"review": "unreviewed"}).text)) == 3


# --------------------------------------------------------------------------- case page and review


def test_case_page_shows_report_form_and_security_headers(client):
    r = client.get(f"/case/{PEND}")
    assert r.status_code == 200
    html = r.text
    assert 'class="banner dec-pend"' in html and "<mark" in html and "TPI-M05" in html
    # the form's token is the HMAC of this browser's session cookie under the server's secret
    assert f'name="csrf_token" value="{csrf_token(SECRET, client.cookies["wb_session"])}"' in html
    assert 'id="letter-link"' in html
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy).group(1)
    assert f'<script nonce="{nonce}">' in html and f'<style nonce="{nonce}">' in html
    assert html.count("<script") == 1
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    assert client.get("/case/no-such-case").status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"reason": ""},
        {"reason": "   \n "},
        {"reviewer": ""},
        {"reviewer": None},
        {"reason": None, "reviewer": None},
        {"decision": "maybe"},
        {"supported_code": "99999"},
        {"action": "delete"},
        {"decision": "pend", "supported_code": "20552"},  # changes nothing: use Accept
    ],
)
def test_override_needs_reason_reviewer_and_valid_values(client, db, fields):
    r = override(client, **fields)
    assert r.status_code in (400, 422)
    assert 'id="problems"' in r.text
    assert audit_rows(db) == []


def test_valid_override_writes_exactly_one_audit_row(client, db, source):
    r = override(client)
    assert r.status_code == 303 and r.headers["location"] == f"/case/{PEND}#audit"
    rows = audit_rows(db)
    assert len(rows) == 1
    (_id, at, reviewer, key, case_id, action, fdec, fcode, tdec, tcode, reason, prov) = rows[0][:12]
    assert (reviewer, key, case_id, action) == ("R. Nurse", PEND, "EX-002", "override")
    assert (fdec, fcode, tdec, tcode) == ("pend", "20552", "approve", "20552")
    assert reason.startswith("PT notes received")
    when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    assert when.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 120
    rec = source.get(PEND).rec
    recorded = json.loads(prov)
    workbench = recorded.pop("workbench")
    assert recorded == rec.provenance.model_dump(mode="json")
    # the engine's status of every finding, and no criterion judged (all blank: agree)
    assert workbench["engine_criteria"] == {f.rule_id: f.status for f in rec.findings}
    assert workbench["criteria"] == {}
    rec_sha256 = rows[0][12]  # the recommendation the reviewer saw
    assert rec_sha256 == hashlib.sha256(rec.model_dump_json().encode()).hexdigest()
    page = client.get(f"/case/{PEND}").text
    assert 'data-audit-id="1"' in page and "R. Nurse" in page
    assert 'id="review-status">overridden<' in page


def test_accept_records_the_recommendation(client, db):
    r = override(client, slug=DOWNCODE, action="accept", decision=None, supported_code=None)
    assert r.status_code == 303
    (row,) = audit_rows(db)
    assert row[5:10] == ("accept", "pend", "20552", "pend", "20552")
    # a later override starts from the decision in force
    assert override(client, slug=DOWNCODE, decision="deny", supported_code="").status_code == 303
    rows = audit_rows(db)
    assert len(rows) == 2 and rows[1][5:10] == ("override", "pend", "20552", "deny", None)


def test_audit_table_refuses_update_and_delete(client, db):
    assert override(client).status_code == 303
    with pytest.raises(shell.db_errors(), match="append-only"):
        shell.execute(db, "UPDATE audit SET to_decision = 'deny'")
    with pytest.raises(shell.db_errors(), match="append-only"):
        shell.execute(db, "DELETE FROM audit")
    assert len(audit_rows(db)) == 1 and audit_rows(db)[0][8] == "approve"


@pytest.mark.parametrize("how", ["missing", "wrong", "no-cookie", "empty"])
def test_csrf_is_required_on_every_post(client, db, how):
    data = {"action": "accept", "reason": "ok", "reviewer": "R. Nurse"}
    if how == "wrong":
        data["csrf_token"] = token(client)[:-2] + (
            "AA" if not token(client).endswith("AA") else "BB"
        )
    elif how == "no-cookie":
        data["csrf_token"] = token(client)
        client.cookies.clear()
    elif how == "empty":
        data["csrf_token"] = ""
    r = client.post(f"/case/{PEND}/review", data=data, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/case/{PEND}/letter.txt", data={**data, "letter": "x"})
    assert r.status_code == 403
    assert audit_rows(db) == []


def test_foreign_host_header_is_refused(client):
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_note_text_is_escaped_in_the_workbench(tmp_path):
    folder = tmp_path / "cases" / "xss"
    folder.mkdir(parents=True)
    note = (
        "PROCEDURE: Trigger point injection to the left upper trapezius with 1% lidocaine 2 mL.\n"
        "<script>alert(1)</script>\nEXAM: taut band, local twitch response, referred pain.\n"
    )
    (folder / "proc.txt").write_text(note)
    (folder / "case.json").write_text(
        json.dumps(
            {
                "case_id": "XSS-1",
                "claim": {"date_of_service": "2026-03-14", "lines": [{"code": "20552"}]},
                "documents": [{"id": "proc", "kind": "procedure_note", "path": "proc.txt"}],
            }
        )
    )
    app = create_app(load_cases(tmp_path / "cases"), tmp_path / "a.sqlite")
    with TestClient(app) as c:
        html = c.get("/case/xss").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1


# --------------------------------------------------------------------------- documentation request


def test_documentation_request_lists_exactly_the_missing_items(client, source):
    rec = source.get(PEND).rec
    assert len(rec.missing_documentation) == 1
    m05 = next(f for f in rec.findings if f.rule_id == "TPI-M05")
    html = client.get(f"/case/{PEND}/letter").text
    assert html.count('class="missing-item-text"') == 1
    assert 'id="letter"' in html and "<textarea" in html
    r = client.get(f"/case/{PEND}/letter.txt")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    text = r.text
    flat = " ".join(text.split())
    assert " ".join(rec.missing_documentation[0].split()) in flat
    assert " ".join(m05.policy_text.split()) in flat
    assert "EX-002" in text and "2026-02-18" in text
    numbered = re.findall(r"^(\d+)\. ", text, re.M)
    assert numbered == ["1"]
    # no item that is not missing: the downcode case asks only for its own item
    other = client.get(f"/case/{DOWNCODE}/letter.txt").text
    assert re.findall(r"^(\d+)\. ", other, re.M) == ["1"]
    assert "Non-invasive treatments" not in other and "Non-invasive treatments" in text
    # the edited letter comes back as a .txt download
    edited = text.replace("Dear provider,", "Dear Dr. Lindqvist,")
    r = client.post(
        f"/case/{PEND}/letter.txt", data={"csrf_token": token(client), "letter": edited}
    )
    assert r.status_code == 200 and r.text == edited
    assert r.headers["content-type"].startswith("text/plain")
    assert 'filename="documentation-request-EX-002.txt"' in r.headers["content-disposition"]
    # approved and denied cases get none
    assert client.get(f"/case/{APPROVE}/letter").status_code == 404
    assert client.get(f"/case/{DENY}/letter.txt").status_code == 404


# --------------------------------------------------------------------------- exports


def test_exports_hold_the_reviewed_decisions(client):
    empty = client.get("/export.csv").text
    assert empty.splitlines()[0].startswith("case_key,case_id,recommended_decision")
    assert len(empty.splitlines()) == 1
    assert override(client).status_code == 303
    assert (
        override(
            client, slug=DOWNCODE, action="accept", reason="=HYPERLINK(1) code agreed"
        ).status_code
        == 303
    )
    r = client.get("/export.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["case_id"], x["action"], x["final_decision"], x["final_code"]) for x in rows] == [
        ("EX-002", "override", "approve", "20552"),
        ("EX-004", "accept", "pend", "20552"),
    ]
    assert rows[0]["recommended_decision"] == "pend" and rows[0]["reviewer"] == "R. Nurse"
    assert rows[1]["reason"] == "'=HYPERLINK(1) code agreed"  # no formula in a spreadsheet
    data = client.get("/export.json").json()
    decisions = {d["case_id"]: d for d in data["decisions"]}
    assert set(decisions) == {"EX-002", "EX-004"}
    assert decisions["EX-002"]["final_decision"] == "approve"
    assert decisions["EX-002"]["recommended_decision"] == "pend"
    assert decisions["EX-004"]["reason"] == "=HYPERLINK(1) code agreed"
    assert decisions["EX-002"]["reviews"] == 1 and decisions["EX-002"]["audit_id"] == 1


# --------------------------------------------------------------------------- --results DIR


def test_results_folder_with_and_without_the_source_cases(tmp_path):
    from review.batch.inputs import WorkItem
    from review.batch.records import review_item

    records = [
        review_item(WorkItem(source=str(EXAMPLES / name), folder=str(EXAMPLES / name)), None)
        for name in (PEND, APPROVE)
    ]
    gone = json.loads(json.dumps(records[0]))
    gone["key"], gone["source"] = "moved", str(tmp_path / "no-longer-here")
    broken = {
        "key": "bad",
        "case_id": "bad",
        "source": "x",
        "status": "error",
        "error": {"code": "C003", "message": "malformed JSON"},
    }
    out = tmp_path / "run"
    out.mkdir()
    with (out / "results.jsonl").open("w") as fh:
        for rec in [*records, gone, broken]:
            fh.write(json.dumps(rec) + "\n")
    source = load_results(out)
    assert [e.key for e in source.reviewable] == [PEND, APPROVE, "moved"]
    assert source.get(PEND).documents is not None and source.get("moved").documents is None
    assert source.get(PEND).date_of_service == "2026-02-18"
    with TestClient(create_app(source, tmp_path / "a.sqlite")) as c:
        html = c.get("/").text
        assert count(html, "total") == 3 and count(html, "errors") == 1
        assert "malformed JSON" in html
        full = c.get(f"/case/{PEND}").text
        assert 'class="note-text"' in full and 'id="notes-unavailable"' not in full
        quoted = c.get("/case/moved").text
        assert 'id="notes-unavailable"' in quoted and 'class="note-text"' not in quoted
        assert 'class="ev quote' in quoted
        assert c.get("/case/bad").status_code == 404


# --------------------------------------------------------------------------- bind address


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_allowed(host):
    assert is_loopback(host)
    check_host(host, allow_remote=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "example.org"])
def test_non_loopback_hosts_are_refused_unless_allowed(host):
    from review.errors import ReviewError

    assert not is_loopback(host)
    with pytest.raises(ReviewError, match="W001"):
        check_host(host, allow_remote=False)
    with pytest.raises(ReviewError, match="W008"):  # beyond this machine, only with sign-in
        check_host(host, allow_remote=True)
    check_host(host, allow_remote=True, auth="local")


def test_serve_refuses_a_non_loopback_bind_with_one_line_and_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "review.cli", "serve", "--cases", str(EXAMPLES)]
    r = subprocess.run(
        [*cmd, "--host", "0.0.0.0", "--db", str(tmp_path / "a.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: [W001]") and "--allow-remote" in lines[0]
    assert not (tmp_path / "a.sqlite").exists()


def test_host_header_guard_follows_the_bind_address(source, tmp_path):
    from review.workbench.serve import allowed_hosts

    assert allowed_hosts("0.0.0.0", allow_remote=True) == ["*"]
    app = create_app(source, tmp_path / "a.sqlite", allowed_hosts=allowed_hosts("::1", False))
    with TestClient(app, base_url="http://[::1]:8765") as c:
        assert c.get("/").status_code == 200
        assert c.get("/", headers={"host": "127.0.0.1:8765"}).status_code == 200
        assert c.get("/", headers={"host": "rebind.example:8765"}).status_code == 400
