"""A throwaway PostgreSQL server for the tests: Debian's ``initdb`` and ``pg_ctl`` (PATH, else the
newest /usr/lib/postgresql/*/bin), a cluster in a temporary folder, listening on a free port of
127.0.0.1 only, with a random password for TCP logins (scram-sha-256). Run as root (CI), the
server runs as the ``postgres`` system user (PostgreSQL refuses root). No container, no mock.

Each test gets its own schema (:meth:`Cluster.schema`): the URL sets ``search_path`` to it, so
the workbench's tables land there and the schema is dropped afterwards (the audit table refuses
TRUNCATE and DELETE, so dropping is the only way to clean it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REQUIRED = "REVIEW_TEST_POSTGRES"
"""Set to ``required`` (CI does) to fail, not skip, when no server can be started."""


class Unavailable(Exception):
    """No PostgreSQL server can be started here (the reason is the message)."""


def _version(path: str) -> tuple[int, ...]:
    found = re.search(r"/postgresql/([\d.]+)/", path)
    return tuple(int(p) for p in found.group(1).split(".")) if found else (0,)


def find_bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        bindir = Path(os.path.realpath(found)).parent
        if (bindir / "pg_ctl").exists():
            return bindir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if candidates:
        return Path(candidates[-1]).parent
    raise Unavailable(
        "initdb is not on PATH nor under /usr/lib/postgresql/*/bin "
        "(Debian: apt-get install postgresql)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.prefix: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable(
                    "running as root and there is no 'postgres' user to run the server as"
                ) from None
            runuser = shutil.which("runuser")
            if runuser is None:
                raise Unavailable("running as root and runuser is missing")
            self.prefix = [runuser, "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="review-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.password = secrets.token_hex(16)
        self.port = 0
        self._admin = None
        try:
            pwfile = self.root / "pw"
            pwfile.write_text(self.password + "\n")
            if owner is not None:
                os.chown(self.root, owner.pw_uid, owner.pw_gid)
                os.chown(pwfile, owner.pw_uid, owner.pw_gid)
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            pwfile.unlink()
            self._start()
        except BaseException:
            self.stop()
            raise

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise Unavailable(f"{tool} failed: {' / '.join(tail)}")

    def _start(self) -> None:
        last: Exception | None = None
        for _ in range(3):  # a port found free can be taken before the server binds it
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=300"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
                          "-o", options, "start")  # fmt: skip
                return
            except Unavailable as exc:
                last = exc
        log = self.log.read_text(errors="replace")[-500:] if self.log.exists() else ""
        raise Unavailable(f"{last}; server log: {log}")

    def url(self, schema: str | None = None, *, password: str | None = None) -> str:
        base = (
            f"postgresql+psycopg://postgres:{password or self.password}@127.0.0.1:{self.port}"
            "/postgres"
        )
        if schema is None:
            return base
        return f"{base}?application_name={schema}&options=-csearch_path%3D{schema}"

    def admin(self):
        import psycopg

        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user="postgres",
                password=self.password,
                dbname="postgres",
                autocommit=True,
            )
        return self._admin

    @contextlib.contextmanager
    def schema(self) -> Iterator[str]:
        """A fresh empty schema and the URL whose connections use it; dropped afterwards along
        with the connections still open to it."""
        name = f"t_{secrets.token_hex(6)}"
        admin = self.admin()
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield self.url(name)
        finally:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (name,),
            )
            admin.execute(f"DROP SCHEMA {name} CASCADE")

    def stop(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
