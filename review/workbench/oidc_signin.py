"""``review serve --auth oidc``: the OpenID Connect sign-in provider of the workbench (the
:class:`~review.workbench.auth.SignInProvider` seam), over the relying party of :mod:`.oidc`.

The flow:

1. ``GET /signin`` shows a "Sign in with your organisation" button: a POST form to
   ``/signin/start`` carrying the CSRF token of :mod:`.security` (so another site cannot start a
   sign-in in this browser).
2. ``POST /signin/start`` draws the state, nonce and PKCE verifier (:meth:`OIDCClient.start`) and
   keeps them **on the server** (:class:`PendingSignIns`), keyed by the sha256 of a random value
   in the ``wb_oidc`` cookie (``__Host-wb_oidc`` over https; HttpOnly, SameSite=Lax so that it
   comes back on the provider's cross-site redirect, ten minutes). The cookie holds only that
   random key, never a secret of the flow. The browser is sent (303) to the provider.
3. ``GET /signin/callback`` (the redirect URI to register: ``https://HOST/signin/callback``)
   takes this browser's record out of the store, lets :meth:`OIDCClient.finish` use the attempt up
   (a replayed or foreign callback is refused: the state must be one this browser started, which
   also defeats login CSRF), checks the ID token and maps the roles claim. The account is then
   adopted (:meth:`Accounts.adopt`: a users row without a password, provider ``oidc``, its display
   name and roles replaced by what the provider says on every sign-in) and
   :func:`~review.workbench.auth.complete_sign_in` opens the normal server-side session. The
   answer is a tiny page that moves on to the queue itself (a meta refresh, not a 303): the
   session cookie is SameSite=Strict, and a browser would not send it on a redirect chain that
   started at the provider's site.

The username recorded in the audit trail (:func:`oidc_username`) is ``oidc-`` and the first 16 hex
digits of sha256(issuer, newline, subject): deterministic, stable when a person's name or email
changes at the provider, never two people on one name, and always within the allowed username
pattern. People are shown by their display name (the provider's ``name``, else
``preferred_username``, else email). An account the provider no longer gives a mapped role is
refused (W017); a session it opened earlier runs on until it ends (idle or absolute expiry,
sign-out, or ``review users disable``, which ends it at once); a disabled account
(``review users disable``) is refused (W018); a username held by a local account is never taken
over (W019).

The pending sign-ins live in this process's memory (``review serve`` runs one process): a sign-in
started on one server must come back to the same one (sticky sessions behind a load balancer).
Each record lives at most :data:`~review.workbench.oidc.ATTEMPT_TTL` seconds and the store holds at
most :data:`MAX_BROWSERS` of them (the oldest go first).
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from review.workbench.accounts import Identity
from review.workbench.auth import SIGNIN, SignInProvider, complete_sign_in, safe_next
from review.workbench.oidc import (
    ATTEMPT_TTL,
    SESSION_KEY,
    OIDCClient,
    OIDCSettings,
    SignInRefused,
)
from review.workbench.state import Workbench, WorkbenchState, identity_of

START = "/signin/start"
CALLBACK = "/signin/callback"
PENDING_COOKIE = "wb_oidc"
SECURE_PENDING_COOKIE = "__Host-wb_oidc"
MAX_BROWSERS = 10_000
ORIGIN_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
PROVIDER = "oidc"


def pending_cookie_name(scheme: str) -> str:
    return SECURE_PENDING_COOKIE if scheme == "https" else PENDING_COOKIE


def oidc_username(issuer: str, subject: str) -> str:
    """The audit username of the provider's ``subject`` (see the module docstring)."""
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()
    return f"oidc-{digest[:16]}"


class PendingSignIns:
    """Started sign-ins, per browser, in memory: ``take`` removes a browser's record (so two
    callbacks racing each other cannot both use one attempt), ``put`` stores it back."""

    def __init__(
        self,
        *,
        ttl: float = ATTEMPT_TTL,
        limit: int = MAX_BROWSERS,
        clock: Callable[[], float] = time.time,
    ):
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._lock = threading.Lock()
        self._records: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def take(self, token: str | None) -> dict[str, Any]:
        if not token or len(token) > 100:
            return {}
        with self._lock:
            found = self._records.pop(self._key(token), None)
        if found is None or self.clock() - found[0] > self.ttl:
            return {}
        return found[1]

    def put(self, token: str, record: dict[str, Any]) -> None:
        now = self.clock()
        with self._lock:
            self._records[self._key(token)] = (now, record)
            self._records.move_to_end(self._key(token))
            while self._records:
                oldest, (at, _) = next(iter(self._records.items()))
                if len(self._records) <= self.limit and now - at <= self.ttl:
                    break
                del self._records[oldest]

    def __len__(self) -> int:
        return len(self._records)


class OIDCProvider(SignInProvider):
    """Sign-in through the organisation's OpenID provider."""

    name = PROVIDER
    public_paths = frozenset({SIGNIN, START, CALLBACK})

    def __init__(self, client: OIDCClient, pending: PendingSignIns | None = None):
        self.client = client
        self.pending = pending or PendingSignIns(clock=client._clock)

    @classmethod
    def from_settings(cls, settings: OIDCSettings) -> OIDCProvider:
        return cls(OIDCClient(settings))

    def router(self) -> APIRouter:
        from review.workbench.pages import page

        router = APIRouter()
        provider = self

        def signin_page(
            request: Request, wb: WorkbenchState, next: str, problem: SignInRefused | None = None
        ) -> HTMLResponse:
            status = 200
            try:  # the form's redirect goes to the provider: the page's CSP must allow it
                endpoint = urlsplit(provider.client.discover()["authorization_endpoint"])
                if ORIGIN_HOST.match(endpoint.netloc):
                    request.state.form_targets = (f"{endpoint.scheme}://{endpoint.netloc}",)
            except SignInRefused as unusable:
                problem = problem or unusable
            if problem is not None:
                status = {"W015": 502, "W017": 403, "W018": 403, "W019": 403}.get(problem.code, 400)
            return page(
                request,
                wb,
                "signin_oidc.html.j2",
                status,
                next=safe_next(next),
                problem=problem.message if problem is not None else None,
                code=problem.code if problem is not None else None,
            )

        @router.get(SIGNIN, response_class=HTMLResponse)
        def signin(request: Request, wb: Workbench, next: str = "/") -> Response:
            if identity_of(request) is not None:
                return RedirectResponse(safe_next(next), status_code=303)
            return signin_page(request, wb, next)

        @router.post(START)
        def start(request: Request, wb: Workbench, next: Annotated[str, Form()] = "/") -> Response:
            # the CSRF guard (an app dependency) has checked the form's token and Origin
            cookie = pending_cookie_name(request.url.scheme)
            token = request.cookies.get(cookie) or ""
            if not (20 <= len(token) <= 100):
                token = secrets.token_urlsafe(32)
            record = provider.pending.take(token)
            try:
                url = provider.client.start(record)
            except SignInRefused as refused:
                provider.pending.put(token, record)
                return signin_page(request, wb, next, refused)
            state = parse_qs(urlsplit(url).query).get("state", [""])[0]
            wanted = dict(record.get("next") or {})
            wanted[state] = safe_next(next)
            pending = record.get(SESSION_KEY, {}).get("pending", {})
            record["next"] = {s: to for s, to in wanted.items() if s in pending}
            provider.pending.put(token, record)
            response = RedirectResponse(url, status_code=303)
            response.set_cookie(
                cookie,
                token,
                max_age=int(ATTEMPT_TTL),
                httponly=True,
                samesite="lax",  # it must come back on the provider's (cross-site) redirect
                path="/",
                secure=request.url.scheme == "https",
            )
            return response

        @router.get(CALLBACK)
        def callback(request: Request, wb: Workbench) -> Response:
            token = request.cookies.get(pending_cookie_name(request.url.scheme)) or ""
            record = provider.pending.take(token)
            query = {k: request.query_params.getlist(k) for k in request.query_params}
            state = query.get("state", [""])[0] if len(query.get("state", [])) == 1 else ""
            to = (record.get("next") or {}).pop(state, "/") if record else "/"
            try:
                found = provider.client.finish(record, query)
                identity = provider.adopt(wb, found)
            except SignInRefused as refused:
                return signin_page(request, wb, to, refused)
            finally:
                if record and token:
                    provider.pending.put(token, record)
            return moved_on(complete_sign_in(request, wb, identity, to), request)

        return router

    def adopt(self, wb: WorkbenchState, found: Any) -> Identity:
        """The workbench identity of the provider's account: its users row created or updated
        (roles from this sign-in), or :class:`SignInRefused` (W018 disabled, W019 a local
        account's username)."""
        assert wb.accounts is not None
        username = oidc_username(found.issuer, found.subject)
        existing = wb.accounts.user(username)
        if existing is not None and existing.provider != PROVIDER:
            raise SignInRefused(
                "W019",
                f"the workbench username {username} belongs to a local account, not to this "
                "identity provider's account",
                field="username_taken",
            )
        identity = wb.accounts.adopt(
            Identity(username, found.display_name, frozenset(found.roles)), PROVIDER
        )
        user = wb.accounts.user(username)
        if user is None or not user.active:
            raise SignInRefused(
                "W018",
                f"the workbench account {username} is disabled: ask an administrator",
                field="disabled",
            )
        return identity


def moved_on(redirect: Response, request: Request) -> Response:
    """``redirect`` (a 303 with the session cookie) as a page that goes on by itself: the browser
    then navigates from this site, so it sends the SameSite=Strict session cookie."""
    to = html.escape(redirect.headers["location"], quote=True)
    nonce = getattr(request.state, "nonce", "")
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="0; url={to}"><title>Signed in</title></head>'
        f'<body><p>Signed in. <a id="continue" href="{to}">Continue</a></p>'
        f'<script nonce="{html.escape(nonce, quote=True)}">location.replace('
        f'document.getElementById("continue").getAttribute("href"))</script></body></html>'
    )
    response = HTMLResponse(body, status_code=200)
    for name, value in redirect.raw_headers:
        if name.lower() == b"set-cookie":
            response.raw_headers.append((name, value))
    return response
