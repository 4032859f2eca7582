"""Who is signed in: identities, roles, local accounts and server-side sessions, in the workbench's
own database (the tables of migration 0002, beside the audit trail). No web framework here: the
CLI (``review users``) and the web app (:mod:`.auth`) share it.

- :class:`Identity` is what a sign-in provider establishes: a subject (the username the audit
  trail records), a display name and roles. Local accounts (``--auth local``) are checked here
  against an argon2id hash (argon2-cffi's defaults); an external provider (OIDC, ``--auth oidc``:
  :mod:`.oidc_signin`) hands over an :class:`Identity` it verified and calls
  :meth:`Accounts.adopt` so that the identity gets a users row (no password) and a session.
- Roles grant permissions (:data:`PERMISSIONS`): every route asks for one permission, never for a
  role by name. A nurse reviews (accepts, overrides to approve or pend, denies on administrative
  grounds, refers a medical-necessity denial, requests documentation, takes a case); a physician
  does that and signs off medical-necessity denials; a supervisor reviews, assigns and sees the
  metrics (the agreement page and the exports); an admin manages accounts and sees no notes.
- Sessions are rows keyed by the sha256 of a random token (the cookie holds the token; a copy of
  the database holds no usable session). A session ends at sign-out, after ``idle`` seconds
  without a request, ``absolute`` seconds after sign-in, or when its user is disabled. The clock
  is injectable (``clock``, epoch seconds) so tests can move time. ``last_seen`` is written at most
  every :data:`TOUCH_EVERY` seconds, so idle expiry is exact to within that.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from review.errors import ReviewError
from review.workbench.store import AuditStore, utc_now

ROLES = ("nurse", "physician", "supervisor", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "nurse": frozenset({"view", "review"}),
    "physician": frozenset({"view", "review", "sign_off"}),
    "supervisor": frozenset({"view", "review", "assign", "metrics"}),
    "admin": frozenset({"users"}),
}
"""What each role may do. ``view``: the queue, case pages and documentation requests; ``review``:
accept, override, refer, take a case, download a documentation request; ``sign_off``: confirm or
reverse a medical-necessity denial (and override to one directly); ``assign``: assign or reassign
a case to someone; ``metrics``: the agreement page and the exports; ``users``: the accounts page."""

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_DISPLAY = 120
IDLE_DEFAULT = 30 * 60
ABSOLUTE_DEFAULT = 12 * 60 * 60
TOUCH_EVERY = 15


@dataclass(frozen=True)
class Identity:
    """A signed-in person: ``subject`` is the username recorded in the audit trail."""

    subject: str
    display_name: str
    roles: frozenset[str]

    def can(self, permission: str) -> bool:
        return any(permission in PERMISSIONS.get(role, ()) for role in self.roles)

    @property
    def role_names(self) -> str:
        return ", ".join(r for r in ROLES if r in self.roles)


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    roles: tuple[str, ...]
    provider: str
    active: bool
    created_at: str
    has_password: bool

    def identity(self) -> Identity:
        return Identity(self.username, self.display_name, frozenset(self.roles))


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The roles in :data:`ROLES` order; W009 for an unknown one or none."""
    given = [r.strip().lower() for r in roles if r.strip()]
    unknown = sorted(set(given) - set(ROLES))
    if unknown or not given:
        raise ReviewError(
            "W009",
            f"unknown role {unknown[0]!r}" if unknown else "give at least one role",
            source="--role",
            field=f"one of {', '.join(ROLES)}",
        )
    return tuple(r for r in ROLES if r in given)


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise ReviewError(
            "W009",
            "a username is 1 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            source="USERNAME",
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ReviewError(
            "W009", f"the password is shorter than {MIN_PASSWORD} characters", source="password"
        )
    if len(password) > MAX_PASSWORD:
        raise ReviewError(
            "W009", f"the password is longer than {MAX_PASSWORD} characters", source="password"
        )
    return password


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:
        raise ReviewError(
            "W005",
            f"local accounts need argon2-cffi ({exc.name} is missing): "
            "pip install -e '.[workbench]'",
        ) from None
    return PasswordHasher()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    """Users and sessions in ``store``'s database (opening the store ran the migrations)."""

    def __init__(
        self,
        store: AuditStore,
        *,
        idle: int = IDLE_DEFAULT,
        absolute: int = ABSOLUTE_DEFAULT,
        clock: Callable[[], float] = time.time,
    ):
        if idle <= 0 or absolute <= 0 or idle > absolute:
            raise ReviewError(
                "W013",
                f"the idle timeout ({idle} s) must be positive and at most the absolute session "
                f"lifetime ({absolute} s)",
                source="--session-idle",
            )
        self.store = store
        self.idle = idle
        self.absolute = absolute
        self.clock = clock
        self._dummy: str | None = None

    def now(self) -> int:
        return int(self.clock())

    # ----------------------------------------------------------------- users

    def add_user(
        self,
        username: str,
        password: str | None,
        roles: Iterable[str],
        display_name: str | None = None,
        *,
        provider: str = "local",
    ) -> User:
        """Create an account (W010 when the username is taken). ``password`` None: an account
        that signs in only through an external provider."""
        from sqlalchemy import text

        check_username(username)
        role_list = check_roles(roles)
        shown = " ".join((display_name or username).split())[:MAX_DISPLAY] or username
        digest = _hasher().hash(check_password(password)) if password is not None else None
        with self.store.connect(write=True) as conn, conn.begin():
            found = conn.execute(
                text("SELECT 1 FROM users WHERE username = :u"), {"u": username}
            ).first()
            if found is not None:
                raise ReviewError("W010", "this username exists already", source=username)
            conn.execute(
                text(
                    "INSERT INTO users (username, display_name, roles, password_hash, provider, "
                    "active, created_at) VALUES (:u, :d, :r, :h, :p, 1, :c)"
                ),
                {
                    "u": username,
                    "d": shown,
                    "r": ",".join(role_list),
                    "h": digest,
                    "p": provider,
                    "c": utc_now(),
                },
            )
        user = self.user(username)
        assert user is not None
        return user

    def users(self) -> list[User]:
        from sqlalchemy import text

        with self.store.connect() as conn:
            rows = conn.execute(text("SELECT * FROM users ORDER BY username")).mappings().all()
        return [_user(r) for r in rows]

    def user(self, username: str) -> User | None:
        from sqlalchemy import text

        with self.store.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM users WHERE username = :u"), {"u": username})
                .mappings()
                .first()
            )
        return _user(row) if row is not None else None

    def set_active(self, username: str, active: bool) -> None:
        """Enable or disable an account; disabling ends its open sessions (W011: no such user)."""
        from sqlalchemy import text

        with self.store.connect(write=True) as conn, conn.begin():
            done = conn.execute(
                text("UPDATE users SET active = :a WHERE username = :u"),
                {"a": 1 if active else 0, "u": username},
            )
            if done.rowcount == 0:
                raise ReviewError("W011", "no such user", source=username)
            if not active:
                conn.execute(
                    text(
                        "UPDATE sessions SET ended_at = :t WHERE username = :u AND ended_at IS NULL"
                    ),
                    {"t": self.now(), "u": username},
                )

    def authenticate(self, username: str, password: str) -> Identity | None:
        """The identity of an active local account whose password matches, else None (the same
        argon2 work is done for an unknown user, so timing does not tell them apart)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        hasher = _hasher()
        user = self.user(username) if USERNAME.match(username) else None
        stored = self._stored_hash(username) if user is not None else None
        if stored is None:
            if self._dummy is None:
                self._dummy = hasher.hash(secrets.token_urlsafe(16))
            stored, user = self._dummy, None
        try:
            hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.active or user.provider != "local":
            return None
        if hasher.check_needs_rehash(stored):
            self._set_hash(username, hasher.hash(password))
        return user.identity()

    def set_password(self, username: str, password: str) -> None:
        if self.user(username) is None:
            raise ReviewError("W011", "no such user", source=username)
        self._set_hash(username, _hasher().hash(check_password(password)))

    def _stored_hash(self, username: str) -> str | None:
        from sqlalchemy import text

        with self.store.connect() as conn:
            return conn.execute(
                text("SELECT password_hash FROM users WHERE username = :u"), {"u": username}
            ).scalar()

    def _set_hash(self, username: str, digest: str) -> None:
        from sqlalchemy import text

        with self.store.connect(write=True) as conn, conn.begin():
            conn.execute(
                text("UPDATE users SET password_hash = :h WHERE username = :u"),
                {"h": digest, "u": username},
            )

    def adopt(self, identity: Identity, provider: str) -> Identity:
        """The seam for an external provider: make sure ``identity`` has a users row (created
        without a password, its display name and roles kept up to date from the provider), and
        return it as recorded. A disabled account stays disabled: the provider must check
        :meth:`user`'s ``active`` before :func:`review.workbench.auth.complete_sign_in`."""
        from sqlalchemy import text

        check_username(identity.subject)
        roles = check_roles(identity.roles)
        if self.user(identity.subject) is None:
            self.add_user(identity.subject, None, roles, identity.display_name, provider=provider)
        else:
            with self.store.connect(write=True) as conn, conn.begin():
                conn.execute(
                    text("UPDATE users SET display_name = :d, roles = :r WHERE username = :u"),
                    {"d": identity.display_name, "r": ",".join(roles), "u": identity.subject},
                )
        user = self.user(identity.subject)
        assert user is not None
        return user.identity()

    # ----------------------------------------------------------------- sessions

    def open_session(self, identity: Identity) -> str:
        """A new session for ``identity``; returns the token for the cookie. Sessions that ended
        or expired are removed (they are not an audit record: the audit trail is)."""
        from sqlalchemy import text

        token = secrets.token_urlsafe(32)
        now = self.now()
        with self.store.connect(write=True) as conn, conn.begin():
            conn.execute(
                text(
                    "DELETE FROM sessions WHERE ended_at IS NOT NULL OR created_at < :a "
                    "OR last_seen < :i"
                ),
                {"a": now - self.absolute, "i": now - self.idle},
            )
            conn.execute(
                text(
                    "INSERT INTO sessions (token_sha256, username, created_at, last_seen) "
                    "VALUES (:t, :u, :n, :n)"
                ),
                {"t": _token_hash(token), "u": identity.subject, "n": now},
            )
        return token

    def session(self, token: str | None) -> Identity | None:
        """The identity of a live session, else None (ending it when it just expired)."""
        from sqlalchemy import text

        if not token or len(token) > 100:
            return None
        key = _token_hash(token)
        now = self.now()
        with self.store.connect() as conn:
            row = (
                conn.execute(
                    text(
                        "SELECT s.created_at, s.last_seen, s.ended_at, u.username, "
                        "u.display_name, u.roles, u.active FROM sessions s JOIN users u "
                        "ON u.username = s.username WHERE s.token_sha256 = :t"
                    ),
                    {"t": key},
                )
                .mappings()
                .first()
            )
        if row is None or row["ended_at"] is not None:
            return None
        if (
            not row["active"]
            or now - row["last_seen"] > self.idle
            or now - row["created_at"] > self.absolute
        ):
            self._end(key, now)
            return None
        if now - row["last_seen"] >= TOUCH_EVERY:
            with self.store.connect(write=True) as conn, conn.begin():
                conn.execute(
                    text("UPDATE sessions SET last_seen = :n WHERE token_sha256 = :t"),
                    {"n": now, "t": key},
                )
        roles = frozenset(r for r in row["roles"].split(",") if r)
        return Identity(row["username"], row["display_name"], roles)

    def end_session(self, token: str | None) -> None:
        if token and len(token) <= 100:
            self._end(_token_hash(token), self.now())

    def _end(self, key: str, now: int) -> None:
        from sqlalchemy import text

        with self.store.connect(write=True) as conn, conn.begin():
            conn.execute(
                text(
                    "UPDATE sessions SET ended_at = :n WHERE token_sha256 = :t AND ended_at IS NULL"
                ),
                {"n": now, "t": key},
            )

    def live_sessions(self, username: str) -> int:
        from sqlalchemy import text

        now = self.now()
        with self.store.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM sessions WHERE username = :u AND ended_at IS NULL "
                        "AND last_seen >= :i AND created_at >= :a"
                    ),
                    {"u": username, "i": now - self.idle, "a": now - self.absolute},
                ).scalar()
            )


def _user(row) -> User:
    return User(
        username=row["username"],
        display_name=row["display_name"],
        roles=tuple(r for r in row["roles"].split(",") if r),
        provider=row["provider"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        has_password=row["password_hash"] is not None,
    )
