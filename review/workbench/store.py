"""The audit trail: an insert-only, hash-chained SQLite table of every accept and override.

Defences, from the cheapest to the one that matters:

- Triggers make SQLite refuse UPDATE and DELETE, and refuse an INSERT whose id already exists.
  The last one is what stops ``INSERT OR REPLACE``: REPLACE deletes the old row first and, unless
  ``PRAGMA recursive_triggers`` is on, that delete fires no DELETE trigger; a BEFORE INSERT
  trigger runs before the conflict is resolved, so it sees the old row and aborts.
- Tamper evidence. Triggers stop accidents, not a person with the sqlite3 shell (``DROP
  TRIGGER`` and then anything). So every row carries ``prev_hash`` and ``row_hash`` (see
  :mod:`review.workbench.chain`: sha256 over the sorted-key JSON of every other column, the
  previous hash included, the first row chained to a fixed genesis value), plus ``rec_sha256``,
  the sha256 of the recommendation JSON the reviewer saw. :meth:`AuditStore.verify` recomputes
  the chain and also requires SQLite's AUTOINCREMENT counter (``sqlite_sequence``) to equal the
  last id, so deleting the last row, which leaves a valid shorter chain, is noticed too.
- The limit, honestly: whoever can write this file can rewrite rows, recompute every hash after
  them and fix ``sqlite_sequence``, and the result verifies. Only a head hash kept elsewhere
  catches that: ``review audit verify`` prints ``ok: N rows, head HASH``; copy that into a ticket
  or a write-once store and later check it with ``--expect-head HASH`` (the chain must still
  contain that head, which pins every row up to it).

Files written before the chain existed (no hash columns) are upgraded when a store opens them:
the columns are added and the chain computed over the existing rows once (their ``rec_sha256`` is
NULL: it was never recorded). That vouches only for what the file held at the upgrade.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.errors import ReviewError
from review.workbench import chain

TABLE = """
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    reviewer TEXT NOT NULL CHECK (length(trim(reviewer)) > 0),
    case_key TEXT NOT NULL,
    case_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('accept', 'override')),
    from_decision TEXT,
    from_code TEXT,
    to_decision TEXT NOT NULL CHECK (to_decision IN ('approve', 'pend', 'deny')),
    to_code TEXT,
    reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    provenance TEXT NOT NULL,
    rec_sha256 TEXT,
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL
)
"""
INDEX = "CREATE INDEX IF NOT EXISTS audit_case ON audit (case_key, id)"
NO_UPDATE = """
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE is not allowed');
END
"""
NO_DELETE = """
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: DELETE is not allowed');
END
"""
NO_REPLACE = """
CREATE TRIGGER IF NOT EXISTS audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: this id exists (INSERT OR REPLACE is not allowed)');
END
"""
TRIGGERS = (NO_UPDATE, NO_DELETE, NO_REPLACE)

LEGACY_COLUMNS = (
    "id",
    "at",
    "reviewer",
    "case_key",
    "case_id",
    "action",
    "from_decision",
    "from_code",
    "to_decision",
    "to_code",
    "reason",
    "provenance",
)
CHAIN_COLUMNS = ("rec_sha256", "prev_hash", "row_hash")
COLUMNS = LEGACY_COLUMNS + CHAIN_COLUMNS


class AuditError(ReviewError):
    """The audit file is missing, not an audit trail, fails verification or cannot be written
    (codes A001-A007)."""


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


def _uri(path: Path, mode: str) -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def _columns(con: sqlite3.Connection) -> list[str]:
    return [row[1] for row in con.execute("PRAGMA table_info(audit)")]


def _audit_row(raw: dict[str, Any]) -> AuditRow:
    """A row as read (a file from before the chain columns has None for them)."""
    values: dict[str, Any] = {k: raw.get(k) for k in COLUMNS}
    return AuditRow(**values)


def read_chain(
    con: sqlite3.Connection,
    *,
    expect_head: str | None = None,
    expect_rows: int | None = None,
) -> Snapshot:
    """Read every row and verify the chain and the AUTOINCREMENT counter (one read transaction
    when the caller holds one)."""
    cur = con.execute("SELECT * FROM audit ORDER BY id")
    names = [d[0] for d in cur.description]
    raw = [dict(zip(names, values, strict=True)) for values in cur]
    rows = [_audit_row(r) for r in raw]
    check = chain.verify(raw, expect_head=expect_head, expect_rows=expect_rows)
    if check.ok:
        found = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        seq = found[0] if found else None
        last_id = raw[-1]["id"] if raw else None
        last_case = raw[-1].get("case_id") if raw else None
        broken = None
        if last_id is not None and seq is None:
            broken = chain.Break(
                last_id,
                last_case,
                "the table's AUTOINCREMENT counter is gone from sqlite_sequence; the file was edited",
            )
        elif seq is not None and (last_id is None or seq > last_id):
            shown = last_id if last_id is not None else "none"
            broken = chain.Break(
                seq,
                None,
                f"missing: sqlite_sequence says {seq} rows were written but the last row is "
                f"{shown}; rows at the end were deleted (or sqlite_sequence was edited)",
            )
        elif seq is not None and seq < last_id:
            broken = chain.Break(
                last_id,
                last_case,
                f"sqlite_sequence ({seq}) is below this row's id; sqlite_sequence was edited",
            )
        if broken is not None:
            check = chain.Verification(check.rows, check.head, broken)
    return Snapshot(rows, check)


class AuditStore:
    """One SQLite file; a fresh connection per operation (the server runs handlers in threads)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._cache: tuple[tuple, Snapshot] | None = None
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise AuditError(
                "A001", "is a folder; give the audit trail's file path", source=str(self.path)
            )
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(_uri(self.path, "rwc"), uri=True, timeout=10)
        except sqlite3.Error as exc:
            raise AuditError(
                "A002", f"cannot open the audit trail ({exc})", source=str(self.path)
            ) from None
        con.isolation_level = None
        try:
            con.execute("BEGIN IMMEDIATE")
            self._create_or_upgrade(con)
            con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise AuditError(
                "A002",
                f"not a workbench audit trail ({exc}); give the audit file or a new path",
                source=str(self.path),
            ) from None
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _create_or_upgrade(self, con: sqlite3.Connection) -> None:
        columns = _columns(con)
        if not columns:
            others = con.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'"
            ).fetchone()[0]
            if others:
                raise AuditError(
                    "A002",
                    "an SQLite database without an audit table; give the workbench's audit file or "
                    "a new path",
                    source=str(self.path),
                )
            con.execute(TABLE)
        elif not set(LEGACY_COLUMNS) <= set(columns):
            raise AuditError(
                "A002",
                "its audit table lacks the workbench's columns; give the workbench's audit file or "
                "a new path",
                source=str(self.path),
            )
        elif not set(CHAIN_COLUMNS) <= set(columns):
            self._upgrade(con, columns)
        con.execute(INDEX)
        for trigger in TRIGGERS:
            con.execute(trigger)

    @staticmethod
    def _upgrade(con: sqlite3.Connection, columns: list[str]) -> None:
        """Add the chain columns to a pre-chain file and chain its rows (inside the caller's
        transaction: all or nothing)."""
        for name in CHAIN_COLUMNS:
            if name not in columns:
                con.execute(f"ALTER TABLE audit ADD COLUMN {name} TEXT")
        con.execute("DROP TRIGGER IF EXISTS audit_no_update")
        cur = con.execute("SELECT * FROM audit ORDER BY id")
        names = [d[0] for d in cur.description]
        prev = chain.GENESIS
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            row["prev_hash"] = prev
            row.pop("row_hash", None)
            prev = chain.row_hash(row)
            con.execute(
                "UPDATE audit SET prev_hash = ?, row_hash = ? WHERE id = ?",
                (row["prev_hash"], prev, row["id"]),
            )
        con.execute(NO_UPDATE)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (callers BEGIN themselves); ``mode=rw`` so a file
        removed under a running server is not silently recreated empty."""
        con = sqlite3.connect(_uri(self.path, "rw"), uri=True, timeout=10)
        con.isolation_level = None
        try:
            yield con
        finally:
            con.close()

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
    ) -> int:
        """Append one row chained to the last; refuses (A003) when the chain is already broken,
        checked in the same write transaction so nothing slips in between. A007: the file cannot
        be written (locked past the timeout, removed, read-only)."""
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
            )
        except sqlite3.Error as exc:
            raise AuditError(
                "A007",
                f"cannot write the audit trail ({exc}); nothing was recorded, try again",
                source=str(self.path),
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
    ) -> int:
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                snap = read_chain(con)
                if snap.check.broken is not None:
                    raise AuditError("A003", describe(snap.check.broken), source=str(self.path))
                found = con.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'audit'"
                ).fetchone()
                last_id = snap.rows[-1].id if snap.rows else 0
                row: dict[str, Any] = {
                    "id": max(found[0] if found else 0, last_id) + 1,
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
                con.execute(
                    f"INSERT INTO audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    tuple(row[name] for name in COLUMNS),
                )
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            return int(row["id"])

    def snapshot(self) -> Snapshot:
        """All rows and the chain's verification, from one read transaction. A file that cannot be
        read (removed, damaged, table dropped) is reported as a broken trail, not a crash.

        Pages call this on every render, so the result is kept until the file changes: the key is
        the inode, size, mtime and ctime of the file and its WAL plus SQLite's own header (its
        change counter moves on every commit). A write through SQLite always changes it; only
        someone editing raw bytes and restoring the timestamps could keep it, and that person can
        forge the chain anyway (see the module docstring). ``review audit verify`` never caches.
        """
        key = self._fingerprint()
        with self._lock:
            if key is not None and self._cache is not None and self._cache[0] == key:
                return self._cache[1]
        snap = self._read_snapshot()
        with self._lock:
            self._cache = (key, snap) if key is not None else None
        return snap

    def _fingerprint(self) -> tuple | None:
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
            with self.connect() as con:
                con.execute("BEGIN")
                try:
                    return read_chain(con)
                finally:
                    con.execute("ROLLBACK")
        except sqlite3.Error as exc:
            return Snapshot(
                [],
                chain.Verification(
                    0,
                    chain.GENESIS,
                    chain.Break(None, None, f"the audit table cannot be read ({exc})"),
                ),
            )

    def verify(self) -> chain.Verification:
        return self.snapshot().check

    def rows(self, case_key: str | None = None) -> list[AuditRow]:
        rows = self.snapshot().rows
        return list(rows) if case_key is None else [r for r in rows if r.case_key == case_key]

    def latest(self) -> dict[str, AuditRow]:
        """The last review of each case (the decision in force)."""
        return latest_of(self.rows())

    def count(self) -> int:
        with self.connect() as con:
            return int(con.execute("SELECT count(*) FROM audit").fetchone()[0])


def latest_of(rows: list[AuditRow]) -> dict[str, AuditRow]:
    """The last row of each case in ``rows`` (in id order)."""
    return {row.case_key: row for row in rows}


HEX = frozenset("0123456789abcdef")


def verify_file(
    path: Path, *, expect_head: str | None = None, expect_rows: int | None = None
) -> chain.Verification:
    """``review audit verify``: open ``path`` read-only (never creating or upgrading it) and verify
    it. Raises AuditError: A001 no such file, A002 not an audit trail, A003 the chain is broken,
    A004 the anchored head is not reached, A005 a malformed anchor, A006 a pre-chain file."""
    source = str(path)
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
    if not path.exists():
        raise AuditError(
            "A001",
            "no such file; give the --db path the workbench was started with",
            source=source,
        )
    if not path.is_file():
        raise AuditError("A001", "not a file; give the audit trail's file path", source=source)
    try:
        con = sqlite3.connect(_uri(path, "ro"), uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise AuditError("A002", f"cannot open it as SQLite ({exc})", source=source) from None
    try:
        con.isolation_level = None
        con.execute("BEGIN")
        columns = _columns(con)
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
        snap = read_chain(con, expect_head=expect_head, expect_rows=expect_rows)
    except sqlite3.DatabaseError as exc:
        raise AuditError("A002", f"not a workbench audit trail ({exc})", source=source) from None
    finally:
        con.close()
    broken = snap.check.broken
    if broken is not None:
        raise AuditError("A004" if broken.anchor else "A003", describe(broken), source=source)
    return snap.check
