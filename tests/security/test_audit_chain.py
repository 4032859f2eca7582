"""Attacks on the audit trail (review/workbench/store.py, chain.py), each through a raw sqlite3
connection the way a person with the sqlite3 shell would.

The holes these close: ``INSERT OR REPLACE`` slipped past the UPDATE/DELETE triggers, and
``DROP TRIGGER`` followed by UPDATE or DELETE rewrote the trail with nothing noticing. Now every
row is hash-chained, ``sqlite_sequence`` must equal the last id, and a BEFORE INSERT trigger
refuses an existing id. Each tampering must be detected by ``review audit verify`` (naming the
row) and by the workbench (a banner on every page, new reviews refused with 409).

These are the SQLite attacks; tests/test_audit_backends.py makes the same kinds of edit on
PostgreSQL (disabled or dropped triggers, TRUNCATE, a moved or restarted sequence).

The expected hashes are recomputed here from the documented format (sha256 of the sorted-key JSON
of every column but row_hash), not with the code under test.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import run_main

from review.workbench import chain
from review.workbench.store import AuditError, AuditStore, verify_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ORIGIN = "http://127.0.0.1"
GENESIS = "0" * 64
CASES = [  # (case folder, case id) from examples/
    ("pend-no-conservative-care", "EX-002"),
    ("downcode-20553-two-muscles", "EX-004"),
    ("approve-cervical-tpi", "EX-001"),
    ("deny-dry-needling", "EX-003"),
    ("pend-no-conservative-care", "EX-002"),
]
DATA_COLUMNS = (
    "at, reviewer, case_key, case_id, action, from_decision, from_code, to_decision, to_code, "
    "reason, provenance, rec_sha256, prev_hash, row_hash"
)

# The schema of the audit table before the hash chain (review/workbench/store.py at 5be6b40).
LEGACY_SCHEMA = """
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


def expected_hash(row: dict) -> str:
    """The documented row hash, written out independently of review.workbench.chain."""
    body = {k: v for k, v in row.items() if k != "row_hash"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_rows(db) -> list[dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY id")]
    finally:
        con.close()


def raw(db, script: str, *, recursive_triggers: bool = False) -> None:
    """Run SQL through a plain sqlite3 connection, as someone with the sqlite3 shell would."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute(f"PRAGMA recursive_triggers = {int(recursive_triggers)}")
        con.executescript(script)
    finally:
        con.close()


def write_trail(db: Path, n: int = 5) -> AuditStore:
    store = AuditStore(db)
    for i in range(n):
        key, case_id = CASES[i % len(CASES)]
        store.insert(
            reviewer=f"Nurse {i + 1}",
            case_key=key,
            case_id=case_id,
            action="override" if i % 2 else "accept",
            from_decision="pend",
            from_code="20552",
            to_decision="approve" if i % 2 else "pend",
            to_code="20552",
            reason=f"reason {i + 1}: documentation reviewed",
            provenance={"version": "0.1.0", "rules_sha256": "ab" * 32},
            rec_sha256=hashlib.sha256(f"rec {i}".encode()).hexdigest(),
            at=f"2026-03-0{i + 1}T10:00:00Z",
        )
    return store


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "audit.sqlite"
    write_trail(path)
    return path


SWAP_2_AND_4 = f"""
DROP TRIGGER audit_no_update;
CREATE TEMP TABLE t AS SELECT * FROM audit WHERE id IN (2, 4);
UPDATE audit SET ({DATA_COLUMNS}) = (SELECT {DATA_COLUMNS} FROM t WHERE t.id = 6 - audit.id)
WHERE id IN (2, 4);
"""

# name -> (SQL run through a raw connection, the row verify must name, words in the problem)
TAMPERING = {
    "insert-or-replace-after-dropping-its-trigger": (
        "DROP TRIGGER audit_no_replace;"
        "INSERT OR REPLACE INTO audit SELECT id, at, reviewer, case_key, case_id, action,"
        " from_decision, from_code, 'deny', to_code, reason, provenance, rec_sha256, prev_hash,"
        " row_hash FROM audit WHERE id = 3;",
        3,
        "row_hash does not match its contents",
    ),
    "delete-a-middle-row": (
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 3;",
        4,
        "prev_hash does not match the row before it",
    ),
    "delete-the-first-row": (
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 1;",
        2,
        "prev_hash is not the genesis value",
    ),
    "delete-the-last-row": (
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 5;",
        5,
        "rows at the end were deleted",
    ),
    "delete-every-row": (
        "DROP TRIGGER audit_no_delete; DELETE FROM audit;",
        5,
        "rows at the end were deleted",
    ),
    "update-the-reason": (
        "DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'nothing to see' WHERE id = 2;",
        2,
        "row_hash does not match its contents",
    ),
    "update-the-decision": (
        "DROP TRIGGER audit_no_update; UPDATE audit SET to_decision = 'deny' WHERE id = 2;",
        2,
        "row_hash does not match its contents",
    ),
    "update-the-recommendation-hash": (
        "DROP TRIGGER audit_no_update; UPDATE audit SET rec_sha256 = NULL WHERE id = 4;",
        4,
        "row_hash does not match its contents",
    ),
    "swap-two-rows": (SWAP_2_AND_4, 2, "row_hash does not match its contents"),
    "raise-sqlite-sequence": (
        "UPDATE sqlite_sequence SET seq = seq + 3 WHERE name = 'audit';",
        8,
        "sqlite_sequence says 8 rows were written but the last row is 5",
    ),
    "lower-sqlite-sequence": (
        "UPDATE sqlite_sequence SET seq = 4 WHERE name = 'audit';",
        5,
        "sqlite_sequence (4) is below",
    ),
    "remove-sqlite-sequence": (
        "DELETE FROM sqlite_sequence WHERE name = 'audit';",
        5,
        "AUTOINCREMENT counter is gone",
    ),
    "append-a-row-without-a-valid-hash": (
        f"INSERT INTO audit ({DATA_COLUMNS}) SELECT at, reviewer, case_key, case_id, action,"
        " from_decision, from_code, to_decision, to_code, reason, provenance, rec_sha256,"
        " row_hash, row_hash FROM audit WHERE id = 5;",
        6,
        "row_hash does not match its contents",
    ),
    "add-a-column": ("ALTER TABLE audit ADD COLUMN note TEXT;", 1, "row_hash does not match"),
}


# --------------------------------------------------------------------------- the chain itself


def test_an_untouched_trail_verifies_and_its_hashes_follow_the_documented_format(db):
    rows = read_rows(db)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    prev = GENESIS
    for row in rows:
        assert row["prev_hash"] == prev
        assert row["row_hash"] == expected_hash(row)
        prev = row["row_hash"]
    check = verify_file(db)
    assert check.ok and check.rows == 5 and check.head == rows[-1]["row_hash"]


def test_the_pure_chain_finds_the_first_break_in_plain_dicts():
    rows, prev = [], GENESIS
    for i in range(1, 4):
        row = {"id": i, "case_id": f"C{i}", "value": i * 10, "prev_hash": prev}
        row["row_hash"] = prev = expected_hash(row)
        rows.append(row)
    assert chain.verify(rows).ok and chain.verify(rows).head == prev
    assert chain.verify([]).ok and chain.verify([]).head == GENESIS
    changed = [dict(r) for r in rows]
    changed[1]["value"] = 99
    broken = chain.verify(changed).broken
    assert (broken.row_id, broken.case_id) == (2, "C2") and "row_hash" in broken.problem
    assert chain.verify([rows[0], rows[2]]).broken.row_id == 3
    assert chain.verify([{**rows[0], "value": b"\x00"}]).broken.row_id == 1  # not JSON


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_verify_names_the_tampered_row(db, name):
    script, row, words = TAMPERING[name]
    raw(db, script)
    with pytest.raises(AuditError) as info:
        verify_file(db)
    message = str(info.value)
    assert info.value.code == "A003"
    assert message.startswith(f"[A003] {db}: audit row {row}")
    assert words in message


@pytest.mark.parametrize("recursive_triggers", [False, True])
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_insert_or_replace_of_an_existing_row_is_refused_by_sqlite(db, recursive_triggers, verb):
    """REPLACE deletes the old row first; with recursive_triggers off that fires no DELETE
    trigger (the old hole), so the BEFORE INSERT trigger is what refuses it."""
    before = read_rows(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw(
            db,
            f"{verb} INTO audit SELECT id, at, reviewer, case_key, case_id, action,"
            " from_decision, from_code, 'deny', to_code, reason, provenance, rec_sha256,"
            " prev_hash, row_hash FROM audit WHERE id = 3;",
            recursive_triggers=recursive_triggers,
        )
    assert read_rows(db) == before
    assert verify_file(db).ok


def test_upsert_and_plain_update_delete_are_refused_by_sqlite(db):
    before = read_rows(db)
    for sql in (
        "INSERT INTO audit SELECT * FROM audit WHERE id = 2"
        " ON CONFLICT(id) DO UPDATE SET to_decision = 'deny';",
        "UPDATE audit SET to_decision = 'deny' WHERE id = 2;",
        "DELETE FROM audit WHERE id = 5;",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw(db, sql)
    assert read_rows(db) == before


def test_appending_to_a_broken_trail_is_refused(db):
    raw(db, TAMPERING["update-the-reason"][0])
    store = AuditStore(db)  # reopening restores the dropped trigger but cannot undo the edit
    with pytest.raises(AuditError, match=r"^\[A003\] .*audit row 2 "):
        write_trail_row(store)
    assert len(read_rows(db)) == 5


def write_trail_row(store: AuditStore) -> int:
    return store.insert(
        reviewer="Nurse",
        case_key="approve-cervical-tpi",
        case_id="EX-001",
        action="accept",
        from_decision="approve",
        from_code="20552",
        to_decision="approve",
        to_code="20552",
        reason="ok",
        provenance={},
        rec_sha256=None,
    )


def test_the_limit_a_recomputed_chain_verifies_but_misses_an_anchored_head(db):
    """Someone who can write the file and recomputes every hash forges a consistent chain; only
    a head kept elsewhere (--expect-head) catches it."""
    anchor = verify_file(db)
    raw(db, "DROP TRIGGER audit_no_update; UPDATE audit SET to_decision = 'deny' WHERE id = 2;")
    rows = read_rows(db)
    prev = GENESIS
    con = sqlite3.connect(db, isolation_level=None)
    for row in rows:
        row["prev_hash"] = prev
        row["row_hash"] = prev = expected_hash(row)
        con.execute(
            "UPDATE audit SET prev_hash = ?, row_hash = ? WHERE id = ?",
            (row["prev_hash"], row["row_hash"], row["id"]),
        )
    con.close()
    forged = verify_file(db)
    assert forged.ok and forged.head != anchor.head  # the forgery is consistent on its own
    with pytest.raises(AuditError) as info:
        verify_file(db, expect_head=anchor.head)
    assert info.value.code == "A004" and anchor.head in str(info.value)


def test_an_anchor_holds_while_rows_are_appended(tmp_path):
    db = tmp_path / "audit.sqlite"
    store = write_trail(db, 3)
    anchor = verify_file(db)
    write_trail_row(store)
    assert verify_file(db, expect_head=anchor.head, expect_rows=3).rows == 4
    with pytest.raises(AuditError, match="A004"):
        verify_file(db, expect_head=anchor.head, expect_rows=4)
    # removing the appended row (and fixing the counter) still reaches the anchor: the anchor
    # vouches for the rows up to it, and says so
    raw(
        db,
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 4;"
        "UPDATE sqlite_sequence SET seq = 3 WHERE name = 'audit';",
    )
    assert verify_file(db, expect_head=anchor.head).ok


# --------------------------------------------------------------------------- old files


def legacy_trail(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    con.executescript(LEGACY_SCHEMA)
    for i in range(3):
        con.execute(
            "INSERT INTO audit (at, reviewer, case_key, case_id, action, from_decision,"
            " from_code, to_decision, to_code, reason, provenance)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f"2025-12-0{i + 1}T09:00:00Z",
                "Old Nurse",
                CASES[i][0],
                CASES[i][1],
                "accept",
                "pend",
                "20552",
                "pend",
                "20552",
                f"legacy reason {i}",
                json.dumps({"version": "0.0.9"}),
            ),
        )
    con.commit()
    rows = con.execute("SELECT * FROM audit ORDER BY id").fetchall()
    con.close()
    return rows


def test_an_old_audit_file_is_upgraded_on_open_without_losing_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    old_rows = legacy_trail(path)
    with pytest.raises(AuditError) as info:  # verify is read-only: it does not upgrade
        verify_file(path)
    assert info.value.code == "A006"
    assert "row_hash" not in [
        c[1] for c in sqlite3.connect(path).execute("PRAGMA table_info(audit)")
    ]

    store = AuditStore(path)
    rows = read_rows(path)
    assert [tuple(r[c] for c in list(r)[:12]) for r in rows] == old_rows  # nothing lost or changed
    prev = GENESIS
    for row in rows:
        assert row["rec_sha256"] is None  # never recorded for old rows
        assert row["prev_hash"] == prev and row["row_hash"] == expected_hash(row)
        prev = row["row_hash"]
    assert verify_file(path).rows == 3
    # the upgraded file has every defence: REPLACE refused, tampering detected, appends chain
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw(path, "INSERT OR REPLACE INTO audit SELECT * FROM audit WHERE id = 1;")
    assert write_trail_row(store) == 4
    assert verify_file(path).rows == 4
    # opening it again computes nothing twice
    hashes = [r["row_hash"] for r in read_rows(path)]
    AuditStore(path)
    assert [r["row_hash"] for r in read_rows(path)] == hashes
    raw(path, "DROP TRIGGER audit_no_update; UPDATE audit SET reviewer = 'X' WHERE id = 1;")
    with pytest.raises(AuditError, match=r"audit row 1 \(case EX-002\)"):
        verify_file(path)


@pytest.mark.parametrize("kind", ["text", "empty", "other-sqlite", "other-audit-table"])
def test_a_file_that_is_not_an_audit_trail_is_a_coded_error(tmp_path, kind):
    path = tmp_path / "x.sqlite"
    if kind == "text":
        path.write_text("not a database\n" * 100)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other-sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE results (id INTEGER)")
        con.commit()
        con.close()
    else:
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE audit (id INTEGER, what TEXT)")
        con.commit()
        con.close()
    before = path.read_bytes()
    with pytest.raises(AuditError) as info:
        verify_file(path)
    assert info.value.code == "A002" and str(path) in str(info.value)
    if kind != "empty":  # an empty file is a new trail to the workbench; the others are refused
        with pytest.raises(AuditError) as info:
            AuditStore(path)
        assert info.value.code == "A002"
        assert path.read_bytes() == before  # nothing was written into someone else's file


# --------------------------------------------------------------------------- the CLI


def test_cli_verify_ok_prints_the_head(db, monkeypatch, capsys):
    head = read_rows(db)[-1]["row_hash"]
    code, out, err = run_main(monkeypatch, capsys, "audit", "verify", "--db", str(db))
    assert (code, out, err) == (0, f"ok: 5 rows, head {head}\n", "")
    code, out, _ = run_main(
        monkeypatch, capsys, "audit", "verify", "--db", str(db), "--expect-head", head.upper()
    )
    assert code == 0 and out.startswith("ok: 5 rows")


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_cli_verify_names_the_first_broken_row_and_exits_2(db, monkeypatch, capsys, name):
    script, row, words = TAMPERING[name]
    raw(db, script)
    code, out, err = run_main(monkeypatch, capsys, "audit", "verify", "--db", str(db))
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert re.match(rf"^error: \[A003\] {re.escape(str(db))}: audit row {row}\b", line), line
    assert words in line


def test_cli_message_for_an_edited_row_reads_as_documented(db, monkeypatch, capsys):
    raw(db, TAMPERING["update-the-reason"][0])
    _, _, err = run_main(monkeypatch, capsys, "audit", "verify", "--db", str(db))
    assert err == (
        f"error: [A003] {db}: audit row 2 (case EX-004): row_hash does not match its contents; "
        "the trail was altered after it was written\n"
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--db", "{missing}"], "A001"),
        (["--db", "{folder}"], "A001"),
        (["--db", "{text}"], "A002"),
        (["--db", "{legacy}"], "A006"),
        (["--db", "{db}", "--expect-head", "abc"], "A005"),
        (["--db", "{db}", "--expect-rows", "3"], "A005"),
        (["--db", "{db}", "--expect-head", "f" * 64], "A004"),
    ],
)
def test_cli_bad_input_is_one_coded_line_and_exit_2(db, tmp_path, monkeypatch, capsys, args, code):
    (tmp_path / "text.txt").write_text("hello")
    legacy_trail(tmp_path / "legacy.sqlite")
    paths = {
        "missing": tmp_path / "nope.sqlite",
        "folder": tmp_path,
        "text": tmp_path / "text.txt",
        "legacy": tmp_path / "legacy.sqlite",
        "db": db,
    }
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    status, out, err = run_main(monkeypatch, capsys, "audit", "verify", *argv)
    assert status == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: [{code}] ") and "R999" not in line and "Traceback" not in err
    assert not (tmp_path / "nope.sqlite").exists()  # verify never creates a file


def test_the_installed_entry_point_exits_0_then_2(db):
    cmd = [sys.executable, "-m", "review.cli", "audit", "verify", "--db", str(db)]
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 5 rows, head ")
    raw(db, TAMPERING["delete-a-middle-row"][0])
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.startswith("error: [A003] ")
    assert "audit row 4 (case EX-003)" in bad.stderr


# --------------------------------------------------------------------------- the workbench


@pytest.fixture(scope="module")
def source():
    pytest.importorskip("fastapi", reason="the workbench extra is not installed")
    from review.workbench.cases import load_cases

    return load_cases(EXAMPLES)


def workbench(source, db):
    from fastapi.testclient import TestClient

    from review.workbench.app import create_app

    app = create_app(source, db)
    return TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}), app


def review_form(client, slug="approve-cervical-tpi") -> dict:
    html = client.get(f"/case/{slug}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return {"csrf_token": token, "action": "accept", "reviewer": "R. Nurse", "reason": "agreed"}


def test_an_untouched_trail_shows_no_banner_and_accepts_reviews(source, db):
    client, _ = workbench(source, db)
    for url in ("/", "/case/approve-cervical-tpi", "/case/pend-no-conservative-care/letter"):
        assert 'id="audit-alert"' not in client.get(url).text
    r = client.post(
        "/case/approve-cervical-tpi/review", data=review_form(client), follow_redirects=False
    )
    assert r.status_code == 303 and len(read_rows(db)) == 6
    assert client.get("/export.json").json()["audit"]["verified"] is True


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_the_workbench_shows_a_banner_and_refuses_reviews(source, db, name):
    script, row, words = TAMPERING[name]
    client, _ = workbench(source, db)
    form = review_form(client)  # renders (and caches) the verified trail before the tampering
    raw(db, script)
    before = len(read_rows(db))
    banner = re.compile(
        rf'id="audit-alert"[^>]*><strong>The audit trail failed verification at row {row}\b'
    )
    for url in ("/", "/case/approve-cervical-tpi", "/case/pend-no-conservative-care/letter"):
        html = client.get(url).text
        assert banner.search(html), (url, html[:2000])
        assert words in html
    r = client.post("/case/approve-cervical-tpi/review", data=form, follow_redirects=False)
    assert r.status_code == 409
    assert "This review was not recorded" in r.text and "agreed" in r.text  # the entry is kept
    assert len(read_rows(db)) == before
    assert client.get("/export.json").json()["audit"]["verified"] is False


def test_a_trail_broken_between_the_check_and_the_write_is_still_refused(source, db):
    client, app = workbench(source, db)
    store = app.state.workbench.store
    verified = store.snapshot()
    form = review_form(client)
    raw(db, TAMPERING["update-the-decision"][0])
    store.snapshot = lambda: verified  # the page's check saw the trail before the tampering
    r = client.post("/case/approve-cervical-tpi/review", data=form, follow_redirects=False)
    assert r.status_code == 409 and "This review was not recorded" in r.text
    assert len(read_rows(db)) == 5


def test_a_locked_trail_is_a_clear_refusal_not_a_crash(source, db, monkeypatch):
    client, app = workbench(source, db)
    form = review_form(client)

    def locked(**_):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(app.state.workbench.store, "_insert", locked)
    r = client.post("/case/approve-cervical-tpi/review", data=form, follow_redirects=False)
    assert r.status_code == 503
    assert "cannot write the audit trail (database is locked)" in r.text and "agreed" in r.text


def test_a_removed_audit_file_is_a_banner_not_a_crash(source, db):
    client, _ = workbench(source, db)
    assert client.get("/").status_code == 200
    db.unlink()
    html = client.get("/").text
    assert "The audit trail failed verification: the audit table cannot be read" in html
    assert not db.exists()  # not silently recreated empty


def test_thousands_of_rows_stay_fast(source, tmp_path):
    db = tmp_path / "big.sqlite"
    AuditStore(db)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN")
    prev = GENESIS
    for i in range(1, 3001):
        key, case_id = CASES[i % len(CASES)]
        row = {
            "id": i,
            "at": "2026-03-01T10:00:00Z",
            "reviewer": "Nurse",
            "case_key": key,
            "case_id": case_id,
            "action": "accept",
            "from_decision": "pend",
            "from_code": "20552",
            "to_decision": "pend",
            "to_code": "20552",
            "reason": f"reason {i}",
            "provenance": '{"version": "0.1.0"}',
            "rec_sha256": None,
            "prev_hash": prev,
        }
        row["row_hash"] = prev = expected_hash(row)
        con.execute(
            f"INSERT INTO audit ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
    con.execute("COMMIT")
    con.close()
    client, app = workbench(source, db)
    store = app.state.workbench.store
    started = time.perf_counter()
    first = store.snapshot()
    assert first.check.ok and first.check.rows == 3000
    assert time.perf_counter() - started < 3.0  # a full verification (loose: a shared machine)
    assert store.snapshot() is first  # pages reuse it while the file is unchanged
    started = time.perf_counter()
    for _ in range(5):
        assert client.get("/case/pend-no-conservative-care").status_code == 200
    assert (time.perf_counter() - started) / 5 < 1.0
    raw(db, "DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'x' WHERE id = 1500;")
    assert store.snapshot().check.broken.row_id == 1500  # a change is seen at once
