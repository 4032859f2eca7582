"""Where the audit trail lives: an SQLite file (the embedded default) or a PostgreSQL database (a
team), opened through SQLAlchemy 2 Core, and its schema migrations (alembic, shipped in
:mod:`review.workbench.migrations`).

``--db`` takes a file path (SQLite) or a SQLAlchemy URL: ``postgresql+psycopg://USER:PASS@HOST/DB``
(psycopg 3; a bare ``postgresql://`` means the same), or ``sqlite:///PATH``. A password in a URL is
never shown: :attr:`Target.display` and :func:`mask` replace it with ``***`` in every message.

SQLite: a fresh connection per operation (no pool), opened ``mode=rw`` so a file removed under a
running server is not silently recreated empty; transactions are begun by hand (``BEGIN
IMMEDIATE`` for a write) because Python's sqlite3 module would otherwise begin them late.
PostgreSQL: a small connection pool; writers serialise on a transaction-level advisory lock and
readers take it shared (see :mod:`.store` for why).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.errors import ReviewError

URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
PASSWORD_IN_URL = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]*@")
PASSWORD_PARAM = re.compile(r"(\bpassword=)[^&\s]*", re.IGNORECASE)
HIDDEN = "***"
VERSION_TABLE = "audit_schema_version"
"""alembic's version table (its own name, so it cannot clash with another app's ``alembic_version``
in a shared PostgreSQL schema)."""
LOCK_KEY = 0x7470_6952_6576_4155  # "tpiRevAU": the advisory lock writers of the audit trail take
MIGRATIONS = Path(__file__).parent / "migrations"


class AuditError(ReviewError):
    """The audit trail is missing, not an audit trail, fails verification or cannot be written
    (A001-A007), or its ``--db`` is unsupported (A008), unreachable (A009) or cannot be set up by
    the database role (A010). Re-exported by :mod:`.store`."""


@dataclass(frozen=True)
class Target:
    """A parsed ``--db``: ``kind`` is ``sqlite`` (``path`` set) or ``postgresql`` (``url`` set)."""

    kind: str
    path: Path | None
    url: Any  # sqlalchemy.engine.URL for PostgreSQL
    display: str
    secret: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"

    def hide(self, text: str) -> str:
        """``text`` with this target's password (and any URL password) masked."""
        if self.secret:
            text = text.replace(self.secret, HIDDEN)
        return mask(text)


def mask(text: str) -> str:
    """Mask passwords in any database URL or ``password=`` parameter inside ``text``."""
    return PASSWORD_PARAM.sub(rf"\g<1>{HIDDEN}", PASSWORD_IN_URL.sub(rf"\g<1>{HIDDEN}@", text))


def parse_target(db: str | Path) -> Target:
    """A path (SQLite) or a SQLAlchemy URL (``postgresql+psycopg://``, ``sqlite:///``)."""
    if isinstance(db, Path) or not URL_SCHEME.match(str(db)):
        path = Path(db)
        return Target("sqlite", path, None, str(path))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = str(db)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise AuditError(
            "A008",
            "not a database URL; give a file path or postgresql+psycopg://...",
            source=mask(text),
        ) from None
    secret = url.password if isinstance(url.password, str) and url.password else None
    query_secret = url.query.get("password")
    if isinstance(query_secret, str) and query_secret:
        secret = secret or query_secret
    shown = url.update_query_dict(
        {k: HIDDEN for k in url.query if k.lower() == "password"}
    ).render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise AuditError(
                "A008",
                "give the SQLite audit file as a path (an in-memory database would lose the trail)",
                source=shown,
            )
        path = Path(url.database)
        return Target("sqlite", path, None, str(path))
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
            shown = shown.replace("postgresql://", "postgresql+psycopg://", 1)
        if url.get_driver_name() != "psycopg":
            raise AuditError(
                "A008",
                "PostgreSQL is reached through psycopg 3: use postgresql+psycopg://USER:PASS@HOST/DB",
                source=shown,
            )
        return Target("postgresql", None, url, shown, secret)
    raise AuditError(
        "A008",
        f"unsupported database {backend!r}; give a file path (SQLite) or "
        "postgresql+psycopg://USER:PASS@HOST/DB",
        source=shown,
    )


def sqlite_uri(path: Path, mode: str) -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def make_engine(target: Target, *, mode: str = "rw"):
    """An engine for ``target``. SQLite ``mode``: ``rwc`` (create), ``rw``, ``ro`` (verify)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if target.is_sqlite:
        assert target.path is not None
        uri = sqlite_uri(target.path, mode)

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, timeout=10, check_same_thread=False)

        engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_con, _record) -> None:
            dbapi_con.isolation_level = None  # we BEGIN ourselves (below)

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            write = conn.get_execution_options().get("review_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(
        target.url,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=30,
        # no server-side prepared statements: a pooled connection's cached ``SELECT *`` plan would
        # fail ("cached plan must not change result type") after the table changes
        connect_args={"connect_timeout": 10, "prepare_threshold": None},
    )


def lock(conn, *, shared: bool) -> None:
    """PostgreSQL: take the audit trail's advisory lock for this transaction (no-op on SQLite,
    where ``BEGIN IMMEDIATE`` is the writers' lock)."""
    if conn.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.exec_driver_sql(f"SELECT {fn}({LOCK_KEY})")


def current_revision(conn) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def head_revision() -> str:
    return _script().get_current_head()


def upgrade(conn) -> None:
    """Run the shipped migrations up to head on ``conn`` (inside the caller's transaction)."""
    from alembic import command

    if current_revision(conn) == head_revision():
        return
    config = _config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


_SCRIPT: Any = None


def _script():
    global _SCRIPT
    if _SCRIPT is None:
        from alembic.script import ScriptDirectory

        _SCRIPT = ScriptDirectory.from_config(_config())
    return _SCRIPT
