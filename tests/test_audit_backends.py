"""The audit trail on both backends (review/workbench/store.py, database.py, schema.py, the
migrations): SQLite files and a real PostgreSQL server (conftest.py starts a throwaway cluster;
``audit_db`` is a path or a URL to an empty schema).

Each backend must refuse UPDATE and DELETE (SQLite also INSERT OR REPLACE, PostgreSQL also
TRUNCATE and upserts) and leave the rows as they were; notice an edit made after dropping or
disabling the guards, including the deletion of the last row (the id counter); record concurrent
inserts exactly once with a valid chain; run its migrations on open; and never show a password.
An SQLite file written by the code before migrations existed is adopted without losing a byte.

Expected hashes are recomputed from the documented format, not with the code under test.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
from pathlib import Path

import audit_db as shell
import pytest
from cli_run import run_main

from review.workbench.store import AuditError, AuditStore, verify_file

pytest.importorskip("sqlalchemy", reason="the workbench extra is not installed")

GENESIS = "0" * 64
CASES = [
    ("pend-no-conservative-care", "EX-002"),
    ("downcode-20553-two-muscles", "EX-004"),
    ("approve-cervical-tpi", "EX-001"),
    ("deny-dry-needling", "EX-003"),
    ("pend-no-conservative-care", "EX-002"),
]

# The schema review/workbench/store.py created before alembic (at b71b88a), copied as it was.
SCHEMA_BEFORE_MIGRATIONS = """
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
CREATE TRIGGER IF NOT EXISTS audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: this id exists (INSERT OR REPLACE is not allowed)');
END;
"""


def expected_hash(row: dict) -> str:
    body = {k: v for k, v in row.items() if k != "row_hash"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def review_row(store: AuditStore, i: int, **extra) -> int:
    key, case_id = CASES[i % len(CASES)]
    return store.insert(
        reviewer=f"Nurse {i + 1}",
        case_key=key,
        case_id=case_id,
        action="override" if i % 2 else "accept",
        from_decision="pend",
        from_code="20552",
        to_decision="approve" if i % 2 else "pend",
        to_code="20552",
        reason=extra.pop("reason", f"reason {i + 1}: documentation reviewed"),
        provenance={"version": "0.1.0"},
        rec_sha256=hashlib.sha256(f"rec {i}".encode()).hexdigest(),
        at=f"2026-03-0{i % 9 + 1}T10:00:00Z",
    )


def write_trail(db, n: int = 5) -> AuditStore:
    store = AuditStore(db)
    for i in range(n):
        review_row(store, i)
    return store


@pytest.fixture
def trail(audit_db):
    """Five reviews on this backend."""
    write_trail(audit_db)
    return audit_db


def assert_chain(rows: list[dict]) -> None:
    prev = GENESIS
    for row in rows:
        assert row["prev_hash"] == prev and row["row_hash"] == expected_hash(row), row["id"]
        prev = row["row_hash"]


# --------------------------------------------------------------------------- insert-only


REFUSED = {
    "sqlite": [
        "UPDATE audit SET to_decision = 'deny' WHERE id = 2",
        "DELETE FROM audit WHERE id = 5",
        "DELETE FROM audit",
        "INSERT OR REPLACE INTO audit SELECT * FROM audit WHERE id = 3",
        "REPLACE INTO audit SELECT * FROM audit WHERE id = 3",
        "INSERT INTO audit SELECT * FROM audit WHERE id = 2"
        " ON CONFLICT(id) DO UPDATE SET to_decision = 'deny'",
    ],
    "postgresql": [
        "UPDATE audit SET to_decision = 'deny' WHERE id = 2",
        "UPDATE audit SET reason = reason WHERE id = 999",  # refused even when no row matches
        "DELETE FROM audit WHERE id = 5",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "TRUNCATE audit RESTART IDENTITY CASCADE",
        "INSERT INTO audit SELECT * FROM audit WHERE id = 2"
        " ON CONFLICT (id) DO UPDATE SET to_decision = 'deny'",
        "MERGE INTO audit a USING (SELECT 2 AS id) s ON a.id = s.id"
        " WHEN MATCHED THEN UPDATE SET reason = 'merged'",
        "MERGE INTO audit a USING (SELECT 5 AS id) s ON a.id = s.id WHEN MATCHED THEN DELETE",
    ],
}


def backend(db) -> str:
    return "postgresql" if shell.is_postgres(db) else "sqlite"


def test_every_change_to_a_written_row_is_refused_and_nothing_changes(trail):
    before = shell.rows(trail)
    assert len(before) == 5
    for sql in REFUSED[backend(trail)]:
        with pytest.raises(shell.db_errors(), match="append-only"):
            shell.execute(trail, sql)
        assert shell.rows(trail) == before, sql
    assert verify_file(trail).rows == 5


def test_a_duplicate_id_is_refused(trail):
    before = shell.rows(trail)
    with pytest.raises(shell.db_errors()):
        shell.execute(trail, "INSERT INTO audit SELECT * FROM audit WHERE id = 3")
    assert shell.rows(trail) == before


def test_reopening_restores_a_dropped_or_disabled_guard(trail):
    if backend(trail) == "postgresql":
        shell.execute(
            trail,
            "DROP TRIGGER audit_no_delete ON audit",
            "ALTER TABLE audit DISABLE TRIGGER audit_no_update",
            "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NULL; END $$",  # a no-op in place of the refusal
        )
        refused = [
            "DELETE FROM audit WHERE id = 5",
            "UPDATE audit SET reason = 'x'",
            "TRUNCATE audit",
        ]
    else:
        shell.execute(trail, "DROP TRIGGER audit_no_delete", "DROP TRIGGER audit_no_replace")
        refused = [
            "DELETE FROM audit WHERE id = 5",
            "INSERT OR REPLACE INTO audit SELECT * FROM audit WHERE id = 3",
        ]
    AuditStore(trail)
    before = shell.rows(trail)
    for sql in refused:
        with pytest.raises(shell.db_errors(), match="append-only"):
            shell.execute(trail, sql)
    assert shell.rows(trail) == before


# --------------------------------------------------------------------------- tampering


# backend -> name -> (statements, the row verify must name, words in the problem)
TAMPERING = {
    "sqlite": {
        "update-a-row": (
            ["DROP TRIGGER audit_no_update", "UPDATE audit SET reason = 'x' WHERE id = 2"],
            2,
            "row_hash does not match its contents",
        ),
        "delete-a-middle-row": (
            ["DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE id = 3"],
            4,
            "prev_hash does not match the row before it",
        ),
        "delete-the-last-row": (
            ["DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE id = 5"],
            5,
            "rows at the end were deleted",
        ),
        "raise-the-counter": (
            ["UPDATE sqlite_sequence SET seq = 8 WHERE name = 'audit'"],
            8,
            "says 8 rows were written but the last row is 5",
        ),
    },
    "postgresql": {
        "update-a-row": (
            [
                "ALTER TABLE audit DISABLE TRIGGER audit_no_update",
                "UPDATE audit SET reason = 'x' WHERE id = 2",
            ],
            2,
            "row_hash does not match its contents",
        ),
        "drop-the-update-trigger-then-update": (
            [
                "DROP TRIGGER audit_no_update ON audit",
                "UPDATE audit SET to_decision = 'deny' WHERE id = 4",
            ],
            4,
            "row_hash does not match its contents",
        ),
        "delete-a-middle-row": (
            ["DROP TRIGGER audit_no_delete ON audit", "DELETE FROM audit WHERE id = 3"],
            4,
            "prev_hash does not match the row before it",
        ),
        "delete-the-first-row": (
            ["DROP TRIGGER audit_no_delete ON audit", "DELETE FROM audit WHERE id = 1"],
            2,
            "prev_hash is not the genesis value",
        ),
        "delete-the-last-row": (
            ["DROP TRIGGER audit_no_delete ON audit", "DELETE FROM audit WHERE id = 5"],
            5,
            "rows at the end were deleted",
        ),
        "truncate": (
            ["DROP TRIGGER audit_no_truncate ON audit", "TRUNCATE audit"],
            5,
            "rows at the end were deleted",
        ),
        "raise-the-sequence": (
            ["SELECT setval(pg_get_serial_sequence('audit', 'id'), 8)"],
            8,
            "the id sequence says 8 rows were written but the last row is 5",
        ),
        "lower-the-sequence": (
            ["SELECT setval(pg_get_serial_sequence('audit', 'id'), 4)"],
            5,
            "the id sequence (4) is below",
        ),
        "restart-the-sequence": (
            ["ALTER TABLE audit ALTER COLUMN id RESTART"],
            5,
            "the id sequence was reset",
        ),
        "drop-the-sequence": (
            ["ALTER TABLE audit ALTER COLUMN id DROP IDENTITY"],
            5,
            "id sequence is gone",
        ),
        "add-a-column": (["ALTER TABLE audit ADD COLUMN note TEXT"], 1, "row_hash does not match"),
        "change-a-column-type": (
            ["ALTER TABLE audit ALTER COLUMN provenance TYPE jsonb USING provenance::jsonb"],
            1,
            "row_hash does not match",
        ),
        "append-a-row-without-a-valid-hash": (
            [
                "INSERT INTO audit (at, reviewer, case_key, case_id, action, to_decision, reason,"
                " provenance, prev_hash, row_hash) SELECT at, reviewer, case_key, case_id, action,"
                " to_decision, reason, provenance, row_hash, row_hash FROM audit WHERE id = 5"
            ],
            6,
            "row_hash does not match its contents",
        ),
    },
}
CASES_BY_BACKEND = [(b, name) for b, by_name in TAMPERING.items() for name in sorted(by_name)]


@pytest.fixture
def tamper_db(request, tmp_path):
    kind, _ = request.param
    if kind == "sqlite":
        return tmp_path / "audit.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize(
    ("tamper_db", "case"),
    [((b, n), (b, n)) for b, n in CASES_BY_BACKEND],
    indirect=["tamper_db"],
    ids=[f"{b}-{n}" for b, n in CASES_BY_BACKEND],
)
def test_an_edit_behind_the_guards_is_named_by_verify_and_seen_by_an_open_store(tamper_db, case):
    kind, name = case
    statements, row, words = TAMPERING[kind][name]
    store = write_trail(tamper_db)
    assert store.snapshot().check.ok  # cached before the edit
    shell.execute(tamper_db, *statements)
    with pytest.raises(AuditError) as info:
        verify_file(tamper_db)
    assert info.value.code == "A003"
    assert str(info.value).startswith(f"[A003] {store.location}: audit row {row}")
    assert words in str(info.value)
    broken = store.snapshot().check.broken  # the running workbench sees it at once
    assert broken is not None and broken.row_id == row and words in broken.problem
    with pytest.raises(AuditError, match=r"^\[A003\] "):
        review_row(store, 7)  # and refuses to append to it


def test_a_recomputed_chain_is_caught_only_by_an_anchored_head(trail):
    anchor = verify_file(trail)
    off = (
        "ALTER TABLE audit DISABLE TRIGGER audit_no_update"
        if backend(trail) == "postgresql"
        else "DROP TRIGGER audit_no_update"
    )
    shell.execute(trail, off, "UPDATE audit SET to_decision = 'deny' WHERE id = 2")
    prev = GENESIS
    for row in shell.rows(trail):
        row["prev_hash"] = prev
        row["row_hash"] = prev = expected_hash(row)
        placeholder = "%s" if backend(trail) == "postgresql" else "?"
        shell.execute(
            trail,
            f"UPDATE audit SET prev_hash = {placeholder}, row_hash = {placeholder}"
            f" WHERE id = {placeholder}",
            params=(row["prev_hash"], row["row_hash"], row["id"]),
        )
    forged = verify_file(trail)
    assert forged.ok and forged.head != anchor.head
    with pytest.raises(AuditError) as info:
        verify_file(trail, expect_head=anchor.head)
    assert info.value.code == "A004"


# --------------------------------------------------------------------------- writing


def test_rows_follow_the_documented_chain_on_both_backends(trail):
    rows = shell.rows(trail)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert_chain(rows)
    check = verify_file(trail)
    assert check.ok and check.rows == 5 and check.head == rows[-1]["row_hash"]


def test_the_same_reviews_hash_the_same_on_sqlite_and_postgresql(tmp_path, postgres_url):
    """The chain is database-independent: a trail copied between backends verifies."""
    lite = tmp_path / "a.sqlite"
    write_trail(lite)
    write_trail(postgres_url)
    assert verify_file(lite).head == verify_file(postgres_url).head
    assert shell.rows(lite) == shell.rows(postgres_url)


def test_twenty_concurrent_inserts_are_each_recorded_once_with_a_valid_chain(audit_db):
    """20 writers at once, while readers verify: every review is recorded once, the chain holds,
    and no reader ever sees a false break (on PostgreSQL the sequence moves outside the
    transaction; the shared lock keeps readers from seeing it ahead of an uncommitted row)."""
    store = AuditStore(audit_db)
    reader = AuditStore(audit_db)
    start = threading.Barrier(21)
    done = threading.Event()
    ids: list[int] = []
    failures: list[BaseException] = []
    seen: list[str] = []

    def write(i: int) -> None:
        try:
            start.wait(timeout=30)
            ids.append(review_row(store, i, reason=f"concurrent review {i}"))
        except BaseException as exc:  # reported below
            failures.append(exc)

    def read() -> None:
        start.wait(timeout=30)
        while not done.is_set():
            reader._cache = None  # a full read every time
            broken = reader.snapshot().check.broken
            if broken is not None:
                seen.append(broken.problem)
            try:
                verify_file(audit_db)
            except AuditError as exc:
                seen.append(str(exc))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    watcher = threading.Thread(target=read)
    for t in [*threads, watcher]:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    watcher.join(timeout=60)
    assert not failures, failures
    assert not seen, seen[:3]
    assert sorted(ids) == list(range(1, 21))
    rows = shell.rows(audit_db)
    assert sorted(r["reason"] for r in rows) == sorted(f"concurrent review {i}" for i in range(20))
    assert_chain(rows)
    assert verify_file(audit_db).rows == 20


def test_a_failed_insert_leaves_nothing_behind_and_the_trail_verifies(audit_db):
    store = write_trail(audit_db, 2)
    with pytest.raises(AuditError) as info:
        review_row(store, 2, reason="   ")  # the table's CHECK refuses a blank reason
    assert info.value.code == "A007" and "nothing was recorded" in str(info.value)
    assert len(shell.rows(audit_db)) == 2
    assert verify_file(audit_db).ok  # on PostgreSQL the sequence did not move either
    assert review_row(store, 3) == 3


HEAD = "0003"  # the newest migration (0003: blind second review actions)


def test_migrations_run_on_open_and_are_recorded(audit_db):
    AuditStore(audit_db)
    assert _versions(audit_db) == [HEAD]
    AuditStore(audit_db)  # opening again migrates nothing
    assert _versions(audit_db) == [HEAD]


def _versions(db) -> list[str]:
    if shell.is_postgres(db):
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(db)
        with psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
            options=url.query["options"],
        ) as con:
            return [r[0] for r in con.execute("SELECT version_num FROM audit_schema_version")]
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT version_num FROM audit_schema_version")]
    finally:
        con.close()


def test_a_database_whose_audit_table_was_dropped_is_not_recreated_empty(audit_db):
    write_trail(audit_db, 2)
    shell.execute(audit_db, "DROP TABLE audit")
    with pytest.raises(AuditError) as info:
        AuditStore(audit_db)
    assert info.value.code == "A003" and "the audit table is gone" in str(info.value)
    with pytest.raises(AuditError, match=r"^\[A002\] "):
        verify_file(audit_db)


# --------------------------------------------------------------------------- adopting old files


def file_before_migrations(path: Path, n: int = 4) -> list[tuple]:
    """An audit file exactly as the code before migrations wrote it: its DDL, and rows chained
    the documented way (the pre-migration store inserted explicit ids the same way)."""
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(SCHEMA_BEFORE_MIGRATIONS)
    prev = GENESIS
    for i in range(1, n + 1):
        key, case_id = CASES[i % len(CASES)]
        row = {
            "id": i,
            "at": f"2026-01-0{i}T08:00:00Z",
            "reviewer": "Earlier Nurse",
            "case_key": key,
            "case_id": case_id,
            "action": "accept",
            "from_decision": "pend",
            "from_code": "20552",
            "to_decision": "pend",
            "to_code": "20552",
            "reason": f"before migrations {i}",
            "provenance": json.dumps({"version": "0.1.0"}),
            "rec_sha256": hashlib.sha256(f"r{i}".encode()).hexdigest(),
            "prev_hash": prev,
        }
        row["row_hash"] = prev = expected_hash(row)
        con.execute(
            f"INSERT INTO audit ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
    rows = con.execute("SELECT * FROM audit ORDER BY id").fetchall()
    con.close()
    return rows


def schema_of(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'audit' ORDER BY name"
        ).fetchall()
    finally:
        con.close()


def test_a_file_from_before_migrations_is_adopted_without_loss(tmp_path):
    path = tmp_path / "before.sqlite"
    old_rows = file_before_migrations(path)
    old_schema = schema_of(path)
    head = verify_file(path).head  # verify reads it as it is, without migrating
    assert _tables(path) == {"audit", "sqlite_sequence"}

    store = AuditStore(path)
    assert shell.tuples(path) == old_rows  # every row, every column, unchanged
    # the index and triggers as they were; the table as it was but for the wider action CHECK
    # (0002 rebuilds it: SQLite cannot alter a CHECK)
    new_schema = schema_of(path)
    assert [s for s in new_schema if s[0] != "table"] == [s for s in old_schema if s[0] != "table"]
    (old_table,) = [s[2] for s in old_schema if s[0] == "table"]
    (new_table,) = [s[2] for s in new_schema if s[0] == "table"]
    widened = old_table.replace(
        "action IN ('accept', 'override')",
        "action IN ('accept', 'override', 'refer', 'confirm', 'reverse', 'assign', 'second_assign', "
        "'second_review')",
    )
    assert new_table.replace('"audit"', "audit") == widened
    assert _versions(path) == [HEAD]
    assert verify_file(path).head == head
    assert review_row(store, 5) == 5  # appends continue the old chain
    rows = shell.rows(path)
    assert rows[4]["prev_hash"] == head
    assert_chain(rows)
    with pytest.raises(shell.db_errors(), match="append-only"):
        shell.execute(path, "DELETE FROM audit WHERE id = 1")


def test_an_adopted_file_keeps_detecting_an_edit_made_before_the_upgrade(tmp_path):
    path = tmp_path / "before.sqlite"
    file_before_migrations(path)
    shell.execute(
        path, "DROP TRIGGER audit_no_update", "UPDATE audit SET reason = 'x' WHERE id = 2"
    )
    store = AuditStore(path)  # adopting does not launder the edit
    with pytest.raises(AuditError, match=r"audit row 2 "):
        verify_file(path)
    assert store.snapshot().check.broken.row_id == 2


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (("DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE id = 4"), "rows at the end"),
        (("DELETE FROM sqlite_sequence",), "AUTOINCREMENT counter is gone"),
    ],
)
def test_rebuilding_the_table_keeps_the_counter_as_evidence(tmp_path, tamper, problem):
    """0002 rebuilds the SQLite table: the id counter comes back as it was (ahead of the last row,
    or absent), so a deletion made before the upgrade is still reported after it."""
    path = tmp_path / "before.sqlite"
    file_before_migrations(path)
    shell.execute(path, *tamper)
    store = AuditStore(path)
    broken = store.snapshot().check.broken
    assert broken is not None and problem in broken.problem
    with pytest.raises(AuditError, match=problem):
        verify_file(path)


def test_a_file_from_before_the_chain_is_chained_and_stamped_in_one_step(tmp_path):
    path = tmp_path / "pre-chain.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(
        SCHEMA_BEFORE_MIGRATIONS.replace("    rec_sha256 TEXT,\n", "")
        .replace("    prev_hash TEXT NOT NULL,\n", "")
        .replace(",\n    row_hash TEXT NOT NULL\n", "\n")
    )
    for i in (1, 2):
        con.execute(
            "INSERT INTO audit (at, reviewer, case_key, case_id, action, to_decision, reason,"
            " provenance) VALUES (?, 'Old Nurse', 'k', 'C-1', 'accept', 'pend', ?, '{}')",
            (f"2025-11-0{i}T09:00:00Z", f"old reason {i}"),
        )
    old = con.execute("SELECT * FROM audit ORDER BY id").fetchall()
    con.close()
    AuditStore(path)
    rows = shell.rows(path)
    assert [tuple(r.values())[:12] for r in rows] == old
    assert [r["rec_sha256"] for r in rows] == [None, None]
    assert_chain(rows)
    assert _versions(path) == [HEAD]


def test_a_role_that_cannot_create_the_table_is_told_so(postgres_cluster, postgres_url):
    name = f"r_{secrets.token_hex(4)}"
    admin = postgres_cluster.admin()
    admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}'")
    schema = re.search(r"search_path%3D(\w+)", postgres_url).group(1)
    admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {name}")  # it may look, not create
    try:
        url = postgres_url.replace(f"postgres:{postgres_cluster.password}@", f"{name}:pw-{name}@")
        with pytest.raises(AuditError) as info:
            AuditStore(url)
        assert info.value.code == "A010"
        assert "cannot set up the audit trail" in str(info.value)
        assert "permission denied" in str(info.value) and f"pw-{name}" not in str(info.value)
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
        )
        admin.execute(f"DROP OWNED BY {name}")
        admin.execute(f"DROP ROLE {name}")


def _tables(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


# --------------------------------------------------------------------------- --db and passwords


def test_cli_verify_takes_a_path_or_a_url(trail, monkeypatch, capsys):
    head = shell.rows(trail)[-1]["row_hash"]
    code, out, err = run_main(monkeypatch, capsys, "audit", "verify", "--db", str(trail))
    assert (code, out, err) == (0, f"ok: 5 rows, head {head}\n", "")


def test_a_password_is_never_printed(postgres_cluster, postgres_url, monkeypatch, capsys):
    password = postgres_cluster.password
    store = write_trail(postgres_url, 2)
    assert password not in store.location and ":***@" in store.location
    shell.execute(
        postgres_url,
        "DROP TRIGGER audit_no_delete ON audit",
        "DELETE FROM audit WHERE id = 2",
    )
    code, out, err = run_main(monkeypatch, capsys, "audit", "verify", "--db", postgres_url)
    assert code == 2 and "[A003]" in err and ":***@" in err and password not in out + err
    wrong = postgres_url.replace(password, "not-the-password-42")
    for args in (["--db", wrong], ["--db", wrong.replace("+psycopg", "")]):
        code, out, err = run_main(monkeypatch, capsys, "audit", "verify", *args)
        assert code == 2 and err.startswith("error: [A009] ")
        assert "password authentication failed" in err
        assert "not-the-password-42" not in out + err and "Traceback" not in err
    with pytest.raises(AuditError) as info:
        AuditStore(wrong)
    assert info.value.code == "A009" and "not-the-password-42" not in str(info.value)


def test_the_workbench_banner_names_the_database_without_its_password(
    postgres_cluster, postgres_url
):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from review.workbench.app import create_app
    from review.workbench.cases import load_cases

    write_trail(postgres_url, 3)
    app = create_app(load_cases(Path(__file__).parents[1] / "examples"), postgres_url)
    shell.execute(
        postgres_url,
        "ALTER TABLE audit DISABLE TRIGGER audit_no_update",
        "UPDATE audit SET reason = 'x' WHERE id = 2",
    )
    html = TestClient(app, base_url="http://127.0.0.1").get("/").text
    assert re.search(
        r'id="audit-alert"[^>]*><strong>The audit trail failed verification at row 2', html
    )
    assert "review audit verify --db postgresql+psycopg://postgres:***@" in html
    assert postgres_cluster.password not in html


def test_serve_names_the_database_without_its_password(
    postgres_cluster, postgres_url, monkeypatch, capsys
):
    uvicorn = pytest.importorskip("uvicorn")
    from review.workbench.serve import serve

    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw["port"]))
    examples = Path(__file__).parents[1] / "examples" / "approve-cervical-tpi"
    serve(cases=examples, results=None, host="127.0.0.1", port=8999, db=postgres_url)
    err = capsys.readouterr().err
    assert ran == [8999] and "audit trail postgresql+psycopg://postgres:***@127.0.0.1:" in err
    write_trail(postgres_url, 2)
    shell.execute(postgres_url, "SELECT setval(pg_get_serial_sequence('audit', 'id'), 9)")
    serve(cases=examples, results=None, host="127.0.0.1", port=8999, db=postgres_url)
    err = capsys.readouterr().err
    assert "warning: [A003] postgresql+psycopg://postgres:***@" in err and "audit row 9" in err
    assert postgres_cluster.password not in err


def test_serve_refuses_a_wrong_password_before_reviewing_the_cases(postgres_url, monkeypatch):
    pytest.importorskip("uvicorn")
    import review.workbench.cases
    from review.workbench.serve import serve

    def never(*_a, **_k):
        raise AssertionError("the cases were loaded before the database was opened")

    monkeypatch.setattr(review.workbench.cases, "load_cases", never)
    wrong = re.sub(r":[0-9a-f]{32}@", ":wrong-password-7@", postgres_url)
    with pytest.raises(AuditError) as info:
        serve(cases=Path("examples"), results=None, host="127.0.0.1", port=8999, db=wrong)
    assert info.value.code == "A009" and "wrong-password-7" not in str(info.value)


@pytest.mark.parametrize(
    ("db", "expected", "words"),
    [
        ("mysql://root:hunter2hunter2@127.0.0.1/audit", "A008", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://u:hunter2hunter2@127.0.0.1/audit", "A008", "psycopg 3"),
        ("sqlite://", "A008", "in-memory"),
        ("postgresql+psycopg://u:hunter2hunter2@127.0.0.1:1/audit", "A009", "cannot connect"),
        ("postgresql://u@127.0.0.1:1/audit?password=hunter2hunter2", "A009", "cannot connect"),
    ],
)
def test_a_bad_url_is_one_coded_line_without_its_password(db, expected, words, monkeypatch, capsys):
    with pytest.raises(AuditError) as info:
        AuditStore(db)
    assert info.value.code == expected and words in str(info.value)
    assert "hunter2hunter2" not in str(info.value)
    code, out, err = run_main(monkeypatch, capsys, "audit", "verify", "--db", db)
    assert code == 2 and out == "" and err.startswith(f"error: [{expected}] ")
    assert "hunter2hunter2" not in err and "Traceback" not in err


def test_a_sqlite_url_is_the_same_file_as_its_path(tmp_path):
    path = tmp_path / "a.sqlite"
    write_trail(path, 2)
    assert verify_file(f"sqlite:///{path}").head == verify_file(path).head
    assert AuditStore(f"sqlite:///{path}").path == path
