"""Attacks on the workbench's CSRF defence (review/workbench/security.py).

The hole these close: the old check only compared a cookie with a form field, so an attacker who
chose both (cookies on 127.0.0.1 are shared across ports, and SameSite treats another port as the
same site) could forge a review from any page on another local port. Now the token must be the
HMAC of the request's own session cookie under a server secret, and Origin (or Referer) must be
the workbench itself. Each attack below sends an otherwise valid review, so a 403 is the defence
working, not a validation error.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from fastapi.testclient import TestClient

from review.errors import ReviewError
from review.workbench.app import create_app
from review.workbench.cases import load_cases

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PEND = "pend-no-conservative-care"
ORIGIN = "http://127.0.0.1"
CHOSEN = "A" * 43  # a value the attacker made up, shaped like a real session id / token
REVIEW = {
    "action": "override",
    "decision": "approve",
    "supported_code": "20552",
    "reason": "forged: approve it",
    "reviewer": "Attacker",
}


@pytest.fixture(scope="module")
def source():
    return load_cases(EXAMPLES)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "audit.sqlite"


@pytest.fixture
def app(source, db):
    return create_app(source, db)


def audit_count(db) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM audit").fetchone()[0]
    finally:
        con.close()


def form_token(client, slug=PEND) -> str:
    """What a browser has: the hidden field of the case page's form."""
    html = client.get(f"/case/{slug}").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def post(client, *, token, headers=None, slug=PEND):
    return client.post(
        f"/case/{slug}/review",
        data={**REVIEW, "csrf_token": token},
        headers=headers or {},
        follow_redirects=False,
    )


def logged_in(app, base=ORIGIN) -> tuple[TestClient, str]:
    """A client that has opened the case page (it holds the session cookie and the form token)."""
    client = TestClient(app, base_url=base)
    return client, form_token(client)


# --------------------------------------------------------------------------- the legitimate flow


def test_the_legitimate_flow_is_accepted_and_recorded_once(app, db):
    client, token = logged_in(app)  # GET the page, read the token from its form
    r = post(client, token=token, headers={"Origin": ORIGIN})
    assert r.status_code == 303, r.text
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT case_key, reviewer, action, to_decision FROM audit").fetchall()
    finally:
        con.close()
    assert rows == [(PEND, "Attacker", "override", "approve")]


def test_a_same_origin_referer_stands_in_for_a_missing_origin(app, db):
    client, token = logged_in(app)
    r = post(client, token=token, headers={"Referer": f"{ORIGIN}/case/{PEND}"})
    assert r.status_code == 303, r.text
    assert audit_count(db) == 1


def test_session_cookie_attributes_over_http(app):
    r = TestClient(app, base_url=ORIGIN).get("/")
    (cookie,) = r.headers.get_list("set-cookie")
    name = cookie.split("=", 1)[0]
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert name == "wb_session"  # a __Host- cookie cannot be set over plain http
    assert {"httponly", "path"} <= attrs and "domain" not in attrs and "secure" not in attrs
    assert re.search(r"SameSite=strict", cookie, re.I) and "Path=/" in cookie


def test_session_cookie_over_https_is_host_prefixed_and_secure(app, db):
    base = "https://127.0.0.1"
    client = TestClient(app, base_url=base)
    r = client.get(f"/case/{PEND}")
    (cookie,) = r.headers.get_list("set-cookie")
    assert cookie.startswith("__Host-wb_session=")
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attrs and "domain" not in attrs
    assert "Path=/" in cookie and re.search(r"SameSite=strict", cookie, re.I)
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    # over https the unprefixed cookie does not count: only __Host-wb_session is read
    session = client.cookies["__Host-wb_session"]
    other = TestClient(app, base_url=base, cookies={"wb_session": session})
    assert post(other, token=token, headers={"Origin": base}).status_code == 403
    assert post(client, token=token, headers={"Origin": base}).status_code == 303
    assert audit_count(db) == 1


# --------------------------------------------------------------------------- token attacks


def test_a_cookie_and_field_the_attacker_chose_are_refused(app, db):
    # the pair the old check accepted: cookie == field, both made up (old and new cookie names)
    client = TestClient(app, base_url=ORIGIN, cookies={"wb_csrf": CHOSEN, "wb_session": CHOSEN})
    r = post(client, token=CHOSEN, headers={"Origin": ORIGIN})
    assert r.status_code == 403 and "CSRF token" in r.json()["detail"]
    r = post(client, token=CHOSEN, headers={"Origin": ORIGIN, "X-CSRF-Token": CHOSEN})
    assert r.status_code == 403
    assert audit_count(db) == 0


def test_a_planted_session_cookie_gets_no_usable_token(app, db):
    """The attacker plants a session id it knows; the matching token needs the server's secret."""
    client = TestClient(app, base_url=ORIGIN, cookies={"wb_session": CHOSEN})
    real = form_token(client)  # the token the server shows for the planted session
    for guess in (CHOSEN, CHOSEN[::-1], real[:-1] + ("B" if real[-1] != "B" else "C")):
        assert post(client, token=guess, headers={"Origin": ORIGIN}).status_code == 403
    assert audit_count(db) == 0


def test_a_token_from_another_session_is_refused(app, db):
    alice, alice_token = logged_in(app)
    mallory, mallory_token = logged_in(app)
    assert alice.cookies["wb_session"] != mallory.cookies["wb_session"]
    assert alice_token != mallory_token
    assert post(mallory, token=alice_token, headers={"Origin": ORIGIN}).status_code == 403
    assert post(alice, token=mallory_token, headers={"Origin": ORIGIN}).status_code == 403
    assert audit_count(db) == 0


def test_a_token_from_another_server_secret_is_refused(source, db, tmp_path):
    """A token minted by a workbench with another secret (or before a restart) does not pass."""
    other = create_app(source, tmp_path / "other.sqlite")
    session_client, token = logged_in(other)
    session = session_client.cookies["wb_session"]
    client = TestClient(create_app(source, db), base_url=ORIGIN, cookies={"wb_session": session})
    assert post(client, token=token, headers={"Origin": ORIGIN}).status_code == 403
    assert audit_count(db) == 0


def test_workers_sharing_a_configured_secret_accept_each_others_tokens(source, db, monkeypatch):
    monkeypatch.setenv("REVIEW_WORKBENCH_SECRET", "s" * 40)
    first, second = create_app(source, db), create_app(source, db)
    one, token = logged_in(first)
    two = TestClient(second, base_url=ORIGIN, cookies={"wb_session": one.cookies["wb_session"]})
    assert post(two, token=token, headers={"Origin": ORIGIN}).status_code == 303
    # the secret never reaches a page or a header
    r = one.get(f"/case/{PEND}")
    assert "s" * 40 not in r.text and "s" * 40 not in str(r.headers)


def test_a_short_configured_secret_is_a_coded_error(source, db, monkeypatch):
    monkeypatch.setenv("REVIEW_WORKBENCH_SECRET", "short-secret")
    with pytest.raises(ReviewError) as info:
        create_app(source, db)
    assert info.value.code == "W006" and "short-secret" not in str(info.value)


# --------------------------------------------------------------------------- origin attacks


def test_no_origin_and_no_referer_is_refused(app, db):
    client, token = logged_in(app)  # a valid session and token: only the origin is missing
    r = post(client, token=token)
    assert r.status_code == 403
    assert "neither an Origin nor a Referer" in r.json()["detail"]
    assert audit_count(db) == 0


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port on the same host: another origin
        "https://127.0.0.1",  # another scheme
        "http://localhost",  # another host name for the same machine
        "http://evil.example",
        "null",  # what a sandboxed frame or a no-referrer page sends
        "http://127.0.0.1/case",  # not a plain origin
        "http://user@127.0.0.1",
    ],
)
def test_a_foreign_origin_is_refused(app, db, origin):
    client, token = logged_in(app)
    r = post(client, token=token, headers={"Origin": origin})
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert "not this workbench (http://127.0.0.1)" in detail
    assert audit_count(db) == 0


def test_a_foreign_origin_is_refused_even_with_a_same_origin_referer(app, db):
    client, token = logged_in(app)
    headers = {"Origin": "http://127.0.0.1:9999", "Referer": f"{ORIGIN}/case/{PEND}"}
    assert post(client, token=token, headers=headers).status_code == 403
    assert audit_count(db) == 0


@pytest.mark.parametrize(
    "referer",
    ["http://127.0.0.1:9999/attack.html", "http://evil.example/?next=http://127.0.0.1/"],
)
def test_a_referer_from_another_origin_is_refused(app, db, referer):
    client, token = logged_in(app)
    r = post(client, token=token, headers={"Referer": referer})
    assert r.status_code == 403 and "Referer" in r.json()["detail"]
    assert "attack.html" not in r.json()["detail"]  # the path is not echoed
    assert audit_count(db) == 0


def test_every_state_changing_route_checks_the_origin(app):
    client, token = logged_in(app)
    data = {"csrf_token": token, "letter": "Dear provider"}
    r = client.post(f"/case/{PEND}/letter.txt", data=data, headers={"Origin": ORIGIN})
    assert r.status_code == 200
    r = client.post(f"/case/{PEND}/letter.txt", data=data, headers={"Origin": "http://x.test"})
    assert r.status_code == 403
    r = client.post(f"/case/{PEND}/letter.txt", data=data)
    assert r.status_code == 403


def test_the_origin_must_match_the_port_the_request_addressed(source, db):
    app = create_app(source, db)
    base = "http://127.0.0.1:8765"
    client, token = logged_in(app, base)
    assert post(client, token=token, headers={"Origin": "http://127.0.0.1"}).status_code == 403
    assert post(client, token=token, headers={"Origin": base}).status_code == 303
    assert audit_count(db) == 1


# --------------------------------------------------------------------------- in a real browser

CHROMIUM = Path("/usr/bin/chromium")


class _AttackerPage(BaseHTTPRequestHandler):
    """A page on another local port: plants cookies for 127.0.0.1 and auto-submits a review."""

    target = ""

    def do_GET(self):
        body = f"""<!doctype html><html><body>
<script>
document.cookie = "wb_csrf={CHOSEN}; path=/";
document.cookie = "wb_session={CHOSEN}; path=/";
</script>
<form id="f" method="post" action="{self.target}">
<input name="csrf_token" value="{CHOSEN}">
{"".join(f'<input name="{k}" value="{v}">' for k, v in REVIEW.items())}
</form>
<script>document.getElementById("f").submit();</script>
</body></html>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_on_another_local_port_cannot_forge_a_review_in_chromium(source, db):
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium (Debian: apt-get install -y chromium)")
    uvicorn = pytest.importorskip("uvicorn")
    sync_api = pytest.importorskip("playwright.sync_api")

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(source, db), log_level="warning", access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    handler = type("Attacker", (_AttackerPage,), {"target": f"{base}/case/{PEND}/review"})
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        with sync_api.sync_playwright() as p:
            try:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM),
                    args=["--headless", "--no-sandbox", "--disable-gpu"],
                    headless=True,
                    timeout=30_000,
                )
            except sync_api.Error as exc:
                pytest.skip(f"cannot launch {CHROMIUM}: {str(exc).splitlines()[0]}")
            try:
                attack = f"http://127.0.0.1:{attacker.server_address[1]}/"
                # a browser that has not opened the workbench yet, then one that has (it holds a
                # real session cookie, which the attacker's script cannot overwrite)
                for visit_first in (False, True):
                    context = browser.new_context()
                    page = context.new_page()
                    if visit_first:
                        page.goto(base + "/")
                    with page.expect_response(lambda r: r.url.endswith("/review")) as info:
                        page.goto(attack)
                    response = info.value
                    assert response.status == 403, (visit_first, response.status)
                    assert "not this workbench" in response.text()
                    context.close()
            finally:
                browser.close()
    finally:
        attacker.shutdown()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert audit_count(db) == 0
