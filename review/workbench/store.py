"""The audit trail: an insert-only, hash-chained table of every accept and override (and, since
migration 0002, every referral to a physician, physician's confirm or reverse, and assignment; since
0003, every blind second review and its assignment: see
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
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from review.workbench import chain
from review.workbench.database import (
    VERSION_TABLE,
    AuditError,
    lock,
    make_engine,
    parse_target,
    upgrade,
)
from review.workbench.schema import COLUMNS, LEGACY_COLUMNS, install_guards
from review.workbench.trail import (
    AuditRow,
    Snapshot,
    audit_columns,
    broken_snapshot,
    db_errors,
    db_reason,
    describe,
    read_chain,
    table_names,
    verify_file,
)

DECISION_ACTIONS = ("accept", "override", "confirm", "reverse")
"""Rows that set the decision in force."""
WORKFLOW_ACTIONS = ("refer", "assign", "second_assign", "second_review")
"""Rows that record a step without deciding: a nurse's medical-necessity denial referred to a
physician (the physician's ``confirm`` or ``reverse`` decides it), an assignment change, and
(migration 0003) a supervisor's sending of a decided case to a blind second reviewer and that
reviewer's judgment (:mod:`.blind`), which is measured, never put in force."""


class Conflict(Exception):
    """A workflow step refused because the case moved on (HTTP 409); nothing was written."""


__all__ = [
    "DECISION_ACTIONS",
    "WORKFLOW_ACTIONS",
    "AuditError",
    "AuditRow",
    "AuditStore",
    "Conflict",
    "Snapshot",
    "describe",
    "latest_of",
    "utc_now",
    "verify_file",
]


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
        errors = db_errors()
        engine = make_engine(self.target, mode="rwc")
        try:
            try:
                conn = engine.connect().execution_options(review_write=True)
            except errors as exc:
                reason = db_reason(self.target, exc)
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
                    reason = db_reason(self.target, exc)
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
        tables = table_names(conn)
        if "audit" in tables:
            if not set(LEGACY_COLUMNS) <= set(audit_columns(conn)):
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
        except db_errors() as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: BaseException) -> AuditError:
        """A007: the database refused the write (locked past the timeout, removed, read-only,
        unreachable); the transaction rolled back, so nothing was recorded."""
        return AuditError(
            "A007",
            f"cannot write the audit trail ({db_reason(self.target, exc)}); nothing was "
            "recorded, try again",
            source=self.location,
        )

    def insert_many(
        self,
        entries: list[dict[str, Any]],
        *,
        check: Callable[[Snapshot], None] | None = None,
    ) -> list[int]:
        """Append several rows, chained one after the other, in one write transaction: all of them
        or none (a supervisor's sample of second reviews). Each entry holds :meth:`insert`'s
        keyword arguments but ``check`` and ``also``; errors as :meth:`insert`."""
        try:
            return self._insert_rows(entries, check=check, also=None)
        except db_errors() as exc:
            raise self._unwritable(exc) from None

    def _insert(
        self,
        *,
        check: Callable[[Snapshot], None] | None = None,
        also: Callable[[Any, int], None] | None = None,
        **entry: Any,
    ) -> int:
        return self._insert_rows([entry], check=check, also=also)[0]

    def _insert_rows(
        self,
        entries: list[dict[str, Any]],
        *,
        check: Callable[[Snapshot], None] | None = None,
        also: Callable[[Any, int], None] | None = None,
    ) -> list[int]:
        from sqlalchemy import text

        ids: list[int] = []
        with self.connect(write=True) as conn, conn.begin():
            lock(conn, shared=False)
            snap = read_chain(conn)
            if snap.check.broken is not None:
                raise AuditError("A003", describe(snap.check.broken), source=self.location)
            if check is not None:
                check(snap)
            last_id = snap.rows[-1].id if snap.rows else 0
            prev = snap.check.head
            for entry in entries:
                row: dict[str, Any] = {
                    "id": last_id + 1,
                    "at": entry.get("at") or utc_now(),
                    "reviewer": entry["reviewer"],
                    "case_key": entry["case_key"],
                    "case_id": entry["case_id"],
                    "action": entry["action"],
                    "from_decision": entry["from_decision"],
                    "from_code": entry["from_code"],
                    "to_decision": entry["to_decision"],
                    "to_code": entry["to_code"],
                    "reason": entry["reason"],
                    "provenance": json.dumps(
                        entry["provenance"], sort_keys=True, ensure_ascii=False
                    ),
                    "rec_sha256": entry["rec_sha256"],
                    "prev_hash": prev,
                }
                row["row_hash"] = prev = chain.row_hash(row)
                conn.execute(
                    text(
                        f"INSERT INTO audit ({', '.join(COLUMNS)}) "
                        f"VALUES ({', '.join(':' + name for name in COLUMNS)})"
                    ),
                    row,
                )
                last_id = int(row["id"])
                ids.append(last_id)
                if also is not None:
                    also(conn, last_id)
            if (
                ids and conn.dialect.name == "postgresql"
            ):  # last: a sequence move is not rolled back
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence('audit', 'id'), :id)"),
                    {"id": last_id},
                )
        return ids

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
        except db_errors() as exc:
            return broken_snapshot(
                f"the audit table cannot be read ({db_reason(self.target, exc)})"
            )

    def _pg_snapshot(self) -> Snapshot:
        try:
            with self.connect() as conn, conn.begin():
                lock(conn, shared=True)
                key = tuple(conn.exec_driver_sql(PG_FINGERPRINT).one())
                with self._lock:
                    if self._cache is not None and self._cache[0] == key:
                        return self._cache[1]
                snap = read_chain(conn)
        except db_errors() as exc:
            return broken_snapshot(
                f"the audit table cannot be read ({db_reason(self.target, exc)})"
            )
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
