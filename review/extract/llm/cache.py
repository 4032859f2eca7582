"""A content-addressed, on-disk cache of LLM answers (SQLite), shared across runs and threads.

The key hashes everything the answer depends on: the rendered documents, the prompt file's
sha256, the model and the sampling settings. A rerun of a finished archive makes no model call.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path


def cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class AnswerCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # no fsync per answer (it serialised concurrent workers); a crash of the process
            # loses nothing committed, a power cut at most the last answers, which are re-asked
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def __getstate__(self) -> dict:
        return {"path": self.path}  # connections are per thread and per process

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        self._local = threading.local()

    def get(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)", (key, value)
        )
