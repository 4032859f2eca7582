"""OIDC sign-in (review/workbench/oidc.py) end to end against a real local OpenID provider.

oidc-provider-mock runs in a thread on 127.0.0.1 (a free port) for the module. The tests drive the
authorization code flow with httpx as a browser would: ``start`` -> the provider's authorize page
(the test picks the subject, whose claims it set on the provider) -> the callback's query ->
``finish``. A small WSGI layer in front of the provider enforces PKCE (the mock ignores it) and lets
a test make the provider misbehave: another Host (so another issuer) on one endpoint, a token
issued to another client, a forged ID token.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from oidc_mock import TOKEN_LIFETIME, running_provider

from review.errors import CATALOGUE, ReviewError
from review.workbench.oidc import (
    ENV,
    SESSION_KEY,
    Identity,
    OIDCClient,
    OIDCSettings,
    SignInRefused,
    load_oidc_settings,
)

pytestmark = [
    pytest.mark.block_network(allowed_hosts=["127.0.0.1"]),
    # the mock provider still uses authlib's older server API; not this package's concern
    pytest.mark.filterwarnings("ignore:get_jwt_config.*is deprecated:DeprecationWarning"),
]

SECRET = "not-a-real-secret-0123456789"
CLIENT_ID = "tpi-workbench"
REDIRECT = "http://127.0.0.1:8765/auth/oidc/callback"
ROLES = {
    "tpi-nurses": ["nurse"],
    "tpi-physicians": ["physician"],
    "tpi-leads": ["supervisor"],
    "tpi-admins": ["admin", "supervisor"],
}


# --------------------------------------------------------------------------- the provider


@pytest.fixture(scope="module")
def provider():
    with running_provider(TOKEN_LIFETIME) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(request):
    if "provider" in request.fixturenames:
        request.getfixturevalue("provider").tamper.reset()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def settings_for(issuer: str, **changes: Any) -> OIDCSettings:
    values: dict[str, Any] = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
        "roles": ROLES,
        "clock_skew_seconds": 10,
        "timeout_seconds": 2,
    }
    return OIDCSettings.model_validate(values | changes)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(provider, clock):
    with OIDCClient(settings_for(provider.url), clock=clock) as oidc:
        yield oidc


def authorize(url: str, sub: str, *, deny: bool = False) -> dict[str, str]:
    """What a person does at the provider: open its page, pick the subject, authorize; the
    query the provider sends the browser back to the workbench with."""
    page = httpx.get(url)
    assert page.status_code == 200 and 'name="sub"' in page.text, page.text[:300]
    form = {"action": "deny"} if deny else {"sub": sub}
    answer = httpx.post(url, data=form)
    assert answer.status_code == 302, answer.text[:300]
    back = answer.headers["location"]
    assert back.startswith(REDIRECT + "?"), back
    return {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}


def with_params(url: str, **params: str) -> str:
    """The authorization URL with some parameters replaced (what an attacker in the middle does)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return urlunsplit(parts._replace(query=urlencode(query)))


def refused(call: Callable[[], Any], code: str, reason: str, *secrets: str) -> SignInRefused:
    with pytest.raises(SignInRefused) as info:
        call()
    error = info.value
    assert (error.code, error.reason) == (code, reason), str(error)
    assert error.code in CATALOGUE and error.hint
    for secret in (SECRET, *secrets):
        assert secret not in str(error), "a refusal must not carry tokens, codes or secrets"
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return error


# --------------------------------------------------------------------------- the flow


def test_a_nurse_signs_in_end_to_end(provider, client, caplog):
    caplog.set_level(logging.DEBUG)
    groups = ["tpi-nurses", "unrelated-group"]
    provider.user("alice@example.org", name="Alice Nurse", email="alice@example.org", roles=groups)
    session: dict[str, Any] = {}
    url = client.start(session)

    params = parse_qs(urlsplit(url).query)
    assert url.startswith(provider.url + "/oauth2/authorize?")
    assert params["response_type"] == ["code"] and params["client_id"] == [CLIENT_ID]
    assert params["redirect_uri"] == [REDIRECT]
    assert params["scope"][0].split() == ["openid", "profile", "email"]
    assert params["code_challenge_method"] == ["S256"]
    (state,) = session[SESSION_KEY]["pending"]
    assert params["state"] == [state]
    assert params["nonce"] == [session[SESSION_KEY]["pending"][state]["nonce"]]
    assert "code_verifier" not in params  # only its challenge travels through the browser

    query = authorize(url, "alice@example.org")
    identity = client.finish(session, query)

    assert identity == Identity(
        subject="alice@example.org",
        display_name="Alice Nurse",
        email="alice@example.org",
        roles=("nurse",),
        issuer=provider.url,
    )
    assert session[SESSION_KEY]["pending"] == {}
    (form,) = provider.tamper.token_forms  # the code went back with the verifier (PKCE enforced)
    assert form["code"] == query["code"] and len(form["code_verifier"]) >= 43
    assert "client_secret" not in form  # client_secret_basic: in the Authorization header
    # what the workbench's side logged (httpx and httpcore 1 are this test's browser; the client
    # talks through httpx2 and httpcore2), down to DEBUG, holds neither the secret nor the code
    ours = [r for r in caplog.records if r.name.split(".")[0] not in ("httpx", "httpcore")]
    assert any(r.name.startswith(("httpx2", "httpcore2")) for r in ours)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert SECRET not in logged and query["code"] not in logged


def test_several_groups_give_several_roles_in_a_fixed_order(provider, client):
    provider.user("dana", name="Dana", roles=["tpi-admins", "tpi-physicians"])
    session: dict[str, Any] = {}
    identity = client.finish(session, authorize(client.start(session), "dana"))
    assert identity.roles == ("physician", "supervisor", "admin")
    assert identity.email is None and identity.display_name == "Dana"


@pytest.mark.parametrize(
    ("claim", "claims"),
    [
        ("groups", {"groups": "tpi-physicians"}),  # one value as a string
        ("realm_access.roles", {"realm_access": {"roles": ["tpi-physicians"]}}),  # a dotted path
        ("https://example.org/roles", {"https://example.org/roles": ["tpi-physicians"]}),
    ],
)
def test_the_roles_claim_is_configurable(provider, clock, claim, claims):
    provider.user(f"erin-{len(claim)}", **claims)
    with OIDCClient(settings_for(provider.url, roles_claim=claim), clock=clock) as oidc:
        session: dict[str, Any] = {}
        identity = oidc.finish(session, authorize(oidc.start(session), f"erin-{len(claim)}"))
    assert identity.roles == ("physician",)


def test_discovery_is_fetched_once_and_cached(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    for _ in range(3):
        session: dict[str, Any] = {}
        client.finish(session, authorize(client.start(session), "bob"))
    assert provider.tamper.hits["/.well-known/openid-configuration"] == 1
    assert provider.tamper.hits["/jwks"] == 1


def test_two_tabs_can_each_finish_their_own_sign_in(provider, client):
    provider.user("carol", roles=["tpi-leads"])
    session: dict[str, Any] = {}
    first, second = client.start(session), client.start(session)
    q1, q2 = authorize(first, "carol"), authorize(second, "carol")
    assert client.finish(session, q2).roles == ("supervisor",)
    assert client.finish(session, q1).roles == ("supervisor",)


def test_an_unverified_email_is_not_passed_on(provider, client):
    claims = {"name": "Frank", "email": "frank@example.org", "email_verified": False}
    provider.user("frank", roles=["tpi-nurses"], **claims)
    session: dict[str, Any] = {}
    identity = client.finish(session, authorize(client.start(session), "frank"))
    assert identity.email is None and identity.display_name == "Frank"


def test_an_unforeseen_failure_is_a_refusal_without_its_text(provider, client, monkeypatch, caplog):
    provider.user("bob", roles=["tpi-nurses"])
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")

    def broken(*args: Any) -> Any:
        raise RuntimeError(f"boom eyJhbGciOi.{query['code']}")

    monkeypatch.setattr(client, "_validate", broken)
    refused(lambda: client.finish(session, query), "W016", "internal", query["code"], "eyJ")
    assert "RuntimeError" in caplog.text and query["code"] not in caplog.text


# --------------------------------------------------------------------------- refusals: the attempt


def test_a_wrong_state_is_refused_and_spends_nothing(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    forged = {**query, "state": "forged"}
    refused(lambda: client.finish(session, forged), "W016", "state", query["code"])
    refused(lambda: client.finish(session, {"code": query["code"]}), "W016", "state")
    assert provider.tamper.token_forms == []  # the code was never exchanged
    assert client.finish(session, query).roles == ("nurse",)  # the real callback still works


def test_a_replayed_callback_is_refused(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    client.finish(session, query)
    refused(lambda: client.finish(session, query), "W016", "replay", query["code"])
    assert len(provider.tamper.token_forms) == 1


def test_a_callback_in_another_session_is_refused(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    victim: dict[str, Any] = {}
    query = authorize(client.start(victim), "bob")
    refused(lambda: client.finish({}, query), "W016", "state", query["code"])


def test_a_failed_attempt_is_used_up_too(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    session[SESSION_KEY]["pending"][query["state"]]["verifier"] = "x" * 86  # not the one sent
    refused(lambda: client.finish(session, query), "W016", "exchange", query["code"])
    refused(lambda: client.finish(session, query), "W016", "replay", query["code"])


def test_a_sign_in_left_too_long_is_refused(provider, client, clock):
    provider.user("bob", roles=["tpi-nurses"])
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    clock.now += 601
    refused(lambda: client.finish(session, query), "W016", "attempt_expired")
    assert provider.tamper.token_forms == []


def test_the_provider_saying_no_is_a_refusal(provider, client):
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob", deny=True)
    assert query["error"] == "access_denied"
    error = refused(lambda: client.finish(session, query), "W016", "provider")
    assert "access_denied" in error.message


# --------------------------------------------------------------------------- refusals: the token


def test_a_wrong_nonce_is_refused(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    session: dict[str, Any] = {}
    url = with_params(client.start(session), nonce="a-nonce-the-workbench-never-drew")
    query = authorize(url, "bob")
    refused(lambda: client.finish(session, query), "W016", "nonce", query["code"])


@pytest.mark.parametrize(
    ("later", "accepted"),
    [
        (TOKEN_LIFETIME - 5, True),
        (TOKEN_LIFETIME + 5, True),  # expired, but within the 10 s of allowed skew
        (TOKEN_LIFETIME + 15, False),
        (TOKEN_LIFETIME * 5, False),
    ],
)
def test_an_expired_id_token_is_refused_beyond_the_skew(provider, client, clock, later, accepted):
    provider.user("bob", roles=["tpi-nurses"])
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    clock.now = time.time() + later
    if accepted:
        assert client.finish(session, query).roles == ("nurse",)
    else:
        refused(lambda: client.finish(session, query), "W016", "expired")


def test_a_token_issued_in_the_future_is_refused(provider, client, clock):
    provider.user("bob", roles=["tpi-nurses"])
    clock.now -= 120  # this server's clock is two minutes behind the provider's
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    refused(lambda: client.finish(session, query), "W016", "issued_at")


def test_a_token_for_another_client_is_refused(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    provider.tamper.token_client = "another-app"
    session: dict[str, Any] = {}
    query = authorize(with_params(client.start(session), client_id="another-app"), "bob")
    refused(lambda: client.finish(session, query), "W016", "audience", query["code"])


def test_a_token_from_another_issuer_is_refused(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    port = urlsplit(provider.url).port
    provider.tamper.host_for["/oauth2/token"] = f"idp.example.test:{port}"
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    refused(lambda: client.finish(session, query), "W016", "issuer", query["code"])


def test_a_forged_claim_breaks_the_signature(provider, client):
    provider.user("bob", roles=["tpi-nurses"])
    provider.tamper.rewrite_claims = lambda claims: claims.update(roles=["tpi-admins"])
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    refused(lambda: client.finish(session, query), "W016", "signature", query["code"])


def test_the_tamper_layer_rewrites_claims_faithfully(provider, client):
    """The control for the test above: an untouched rewrite still verifies."""
    provider.user("bob", roles=["tpi-nurses"])
    seen: list[dict[str, Any]] = []
    provider.tamper.rewrite_claims = seen.append
    session: dict[str, Any] = {}
    query = authorize(client.start(session), "bob")
    assert client.finish(session, query).roles == ("nurse",)
    assert seen and seen[0]["roles"] == ["tpi-nurses"]


# --------------------------------------------------------------------------- refusals: the account


@pytest.mark.parametrize(
    ("claims", "shown"),
    [({"roles": ["visitors", "tpi-interns"]}, "tpi-interns, visitors"), ({}, "nothing")],
)
def test_an_account_whose_claims_map_to_no_role_is_refused(provider, client, claims, shown):
    sub = f"mallory-{len(claims)}"
    provider.user(sub, name="Mallory", **claims)
    session: dict[str, Any] = {}
    query = authorize(client.start(session), sub)
    error = refused(lambda: client.finish(session, query), "W017", "no_role")
    assert "'roles'" in error.message and shown in error.message


# --------------------------------------------------------------------------- refusals: the provider


def test_a_discovery_document_naming_another_issuer_is_refused(provider, client):
    port = urlsplit(provider.url).port
    provider.tamper.host_for["/.well-known/openid-configuration"] = f"idp.example.test:{port}"
    error = refused(lambda: client.start({}), "W015", "issuer")
    assert "idp.example.test" in error.message


def test_an_issuer_with_a_trailing_slash_does_not_match(provider, clock):
    with OIDCClient(settings_for(provider.url + "/"), clock=clock) as oidc:
        refused(lambda: oidc.start({}), "W015", "issuer")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_provider_is_refused(clock):
    with OIDCClient(settings_for(f"http://127.0.0.1:{_free_port()}"), clock=clock) as oidc:
        session: dict[str, Any] = {}
        refused(lambda: oidc.start(session), "W015", "discovery")
    assert session == {}  # nothing was started


def test_a_provider_that_never_answers_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections are queued, never answered
        port = silent.getsockname()[1]
        settings = settings_for(f"http://127.0.0.1:{port}", timeout_seconds=0.3)
        began = time.monotonic()
        with OIDCClient(settings) as oidc:
            error = refused(lambda: oidc.start({}), "W015", "discovery")
        assert time.monotonic() - began < 3
        assert "0.3 s" in error.message


# --------------------------------------------------------------------------- settings


def _env(**changes: str) -> dict[str, str]:
    base = {
        ENV["issuer"]: "https://login.example.org/realms/tpi",
        ENV["client_id"]: CLIENT_ID,
        ENV["client_secret"]: SECRET,
        ENV["redirect_uri"]: "https://review.example.org/auth/oidc/callback",
        ENV["roles"]: "tpi-nurses=nurse, tpi-admins=admin, tpi-admins=supervisor",
    }
    return {k: v for k, v in (base | changes).items() if v}


def test_settings_from_the_environment():
    settings = load_oidc_settings(environ=_env())
    assert settings.issuer == "https://login.example.org/realms/tpi"
    assert settings.roles == {"tpi-nurses": ("nurse",), "tpi-admins": ("admin", "supervisor")}
    assert settings.scopes == ("openid", "profile", "email")
    assert settings.roles_claim == "roles" and settings.clock_skew_seconds == 60
    assert settings.client_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()


def test_settings_from_a_file_with_the_environment_on_top(tmp_path):
    path = tmp_path / "oidc.yaml"
    path.write_text(
        "issuer: https://login.example.org/realms/tpi\n"
        f"client_id: {CLIENT_ID}\n"
        "redirect_uri: https://review.example.org/auth/oidc/callback\n"
        "scopes: [openid, email, groups]\n"
        "roles_claim: groups\n"
        "roles:\n  tpi-nurses: nurse\n  tpi-md: [physician]\n"
        "clock_skew_seconds: 30\n",
        encoding="utf-8",
    )
    settings = load_oidc_settings(
        path, environ={ENV["client_secret"]: SECRET, ENV["client_id"]: "from-env"}
    )
    assert settings.client_id == "from-env"
    assert settings.scopes == ("openid", "email", "groups") and settings.roles_claim == "groups"
    assert settings.roles == {"tpi-nurses": ("nurse",), "tpi-md": ("physician",)}
    assert settings.clock_skew_seconds == 30


def _bad_settings(call: Callable[[], Any]) -> ReviewError:
    with pytest.raises(ReviewError) as info:
        call()
    assert info.value.code == "W014", str(info.value)
    assert SECRET not in str(info.value)
    return info.value


def test_a_client_secret_in_a_file_is_refused(tmp_path):
    path = tmp_path / "oidc.yaml"
    path.write_text(f"client_secret: {SECRET}\n", encoding="utf-8")
    error = _bad_settings(lambda: load_oidc_settings(path, environ=_env()))
    assert error.field == "client_secret" and ENV["client_secret"] in error.message


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({ENV["client_secret"]: ""}, None, ENV["client_secret"]),
        ({ENV["issuer"]: "", ENV["roles"]: ""}, None, ENV["roles"]),
        ({ENV["issuer"]: "http://login.example.org"}, ENV["issuer"], "https"),
        ({ENV["issuer"]: "login.example.org"}, ENV["issuer"], "absolute https"),
        ({ENV["issuer"]: "https://login.example.org?x=1"}, ENV["issuer"], "query"),
        ({ENV["redirect_uri"]: "http://review.example.org/cb"}, ENV["redirect_uri"], "https"),
        ({ENV["roles"]: "tpi-nurses=nurses"}, ENV["roles"], "did you mean 'nurse'"),
        ({ENV["roles"]: "tpi-nurses"}, ENV["roles"], "CLAIM_VALUE=ROLE"),
        ({ENV["scopes"]: "profile email"}, ENV["scopes"], "openid"),
        ({"REVIEW_OIDC_CLOCK_SKEW": "3600"}, "REVIEW_OIDC_CLOCK_SKEW", "300"),
        ({"REVIEW_OIDC_ROLES_CLAIM": "sub"}, None, "not a claim that can carry roles"),
    ],
)
def test_bad_settings_are_one_clear_line(changes, field, words):
    error = _bad_settings(lambda: load_oidc_settings(environ=_env(**changes)))
    assert words in error.message and error.field == field, str(error)


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:9400", "http://localhost:9400", "http://[::1]:9400"]
)
def test_plain_http_is_allowed_only_on_loopback(issuer):
    assert load_oidc_settings(environ=_env(**{ENV["issuer"]: issuer})).issuer == issuer


def test_a_file_needs_roles_mapped_and_known_keys(tmp_path):
    path = tmp_path / "oidc.yaml"
    path.write_text("roles: {}\n", encoding="utf-8")
    error = _bad_settings(lambda: load_oidc_settings(path, environ=_env(**{ENV["roles"]: ""})))
    assert "never given a default role" in error.message and error.source == str(path)
    path.write_text("role_claim: groups\n", encoding="utf-8")
    error = _bad_settings(lambda: load_oidc_settings(path, environ=_env()))
    assert "did you mean 'roles_claim'" in error.message
    path.write_text("- not a mapping\n", encoding="utf-8")
    _bad_settings(lambda: load_oidc_settings(path, environ=_env()))
    _bad_settings(lambda: load_oidc_settings(Path(tmp_path / "missing.yaml"), environ=_env()))
