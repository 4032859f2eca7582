"""The workbench's browser defences: CSRF (Origin check and session-bound token), the session
cookie, and the security headers on every response.

- CSRF, two independent checks on every state-changing request (anything but GET/HEAD/OPTIONS):
  1. Origin: the ``Origin`` header (or, when a client sends none, the origin of ``Referer``) must
     be exactly this server's origin, ``scheme://host[:port]`` as the request addressed it, with
     the host among the allowed hosts. Missing both, ``Origin: null``, or any other origin
     (another port on 127.0.0.1 is another origin) -> 403. Pages are served with
     ``Referrer-Policy: same-origin``: under ``no-referrer`` Chromium sends ``Origin: null`` on
     form posts, and ``same-origin`` still sends nothing to any other site.
  2. Token: each browser gets a random session id in an HttpOnly, SameSite=Strict cookie, and
     its forms carry ``HMAC-SHA256(server secret, session id)``. A POST passes only when the token
     it carries (form field ``csrf_token`` or ``X-CSRF-Token`` header) equals the HMAC of *its*
     session cookie, compared in constant time. Cookies on localhost are shared across ports, so
     a page on another local port can plant a session cookie, but without the secret it cannot
     compute the matching token. The secret is random per app instance
     (``secrets.token_bytes``), or ``REVIEW_WORKBENCH_SECRET`` (at least 32 characters) so several
     workers agree; it is never logged or shown. A restart with a random secret invalidates open
     forms: the post is refused with "reload the page".
  The cookie is ``__Host-wb_session`` (Secure, Path=/, no Domain) when the request came over
  https. Over plain http a browser refuses to set a ``__Host-`` (or Secure) cookie, so there the
  name is the unprefixed ``wb_session``; the HMAC, not the name, is what defeats a planted cookie.
- Every response gets a Content-Security-Policy forbidding any other origin, with a per-response
  nonce for the inline style and script, and ``Cache-Control: no-store``: pages hold notes (PHI).
- The Host header check against DNS rebinding (loopback names only, unless --allow-remote) is
  Starlette's ``TrustedHostMiddleware`` with :data:`DEFAULT_HOSTS` or the hosts ``serve`` allows.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from review.errors import ReviewError

SESSION_COOKIE = "wb_session"
SECURE_SESSION_COOKIE = "__Host-wb_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SECRET_ENV = "REVIEW_WORKBENCH_SECRET"
MIN_SECRET = 32
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SESSION_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_HOSTS = ["127.0.0.1", "localhost", "testserver"]


def csp(nonce: str, form_targets: tuple[str, ...] = ()) -> str:
    """The policy of one response. ``form_targets``: origins a form may also lead to (the OIDC
    sign-in form's redirect to the identity provider: Chromium applies form-action to redirects)."""
    targets = "".join(f" {origin}" for origin in form_targets)
    return (
        "default-src 'self'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
        f"base-uri 'none'; form-action 'self'{targets}; frame-ancestors 'none'"
    )


def load_secret(secret: bytes | str | None = None) -> bytes:
    """The CSRF key: ``secret``, else ``REVIEW_WORKBENCH_SECRET``, else 32 random bytes."""
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
    if secret is None:
        return secrets.token_bytes(32)
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET:
        raise ReviewError(
            "W006",
            f"the CSRF secret is {len(key)} bytes, shorter than {MIN_SECRET}; set it to a long "
            "random value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))', or "
            "unset it for a random key per start",
            source=SECRET_ENV,
        )
    return key


def session_cookie_name(scheme: str) -> str:
    """``__Host-`` needs Secure, which a browser refuses to set over plain http."""
    return SECURE_SESSION_COOKIE if scheme == "https" else SESSION_COOKIE


def csrf_token(secret: bytes, session_id: str) -> str:
    """HMAC-SHA256(secret, session id), URL-safe base64 without padding."""
    mac = hmac.new(secret, b"tpi-review workbench csrf v1\x00" + session_id.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def _origin_parts(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the default port filled in; None when unreadable."""
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or scheme not in DEFAULT_PORTS:
        return None
    return scheme, host.lower(), port or DEFAULT_PORTS[scheme]


def _claimed_origin(value: str, *, is_origin: bool) -> tuple[tuple[str, str, int] | None, str]:
    """The origin an Origin (exactly ``scheme://host[:port]``) or Referer (a URL) header names,
    and how to show it in a message (never a path or query: they can name a case)."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        readable = (
            parts.scheme
            and parts.netloc
            and parts.username is None
            and parts.password is None
            and not (is_origin and (parts.path or parts.query or parts.fragment))
        )
        if readable:
            shown = f"{parts.scheme}://{parts.netloc}"[:100]
            return _origin_parts(parts.scheme.lower(), parts.netloc), shown
    except ValueError:
        pass
    return None, "null" if value == "null" else "not a plain origin"


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.lower().strip("[]")
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def forbidden(detail: str) -> HTTPException:
    return HTTPException(status_code=403, detail=detail)


class CsrfGuard:
    """The FastAPI dependency behind both CSRF checks (see the module docstring)."""

    def __init__(self, secret: bytes, allowed_hosts: list[str]):
        self.secret = secret
        self.allowed_hosts = allowed_hosts

    def token_for(self, session_id: str) -> str:
        return csrf_token(self.secret, session_id)

    def check_origin(self, request: Request) -> None:
        host_header = request.headers.get("host", "")
        scheme = request.url.scheme
        own = _origin_parts(scheme, host_header)
        origin = request.headers.get("origin")
        referer = request.headers.get("referer")
        if origin is None and not referer:
            raise forbidden(
                "refused: the request carries neither an Origin nor a Referer header, so it cannot "
                "be shown to come from this workbench's own pages; submit the form from the "
                "workbench page in a browser"
            )
        header, value = ("Origin", origin) if origin is not None else ("Referer", referer or "")
        sent, shown = _claimed_origin(value, is_origin=header == "Origin")
        if own is None or sent != own or not _host_allowed(own[1], self.allowed_hosts):
            raise forbidden(
                f"refused: the request's {header} is {shown}, not this workbench "
                f"({scheme}://{host_header}); changes are accepted only from the workbench's own "
                "pages"
            )

    async def __call__(self, request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        self.check_origin(request)
        session_id = request.cookies.get(session_cookie_name(request.url.scheme)) or ""
        sent: Any = request.headers.get(CSRF_HEADER)
        if sent is None:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()
                sent = form.get(CSRF_FIELD)
        if not (
            SESSION_SHAPE.match(session_id)
            and isinstance(sent, str)
            and hmac.compare_digest(self.token_for(session_id).encode(), sent.encode())
        ):
            raise forbidden("CSRF token missing or invalid: reload the page and try again")


def session_and_headers(guard: CsrfGuard):
    """The HTTP middleware: gives a browser without a valid session cookie a fresh one, puts the
    session's CSRF token and a fresh CSP nonce on ``request.state`` for the page, and sets the
    security headers on the response."""

    async def middleware(request: Request, call_next):
        https = request.url.scheme == "https"
        cookie = session_cookie_name(request.url.scheme)
        session_id = request.cookies.get(cookie) or ""
        fresh = not SESSION_SHAPE.match(session_id)
        if fresh:
            session_id = secrets.token_urlsafe(32)
        request.state.csrf_token = guard.token_for(session_id)
        request.state.nonce = secrets.token_urlsafe(16)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp(
            request.state.nonce, getattr(request.state, "form_targets", ())
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        if fresh:
            response.set_cookie(
                cookie, session_id, httponly=True, samesite="strict", path="/", secure=https
            )
        return response

    return middleware
