"""A local OpenID provider for tests: oidc-provider-mock on 127.0.0.1 (a free port) in a thread,
behind a thin WSGI layer (:class:`Tamper`) that enforces PKCE (the mock ignores it) and lets a
test make the provider misbehave. Used by tests/test_oidc.py (the relying party) and by the
workbench's ``--auth oidc`` tests (tests/test_oidc_signin.py, tests/test_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

TOKEN_LIFETIME = 60  # seconds the provider's ID tokens live


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tamper:
    """WSGI middleware in front of the mock provider. Always: PKCE is enforced (a code is exchanged
    only with the verifier whose S256 challenge the authorize request carried). On request of a
    test: the provider sees another Host on some paths (its issuer is its Host), authenticates
    the token request as another client, or rewrites the ID token's claims keeping its signature."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.challenges: dict[str, tuple[str | None, str | None]] = {}
        self.reset()

    def reset(self) -> None:
        self.host_for: dict[str, str] = {}
        self.token_client: str | None = None
        self.rewrite_claims: Callable[[dict[str, Any]], None] | None = None
        self.hits: Counter[str] = Counter()
        self.token_forms: list[dict[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ["PATH_INFO"]
        self.hits[path] += 1
        if path in self.host_for:  # over https, or authlib's server refuses to issue a token
            environ["HTTP_HOST"], environ["wsgi.url_scheme"] = self.host_for[path], "https"
        if path == "/oauth2/authorize" and environ["REQUEST_METHOD"] == "POST":
            query = parse_qs(environ["QUERY_STRING"])
            challenge = (
                query.get("code_challenge", [None])[0],
                query.get("code_challenge_method", [None])[0],
            )

            def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                for name, value in headers:
                    code = parse_qs(urlsplit(value).query).get("code")
                    if name.lower() == "location" and code:
                        self.challenges[code[0]] = challenge
                return start_response(status, headers, exc_info)

            return self.app(environ, remember)
        if path == "/oauth2/token":
            return self._token(environ, start_response)
        return self.app(environ, start_response)

    def _token(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        form = {k: v[0] for k, v in parse_qs(body.decode("ascii")).items()}
        self.token_forms.append(form)
        challenge, method = self.challenges.pop(form.get("code", ""), (None, None))
        verifier = form.get("code_verifier", "")
        expected = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        if method != "S256" or not challenge or not hmac.compare_digest(expected, challenge):
            return _json(start_response, "400 Bad Request", {"error": "invalid_grant"})
        if self.token_client:
            basic = base64.b64encode(f"{self.token_client}:whatever".encode()).decode()
            environ["HTTP_AUTHORIZATION"] = f"Basic {basic}"
        environ["wsgi.input"] = io.BytesIO(body)
        if self.rewrite_claims is None:
            return self.app(environ, start_response)
        seen: dict[str, Any] = {}

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status
            return lambda data: None

        answer = json.loads(b"".join(self.app(environ, hold)))
        header, payload, signature = answer["id_token"].split(".")
        claims = json.loads(_unb64(payload))
        original = json.loads(_unb64(payload))
        self.rewrite_claims(claims)
        if claims != original:  # the payload is re-encoded only when a claim changed
            payload = _b64(json.dumps(claims).encode())
        answer["id_token"] = ".".join((header, payload, signature))
        return _json(start_response, seen["status"], answer)


def _json(start_response: Callable[..., Any], status: str, data: dict[str, Any]) -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


@dataclass
class Provider:
    url: str
    tamper: Tamper

    def user(self, sub: str, **claims: Any) -> None:
        response = httpx.put(f"{self.url}/users/{quote(sub, safe='')}", json=claims)
        assert response.status_code == 204, response.text


@contextmanager
def running_provider(token_lifetime: int = TOKEN_LIFETIME) -> Iterator[Provider]:
    """The provider, served until the block ends."""
    with warnings.catch_warnings():  # authlib's own module adds an "always" filter for these
        import authlib.deprecate

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        import oidc_provider_mock  # it imports authlib.jose, deprecated in favour of joserfc
    import werkzeug.serving

    class Quiet(werkzeug.serving.WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    tamper = Tamper(oidc_provider_mock.app(access_token_max_age=timedelta(seconds=token_lifetime)))
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, tamper, threaded=True, request_handler=Quiet
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_port}", tamper)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
