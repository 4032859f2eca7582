"""The audit table's columns and the guards that make it insert-only, for SQLite and PostgreSQL.

The table itself is created by the migrations (:mod:`review.workbench.migrations`, frozen per
revision). The guards here are the current ones: the first migration installs them and the store
installs them again each time it opens a database (idempotent), so a dropped or disabled trigger
comes back on the next start. They stop accidents and casual edits, not the owner of the database
(who can drop them): the hash chain (:mod:`.chain`) is what detects an edit.

SQLite: BEFORE UPDATE and BEFORE DELETE triggers, and a BEFORE INSERT trigger refusing an id that
exists (what stops ``INSERT OR REPLACE``: REPLACE deletes the old row without firing a DELETE
trigger unless ``PRAGMA recursive_triggers`` is on, while a BEFORE INSERT trigger runs before the
conflict is resolved and sees the old row).

PostgreSQL: statement-level BEFORE UPDATE, DELETE and TRUNCATE triggers (so they fire even when no
row matches, and for ``INSERT ... ON CONFLICT DO UPDATE`` and ``MERGE``), enabled ALWAYS so that
``session_replication_role = replica`` does not silence them. PostgreSQL has no INSERT OR REPLACE;
a duplicate id is refused by the primary key.
"""

from __future__ import annotations

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

SQLITE_INDEX = "CREATE INDEX IF NOT EXISTS audit_case ON audit (case_key, id)"
SQLITE_NO_UPDATE = """
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE is not allowed');
END
"""
SQLITE_NO_DELETE = """
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: DELETE is not allowed');
END
"""
SQLITE_NO_REPLACE = """
CREATE TRIGGER IF NOT EXISTS audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: this id exists (INSERT OR REPLACE is not allowed)');
END
"""
SQLITE_TRIGGERS = (SQLITE_NO_UPDATE, SQLITE_NO_DELETE, SQLITE_NO_REPLACE)

PG_INDEX = "CREATE INDEX IF NOT EXISTS audit_case ON audit (case_key, id)"
PG_REFUSE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
PG_TRIGGERS = {
    "audit_no_update": "UPDATE",
    "audit_no_delete": "DELETE",
    "audit_no_truncate": "TRUNCATE",
}


def install_guards(conn) -> None:
    """Create (or re-enable) the index and the insert-only triggers; inside the caller's
    transaction. ``conn`` is a SQLAlchemy connection to a database that has the audit table."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(SQLITE_INDEX)
        for trigger in SQLITE_TRIGGERS:
            conn.exec_driver_sql(trigger)
        return
    conn.exec_driver_sql(PG_INDEX)
    present = dict(
        conn.exec_driver_sql(
            "SELECT tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = 'audit'::regclass AND NOT tgisinternal"
        ).all()
    )
    from sqlalchemy import text

    # always (a function replaced by a no-op is restored too); text(), since psycopg would take
    # the % in it for a placeholder
    conn.execute(text(PG_REFUSE))
    for name, event in PG_TRIGGERS.items():
        if name not in present:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE {event} ON audit "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
        if present.get(name) != "A":
            conn.exec_driver_sql(f"ALTER TABLE audit ENABLE ALWAYS TRIGGER {name}")
