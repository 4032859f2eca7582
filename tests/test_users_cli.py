"""``review users`` and the sign-in checks of ``review serve``, as a user runs them (a subprocess):
the password comes from stdin (never argv), is stored only as an argon2id hash, and appears in no
output; ``--allow-remote --auth none`` and ``--auth local`` without accounts refuse to start with
one coded line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("argon2", reason="argon2-cffi is not installed (the workbench extra)")
pytest.importorskip("sqlalchemy", reason="the workbench extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PASSWORD = "tr0ub4dor & 3 staple horses"


def review(*args: str, stdin: str = "", timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "review.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_users_add_reads_the_password_from_stdin_and_stores_an_argon2id_hash(tmp_path):
    db = tmp_path / "wb.sqlite"
    r = review(
        "users",
        "add",
        "jdoe",
        "--role",
        "nurse",
        "--name",
        "J. Doe",
        "--db",
        str(db),
        stdin=PASSWORD + "\n",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "added jdoe (nurse)"
    assert PASSWORD not in r.stdout + r.stderr
    con = sqlite3.connect(db)
    try:
        ((username, name, roles, digest, active),) = con.execute(
            "SELECT username, display_name, roles, password_hash, active FROM users"
        ).fetchall()
    finally:
        con.close()
    assert (username, name, roles, active) == ("jdoe", "J. Doe", "nurse", 1)
    assert digest.startswith("$argon2id$") and PASSWORD not in digest
    from argon2 import PasswordHasher

    assert PasswordHasher().verify(digest, PASSWORD)
    assert PASSWORD.encode() not in db.read_bytes()
    # the account signs in with exactly that password (the newline is not part of it)
    from review.workbench.accounts import Accounts
    from review.workbench.store import AuditStore

    accounts = Accounts(AuditStore(db))
    assert accounts.authenticate("jdoe", PASSWORD).roles == frozenset({"nurse"})
    assert accounts.authenticate("jdoe", PASSWORD + "\n") is None
    listed = review("users", "list", "--db", str(db))
    assert listed.returncode == 0 and listed.stdout.split("\t")[:3] == ["jdoe", "nurse", "active"]


def test_there_is_no_way_to_give_the_password_on_the_command_line(tmp_path):
    db = tmp_path / "wb.sqlite"
    r = review("users", "add", "jdoe", "--role", "nurse", "--password", PASSWORD, "--db", str(db))
    assert r.returncode == 2 and "No such option" in r.stderr
    assert not db.exists() or "jdoe" not in review("users", "list", "--db", str(db)).stdout


@pytest.mark.parametrize(
    ("args", "stdin", "code"),
    [
        (("Bad Name", "--role", "nurse"), PASSWORD, "W009"),
        (("jdoe", "--role", "janitor"), PASSWORD, None),  # click refuses the choice itself
        (("jdoe", "--role", "nurse"), "short", "W009"),
        (("jdoe", "--role", "nurse"), "", "W009"),
    ],
)
def test_bad_account_details_are_one_coded_line(tmp_path, args, stdin, code):
    r = review("users", "add", *args, "--db", str(tmp_path / "wb.sqlite"), stdin=stdin + "\n")
    assert r.returncode == 2
    if code:
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith(f"error: [{code}]")
    assert PASSWORD not in r.stdout + r.stderr


def test_an_existing_username_and_disabling(tmp_path):
    db = str(tmp_path / "wb.sqlite")
    assert (
        review("users", "add", "jdoe", "--role", "nurse", "--db", db, stdin=PASSWORD).returncode
        == 0
    )
    r = review("users", "add", "jdoe", "--role", "admin", "--db", db, stdin=PASSWORD)
    assert r.returncode == 2 and r.stderr.startswith("error: [W010]")
    assert review("users", "disable", "jdoe", "--db", db).returncode == 0
    assert "\tdisabled\t" in review("users", "list", "--db", db).stdout
    r = review("users", "disable", "nobody", "--db", db)
    assert r.returncode == 2 and r.stderr.startswith("error: [W011]")


def test_allow_remote_with_auth_none_refuses_to_start(tmp_path):
    db = tmp_path / "a.sqlite"
    for extra in (
        ["--host", "0.0.0.0"],
        ["--host", "127.0.0.1"],
        ["--host", "0.0.0.0", "--auth", "none"],
    ):
        r = review("serve", "--cases", str(EXAMPLES), "--allow-remote", *extra, "--db", str(db))
        assert r.returncode == 2
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith("error: [W008]") and "--auth local" in line
    assert not db.exists()


def test_auth_local_without_accounts_refuses_to_start(tmp_path):
    db = tmp_path / "a.sqlite"
    r = review("serve", "--cases", str(EXAMPLES), "--auth", "local", "--db", str(db))
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: [W012]") and "review users add" in line


def test_idle_longer_than_the_session_is_refused(tmp_path):
    r = review(
        "serve",
        "--cases",
        str(EXAMPLES),
        "--auth",
        "local",
        "--session-idle",
        "900",
        "--session-max",
        "12",
        "--db",
        str(tmp_path / "a.sqlite"),
    )
    assert r.returncode == 2 and r.stderr.startswith("error: [W013]")
