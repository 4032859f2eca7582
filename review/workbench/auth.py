"""Signing in to the workbench: the sign-in modes, the gate in front of every page and API, the
session cookie, sign-out, and the seam for sign-in providers.

Modes (``review serve --auth``):

- ``none`` (the default): no sign-in, as before; loopback only (``--allow-remote`` refuses it,
  W008). The reviewer types a name on each review.
- ``local``: accounts in the workbench database (``review users add``), passwords checked against
  argon2id hashes (:mod:`.accounts`).
- ``oidc``: the organisation's OpenID provider (:mod:`.oidc_signin`); roles from its claim.

A sign-in provider (:class:`SignInProvider`) owns the sign-in page and its endpoints and, once it
has established who someone is, hands an :class:`~review.workbench.accounts.Identity` to
:func:`complete_sign_in`, which opens the server-side session and sets the cookie. Everything after
that (the gate, roles, the audit trail's username, sign-out, expiry) is the same for every
provider. The OpenID Connect provider (``--auth oidc``, :mod:`.oidc_signin`) serves ``GET
/signin`` (a button to the identity provider), ``POST /signin/start`` and the callback that
validates the ID token, maps its claims to an Identity (issuer and subject -> username, a group or
role claim -> roles), calls :meth:`Accounts.adopt <review.workbench.accounts.Accounts.adopt>` (a
users row without a password, so disabling the account in ``review users`` still locks it out) and
then :func:`complete_sign_in`.

The gate (:func:`signin_gate`, an HTTP middleware): in a sign-in mode every request except the
provider's public paths needs a live session: a page without one is redirected (303) to
``/signin?next=...``; a form post too (nothing is processed); the FHIR API answers 401. The
session cookie is ``wb_auth`` (``__Host-wb_auth`` over https: Secure, no Domain), HttpOnly,
SameSite=Strict, without Max-Age (it ends with the browser; the server ends it sooner: idle and
absolute expiry, sign-out, a disabled account). The token in it is random; the database keeps
only its sha256. Forms, the sign-in and sign-out forms included, carry the CSRF token of
:mod:`.security` as before.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from review.workbench.accounts import Accounts, Identity
from review.workbench.state import Workbench, WorkbenchState, identity_of

MODES = ("none", "local", "oidc")
AUTH_COOKIE = "wb_auth"
SECURE_AUTH_COOKIE = "__Host-wb_auth"
SIGNIN = "/signin"


def auth_cookie_name(scheme: str) -> str:
    return SECURE_AUTH_COOKIE if scheme == "https" else AUTH_COOKIE


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this server only (never ``//host`` or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:2000]


def home(identity: Identity) -> str:
    """The first page for this identity: the queue, or the accounts page for an admin only."""
    return "/" if identity.can("view") else "/admin/users"


class SignInProvider(ABC):
    """How people prove who they are. ``public_paths``: the paths the gate lets through without a
    session (the provider's sign-in page and endpoints)."""

    name: str
    public_paths: frozenset[str]

    @abstractmethod
    def router(self) -> APIRouter:
        """The provider's routes (at least ``GET /signin``)."""


def complete_sign_in(request: Request, wb: WorkbenchState, identity: Identity, to: str) -> Response:
    """Open a session for ``identity`` and send the browser on to ``to`` with its cookie. The
    previous session of this browser, if any, is ended first."""
    assert wb.accounts is not None
    cookie = auth_cookie_name(request.url.scheme)
    wb.accounts.end_session(request.cookies.get(cookie))
    token = wb.accounts.open_session(identity)
    response = RedirectResponse(safe_next(to) if to != "/" else home(identity), status_code=303)
    response.set_cookie(
        cookie,
        token,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


class LocalProvider(SignInProvider):
    """Username and password against the local accounts (``review users add``)."""

    name = "local"
    public_paths = frozenset({SIGNIN})

    def router(self) -> APIRouter:
        from review.workbench.pages import page

        router = APIRouter()

        def form(request: Request, wb: WorkbenchState, **context) -> HTMLResponse:
            return page(request, wb, "signin.html.j2", context.pop("status", 200), **context)

        @router.get(SIGNIN, response_class=HTMLResponse)
        def signin_page(request: Request, wb: Workbench, next: str = "/") -> Response:
            if identity_of(request) is not None:
                return RedirectResponse(safe_next(next), status_code=303)
            return form(request, wb, next=safe_next(next), username="", problem=None)

        @router.post(SIGNIN)
        def signin_post(
            request: Request,
            wb: Workbench,
            username: Annotated[str, Form()] = "",
            password: Annotated[str, Form()] = "",
            next: Annotated[str, Form()] = "/",
        ) -> Response:
            assert wb.accounts is not None
            name = username.strip().lower()
            identity = wb.accounts.authenticate(name, password) if name and password else None
            if identity is None:
                return form(
                    request,
                    wb,
                    status=401,
                    next=safe_next(next),
                    username=name[:64],
                    problem="Wrong username or password, or the account is disabled.",
                )
            return complete_sign_in(request, wb, identity, next)

        return router


def provider_for(mode: str, oidc: Any = None) -> SignInProvider | None:
    """The provider of a sign-in mode; ``oidc`` (mode ``oidc`` only): its
    :class:`~review.workbench.oidc.OIDCSettings`, an ``OIDCClient`` or a ready provider."""
    if mode == "none":
        return None
    if mode == "local":
        return LocalProvider()
    if mode == "oidc":
        from review.workbench.oidc import OIDCClient, OIDCSettings
        from review.workbench.oidc_signin import OIDCProvider

        if isinstance(oidc, OIDCProvider):
            return oidc
        if isinstance(oidc, OIDCClient):
            return OIDCProvider(oidc)
        if isinstance(oidc, OIDCSettings):
            return OIDCProvider.from_settings(oidc)
        raise ValueError("--auth oidc needs its OIDC settings")
    raise ValueError(f"unknown sign-in mode {mode!r}; one of {', '.join(MODES)}")


def signout_router() -> APIRouter:
    router = APIRouter()

    @router.post("/signout")
    def signout(request: Request, wb: Workbench) -> Response:
        cookie = auth_cookie_name(request.url.scheme)
        if wb.accounts is not None:
            wb.accounts.end_session(request.cookies.get(cookie))
        response = RedirectResponse(SIGNIN, status_code=303)
        response.delete_cookie(
            cookie, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
        )
        return response

    return router


def signin_gate(wb: WorkbenchState, provider: SignInProvider, accounts: Accounts):
    """The HTTP middleware that puts the session's identity on ``request.state.identity`` and
    turns away every request without one (see the module docstring)."""

    async def middleware(request: Request, call_next):
        token = request.cookies.get(auth_cookie_name(request.url.scheme))
        identity = await run_in_threadpool(accounts.session, token) if token else None
        request.state.identity = identity
        path = request.url.path
        if identity is None and path not in provider.public_paths:
            if path == "/fhir" or path.startswith("/fhir/"):
                return JSONResponse(
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {
                                "severity": "error",
                                "code": "login",
                                "diagnostics": "sign in to the workbench first",
                            }
                        ],
                    },
                    status_code=401,
                    media_type="application/fhir+json",
                )
            wanted = path + (f"?{request.url.query}" if request.url.query else "")
            to = (
                SIGNIN
                if request.method not in ("GET", "HEAD")
                else SIGNIN + "?next=" + quote(wanted, safe="/")
            )
            return RedirectResponse(to, status_code=303)
        return await call_next(request)

    return middleware
