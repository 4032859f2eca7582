"""Reading and tampering with an audit database the way a person with the database shell would
(sqlite3 for a file, psycopg for PostgreSQL), for tests that run on both backends: ``db`` is an
SQLite path or a ``postgresql+psycopg://`` URL (the ``audit_db`` fixture in conftest.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SQLITE_ERRORS = (sqlite3.DatabaseError,)


def is_postgres(db) -> bool:
    return isinstance(db, str) and db.startswith("postgresql")


def _pg(db: str):
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(db)
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        options=url.query.get("options"),
        autocommit=True,
    )


def db_errors() -> tuple[type[BaseException], ...]:
    """What a refused statement raises on either backend."""
    import psycopg

    return (sqlite3.DatabaseError, psycopg.Error)


def rows(db) -> list[dict]:
    """Every audit row as a dict, in id order."""
    if is_postgres(db):
        with _pg(db) as con:
            cur = con.execute("SELECT * FROM audit ORDER BY id")
            names = [d.name for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    con = sqlite3.connect(Path(db))
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY id")]
    finally:
        con.close()


def tuples(db) -> list[tuple]:
    return [tuple(r.values()) for r in rows(db)]


def execute(db, *statements: str, params: tuple = ()) -> None:
    """Run each statement in autocommit (the first refusal raises)."""
    if is_postgres(db):
        with _pg(db) as con:
            for sql in statements:
                con.execute(sql, params or None)
        return
    con = sqlite3.connect(Path(db), isolation_level=None)
    try:
        for sql in statements:
            con.execute(sql, params)
    finally:
        con.close()


def execute_rows(db, sql: str) -> list[tuple]:
    """The rows of one query (any table of the workbench database), as tuples."""
    if is_postgres(db):
        with _pg(db) as con:
            return [tuple(r) for r in con.execute(sql).fetchall()]
    con = sqlite3.connect(Path(db))
    try:
        return [tuple(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()
