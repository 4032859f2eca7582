"""Blind second review: the audit trail's action CHECK widens to ``second_assign`` (a supervisor
sends a decided case to a second reviewer, blind to the first decision) and ``second_review`` (the
second reviewer's judgment, which decides nothing: the decision in force stays as it was).

Only the CHECK on ``action`` changes, the way 0002 widened it: PostgreSQL swaps the constraint;
SQLite rebuilds the table in the store's transaction (every row copied as it is, same ids and
bytes, so the chain verifies exactly as before; the AUTOINCREMENT counter put back to its old
value, or left absent when it was absent). The guards are installed again after.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from review.workbench import schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIONS = (
    "'accept', 'override', 'refer', 'confirm', 'reverse', 'assign', 'second_assign', "
    "'second_review'"
)

SQLITE_AUDIT = f"""
CREATE TABLE audit_0003 (
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
    schema.install_guards(bind)


def _rebuild_sqlite_audit(bind) -> None:
    counter = bind.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").first()
    bind.exec_driver_sql(SQLITE_AUDIT)
    bind.exec_driver_sql(
        f"INSERT INTO audit_0003 ({AUDIT_COLUMNS}) SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id"
    )
    bind.exec_driver_sql("DROP TABLE audit")  # its triggers and index go with it
    bind.exec_driver_sql("ALTER TABLE audit_0003 RENAME TO audit")
    bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name IN ('audit', 'audit_0003')")
    if counter is not None:
        bind.exec_driver_sql(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('audit', ?)", (counter[0],)
        )


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never migrated down")
