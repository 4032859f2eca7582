"""Reading and verifying the audit trail: rows as read, a snapshot with its chain verification,
the id-counter check that notices deleted last rows, and ``review audit verify`` (read-only, on
SQLite or PostgreSQL). Writing is :mod:`review.workbench.store`'s job."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.workbench import chain
from review.workbench.database import AuditError, Target, lock, make_engine, parse_target
from review.workbench.schema import CHAIN_COLUMNS, COLUMNS, LEGACY_COLUMNS


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str
    reviewer: str
    case_key: str
    case_id: str
    action: str
    from_decision: str | None
    from_code: str | None
    to_decision: str
    to_code: str | None
    reason: str
    provenance: str
    rec_sha256: str | None = None
    prev_hash: str | None = None
    row_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in COLUMNS}
        data["provenance"] = json.loads(self.provenance)
        return data


@dataclass(frozen=True)
class Snapshot:
    """Every row, read in one transaction, and the chain's verification of them."""

    rows: list[AuditRow]
    check: chain.Verification

    @property
    def problem(self) -> str | None:
        return describe(self.check.broken) if self.check.broken else None


def describe(broken: chain.Break) -> str:
    """``audit row 17 (case X): what is wrong`` (no note text: ids and hashes only)."""
    if broken.row_id is None:
        return broken.problem
    case = f" (case {broken.case_id})" if broken.case_id else ""
    return f"audit row {broken.row_id}{case}: {broken.problem}"


def db_reason(target: Target, exc: BaseException) -> str:
    """The driver's own first line for ``exc`` (never SQLAlchemy's, which carries the statement
    and its parameters), with any password masked."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return target.hide(lines[0] if lines else type(orig).__name__)


def db_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    return (sqlite3.Error, SQLAlchemyError)


def table_names(conn) -> set[str]:
    if conn.dialect.name == "sqlite":
        found = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'"
        )
    else:
        found = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return {row[0] for row in found}


def audit_columns(conn) -> list[str]:
    if conn.dialect.name == "sqlite":
        return [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(audit)")]
    return [
        row[0]
        for row in conn.exec_driver_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = 'audit' ORDER BY ordinal_position"
        )
    ]


@dataclass(frozen=True)
class _Counter:
    """The table's id counter: ``present`` False when it is gone; ``value`` None when no id was
    handed out yet."""

    present: bool
    value: int | None


def _counter(conn) -> _Counter:
    if conn.dialect.name == "sqlite":
        found = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").first()
        return _Counter(found is not None, found[0] if found else None)
    name = conn.exec_driver_sql("SELECT pg_get_serial_sequence('audit', 'id')").scalar()
    if name is None:
        return _Counter(False, None)
    from sqlalchemy import text

    value = conn.execute(
        text("SELECT pg_sequence_last_value(CAST(:name AS regclass))"), {"name": name}
    ).scalar()
    return _Counter(True, value)


def _counter_break(conn, raw: list[dict[str, Any]]) -> chain.Break | None:
    """The id counter must equal the last row's id (deleting the last rows leaves a valid shorter
    chain; this is what notices it)."""
    counter = _counter(conn)
    seq = counter.value
    last_id = raw[-1]["id"] if raw else None
    last_case = raw[-1].get("case_id") if raw else None
    sqlite = conn.dialect.name == "sqlite"
    label = "sqlite_sequence" if sqlite else "the id sequence"
    if sqlite and last_id is not None and not counter.present:
        return chain.Break(
            last_id,
            last_case,
            "the table's AUTOINCREMENT counter is gone from sqlite_sequence; the file was edited",
        )
    if not sqlite and not counter.present:
        return chain.Break(
            last_id, last_case, "the table's id sequence is gone; the database was edited"
        )
    if seq is not None and (last_id is None or seq > last_id):
        shown = last_id if last_id is not None else "none"
        return chain.Break(
            seq,
            None,
            f"missing: {label} says {seq} rows were written but the last row is "
            f"{shown}; rows at the end were deleted (or {label} was edited)",
        )
    if seq is not None and last_id is not None and seq < last_id:
        return chain.Break(
            last_id, last_case, f"{label} ({seq}) is below this row's id; {label} was edited"
        )
    if seq is None and last_id is not None:  # PostgreSQL: the sequence was restarted
        return chain.Break(
            last_id, last_case, f"{label} was reset below this row's id; {label} was edited"
        )
    return None


def _audit_row(raw: dict[str, Any]) -> AuditRow:
    """A row as read (a file from before the chain columns has None for them)."""
    values: dict[str, Any] = {k: raw.get(k) for k in COLUMNS}
    return AuditRow(**values)


def read_chain(
    conn,
    *,
    expect_head: str | None = None,
    expect_rows: int | None = None,
) -> Snapshot:
    """Read every row and verify the chain and the id counter (inside the caller's transaction;
    on PostgreSQL the caller holds the audit lock, at least shared)."""
    result = conn.exec_driver_sql("SELECT * FROM audit ORDER BY id")
    names = list(result.keys())
    raw = [dict(zip(names, values, strict=True)) for values in result]
    rows = [_audit_row(r) for r in raw]
    check = chain.verify(raw, expect_head=expect_head, expect_rows=expect_rows)
    if check.ok:
        broken = _counter_break(conn, raw)
        if broken is not None:
            check = chain.Verification(check.rows, check.head, broken)
    return Snapshot(rows, check)


def broken_snapshot(problem: str) -> Snapshot:
    return Snapshot([], chain.Verification(0, chain.GENESIS, chain.Break(None, None, problem)))


HEX = frozenset("0123456789abcdef")


def verify_file(
    db: str | Path, *, expect_head: str | None = None, expect_rows: int | None = None
) -> chain.Verification:
    """``review audit verify``: open the audit database read-only (never creating, migrating or
    upgrading it) and verify it. ``db``: an SQLite path or a PostgreSQL URL. Raises AuditError:
    A001 no such file, A002 not an audit trail, A003 the chain is broken, A004
    the anchored head is not reached, A005 a malformed anchor, A006 a pre-chain file, A008 an
    unsupported ``--db``, A009 the database server cannot be reached or refuses the login."""
    target = parse_target(db)
    source = target.display
    if expect_head is not None:
        expect_head = expect_head.strip().lower()
        if len(expect_head) != 64 or not set(expect_head) <= HEX:
            raise AuditError(
                "A005",
                "--expect-head must be the 64-character hex head printed by an earlier "
                "`review audit verify`",
                source=source,
            )
    if expect_rows is not None and expect_head is None:
        raise AuditError("A005", "--expect-rows needs --expect-head", source=source)
    if target.path is not None:
        if not target.path.exists():
            raise AuditError(
                "A001",
                "no such file; give the --db path the workbench was started with",
                source=source,
            )
        if not target.path.is_file():
            raise AuditError("A001", "not a file; give the audit trail's file path", source=source)
    errors = db_errors()
    engine = make_engine(target, mode="ro")
    try:
        try:
            conn = engine.connect()
        except errors as exc:
            if target.is_sqlite:
                raise AuditError(
                    "A002", f"cannot open it as SQLite ({db_reason(target, exc)})", source=source
                ) from None
            raise AuditError(
                "A009",
                f"cannot connect to the audit database ({db_reason(target, exc)})",
                source=source,
            ) from None
        with conn:
            try:
                with conn.begin():
                    if not target.is_sqlite:
                        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                        lock(conn, shared=True)
                    snap = _verify_in(conn, source, expect_head, expect_rows)
            except errors as exc:
                raise AuditError(
                    "A002", f"not a workbench audit trail ({db_reason(target, exc)})", source=source
                ) from None
    finally:
        engine.dispose()
    broken = snap.check.broken
    if broken is not None:
        raise AuditError("A004" if broken.anchor else "A003", describe(broken), source=source)
    return snap.check


def _verify_in(conn, source: str, expect_head: str | None, expect_rows: int | None) -> Snapshot:
    columns = audit_columns(conn)
    if not set(LEGACY_COLUMNS) <= set(columns):
        raise AuditError(
            "A002",
            "not a workbench audit trail (no audit table with the workbench's columns)",
            source=source,
        )
    if not set(CHAIN_COLUMNS) <= set(columns):
        raise AuditError(
            "A006",
            "written before the audit trail was hash-chained, so there is nothing to verify; "
            "open it once with `review serve --db PATH` to add the chain",
            source=source,
        )
    return read_chain(conn, expect_head=expect_head, expect_rows=expect_rows)
