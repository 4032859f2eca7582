"""The audit trail: an append-only SQLite table of every accept and override.

Rows are only ever INSERTed. Triggers make SQLite itself refuse UPDATE and DELETE on the table,
so a bug (or a person with the sqlite3 shell) cannot rewrite what a reviewer decided.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
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
    provenance TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_case ON audit (case_key, id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE is not allowed');
END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: DELETE is not allowed');
END;
"""

COLUMNS = (
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

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in COLUMNS}
        data["provenance"] = json.loads(self.provenance)
        return data


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class AuditStore:
    """One SQLite file; a fresh connection per operation (the server runs handlers in threads)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            con.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=10)
        try:
            with con:  # commit on success, roll back on error
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
        at: str | None = None,
    ) -> int:
        with self.connect() as con:
            cur = con.execute(
                "INSERT INTO audit (at, reviewer, case_key, case_id, action, from_decision,"
                " from_code, to_decision, to_code, reason, provenance)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at or utc_now(),
                    reviewer,
                    case_key,
                    case_id,
                    action,
                    from_decision,
                    from_code,
                    to_decision,
                    to_code,
                    reason,
                    json.dumps(provenance, sort_keys=True, ensure_ascii=False),
                ),
            )
            return int(cur.lastrowid)

    def rows(self, case_key: str | None = None) -> list[AuditRow]:
        query = f"SELECT {', '.join(COLUMNS)} FROM audit"
        args: tuple = ()
        if case_key is not None:
            query += " WHERE case_key = ?"
            args = (case_key,)
        with self.connect() as con:
            return [AuditRow(*row) for row in con.execute(query + " ORDER BY id", args)]

    def latest(self) -> dict[str, AuditRow]:
        """The last review of each case (the decision in force)."""
        return {row.case_key: row for row in self.rows()}

    def count(self) -> int:
        with self.connect() as con:
            return int(con.execute("SELECT count(*) FROM audit").fetchone()[0])
