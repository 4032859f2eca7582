"""``review serve --auth oidc`` (review/workbench/oidc_signin.py) end to end: FastAPI's test client
is the browser, oidc-provider-mock (tests/oidc_mock.py) the organisation's identity provider, and
a person at the provider is httpx posting its form with the subject the test set up (with a
``roles`` claim of provider groups). Posts to the workbench go as a browser sends them (the CSRF
token, the cookies, ``Origin``). Tests taking ``db`` run on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import audit_db as shell
import httpx
import pytest

pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("authlib", reason="the workbench extra is not installed")

from fastapi.testclient import TestClient
from oidc_mock import running_provider

from review.errors import CATALOGUE, ReviewError
from review.workbench.accounts import Accounts
from review.workbench.app import create_app
from review.workbench.cases import load_cases
from review.workbench.oidc import OIDCClient, OIDCSettings
from review.workbench.oidc_signin import (
    CALLBACK,
    PENDING_COOKIE,
    OIDCProvider,
    PendingSignIns,
    oidc_username,
)
from review.workbench.store import AuditStore

pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config.*is deprecated:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PEND = "pend-no-conservative-care"
ORIGIN = "http://127.0.0.1"
SECRET = b"test-secret-for-the-workbench-csrf-hmac"
CLIENT_SECRET = "not-a-real-secret-oidc-0123456789"
ROLES = {"tpi-nurses": ["nurse"], "tpi-physicians": ["physician"], "tpi-leads": ["supervisor"]}


@pytest.fixture(scope="module")
def provider():
    with running_provider() as running:
        running.user("nora-sub", name="Nora Nurse", roles=["tpi-nurses", "other"])
        running.user("phil-sub", name="Dr. Phil", roles=["tpi-physicians"])
        running.user("stranger-sub", name="No Role", roles=["marketing"])
        yield running


@pytest.fixture(scope="module")
def source():
    return load_cases(EXAMPLES)


def settings_for(provider, base: str = ORIGIN) -> OIDCSettings:
    return OIDCSettings.model_validate(
        {
            "issuer": provider.url,
            "client_id": "tpi-workbench",
            "client_secret": CLIENT_SECRET,
            "redirect_uri": base + CALLBACK,
            "roles": ROLES,
            "timeout_seconds": 5,
        }
    )


def make_app(source, db, provider):
    store = AuditStore(db)
    app = create_app(source, store, secret=SECRET, auth="oidc", oidc=settings_for(provider))
    return app, store


def browser(app) -> TestClient:
    return TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN})


def form_token(client, path="/signin") -> str:
    page = client.get(path).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def start(client, next: str = "/") -> str:
    """Press "Sign in with your organisation": the provider's authorization URL."""
    page = client.get("/signin")
    assert page.status_code == 200 and 'id="btn-oidc"' in page.text
    r = client.post(
        "/signin/start",
        data={"csrf_token": form_token(client), "next": next},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    return r.headers["location"]


def at_provider(url: str, sub: str) -> str:
    """The person picks ``sub`` at the provider; the callback path and query it sends them to."""
    assert httpx.get(url).status_code == 200
    answer = httpx.post(url, data={"sub": sub})
    assert answer.status_code == 302, answer.text[:300]
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == ORIGIN + CALLBACK
    return f"{back.path}?{back.query}"


def sign_in(client, provider, sub: str):
    url = start(client)
    assert url.startswith(provider.url + "/oauth2/authorize?")
    return client.get(at_provider(url, sub), follow_redirects=False)


def landed(r) -> str:
    """Where the callback's page sends the browser on (it must not be a cross-site 303)."""
    assert r.status_code == 200, r.text[:500]
    return re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', r.text).group(1)


def refusal(r, code: str) -> None:
    assert code in CATALOGUE
    assert f'data-code="{code}"' in r.text, r.text[:800]
    assert "wb_auth" not in r.headers.get("set-cookie", "")


def test_the_username_is_deterministic_per_issuer_and_subject():
    name = oidc_username("https://idp.example.org", "alice")
    assert re.fullmatch(r"oidc-[0-9a-f]{16}", name)
    assert name == oidc_username("https://idp.example.org", "alice")
    assert name != oidc_username("https://idp.example.org", "alice2")
    assert name != oidc_username("https://other.example.org", "alice")
    # the separator keeps issuer and subject apart: no two pairs run together into one string
    assert oidc_username("https://a.example/x", "y") != oidc_username("https://a.example/", "xy")


def test_nurse_and_physician_get_their_roles_from_the_provider(source, audit_db, provider):
    db = audit_db
    app, store = make_app(source, db, provider)
    nurse = browser(app)
    r = sign_in(nurse, provider, "nora-sub")
    assert landed(r) == "/"
    assert "wb_auth" in nurse.cookies
    queue = nurse.get("/")
    nora = oidc_username(provider.url, "nora-sub")
    assert queue.status_code == 200
    assert f'data-username="{nora}"' in queue.text and "Nora Nurse" in queue.text
    user = Accounts(store).user(nora)
    assert user is not None and user.provider == "oidc" and not user.has_password
    assert user.roles == ("nurse",)

    # the nurse takes the case and refers a medical-necessity denial; her username is recorded
    token = form_token(nurse, f"/case/{PEND}")
    r = nurse.post(f"/case/{PEND}/take", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = nurse.post(
        f"/case/{PEND}/review",
        data={
            "csrf_token": token,
            "action": "override",
            "decision": "deny",
            "supported_code": "",
            "ground": "medical_necessity",
            "reason": "no necessity documented",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    trail = shell.rows(db)
    assert [(row["action"], row["reviewer"]) for row in trail] == [
        ("assign", nora),
        ("refer", nora),
    ]
    # her confirm is refused by the role check, and writes nothing
    referral = str(trail[-1]["id"])
    fields = {"csrf_token": token, "choice": "confirm", "referral": referral, "reason": "mine"}
    r = nurse.post(f"/case/{PEND}/signoff", data=fields, follow_redirects=False)
    assert r.status_code == 403 and "sign_off" in r.text
    assert len(shell.rows(db)) == 2

    # the physician signs in through the provider too and confirms it
    doc = browser(app)
    assert landed(sign_in(doc, provider, "phil-sub")) == "/"
    phil = oidc_username(provider.url, "phil-sub")
    token = form_token(doc, f"/case/{PEND}")
    r = doc.post(
        f"/case/{PEND}/signoff",
        data={**fields, "csrf_token": token, "reason": "agree"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert [(row["action"], row["reviewer"]) for row in shell.rows(db)][-1] == ("confirm", phil)
    assert Accounts(store).user(phil).roles == ("physician",)


def test_roles_follow_the_provider_on_every_sign_in(source, tmp_path, provider):
    app, store = make_app(source, tmp_path / "audit.sqlite", provider)
    provider.user("changing-sub", name="Sam", roles=["tpi-nurses"])
    client = browser(app)
    assert landed(sign_in(client, provider, "changing-sub")) == "/"
    sam = oidc_username(provider.url, "changing-sub")
    assert Accounts(store).user(sam).roles == ("nurse",)
    provider.user("changing-sub", name="Sam Lead", roles=["tpi-leads"])
    again = browser(app)
    assert landed(sign_in(again, provider, "changing-sub")) == "/"
    user = Accounts(store).user(sam)
    assert user.roles == ("supervisor",) and user.display_name == "Sam Lead"
    assert again.get("/agreement").status_code == 200  # a supervisor's page
    # the groups go: the next sign-in is refused (no default role)
    provider.user("changing-sub", name="Sam", roles=["left-the-team"])
    third = browser(app)
    r = sign_in(third, provider, "changing-sub")
    assert r.status_code == 403
    refusal(r, "W017")
    assert third.get("/", follow_redirects=False).status_code == 303  # not signed in


def test_an_account_with_no_mapped_role_is_refused(source, tmp_path, provider):
    app, store = make_app(source, tmp_path / "audit.sqlite", provider)
    client = browser(app)
    r = sign_in(client, provider, "stranger-sub")
    assert r.status_code == 403
    refusal(r, "W017")
    assert "marketing" in r.text  # says what the claim held
    assert Accounts(store).user(oidc_username(provider.url, "stranger-sub")) is None
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_a_wrong_state_or_a_replay_is_refused(source, tmp_path, provider):
    app, _ = make_app(source, tmp_path / "audit.sqlite", provider)
    client = browser(app)
    callback = at_provider(start(client), "nora-sub")
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    # a state this browser did not start
    wrong = client.get(
        f"{CALLBACK}?code={query['code']}&state=not-the-state", follow_redirects=False
    )
    assert wrong.status_code == 400
    refusal(wrong, "W016")
    assert "unknown state" in wrong.text
    # the right one still works once (the wrong one spent nothing) ...
    assert landed(client.get(callback, follow_redirects=False)) == "/"
    # ... and never again, not even signed out
    client.post("/signout", data={"csrf_token": form_token(client, "/")})
    replay = client.get(callback, follow_redirects=False)
    assert replay.status_code == 400
    refusal(replay, "W016")
    assert "already completed" in replay.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_callback_in_another_browser_is_refused(source, tmp_path, provider):
    """Login CSRF: an attacker's own callback (their code and state) planted in a victim's
    browser does not sign the victim in as the attacker: the state is not the victim's."""
    app, _ = make_app(source, tmp_path / "audit.sqlite", provider)
    attacker, victim = browser(app), browser(app)
    planted = at_provider(start(attacker), "nora-sub")
    start(victim)  # the victim even has a sign-in of her own under way
    r = victim.get(planted, follow_redirects=False)
    assert r.status_code == 400
    refusal(r, "W016")
    assert victim.get("/", follow_redirects=False).status_code == 303


def test_the_start_needs_the_csrf_token(source, tmp_path, provider):
    app, _ = make_app(source, tmp_path / "audit.sqlite", provider)
    client = browser(app)
    client.get("/signin")
    r = client.post("/signin/start", data={"next": "/"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    other = TestClient(app, base_url=ORIGIN, headers={"Origin": "http://evil.example"})
    token = form_token(other)
    r = other.post("/signin/start", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 403


def test_the_flow_secrets_stay_on_the_server(source, tmp_path, provider):
    app, _ = make_app(source, tmp_path / "audit.sqlite", provider)
    client = browser(app)
    r = client.get("/signin")
    token = form_token(client)
    r = client.post(
        "/signin/start", data={"csrf_token": token, "next": "/"}, follow_redirects=False
    )
    url = r.headers["location"]
    params = parse_qs(urlsplit(url).query)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{PENDING_COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()  # it must come back on the provider's redirect
    value = client.cookies[PENDING_COOKIE]
    for secret in (params["state"][0], params["nonce"][0], params["code_challenge"][0]):
        assert secret not in value and secret not in cookie
    # the CSP of the sign-in page lets its form lead to the provider, and nowhere else
    csp = client.get("/signin").headers["content-security-policy"]
    assert f"form-action 'self' {provider.url};" in csp


def test_sign_out_ends_the_session(source, tmp_path, provider):
    app, _ = make_app(source, tmp_path / "audit.sqlite", provider)
    client = browser(app)
    assert landed(sign_in(client, provider, "nora-sub")) == "/"
    stolen = client.cookies["wb_auth"]
    assert client.get("/").status_code == 200
    r = client.post(
        "/signout", data={"csrf_token": form_token(client, "/")}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert client.get("/", follow_redirects=False).status_code == 303
    replay = browser(app)
    replay.cookies.set("wb_auth", stolen)
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_a_disabled_account_and_a_local_username_are_refused(source, tmp_path, provider):
    app, store = make_app(source, tmp_path / "audit.sqlite", provider)
    accounts = Accounts(store)
    nora = oidc_username(provider.url, "nora-sub")
    assert landed(sign_in(browser(app), provider, "nora-sub")) == "/"
    accounts.set_active(nora, False)
    r = sign_in(browser(app), provider, "nora-sub")
    assert r.status_code == 403
    refusal(r, "W018")
    assert accounts.user(nora).roles == ("nurse",)
    # a local account holding the username an OIDC account maps to is never taken over
    phil = oidc_username(provider.url, "phil-sub")
    accounts.add_user(phil, None, ["nurse"], "Local Phil")
    r = sign_in(browser(app), provider, "phil-sub")
    assert r.status_code == 403
    refusal(r, "W019")
    assert accounts.user(phil).roles == ("nurse",) and accounts.user(phil).provider == "local"


def test_next_is_kept_through_the_provider(source, tmp_path, provider):
    app, _ = make_app(source, tmp_path / "audit.sqlite", provider)
    client = browser(app)
    r = client.get(f"/case/{PEND}", follow_redirects=False)
    assert r.headers["location"] == f"/signin?next=/case/{PEND}"
    url = start(client, next=f"/case/{PEND}")
    assert landed(client.get(at_provider(url, "nora-sub"), follow_redirects=False)) == (
        f"/case/{PEND}"
    )
    fresh = browser(app)
    url = start(fresh, next="//evil.example/x")
    assert landed(fresh.get(at_provider(url, "nora-sub"), follow_redirects=False)) == "/"


def test_an_unreachable_provider_is_shown_on_the_sign_in_page(source, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = OIDCSettings.model_validate(
        {
            "issuer": f"http://127.0.0.1:{port}",
            "client_id": "x",
            "client_secret": CLIENT_SECRET,
            "redirect_uri": ORIGIN + CALLBACK,
            "roles": ROLES,
            "timeout_seconds": 1,
        }
    )
    app = create_app(
        load_cases(EXAMPLES), tmp_path / "a.sqlite", secret=SECRET, auth="oidc", oidc=settings
    )
    client = browser(app)
    r = client.get("/signin")
    assert r.status_code == 502
    refusal(r, "W015")


def test_pending_sign_ins_expire_and_are_bounded():
    now = [1000.0]
    store = PendingSignIns(ttl=60, limit=3, clock=lambda: now[0])
    record: dict[str, Any] = {"x": 1}
    store.put("browser-a-0123456789abcdef", record)
    assert store.take("browser-a-0123456789abcdef") == {"x": 1}
    assert store.take("browser-a-0123456789abcdef") == {}  # taken: a racing callback finds none
    store.put("browser-a-0123456789abcdef", record)
    now[0] += 61
    assert store.take("browser-a-0123456789abcdef") == {}
    for i in range(5):
        store.put(f"browser-{i}-0123456789abcdef", {"i": i})
    assert len(store) == 3
    assert store.take("browser-0-0123456789abcdef") == {}
    assert store.take("browser-4-0123456789abcdef") == {"i": 4}


def test_serve_refuses_oidc_without_usable_settings(tmp_path, monkeypatch):
    from review.workbench.oidc import ENV
    from review.workbench.serve import serve

    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ReviewError) as info:
        serve(
            cases=EXAMPLES,
            results=None,
            host="0.0.0.0",
            port=1,
            db=tmp_path / "a.sqlite",
            allow_remote=True,
            auth="oidc",
        )
    assert info.value.code == "W014" and "REVIEW_OIDC_ISSUER" in str(info.value)
    assert "\n" not in str(info.value)
    values = {
        "REVIEW_OIDC_ISSUER": "https://idp.example.org",
        "REVIEW_OIDC_CLIENT_ID": "tpi",
        "REVIEW_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "REVIEW_OIDC_REDIRECT_URI": "https://wb.example.org/auth/callback",
        "REVIEW_OIDC_ROLES": "tpi-nurses=nurse",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ReviewError) as info:
        serve(
            cases=EXAMPLES,
            results=None,
            host="0.0.0.0",
            port=1,
            db=tmp_path / "a.sqlite",
            allow_remote=True,
            auth="oidc",
        )
    assert info.value.code == "W014" and "/signin/callback" in str(info.value)
    assert CLIENT_SECRET not in str(info.value)


def test_an_oidc_provider_object_can_be_given(source, tmp_path, provider):
    client = OIDCClient(settings_for(provider))
    ready = OIDCProvider(client)
    app = create_app(source, tmp_path / "a.sqlite", secret=SECRET, auth="oidc", oidc=ready)
    assert landed(sign_in(browser(app), provider, "nora-sub")) == "/"
    assert len(ready.pending) == 1  # the used attempt is remembered, to say "already used"
    client.close()
