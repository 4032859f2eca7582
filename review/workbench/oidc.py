"""OpenID Connect sign-in for a team: the relying party (authorization code flow), framework-free.

The workbench's routes call two methods of :class:`OIDCClient`, each with the caller's
*server-side* session (any mutable mapping: it holds one-time secrets, so never a client-side
cookie session)::

    url = client.start(session)                  # redirect the browser there
    identity = client.finish(session, query)     # on the callback, with its query parameters

``start`` discovers the provider (``ISSUER/.well-known/openid-configuration``, cached), draws a
random state, nonce and PKCE verifier (S256), keeps them in ``session`` and returns the
authorization URL. ``finish`` takes that attempt out of the session *before* anything else (so a
state, nonce and verifier are used once: a replayed callback is refused), exchanges the code with
the verifier, and validates the ID token: its signature against the provider's JWKS (asymmetric
algorithms only), ``iss``, ``aud`` (and ``azp`` when there are several audiences), ``exp`` and
``iat`` with the allowed clock skew, and the nonce. It returns an :class:`Identity` whose roles are
the product roles mapped from the configured claim; an account none of whose claim values is
mapped is refused, never given a default role.

Every failure raises :class:`SignInRefused`, a :class:`~review.errors.ReviewError` whose code says
whose move it is (W015 the provider cannot be used, W016 this sign-in was refused, W017 the account
has no workbench role), whose ``reason`` is a short word for logs and tests, and whose message can
be shown to the person signing in: it never carries a token, a code or the client secret.

Settings (:class:`OIDCSettings`) come from a YAML file and/or ``REVIEW_OIDC_*`` environment
variables (the environment wins); the client secret only from ``REVIEW_OIDC_CLIENT_SECRET``, never
from a file. The issuer, its endpoints and the redirect URI must be https, except http on a
loopback host (127.0.0.0/8, ::1, localhost) for a local provider in tests.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from review.errors import ReviewError
from review.workbench.oidc_settings import (
    ENV,
    REQUIRED,
    ROLES,
    OIDCSettings,
    Role,
    check_url,
    is_loopback_host,
    load_oidc_settings,
    parse_role_pairs,
)

__all__ = [
    "ENV",
    "REQUIRED",
    "ROLES",
    "Identity",
    "OIDCClient",
    "OIDCSettings",
    "Role",
    "SignInRefused",
    "check_url",
    "is_loopback_host",
    "load_oidc_settings",
    "parse_role_pairs",
]

log = logging.getLogger(__name__)

#: ID token signature algorithms accepted (never "none", never a shared-secret HMAC)
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)
#: PKCE's one method worth using (kept in a tuple: tests/test_errors.py reads a lone string shaped
#: like "S256" as an error code)
PKCE_METHODS = ("S256",)
SESSION_KEY = "oidc_sign_in"
ATTEMPT_TTL = 600.0  # seconds a started sign-in may take to come back
MAX_PENDING = 5  # sign-ins started in one session (tabs) and not yet finished
REMEMBER_USED = 20  # finished states remembered per session, to say "already used"
DISCOVERY_TTL = 3600.0  # seconds the provider's metadata and keys are kept
JWKS_MIN_REFRESH = 30.0  # an unknown key id refetches the keys at most this often
SAFE_ERROR = re.compile(r"^[a-z_]{1,40}$")


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Identity:
    """Who signed in: the provider's subject (stable per issuer), how to show them, and the
    workbench roles their claims map to (never empty)."""

    subject: str
    display_name: str
    email: str | None
    roles: tuple[str, ...]
    issuer: str


class SignInRefused(ReviewError):
    """A sign-in that did not happen. ``reason`` (the error's field) is a short word for logs and
    tests; the message is safe to show to the person signing in."""

    @property
    def reason(self) -> str:
        return self.field or "refused"


# --------------------------------------------------------------------------- the client


class OIDCClient:
    """The relying party for one provider. Thread-safe; discovery and keys are fetched lazily and
    cached (:data:`DISCOVERY_TTL`). ``clock`` (seconds since the epoch) is injectable for tests."""

    def __init__(
        self,
        settings: OIDCSettings,
        *,
        clock: Callable[[], float] = time.time,
        discovery_ttl: float = DISCOVERY_TTL,
    ) -> None:
        import httpx2

        self.settings = settings
        self._clock = clock
        self._ttl = discovery_ttl
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: Any = None
        self._keys_at = 0.0
        self._http = httpx2.Client(
            timeout=httpx2.Timeout(settings.timeout_seconds), follow_redirects=False
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OIDCClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the two calls

    def start(self, session: MutableMapping[str, Any]) -> str:
        """Begin a sign-in: keep a fresh state, nonce and PKCE verifier in ``session`` and return
        the provider's authorization URL to redirect the browser to."""
        from authlib.integrations.httpx_client import OAuth2Client

        metadata = self.discover()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43..128
        record = _session_record(session)
        pending = dict(record["pending"])
        pending[state] = {"nonce": nonce, "verifier": verifier, "at": self._clock()}
        while len(pending) > MAX_PENDING:  # the oldest attempts go first
            pending.pop(min(pending, key=lambda s: pending[s]["at"]))
        session[SESSION_KEY] = {"pending": pending, "used": list(record["used"])}
        with OAuth2Client(
            client_id=self.settings.client_id,
            redirect_uri=self.settings.redirect_uri,
            scope=" ".join(self.settings.scopes),
            code_challenge_method=PKCE_METHODS[0],
        ) as oauth:
            url, _ = oauth.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=verifier,
                nonce=nonce,
            )
        return str(url)

    def finish(self, session: MutableMapping[str, Any], query: Mapping[str, Any]) -> Identity:
        """Complete a sign-in from the callback's query parameters: the :class:`Identity`, or
        :class:`SignInRefused`. The attempt is used up whatever the outcome."""
        try:
            return self._finish(session, query)
        except SignInRefused as refused:
            log.warning("OIDC sign-in refused [%s] %s", refused.code, refused.reason)
            raise
        except Exception as exc:  # a bug or a provider answer no check foresaw
            # only the type is logged: the exception's text or traceback could hold a token
            log.error("OIDC sign-in failed unexpectedly (%s)", type(exc).__name__)
            raise SignInRefused(
                "W016",
                "the sign-in failed unexpectedly: start again; if it keeps failing, report it",
                field="internal",
            ) from None

    # ------------------------------------------------------------------ the steps

    def _finish(self, session: MutableMapping[str, Any], query: Mapping[str, Any]) -> Identity:
        state = _one(query, "state")
        error = _one(query, "error")
        if not state and error:  # some providers send no state back with an error
            shown = error if SAFE_ERROR.match(error) else "an error"
            raise SignInRefused(
                "W016", f"the identity provider refused the sign-in ({shown})", field="provider"
            )
        if not state:
            raise SignInRefused(
                "W016", "the callback carries no state: start the sign-in again", field="state"
            )
        record = _session_record(session)
        pending = dict(record["pending"])
        used = list(record["used"])
        attempt = pending.pop(state, None)
        if attempt is not None:
            used = [*used, _fingerprint(state)][-REMEMBER_USED:]
        session[SESSION_KEY] = {"pending": pending, "used": used}  # before anything can fail
        if attempt is None:
            if _fingerprint(state) in record["used"]:
                raise SignInRefused(
                    "W016",
                    "this sign-in was already completed: a callback is used once, start again",
                    field="replay",
                )
            raise SignInRefused(
                "W016",
                "this sign-in was not started in this browser session (unknown state): start again",
                field="state",
            )
        if self._clock() - float(attempt["at"]) > ATTEMPT_TTL:
            raise SignInRefused(
                "W016",
                f"the sign-in took longer than {int(ATTEMPT_TTL // 60)} minutes: start again",
                field="attempt_expired",
            )
        if error:
            shown = error if SAFE_ERROR.match(error) else "an error"
            raise SignInRefused(
                "W016", f"the identity provider refused the sign-in ({shown})", field="provider"
            )
        code = _one(query, "code")
        if not code:
            raise SignInRefused(
                "W016", "the callback carries no authorization code: start again", field="code"
            )
        metadata = self.discover()
        id_token = self._exchange(metadata, code, str(attempt["verifier"]))
        claims = self._validate(metadata, id_token, str(attempt["nonce"]))
        return self._identity(claims)

    def discover(self) -> dict[str, Any]:
        """The provider's metadata (cached), checked: it names the configured issuer exactly and
        its endpoints are https (or loopback http)."""
        with self._lock:
            if self._metadata is not None and self._clock() - self._metadata_at < self._ttl:
                return self._metadata
        from authlib.oidc.discovery import OpenIDProviderMetadata

        issuer = self.settings.issuer
        data = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
        if data.get("issuer") != issuer:
            named = data.get("issuer")
            named = named[:200] if isinstance(named, str) else "no issuer"
            raise SignInRefused(
                "W015",
                f"the provider's discovery document names {named!r}, not the configured issuer "
                f"{issuer!r}: set the issuer to exactly what the provider calls itself",
                field="issuer",
            )
        try:
            OpenIDProviderMetadata(data).validate()
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                check_url(data.get(key), f"provider's {key}")
        except ValueError as exc:
            raise SignInRefused(
                "W015",
                f"the provider's discovery document cannot be used: {exc}",
                field="discovery",
            ) from None
        if "code" not in data.get("response_types_supported", ["code"]):
            raise SignInRefused(
                "W015",
                "the provider does not offer the authorization code flow",
                field="discovery",
            )
        with self._lock:
            self._metadata, self._metadata_at = data, self._clock()
        return data

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        import httpx2

        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx2.TimeoutException:
            raise SignInRefused(
                "W015",
                f"the identity provider did not answer within {self.settings.timeout_seconds:g} s "
                f"({what})",
                field=what,
            ) from None
        except (httpx2.HTTPError, OSError) as exc:
            raise SignInRefused(
                "W015",
                f"cannot reach the identity provider ({what}: {type(exc).__name__})",
                field=what,
            ) from None
        if response.status_code != 200:
            raise SignInRefused(
                "W015",
                f"the identity provider answered HTTP {response.status_code} ({what})",
                field=what,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SignInRefused(
                "W015", f"the identity provider's {what} answer is not a JSON object", field=what
            )
        return data

    def _exchange(self, metadata: Mapping[str, Any], code: str, verifier: str) -> str:
        """The authorization code and PKCE verifier for the ID token (the access token is not
        kept: the workbench needs only who signed in)."""
        import httpx2
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.httpx_client import OAuth2Client

        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        try:
            with OAuth2Client(
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret.get_secret_value(),
                token_endpoint_auth_method=method,
                redirect_uri=self.settings.redirect_uri,
                code_challenge_method=PKCE_METHODS[0],
                timeout=httpx2.Timeout(self.settings.timeout_seconds),
                follow_redirects=False,
            ) as oauth:
                token = oauth.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                    redirect_uri=self.settings.redirect_uri,
                )
        except OAuthError as exc:
            error = str(getattr(exc, "error", "") or "")
            shown = error if SAFE_ERROR.match(error) else "an error"
            raise SignInRefused(
                "W016",
                f"the identity provider refused the authorization code ({shown}): start again",
                field="exchange",
            ) from None
        except httpx2.TimeoutException:
            raise SignInRefused(
                "W015",
                f"the identity provider did not answer within {self.settings.timeout_seconds:g} s "
                "(token)",
                field="token",
            ) from None
        except (httpx2.HTTPError, OSError, ValueError) as exc:
            raise SignInRefused(
                "W015",
                f"the identity provider's token endpoint cannot be used ({type(exc).__name__})",
                field="token",
            ) from None
        id_token = token.get("id_token") if isinstance(token, Mapping) else None
        if not isinstance(id_token, str) or not id_token:
            raise SignInRefused(
                "W016",
                "the identity provider returned no ID token (is the openid scope allowed?)",
                field="id_token",
            )
        return id_token

    def _key_set(self, *, refresh: bool = False) -> Any:
        from joserfc.jwk import KeySet

        with self._lock:
            fresh = self._keys is not None and self._clock() - self._keys_at < self._ttl
            if fresh and (not refresh or self._clock() - self._keys_at < JWKS_MIN_REFRESH):
                return self._keys
        metadata = self.discover()
        data = self._get_json(metadata["jwks_uri"], "jwks")
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except Exception as exc:  # joserfc raises several kinds for a bad key set
            raise SignInRefused(
                "W015",
                f"the identity provider's signing keys cannot be read ({type(exc).__name__})",
                field="jwks",
            ) from None
        with self._lock:
            self._keys, self._keys_at = keys, self._clock()
        return keys

    def _validate(self, metadata: Mapping[str, Any], id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import (
            BadSignatureError,
            ExpiredTokenError,
            InvalidClaimError,
            InvalidKeyIdError,
            JoseError,
            MissingClaimError,
        )

        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in SIGNING_ALGORITHMS if alg in offered]
        if not algorithms:
            raise SignInRefused(
                "W015",
                "the identity provider signs ID tokens only with algorithms the workbench does not "
                "accept (it needs RS256, PS256, ES256 or EdDSA)",
                field="algorithm",
            )
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:  # the provider may have rotated its keys
                token = jwt.decode(id_token, self._key_set(refresh=True), algorithms=algorithms)
        except BadSignatureError:
            raise SignInRefused(
                "W016",
                "the ID token's signature does not verify against the provider's keys",
                field="signature",
            ) from None
        except InvalidKeyIdError:
            raise SignInRefused(
                "W016",
                "the ID token is signed with a key the provider does not publish",
                field="signature",
            ) from None
        except (JoseError, ValueError, TypeError):
            raise SignInRefused(
                "W016",
                "the ID token cannot be read or uses an algorithm not allowed",
                field="malformed",
            ) from None
        claims = dict(token.claims)
        skew = self.settings.clock_skew_seconds
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=skew,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise SignInRefused(
                "W016",
                f"the ID token has expired (allowing {skew} s of clock skew): check this server's "
                "clock, then start again",
                field="expired",
            ) from None
        except MissingClaimError as exc:
            raise SignInRefused(
                "W016", f"the ID token lacks a required claim ({exc.claim})", field="claims"
            ) from None
        except InvalidClaimError as exc:
            words = {
                "iss": ("issuer", "the ID token was issued by another issuer"),
                "aud": ("audience", "the ID token was issued for another client (audience)"),
                "iat": (
                    "issued_at",
                    f"the ID token was issued in the future (beyond {skew} s of clock skew): "
                    "check this server's clock",
                ),
                "nbf": ("not_before", "the ID token is not valid yet"),
            }
            field, message = words.get(
                exc.claim, ("claims", f"the ID token's {exc.claim!r} claim is invalid")
            )
            raise SignInRefused("W016", message, field=field) from None
        audience = claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if (several or "azp" in claims) and claims.get("azp") != self.settings.client_id:
            raise SignInRefused(
                "W016",
                "the ID token was issued for another client (authorized party)",
                field="audience",
            )
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
            raise SignInRefused(
                "W016",
                "the ID token does not answer this sign-in (nonce mismatch): start again",
                field="nonce",
            )
        return claims

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        claim = self.settings.roles_claim
        values = _claim_values(claims, claim)
        granted = {role for value in values for role in self.settings.roles.get(value, ())}
        roles = tuple(role for role in ROLES if role in granted)
        subject = str(claims["sub"])
        if not roles:
            shown = ", ".join(sorted(values)[:5]) if values else "nothing"
            raise SignInRefused(
                "W017",
                f"signed in, but the account has no workbench role: its {claim!r} claim holds "
                f"{shown}",
                field="no_role",
            )
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        if claims.get("email_verified") is False:  # the provider says it is not theirs (yet)
            email = None
        display = next(
            (
                str(claims[k]).strip()
                for k in ("name", "preferred_username", "email")
                if isinstance(claims.get(k), str) and str(claims[k]).strip()
            ),
            subject,
        )
        return Identity(
            subject=subject,
            display_name=_printable(display)[:200],
            email=email,
            roles=roles,
            issuer=self.settings.issuer,
        )


# --------------------------------------------------------------------------- helpers


def _session_record(session: Mapping[str, Any]) -> dict[str, Any]:
    record = session.get(SESSION_KEY)
    if not isinstance(record, Mapping):
        return {"pending": {}, "used": []}
    pending = record.get("pending")
    used = record.get("used")
    return {
        "pending": {
            k: v
            for k, v in (pending.items() if isinstance(pending, Mapping) else ())
            if isinstance(v, Mapping) and {"nonce", "verifier", "at"} <= set(v)
        },
        "used": [u for u in used if isinstance(u, str)] if isinstance(used, list) else [],
    }


def _fingerprint(state: str) -> str:
    """What is remembered of a used state (the state itself is not kept)."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()[:32]


def _one(query: Mapping[str, Any], name: str) -> str:
    """One query parameter as text (a list, as parse_qs gives, must hold exactly one)."""
    value = query.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else None
    return value if isinstance(value, str) else ""


def _claim_values(claims: Mapping[str, Any], claim: str) -> set[str]:
    """The values of the roles claim: a string or a list of strings, found by its exact name or,
    failing that, as a dotted path (``realm_access.roles``)."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())
