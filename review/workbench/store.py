"""The audit trail: an insert-only, hash-chained table of every accept and override (and, since
migration 0002, every referral to a physician, physician's confirm or reverse, and assignment: see
:data:`DECISION_ACTIONS` and :data:`WORKFLOW_ACTIONS`), in an SQLite
file (the embedded default) or a PostgreSQL database (a team), through SQLAlchemy 2 Core
(:mod:`.database` parses ``--db``; :mod:`.schema` holds the guards; the alembic migrations in
:mod:`review.workbench.migrations` create or adopt the table when a store opens a database).

Defences, from the cheapest to the one that matters:

- Triggers refuse UPDATE and DELETE (SQLite: and an INSERT whose id exists, which is what stops
  ``INSERT OR REPLACE``; PostgreSQL: and TRUNCATE). See :mod:`.schema`.
- Tamper evidence. Triggers stop accidents, not a person with the database shell (``DROP
  TRIGGER`` and then anything). So every row carries ``prev_hash`` and ``row_hash`` (see
  :mod:`review.workbench.chain`: sha256 over the sorted-key JSON of every other column, the
  previous hash included, the first row chained to a fixed genesis value), plus ``rec_sha256``,
  the sha256 of the recommendation JSON the reviewer saw. :meth:`AuditStore.verify` recomputes
  the chain and also requires the id counter to equal the last id (SQLite: the AUTOINCREMENT
  counter in ``sqlite_sequence``; PostgreSQL: the last value of the id column's identity
  sequence), so deleting the last row, which leaves a valid shorter chain, is noticed too.
- The limit, honestly: whoever can write the database can rewrite rows, recompute every hash
  after them and fix the counter, and the result verifies. Only a head hash kept elsewhere
  catches that: ``review audit verify`` prints ``ok: N rows, head HASH``; copy that into a ticket
  or a write-once store and later check it with ``--expect-head HASH`` (the chain must still
  contain that head, which pins every row up to it).

Writers serialise: SQLite with ``BEGIN IMMEDIATE``; PostgreSQL with a transaction-level advisory
lock, readers taking it shared. PostgreSQL's sequences are not transactional, so a writer inserts
the row with the next id and only then, as its last statement before COMMIT, moves the sequence to
it; a reader holding the shared lock never sees the sequence ahead of a row still uncommitted.
The one window left: a COMMIT that fails after that statement (the connection lost at that
instant) leaves the sequence one ahead, which verify reports as a deleted last row; check the
server's log for the lost transaction before resetting the sequence with ``setval``.

Files written before the chain existed (no hash columns) are upgraded when a store opens them
(the first migration): the columns are added and the chain computed over the existing rows once
(their ``rec_sha256`` is NULL: it was never recorded). That vouches only for what the file held at
the upgrade.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.workbench import chain
from review.workbench.database import (
    VERSION_TABLE,
    AuditError,
    Target,
    lock,
    make_engine,
    parse_target,
    upgrade,
)
from review.workbench.schema import CHAIN_COLUMNS, COLUMNS, LEGACY_COLUMNS, install_guards

DECISION_ACTIONS = ("accept", "override", "confirm", "reverse")
"""Rows that set the decision in force."""
WORKFLOW_ACTIONS = ("refer", "assign")
"""Rows that record a step without deciding: a nurse's medical-necessity denial referred to a
physician (the physician's ``confirm`` or ``reverse`` decides it), and an assignment change."""


class Conflict(Exception):
    """A workflow step refused because the case moved on (HTTP 409); nothing was written."""


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


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _reason(target: Target, exc: BaseException) -> str:
    """The driver's own first line for ``exc`` (never SQLAlchemy's, which carries the statement
    and its parameters), with any password masked."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return target.hide(lines[0] if lines else type(orig).__name__)


def _db_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    return (sqlite3.Error, SQLAlchemyError)


def _tables(conn) -> set[str]:
    if conn.dialect.name == "sqlite":
        found = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'"
        )
    else:
        found = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return {row[0] for row in found}


def _columns(conn) -> list[str]:
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


PG_FINGERPRINT = """
SELECT
    (SELECT count(*) || ':' || coalesce(md5(string_agg(
        id::text || '/' || xmin::text || '/' || ctid::text, ',' ORDER BY id)), '') FROM audit),
    (SELECT string_agg(attname || ':' || atttypid::text, ',' ORDER BY attnum) FROM pg_attribute
     WHERE attrelid = 'audit'::regclass AND attnum > 0 AND NOT attisdropped),
    CAST(CAST('audit' AS regclass) AS oid)::text,
    pg_sequence_last_value(CAST(pg_get_serial_sequence('audit', 'id') AS regclass))
"""
"""What changes whenever a row is inserted, updated (every row version has a new ``xmin``) or
deleted, a column added or dropped, the table replaced or the sequence moved."""


def _broken_snapshot(problem: str) -> Snapshot:
    return Snapshot([], chain.Verification(0, chain.GENESIS, chain.Break(None, None, problem)))


class AuditStore:
    """One audit database (an SQLite file or a PostgreSQL database). SQLite: a fresh connection
    per operation (the server runs handlers in threads); PostgreSQL: a small pool.

    Opening it runs the migrations (creating the table, or adopting a file the workbench wrote
    before migrations existed) and re-installs the insert-only guards. ``path`` is the SQLite file
    (None for PostgreSQL); ``location`` names the database in messages (password masked).
    """

    def __init__(self, db: str | Path):
        self.target = parse_target(db)
        self.path: Path | None = self.target.path
        self.location = self.target.display
        self._cache: tuple[Any, Snapshot] | None = None
        self._lock = threading.Lock()
        if self.path is not None:
            if self.path.is_dir():
                raise AuditError(
                    "A001", "is a folder; give the audit trail's file path", source=self.location
                )
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
        errors = _db_errors()
        engine = make_engine(self.target, mode="rwc")
        try:
            try:
                conn = engine.connect().execution_options(review_write=True)
            except errors as exc:
                reason = _reason(self.target, exc)
                if self.target.is_sqlite:
                    raise AuditError(
                        "A002", f"cannot open the audit trail ({reason})", source=self.location
                    ) from None
                raise AuditError(
                    "A009", f"cannot connect to the audit database ({reason})", source=self.location
                ) from None
            with conn:
                try:
                    with conn.begin():
                        lock(conn, shared=False)
                        self._check_schema(conn)
                        upgrade(conn)
                        install_guards(conn)
                except errors as exc:
                    reason = _reason(self.target, exc)
                    if self.target.is_sqlite:
                        raise AuditError(
                            "A002",
                            f"not a workbench audit trail ({reason}); give the audit file or a "
                            "new path",
                            source=self.location,
                        ) from None
                    raise AuditError(
                        "A010",
                        f"cannot set up the audit trail in this database ({reason}); the role "
                        "needs to own it or its schema",
                        source=self.location,
                    ) from None
        except BaseException:
            engine.dispose()
            raise
        if self.target.is_sqlite:
            engine.dispose()
            engine = make_engine(self.target, mode="rw")
        self.engine = engine

    def _check_schema(self, conn) -> None:
        """Refuse someone else's database before a migration writes anything into it."""
        tables = _tables(conn)
        if "audit" in tables:
            if not set(LEGACY_COLUMNS) <= set(_columns(conn)):
                raise AuditError(
                    "A002",
                    "its audit table lacks the workbench's columns; give the workbench's audit "
                    "file or a new path",
                    source=self.location,
                )
        elif VERSION_TABLE in tables:
            raise AuditError(
                "A003",
                "the audit table is gone from a database the workbench set up; restore it from a "
                "trusted copy",
                source=self.location,
            )
        elif conn.dialect.name == "sqlite" and tables:
            raise AuditError(
                "A002",
                "an SQLite database without an audit table; give the workbench's audit file or "
                "a new path",
                source=self.location,
            )

    def close(self) -> None:
        """Close pooled connections (PostgreSQL); the store stays usable."""
        self.engine.dispose()

    def connect(self, *, write: bool = False):
        """A SQLAlchemy connection (``with store.connect() as conn, conn.begin(): ...``); a
        write connection begins with ``BEGIN IMMEDIATE`` on SQLite."""
        conn = self.engine.connect()
        return conn.execution_options(review_write=True) if write else conn

    def insert(
        self,
        *,
        reviewer: str,
        case_key: str,
        case_id: str,
        action: str,
        from_decision: str | None,
        from_code: str | None,
        to_decision: str,
        to_code: str | None,
        reason: str,
        provenance: dict[str, Any],
        rec_sha256: str | None,
        at: str | None = None,
        check: Callable[[Snapshot], None] | None = None,
        also: Callable[[Any, int], None] | None = None,
    ) -> int:
        """Append one row chained to the last; refuses (A003) when the chain is already broken,
        checked in the same write transaction so nothing slips in between. A007: the database
        cannot be written (locked past the timeout, removed, read-only, unreachable).

        ``check(snapshot)``: called inside the write transaction with the rows as they are now
        (writers are serialised), before the row is written; it raises :class:`Conflict` when the
        case moved on since the reviewer's page was drawn (a referral already signed off, a case
        taken by someone else), and nothing is written. ``also(conn, row_id)``: further writes in
        the same transaction (the assignment table), committed with the row or not at all."""
        try:
            return self._insert(
                reviewer=reviewer,
                case_key=case_key,
                case_id=case_id,
                action=action,
                from_decision=from_decision,
                from_code=from_code,
                to_decision=to_decision,
                to_code=to_code,
                reason=reason,
                provenance=provenance,
                rec_sha256=rec_sha256,
                at=at,
                check=check,
                also=also,
            )
        except _db_errors() as exc:
            raise AuditError(
                "A007",
                f"cannot write the audit trail ({_reason(self.target, exc)}); nothing was "
                "recorded, try again",
                source=self.location,
            ) from None

    def _insert(
        self,
        *,
        reviewer: str,
        case_key: str,
        case_id: str,
        action: str,
        from_decision: str | None,
        from_code: str | None,
        to_decision: str,
        to_code: str | None,
        reason: str,
        provenance: dict[str, Any],
        rec_sha256: str | None,
        at: str | None,
        check: Callable[[Snapshot], None] | None = None,
        also: Callable[[Any, int], None] | None = None,
    ) -> int:
        from sqlalchemy import text

        with self.connect(write=True) as conn, conn.begin():
            lock(conn, shared=False)
            snap = read_chain(conn)
            if snap.check.broken is not None:
                raise AuditError("A003", describe(snap.check.broken), source=self.location)
            if check is not None:
                check(snap)
            row: dict[str, Any] = {
                "id": (snap.rows[-1].id if snap.rows else 0) + 1,
                "at": at or utc_now(),
                "reviewer": reviewer,
                "case_key": case_key,
                "case_id": case_id,
                "action": action,
                "from_decision": from_decision,
                "from_code": from_code,
                "to_decision": to_decision,
                "to_code": to_code,
                "reason": reason,
                "provenance": json.dumps(provenance, sort_keys=True, ensure_ascii=False),
                "rec_sha256": rec_sha256,
                "prev_hash": snap.check.head,
            }
            row["row_hash"] = chain.row_hash(row)
            conn.execute(
                text(
                    f"INSERT INTO audit ({', '.join(COLUMNS)}) "
                    f"VALUES ({', '.join(':' + name for name in COLUMNS)})"
                ),
                row,
            )
            if also is not None:
                also(conn, row["id"])
            if conn.dialect.name == "postgresql":  # last: a sequence move is not rolled back
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence('audit', 'id'), :id)"),
                    {"id": row["id"]},
                )
        return int(row["id"])

    def snapshot(self) -> Snapshot:
        """All rows and the chain's verification, from one read transaction. A database that
        cannot be read (removed, damaged, table dropped, server gone) is reported as a broken
        trail, not a crash.

        Pages call this on every render, so the result is kept until the database changes.
        SQLite: the key is the inode, size, mtime and ctime of the file and its WAL plus SQLite's
        own header (its change counter moves on every commit). A write through SQLite always
        changes it; only someone editing raw bytes and restoring the timestamps could keep it,
        and that person can forge the chain anyway (see the module docstring). PostgreSQL: the key
        is :data:`PG_FINGERPRINT`, read under the shared lock in the transaction that reads the
        rows when it differs. ``review audit verify`` never caches.
        """
        if not self.target.is_sqlite:
            return self._pg_snapshot()
        key = self._fingerprint()
        with self._lock:
            if key is not None and self._cache is not None and self._cache[0] == key:
                return self._cache[1]
        snap = self._read_snapshot()
        with self._lock:
            self._cache = (key, snap) if key is not None else None
        return snap

    def _fingerprint(self) -> tuple | None:
        assert self.path is not None
        parts: list[Any] = []
        for path, header in ((self.path, 100), (Path(f"{self.path}-wal"), 32)):
            try:
                with open(path, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    head = fh.read(header)
            except FileNotFoundError:
                parts.append(None)
                continue
            except OSError:
                return None
            parts.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, head))
        return tuple(parts) if parts[0] is not None else None

    def _read_snapshot(self) -> Snapshot:
        try:
            with self.connect() as conn, conn.begin():
                return read_chain(conn)
        except _db_errors() as exc:
            return _broken_snapshot(f"the audit table cannot be read ({_reason(self.target, exc)})")

    def _pg_snapshot(self) -> Snapshot:
        try:
            with self.connect() as conn, conn.begin():
                lock(conn, shared=True)
                key = tuple(conn.exec_driver_sql(PG_FINGERPRINT).one())
                with self._lock:
                    if self._cache is not None and self._cache[0] == key:
                        return self._cache[1]
                snap = read_chain(conn)
        except _db_errors() as exc:
            return _broken_snapshot(f"the audit table cannot be read ({_reason(self.target, exc)})")
        with self._lock:
            self._cache = (key, snap)
        return snap

    def verify(self) -> chain.Verification:
        return self.snapshot().check

    def rows(self, case_key: str | None = None) -> list[AuditRow]:
        rows = self.snapshot().rows
        return list(rows) if case_key is None else [r for r in rows if r.case_key == case_key]

    def latest(self) -> dict[str, AuditRow]:
        """The last review of each case (the decision in force)."""
        return latest_of(self.rows())

    def count(self) -> int:
        with self.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM audit").scalar())


def latest_of(rows: list[AuditRow]) -> dict[str, AuditRow]:
    """The last decision of each case in ``rows`` (in id order): an accept, override, or a
    physician's confirm or reverse. A referral or an assignment decides nothing."""
    return {row.case_key: row for row in rows if row.action in DECISION_ACTIONS}


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
    errors = _db_errors()
    engine = make_engine(target, mode="ro")
    try:
        try:
            conn = engine.connect()
        except errors as exc:
            if target.is_sqlite:
                raise AuditError(
                    "A002", f"cannot open it as SQLite ({_reason(target, exc)})", source=source
                ) from None
            raise AuditError(
                "A009",
                f"cannot connect to the audit database ({_reason(target, exc)})",
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
                    "A002", f"not a workbench audit trail ({_reason(target, exc)})", source=source
                ) from None
    finally:
        engine.dispose()
    broken = snap.check.broken
    if broken is not None:
        raise AuditError("A004" if broken.anchor else "A003", describe(broken), source=source)
    return snap.check


def _verify_in(conn, source: str, expect_head: str | None, expect_rows: int | None) -> Snapshot:
    columns = _columns(conn)
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
