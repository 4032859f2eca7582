"""Sign-in and workflow: users, server-side sessions and case assignments, and the audit trail's
new actions (a referral to a physician, the physician's confirm or reverse, an assignment).

New tables (both dialects; none is insert-only, none is part of the hash chain):

- ``users``: one row per account. ``roles`` is a comma-separated list from nurse, physician,
  supervisor, admin; ``password_hash`` an argon2id hash (NULL for an identity that signs in
  through an external provider); ``active`` 0 once disabled.
- ``sessions``: one row per sign-in, keyed by the sha256 of the cookie's token (the token itself
  is never stored); times in epoch seconds; ``ended_at`` set at sign-out, expiry or revocation.
- ``assignments``: the current assignee of a case. Every change is also an ``assign`` row of the
  audit trail (``audit_id``), written in the same transaction; the trail is the history.

The audit table keeps every row and every column: only the CHECK on ``action`` widens. PostgreSQL
swaps the constraint. SQLite cannot alter a CHECK, so the table is rebuilt in the store's
transaction: a new table with the wider CHECK, every row copied as it is (same ids, same bytes,
so the chain verifies exactly as before, and an edit made before the upgrade is still caught), the
old table dropped, the new one renamed, and the AUTOINCREMENT counter put back to the old value
(or left absent when it was absent: that is evidence too). The guards are installed again after.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from review.workbench import schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIONS = "'accept', 'override', 'refer', 'confirm', 'reverse', 'assign'"

SQLITE_AUDIT = f"""
CREATE TABLE audit_0002 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    reviewer TEXT NOT NULL CHECK (length(trim(reviewer)) > 0),
    case_key TEXT NOT NULL,
    case_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ({ACTIONS})),
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
AUDIT_COLUMNS = (
    "id, at, reviewer, case_key, case_id, action, from_decision, from_code, to_decision, "
    "to_code, reason, provenance, rec_sha256, prev_hash, row_hash"
)

USERS = """
CREATE TABLE users (
    username TEXT PRIMARY KEY CHECK (length(username) BETWEEN 1 AND 64),
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL CHECK (length(roles) > 0),
    password_hash TEXT,
    provider TEXT NOT NULL DEFAULT 'local',
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
)
"""
SESSIONS = """
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users (username),
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    ended_at BIGINT
)
"""
SESSIONS_INDEX = "CREATE INDEX sessions_user ON sessions (username)"
ASSIGNMENTS = """
CREATE TABLE assignments (
    case_key TEXT PRIMARY KEY,
    assignee TEXT NOT NULL REFERENCES users (username),
    assigned_by TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    audit_id BIGINT NOT NULL
)
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite_audit(bind)
    else:
        from sqlalchemy import text

        names = [
            row[0]
            for row in bind.execute(
                text(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'audit'::regclass "
                    "AND contype = 'c' AND pg_get_constraintdef(oid) LIKE :pattern"
                ),
                {"pattern": "%(action %"},
            )
        ]
        for name in names:
            bind.exec_driver_sql(f'ALTER TABLE audit DROP CONSTRAINT "{name}"')
        bind.exec_driver_sql(
            f"ALTER TABLE audit ADD CONSTRAINT audit_action_check CHECK (action IN ({ACTIONS}))"
        )
    for ddl in (USERS, SESSIONS, SESSIONS_INDEX, ASSIGNMENTS):
        bind.exec_driver_sql(ddl)
    schema.install_guards(bind)


def _rebuild_sqlite_audit(bind) -> None:
    counter = bind.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").first()
    bind.exec_driver_sql(SQLITE_AUDIT)
    bind.exec_driver_sql(
        f"INSERT INTO audit_0002 ({AUDIT_COLUMNS}) SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id"
    )
    bind.exec_driver_sql("DROP TABLE audit")  # its triggers and index go with it
    bind.exec_driver_sql("ALTER TABLE audit_0002 RENAME TO audit")
    bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name IN ('audit', 'audit_0002')")
    if counter is not None:
        bind.exec_driver_sql(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('audit', ?)", (counter[0],)
        )


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never migrated down")
