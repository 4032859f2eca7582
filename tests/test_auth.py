"""Sign-in, roles, assignment and physician sign-off in the workbench (review/workbench/auth.py,
accounts.py, state.py, routes/case.py), through FastAPI's test client with ``--auth local``.

The permission tables below are written by hand, one expectation per (route, role): they are the
specification, not a copy of review/workbench/accounts.py's PERMISSIONS. Posts go the way a
browser sends them (the form's CSRF token, the cookies the server set, ``Origin`` naming the
workbench), so a 403 is the role check and a redirect is the sign-in gate, never a CSRF refusal.
Tests that take ``db`` run on an SQLite file and on a real PostgreSQL server (conftest.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path

import audit_db as shell
import pytest

pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("argon2", reason="argon2-cffi is not installed (the workbench extra)")

from fastapi.testclient import TestClient

from review.workbench.accounts import Accounts
from review.workbench.app import create_app
from review.workbench.cases import CaseSource, load_cases
from review.workbench.store import AuditStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PEND = "pend-no-conservative-care"  # EX-002: the engine pends it (20552 supported)
DENY = "deny-dry-needling"  # EX-003: the engine denies it (an excluded service: administrative)
ORIGIN = "http://127.0.0.1"
SECRET = b"test-secret-for-the-workbench-csrf-hmac"

ROLES = ("nurse", "physician", "supervisor", "admin")
ASSIGNEE = "staff-nurse"  # an account the supervisor can assign cases to


class Clock:
    """Epoch seconds that a test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def password(username: str) -> str:
    return f"correct horse {username} staple"


@pytest.fixture(autouse=True)
def _quick_argon2(monkeypatch):
    """argon2id with small costs: hundreds of sign-ins here would take minutes at the defaults
    (test_users_cli.py checks the real hashes the command writes)."""
    from argon2 import PasswordHasher

    import review.workbench.accounts as accounts

    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", lambda: quick)


@pytest.fixture(scope="module")
def source():
    return load_cases(EXAMPLES)


@pytest.fixture
def db(audit_db):
    return audit_db


def make_app(source, db, *, users=(), clock=None, **options):
    store = AuditStore(db)
    accounts = Accounts(store)
    for username, role in users:
        accounts.add_user(username, password(username), [role])
    return create_app(
        source, store, secret=SECRET, auth="local", clock=clock or Clock(), **options
    ), store


def browser(app, base=ORIGIN) -> TestClient:
    return TestClient(app, base_url=base, headers={"Origin": base})


def form_token(client, path="/signin") -> str:
    html = client.get(path).text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, username, pw=None):
    r = client.post(
        "/signin",
        data={
            "csrf_token": form_token(client),
            "username": username,
            "password": pw or password(username),
        },
        follow_redirects=False,
    )
    return r


def signed_in(app, username) -> TestClient:
    client = browser(app)
    assert sign_in(client, username).status_code == 303
    return client


def rows(db) -> list[dict]:
    return shell.rows(db)


def refer(store, source, by="a-nurse", slug=PEND) -> int:
    """A referral row as a nurse's medical-necessity denial writes it (the physician tests'
    starting point), through the store."""
    entry = source.get(slug)
    return store.insert(
        reviewer=by,
        case_key=entry.key,
        case_id=entry.case_id,
        action="refer",
        from_decision=entry.rec.decision,
        from_code=entry.rec.supported_code,
        to_decision="deny",
        to_code=None,
        reason="no medical necessity documented",
        provenance={"workbench": {"ground": "medical_necessity"}},
        rec_sha256=None,
    )


def decide(store, source, by="a-nurse", slug=PEND) -> int:
    """An accept of the engine's recommendation, through the store."""
    entry = source.get(slug)
    return store.insert(
        reviewer=by,
        case_key=entry.key,
        case_id=entry.case_id,
        action="accept",
        from_decision=entry.rec.decision,
        from_code=entry.rec.supported_code,
        to_decision=entry.rec.decision,
        to_code=entry.rec.supported_code,
        reason="as recommended",
        provenance={},
        rec_sha256=None,
    )


# --------------------------------------------------------------------------- the tables

# (method, path, form fields): every route that changes something
MUTATING = {
    "override": (
        "/case/{PEND}/review",
        {
            "action": "override",
            "decision": "approve",
            "supported_code": "20552",
            "reason": "PT notes arrived",
        },
    ),
    "accept": ("/case/{DENY}/review", {"action": "accept", "reason": "excluded service"}),
    "deny-mn": (
        "/case/{PEND}/review",
        {
            "action": "override",
            "decision": "deny",
            "supported_code": "",
            "ground": "medical_necessity",
            "reason": "not necessary",
        },
    ),
    "deny-admin": (
        "/case/{PEND}/review",
        {
            "action": "override",
            "decision": "deny",
            "supported_code": "",
            "ground": "administrative",
            "reason": "not covered",
        },
    ),
    "signoff": ("/case/{PEND}/signoff", {"choice": "confirm", "referral": "1", "reason": "agree"}),
    "take": ("/case/{PEND}/take", {}),
    "assign": ("/case/{PEND}/assign", {"assignee": ASSIGNEE, "note": "cover"}),
    "letter": ("/case/{PEND}/letter.txt", {"letter": "Dear provider, please send the PT notes."}),
    "sample": ("/agreement/second-reviews", {"reviewer": ASSIGNEE, "size": "1", "seed": "s"}),
    "second-review": (
        "/case/{PEND}/second-review",
        {"decision": "approve", "supported_code": "20552", "reason": "blind look"},
    ),
    "signout": ("/signout", {}),
}

# anonymous, nurse, physician, supervisor, admin. "signin": 303 to the sign-in page; a number:
# that status and no audit row; an action name: 303 and exactly one new audit row with that
# action, recorded under the signed-in username; "200": allowed, writes nothing.
EXPECTED_POSTS = {
    "override": ("signin", "override", "override", "override", 403),
    "accept": ("signin", "accept", "accept", "accept", 403),
    "deny-mn": ("signin", "refer", "override", "refer", 403),
    "deny-admin": ("signin", "override", "override", "override", 403),
    "signoff": ("signin", 403, "confirm", 403, 403),
    "take": ("signin", "assign", "assign", "assign", 403),
    "assign": ("signin", 403, 403, "assign", 403),
    "letter": ("signin", "200", "200", "200", 403),
    "sample": ("signin", 403, 403, "second_assign", 403),
    # allowed to reviewers, but only for a case sent to them (none is here): 409, no row
    "second-review": ("signin", 409, 409, 409, 403),
    "signout": ("signin", "signin", "signin", "signin", "signin"),
}

# every page and API read
EXPECTED_GETS = {
    "/": ("signin", 200, 200, 200, 403),
    "/case/{PEND}": ("signin", 200, 200, 200, 403),
    "/case/{PEND}/letter": ("signin", 200, 200, 200, 403),
    "/case/{PEND}/letter.txt": ("signin", 200, 200, 200, 403),
    "/agreement": ("signin", 403, 403, 200, 403),
    "/export.csv": ("signin", 403, 403, 200, 403),
    "/export.json": ("signin", 403, 403, 200, 403),
    "/admin/users": ("signin", 403, 403, 403, 200),
    "/fhir/metadata": (401, 200, 200, 200, 200),
    "/signin": (200, "home", "home", "home", "home"),
}
WHO = ("anonymous", *ROLES)
PAGE = {"anonymous": "/signin", "admin": "/admin/users", **{r: f"/case/{PEND}" for r in ROLES[:3]}}
"""A page each can open, to read the form token from."""


def _path(template: str) -> str:
    return template.replace("{PEND}", PEND).replace("{DENY}", DENY)


@pytest.mark.parametrize("route", sorted(EXPECTED_POSTS))
@pytest.mark.parametrize("who", WHO)
def test_every_mutating_route_for_every_role(source, tmp_path, route, who):
    db = tmp_path / "audit.sqlite"
    users = [(ASSIGNEE, "nurse")] + ([(f"the-{who}", who)] if who != "anonymous" else [])
    app, store = make_app(source, db, users=users)
    if route == "signoff":
        refer(store, source)
    if route == "sample":  # a decided case to draw from
        decide(store, source)
    client = browser(app) if who == "anonymous" else signed_in(app, f"the-{who}")
    before = rows(db)
    path, fields = MUTATING[route]
    token = form_token(client, PAGE[who])
    r = client.post(_path(path), data={**fields, "csrf_token": token}, follow_redirects=False)
    expected = EXPECTED_POSTS[route][WHO.index(who)]
    after = rows(db)
    if expected == "signin":
        assert r.status_code == 303 and r.headers["location"].startswith("/signin"), r.text
        assert after == before
    elif expected == "200":
        assert r.status_code == 200, r.text
        assert after == before
    elif isinstance(expected, int):
        assert r.status_code == expected, r.text
        assert after == before
    else:
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith(("/case/", "/agreement")), r.text
        new = after[len(before) :]
        assert [(x["action"], x["reviewer"]) for x in new] == [(expected, f"the-{who}")]


@pytest.mark.parametrize("path", sorted(EXPECTED_GETS))
@pytest.mark.parametrize("who", WHO)
def test_every_page_for_every_role(source, tmp_path, path, who):
    users = [(f"the-{who}", who)] if who != "anonymous" else []
    app, _ = make_app(source, tmp_path / "audit.sqlite", users=users)
    client = browser(app) if who == "anonymous" else signed_in(app, f"the-{who}")
    r = client.get(_path(path), follow_redirects=False)
    expected = EXPECTED_GETS[path][WHO.index(who)]
    if expected == "signin":
        assert r.status_code == 303
        assert r.headers["location"] == "/signin?next=" + _path(path)
    elif expected == "home":  # signed in already: on to the first page for the role
        assert r.status_code == 303 and r.headers["location"] == "/"
    else:
        assert r.status_code == expected, r.text[:300]


def every_route(routes, prefix: str = ""):
    """(method, path) of every GET/POST route, through included routers and mounts (FastAPI
    wraps an included router in an object holding ``original_router`` in recent versions)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from every_route(inner.routes, prefix)
        elif hasattr(route, "routes"):  # a Mount
            yield from every_route(route.routes, prefix + route.path)
        else:
            for method in getattr(route, "methods", None) or ():
                if method in ("GET", "POST"):
                    yield method, prefix + route.path


def test_no_route_is_reachable_without_a_session(source, tmp_path):
    """Every route the app has (read from the app itself, so a new one is covered), with and
    without a made-up session cookie: only the sign-in page answers."""
    app, _ = make_app(source, tmp_path / "audit.sqlite", users=[("n", "nurse")])
    paths = sorted(set(every_route(app.routes)))
    assert {
        ("POST", "/case/{slug}/signoff"),
        ("GET", "/admin/users"),
        ("GET", "/fhir/metadata"),
    } <= set(paths)
    assert len(paths) >= 18
    for cookie in (None, "A" * 43):
        client = browser(app)
        token = form_token(client)
        if cookie:
            client.cookies.set("wb_auth", cookie)
        for method, path in paths:
            url = path.replace("{slug}", PEND).replace("{rid}", "x")
            r = client.request(method, url, data={"csrf_token": token}, follow_redirects=False)
            if path == "/signin":
                assert r.status_code in (200, 401), (method, path)
            elif path.startswith("/fhir"):
                assert r.status_code == 401, (method, path)
                assert r.json()["resourceType"] == "OperationOutcome"
            else:
                assert r.status_code == 303, (method, path, r.status_code)
                assert r.headers["location"].startswith("/signin"), (method, path)
            assert r.headers["cache-control"] == "no-store"  # refusals get the headers too


@pytest.mark.parametrize("who", ROLES)
def test_every_form_refuses_a_missing_or_wrong_csrf_token(source, tmp_path, who):
    db = tmp_path / "audit.sqlite"
    app, store = make_app(source, db, users=[(ASSIGNEE, "nurse"), (f"the-{who}", who)])
    refer(store, source)
    client = signed_in(app, f"the-{who}")
    good = form_token(client, PAGE[who])
    forms = [_path(p) for p, _ in MUTATING.values()] + ["/signin"]
    for path in forms:
        fields = next((f for p, f in MUTATING.values() if _path(p) == path), {})
        for token in (None, "", good[:-2] + ("AA" if not good.endswith("AA") else "BB")):
            data = dict(fields, username=f"the-{who}", password=password(f"the-{who}"))
            if token is not None:
                data["csrf_token"] = token
            r = client.post(path, data=data, follow_redirects=False)
            assert r.status_code == 403, (path, token, r.status_code)
            assert "CSRF" in r.text
    assert len(rows(db)) == 1  # the referral the test wrote, nothing else
    assert client.get("/", follow_redirects=False).status_code in (200, 403)  # still signed in


def test_the_sign_in_form_itself_needs_the_token_and_a_right_password(source, tmp_path):
    app, _ = make_app(source, tmp_path / "audit.sqlite", users=[("jdoe", "nurse")])
    client = browser(app)
    r = sign_in(client, "jdoe", "wrong password for jdoe")
    assert r.status_code == 401 and "Wrong username or password" in r.text
    assert "wb_auth" not in client.cookies
    r = sign_in(client, "nobody")
    assert r.status_code == 401 and "Wrong username or password" in r.text
    r = sign_in(client, "jdoe")
    assert r.status_code == 303 and "wb_auth" in client.cookies


def test_passwords_never_reach_a_log(source, tmp_path, caplog, capfd):
    import logging

    caplog.set_level(logging.DEBUG)
    app, _ = make_app(source, tmp_path / "audit.sqlite", users=[("jdoe", "nurse")])
    client = browser(app)
    sign_in(client, "jdoe", "a wrong password 12345")
    sign_in(client, "jdoe")
    out, err = capfd.readouterr()
    for secret in ("a wrong password 12345", password("jdoe")):
        assert secret not in caplog.text + out + err


def test_session_cookie_attributes(source, tmp_path):
    app, _ = make_app(source, tmp_path / "audit.sqlite", users=[("jdoe", "nurse")])
    for base, name, secure in (
        ("http://127.0.0.1", "wb_auth", False),
        ("https://127.0.0.1", "__Host-wb_auth", True),
    ):
        client = browser(app, base)
        r = sign_in(client, "jdoe")
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(name + "="))
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "path", "samesite"} <= attrs
        assert ("secure" in attrs) is secure
        assert "max-age" not in attrs and "expires" not in attrs and "domain" not in attrs
        assert re.search(r"SameSite=strict", cookie, re.I)
        token = cookie.split(";")[0].split("=", 1)[1]
        # the database keeps only a hash of the token
        assert token not in json.dumps(
            shell.execute_rows(tmp_path / "audit.sqlite", "SELECT * FROM sessions")
        )


# --------------------------------------------------------------------------- sessions


def test_idle_and_absolute_expiry_follow_the_clock(source, tmp_path):
    clock = Clock()
    app, _ = make_app(
        source,
        tmp_path / "audit.sqlite",
        users=[("jdoe", "nurse")],
        clock=clock,
        session_idle=30 * 60,
        session_max=12 * 3600,
    )
    client = signed_in(app, "jdoe")

    def ok() -> bool:
        r = client.get("/", follow_redirects=False)
        return r.status_code == 200

    # idle: 29 minutes apart keeps it alive, again and again (each request counts)
    for _ in range(3):
        clock.advance(29 * 60)
        assert ok()
    clock.advance(31 * 60)
    assert not ok()
    assert not ok()  # an expired session stays ended, whatever the clock does
    # absolute: a session used every 20 minutes still ends 12 hours after sign-in
    client = signed_in(app, "jdoe")
    start = clock.now
    while clock.now - start + 20 * 60 <= 12 * 3600:
        clock.advance(20 * 60)
        assert ok(), clock.now - start
    clock.advance(20 * 60)
    assert not ok()


def test_sign_out_and_disabling_end_the_session_on_the_server(source, tmp_path):
    db = tmp_path / "audit.sqlite"
    app, store = make_app(source, db, users=[("jdoe", "nurse")])
    client = signed_in(app, "jdoe")
    stolen = client.cookies["wb_auth"]
    r = client.post(
        "/signout", data={"csrf_token": form_token(client, "/")}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    replay = browser(app)
    replay.cookies.set("wb_auth", stolen)  # the cookie kept after sign-out is worth nothing
    assert replay.get("/", follow_redirects=False).status_code == 303
    client = signed_in(app, "jdoe")
    assert client.get("/").status_code == 200
    Accounts(store).set_active("jdoe", False)
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/signin")
    assert sign_in(browser(app), "jdoe").status_code == 401


def test_a_next_path_never_leaves_the_workbench(source, tmp_path):
    app, _ = make_app(source, tmp_path / "audit.sqlite", users=[("jdoe", "nurse")])
    for target, expected in (
        ("/case/" + PEND, "/case/" + PEND),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ):
        client = browser(app)
        r = client.post(
            "/signin",
            data={
                "csrf_token": form_token(client),
                "username": "jdoe",
                "password": password("jdoe"),
                "next": target,
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == expected


# --------------------------------------------------------------------------- physician sign-off


def test_nurse_refers_a_medical_necessity_denial_and_a_physician_confirms(source, db):
    app, _ = make_app(source, db, users=[("nurse1", "nurse"), ("doc1", "physician")])
    nurse = signed_in(app, "nurse1")
    r = nurse.post(
        f"/case/{PEND}/review",
        data={**MUTATING["deny-mn"][1], "csrf_token": form_token(nurse, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    (ref,) = rows(db)
    assert (ref["action"], ref["reviewer"], ref["to_decision"]) == ("refer", "nurse1", "deny")
    detail = json.loads(ref["provenance"])["workbench"]
    assert (detail["ground"], detail["criteria"]) == ("medical_necessity", {})
    # not final: the decision in force is still the engine's, the case waits in the physician queue
    page = nurse.get(f"/case/{PEND}").text
    assert 'id="review-status">referred<' in page and 'id="signoff-form"' not in page
    assert nurse.get("/export.csv").status_code == 403
    doc = signed_in(app, "doc1")
    queue = doc.get("/", params={"review": "referred"}).text
    assert re.findall(r'data-case-id="([^"]+)"', queue) == ["EX-002"]
    # the nurse cannot confirm: 403 and no row
    attempt = {"choice": "confirm", "referral": str(ref["id"]), "reason": "I confirm it myself"}
    r = nurse.post(
        f"/case/{PEND}/signoff",
        data={**attempt, "csrf_token": form_token(nurse, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert len(rows(db)) == 1
    # nor override around the referral while it waits
    r = nurse.post(
        f"/case/{PEND}/review",
        data={**MUTATING["override"][1], "csrf_token": form_token(nurse, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 409 and len(rows(db)) == 1
    # the physician confirms: its own audited step, chained after the referral
    assert 'id="signoff-form"' in doc.get(f"/case/{PEND}").text
    r = doc.post(
        f"/case/{PEND}/signoff",
        data={**attempt, "reason": "agree", "csrf_token": form_token(doc, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    ref_row, confirm = rows(db)
    assert (confirm["action"], confirm["reviewer"]) == ("confirm", "doc1")
    assert (confirm["from_decision"], confirm["to_decision"], confirm["to_code"]) == (
        "pend",
        "deny",
        None,
    )
    assert confirm["prev_hash"] == ref_row["row_hash"]
    assert AuditStore(db).verify().ok
    assert 'id="review-status">confirmed<' in doc.get(f"/case/{PEND}").text
    # signed off once: a second confirm is refused, nothing written
    r = doc.post(
        f"/case/{PEND}/signoff",
        data={**attempt, "reason": "again", "csrf_token": form_token(doc, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 409 and len(rows(db)) == 2


def test_a_physician_reverses_a_referral_to_approve(source, tmp_path):
    db = tmp_path / "audit.sqlite"
    app, store = make_app(source, db, users=[("doc1", "physician")])
    ref = refer(store, source)
    doc = signed_in(app, "doc1")
    data = {
        "choice": "reverse",
        "referral": str(ref),
        "decision": "approve",
        "supported_code": "20552",
        "reason": "necessity documented",
    }
    r = doc.post(
        f"/case/{PEND}/signoff",
        data={**data, "csrf_token": form_token(doc, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    last = rows(db)[-1]
    assert (last["action"], last["to_decision"], last["to_code"]) == ("reverse", "approve", "20552")
    # a reversal to deny is not a reversal
    ref2 = refer(store, source)
    data.update(referral=str(ref2), decision="deny")
    r = doc.post(
        f"/case/{PEND}/signoff",
        data={**data, "csrf_token": form_token(doc, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 400 and len(rows(db)) == 3


def test_a_nurse_accepts_the_engines_administrative_denial(source, tmp_path):
    db = tmp_path / "audit.sqlite"
    app, _ = make_app(source, db, users=[("nurse1", "nurse")])
    nurse = signed_in(app, "nurse1")
    r = nurse.post(
        f"/case/{DENY}/review",
        data={**MUTATING["accept"][1], "csrf_token": form_token(nurse, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    (row,) = rows(db)
    assert (row["action"], row["to_decision"], row["reviewer"]) == ("accept", "deny", "nurse1")
    detail = json.loads(row["provenance"])["workbench"]
    assert (detail["ground"], detail["criteria"]) == ("administrative", {})
    # a deny override must name its ground in a sign-in mode
    fields = dict(MUTATING["deny-mn"][1], ground="")
    r = nurse.post(
        f"/case/{PEND}/review",
        data={**fields, "csrf_token": form_token(nurse, "/")},
        follow_redirects=False,
    )
    assert r.status_code == 400 and "ground" in r.text and len(rows(db)) == 1


def test_the_typed_reviewer_name_is_ignored_when_signed_in(source, tmp_path):
    db = tmp_path / "audit.sqlite"
    app, _ = make_app(source, db, users=[("nurse1", "nurse")])
    nurse = signed_in(app, "nurse1")
    page = nurse.get(f"/case/{PEND}").text
    assert 'id="f-reviewer"' not in page and 'id="recording-as"' in page
    data = {
        **MUTATING["override"][1],
        "reviewer": "Somebody Else",
        "csrf_token": form_token(nurse, "/"),
    }
    assert nurse.post(f"/case/{PEND}/review", data=data, follow_redirects=False).status_code == 303
    assert rows(db)[0]["reviewer"] == "nurse1"


# --------------------------------------------------------------------------- assignment


def test_take_assign_reassign_and_the_mine_filter(source, db):
    app, _ = make_app(
        source, db, users=[("nurse1", "nurse"), ("nurse2", "nurse"), ("sup1", "supervisor")]
    )
    n1, n2, sup = (signed_in(app, u) for u in ("nurse1", "nurse2", "sup1"))

    def post(client, path, **data):
        return client.post(
            path, data={**data, "csrf_token": form_token(client, "/")}, follow_redirects=False
        )

    def assignees(client, **params) -> dict[str, str]:
        html = client.get("/", params=params).text
        return dict(re.findall(r'data-case-id="([^"]+)"[^>]*data-assignee="([^"]*)"', html))

    assert set(assignees(n1).values()) == {""}
    assert post(n1, f"/case/{PEND}/take").status_code == 303
    assert assignees(n1)["EX-002"] == "nurse1"
    assert list(assignees(n1, assigned="mine")) == ["EX-002"]
    assert assignees(n2, assigned="mine") == {}
    assert "EX-002" not in assignees(n2, assigned="unassigned")
    # someone else's case cannot be taken
    r = post(n2, f"/case/{PEND}/take")
    assert r.status_code == 409 and "assigned to nurse1" in r.text
    # a supervisor reassigns it; a nurse cannot
    assert post(n2, f"/case/{PEND}/assign", assignee="nurse2").status_code == 403
    assert (
        post(sup, f"/case/{PEND}/assign", assignee="nurse2", note="nurse1 is away").status_code
        == 303
    )
    assert list(assignees(n2, assigned="mine")) == ["EX-002"]
    assert post(sup, f"/case/{PEND}/assign", assignee="no-such-user").status_code == 400
    trail = rows(db)
    assert [(r["action"], r["reviewer"]) for r in trail] == [
        ("assign", "nurse1"),
        ("assign", "sup1"),
    ]
    assert [json.loads(r["provenance"])["workbench"] for r in trail] == [
        {"assignee": "nurse1", "previous": None},
        {"assignee": "nurse2", "previous": "nurse1"},
    ]
    assert "nurse1 is away" in trail[1]["reason"]
    # the current assignment is also a table row, pointing at the audit row that made it
    (current,) = shell.execute_rows(
        db, "SELECT case_key, assignee, assigned_by, audit_id FROM assignments"
    )
    assert tuple(current) == (PEND, "nurse2", "sup1", trail[1]["id"])
    # assignments decide nothing: the case is still unreviewed, exports list no decision
    assert 'data-review="unreviewed"' in sup.get("/", params={"decision": "pend"}).text
    assert sup.get("/export.json").json()["decisions"] == []
    assert AuditStore(db).verify().ok


# --------------------------------------------------------------------------- concurrency


def twenty_cases(source) -> CaseSource:
    base = source.get(PEND)
    entries = [
        dataclasses.replace(base, key=f"pend-{i:02d}", case_id=f"EX-P{i:02d}", slug="")
        for i in range(20)
    ]
    return CaseSource(kind="cases", root="twenty", entries=entries)


def test_twenty_users_override_at_once_and_each_is_recorded_once(source, db):
    many = twenty_cases(source)
    users = [(f"nurse{i:02d}", "nurse") for i in range(20)]
    app, _ = make_app(many, db, users=users)
    clients = [signed_in(app, u) for u, _ in users]
    tokens = [form_token(c, "/") for c in clients]
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def write(i: int) -> None:
        barrier.wait()
        r = clients[i].post(
            f"/case/pend-{i:02d}/review",
            data={
                **MUTATING["override"][1],
                "reason": f"override by nurse{i:02d}",
                "csrf_token": tokens[i],
            },
            follow_redirects=False,
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses == [303] * 20
    trail = rows(db)
    assert len(trail) == 20
    assert sorted((r["reviewer"], r["case_key"], r["reason"]) for r in trail) == [
        (f"nurse{i:02d}", f"pend-{i:02d}", f"override by nurse{i:02d}") for i in range(20)
    ]
    assert [r["id"] for r in trail] == list(range(1, 21))
    assert AuditStore(db).verify().ok


def test_referrals_and_assignments_are_not_counted_as_decisions(source, tmp_path):
    """The agreement report, the exports and the override export see the physician's confirm,
    not the referral before it nor the assignment."""
    from review.agreement import agreement_report
    from review.workbench.overrides import export_overrides

    db = tmp_path / "audit.sqlite"
    app, store = make_app(source, db, users=[("nurse1", "nurse"), ("doc1", "physician")])
    nurse, doc = signed_in(app, "nurse1"), signed_in(app, "doc1")
    assert (
        nurse.post(f"/case/{PEND}/take", data={"csrf_token": form_token(nurse, "/")}).status_code
        == 200
    )
    fields = {**MUTATING["deny-mn"][1], "csrf_token": form_token(nurse, "/")}
    assert (
        nurse.post(f"/case/{PEND}/review", data=fields, follow_redirects=False).status_code == 303
    )
    ref = rows(db)[-1]["id"]
    data = {
        "choice": "confirm",
        "referral": str(ref),
        "reason": "agree",
        "csrf_token": form_token(doc, "/"),
    }
    assert doc.post(f"/case/{PEND}/signoff", data=data, follow_redirects=False).status_code == 303
    trail = store.rows()
    assert [r.action for r in trail] == ["assign", "refer", "confirm"]
    report = agreement_report(trail)
    assert (report["reviews"], report["reviewers"]) == (1, ["doc1"])
    # the pipeline's label is the confirm's starting point (pend), not the referral's
    pooled = report["pipeline_vs_reviewer"]["all"]["decision"]["confusion"]
    assert pooled["pend"]["deny"] == 1
    done = export_overrides(trail, EXAMPLES, tmp_path / "out")
    assert [(e.case_key, e.status) for e in done] == [(PEND, "written")]
    assert "deny" in (tmp_path / "out" / "EX-002" / "expected.yaml").read_text()
