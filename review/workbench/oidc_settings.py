"""OIDC sign-in settings: the provider, the client, the redirect URI and the role mapping, from a
YAML file and/or ``REVIEW_OIDC_*`` environment variables (the environment wins; the client secret
only from ``REVIEW_OIDC_CLIENT_SECRET``, never from a file). The issuer, its endpoints and the
redirect URI must be https, except http on a loopback host (127.0.0.0/8, ::1, localhost) for a
local provider in tests. The relying party that uses them is :mod:`review.workbench.oidc`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from review.errors import ReviewError, did_you_mean

ROLES: tuple[str, ...] = ("nurse", "physician", "supervisor", "admin")
Role = Literal["nurse", "physician", "supervisor", "admin"]

#: setting -> the environment variable that gives it
ENV: dict[str, str] = {
    "issuer": "REVIEW_OIDC_ISSUER",
    "client_id": "REVIEW_OIDC_CLIENT_ID",
    "client_secret": "REVIEW_OIDC_CLIENT_SECRET",
    "redirect_uri": "REVIEW_OIDC_REDIRECT_URI",
    "scopes": "REVIEW_OIDC_SCOPES",
    "roles_claim": "REVIEW_OIDC_ROLES_CLAIM",
    "roles": "REVIEW_OIDC_ROLES",
    "clock_skew_seconds": "REVIEW_OIDC_CLOCK_SKEW",
    "timeout_seconds": "REVIEW_OIDC_TIMEOUT",
}
REQUIRED = ("issuer", "client_id", "client_secret", "redirect_uri", "roles")


# --------------------------------------------------------------------------- settings


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: object, what: str, *, fragment_ok: bool = False) -> str:
    """``url`` if it is absolute https (or http on a loopback host), else a ValueError saying so."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"give the {what} as an https URL")
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise ValueError(f"the {what} is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"the {what} must be an absolute https URL")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            f"the {what} must use https (plain http only on 127.0.0.1 or localhost, for tests)"
        )
    if parts.username or parts.password:
        raise ValueError(f"the {what} must not carry a user name or password")
    if parts.fragment and not fragment_ok:
        raise ValueError(f"the {what} must not have a #fragment")
    return url


class OIDCSettings(BaseModel):
    """One OpenID provider and how its accounts become workbench users."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    redirect_uri: str
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    roles_claim: str = Field("roles", min_length=1)
    #: a value of the roles claim -> the product roles it grants
    roles: dict[str, tuple[Role, ...]]
    clock_skew_seconds: int = Field(60, ge=0, le=300)
    timeout_seconds: float = Field(5.0, gt=0, le=60)

    @field_validator("issuer", mode="before")
    @classmethod
    def _issuer(cls, value: object) -> str:
        url = check_url(value, "issuer")
        if urlsplit(url).query:
            raise ValueError("the issuer must not have a ?query")
        return url

    @field_validator("redirect_uri", mode="before")
    @classmethod
    def _redirect_uri(cls, value: object) -> str:
        return check_url(value, "redirect URI")

    @field_validator("client_secret", mode="before")
    @classmethod
    def _secret(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"set {ENV['client_secret']} to the client secret")
        return value

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            raise ValueError("give the scopes as a list of words, e.g. openid profile email")
        scopes = tuple(dict.fromkeys(s.strip() for s in value if s.strip()))
        if "openid" not in scopes:
            raise ValueError("the scopes must include openid")
        if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", s) for s in scopes):
            raise ValueError("a scope is one word of printable characters")
        return scopes

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            raise ValueError(
                "give roles as a mapping from a value of the roles claim to a workbench role, "
                "e.g. tpi-nurses: nurse"
            )
        mapped: dict[str, tuple[str, ...]] = {}
        for claim_value, granted in value.items():
            names = [granted] if isinstance(granted, str) else granted
            if not isinstance(claim_value, str) or not claim_value.strip():
                raise ValueError("a roles key must be a non-empty claim value")
            if not isinstance(names, list | tuple) or not names:
                raise ValueError(f"{claim_value!r} must map to a role or a list of roles")
            for name in names:
                if name not in ROLES:
                    raise ValueError(
                        f"{claim_value!r} maps to {name!r}, not a workbench role (the roles are "
                        f"{', '.join(ROLES)}){did_you_mean(str(name), ROLES)}"
                    )
            mapped[claim_value.strip()] = tuple(dict.fromkeys(names))
        if not mapped:
            raise ValueError(
                "no role is mapped: map at least one value of the roles claim to a workbench role "
                "(an account is never given a default role)"
            )
        return mapped

    @model_validator(mode="after")
    def _claim(self) -> OIDCSettings:
        if self.roles_claim in ("sub", "iss", "aud", "nonce", "exp", "iat"):
            raise ValueError(f"{self.roles_claim!r} is not a claim that can carry roles")
        return self


def parse_role_pairs(text: str) -> dict[str, list[str]]:
    """``"tpi-nurses=nurse, tpi-admins=admin, tpi-admins=supervisor"`` -> a roles mapping (a claim
    value given twice grants every role it is paired with)."""
    mapped: dict[str, list[str]] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        claim_value, sep, role = pair.rpartition("=")
        if not sep or not claim_value.strip() or not role.strip():
            raise ValueError(f"{pair.strip()!r} is not CLAIM_VALUE=ROLE")
        mapped.setdefault(claim_value.strip(), []).append(role.strip())
    return mapped


def load_oidc_settings(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> OIDCSettings:
    """The OIDC settings from the YAML file at ``path`` (if given) overlaid with the ``REVIEW_OIDC_*``
    environment variables; every problem is one line naming where it came from [W014]. The
    message never repeats a value it was given (a misplaced secret must not reach a log)."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    origin: dict[str, tuple[str, str]] = {}  # setting -> (source, field) for messages
    if path is not None:
        data = _read_settings_file(Path(path))
        origin = {key: (str(path), key) for key in data}
    for key, name in ENV.items():
        value = environ.get(name)
        if value is None or not value.strip():
            continue
        if key == "roles":
            try:
                data[key] = parse_role_pairs(value)
            except ValueError as exc:
                raise ReviewError("W014", str(exc), source="environment", field=name) from None
        else:
            data[key] = value.strip()
        origin[key] = ("environment", name)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        names = ", ".join(ENV[key] for key in missing)
        raise ReviewError(
            "W014",
            f"missing OIDC settings: set {names} (all but the client secret may also be in the "
            "settings file)",
            source=str(path) if path is not None else "environment",
        )
    try:
        return OIDCSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else ""
        source, field = origin.get(key, ("environment", key))
        if err["type"] == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
        else:  # pydantic's own words ("Input should be ..."), never the input itself
            message = str(err["msg"])
        raise ReviewError("W014", message, source=source, field=field or None) from None


def _read_settings_file(path: Path) -> dict[str, Any]:
    from review.yamlfile import load_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "cannot be read"
        raise ReviewError(
            "W014", f"{why}; give a UTF-8 YAML file of OIDC settings", source=str(path)
        ) from None
    try:
        data = load_yaml(text)
    except Exception as exc:  # yaml.YAMLError, RecursionError: one line either way
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReviewError("W014", f"malformed YAML: {first}", source=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ReviewError(
            "W014",
            f"expected a mapping of OIDC settings, got {type(data).__name__}",
            source=str(path),
        )
    if "client_secret" in data:
        raise ReviewError(
            "W014",
            f"the client secret is never read from a file: remove it and set "
            f"{ENV['client_secret']} in the environment",
            source=str(path),
            field="client_secret",
        )
    known = [key for key in ENV if key != "client_secret"]
    for key in data:
        if key not in known:
            raise ReviewError(
                "W014",
                f"unknown key (the keys are {', '.join(known)}){did_you_mean(str(key), known)}",
                source=str(path),
                field=str(key),
            )
    return dict(data)
