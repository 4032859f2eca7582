"""``results.jsonl``: one line per case, written with a single ``write`` on an ``O_APPEND``
descriptor by the parent process only, so a crash never leaves half a line (a write cut short by a
full disk or a signal is taken back at once; a torn tail from a dying disk is cut on the next
``--resume``)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from review.errors import ReviewError

RESULTS = "results.jsonl"


class ResultsWriter:
    """Append-only JSONL: one ``os.write`` per record on an O_APPEND descriptor. A write cut short
    (a full disk, a signal) is taken back at once, so the file never holds half a line."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(path, exc, "cannot open results.jsonl") from None

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        start = os.fstat(self.fd).st_size  # the folder lock: no other writer appends meanwhile
        view = memoryview(line)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except BaseException as exc:
            with contextlib.suppress(OSError):  # a device such as /dev/full cannot be truncated
                os.ftruncate(self.fd, start)
            if isinstance(exc, OSError):
                raise write_error(self.path, exc, "cannot write results.jsonl") from None
            raise

    def close(self) -> None:
        os.close(self.fd)


def write_error(path: Path, exc: OSError, what: str) -> ReviewError:
    """A failed write of run output as a one-line coded error (B013) saying what to do."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = "free some space, then rerun with --resume (finished records are kept)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        todo = "make the folder writable or choose another --out"
    else:
        todo = "check the disk and the folder, then rerun with --resume (finished records are kept)"
    return ReviewError("B013", f"{what}: {reason}; {todo}", source=str(path))


def finished_ids(path: Path) -> set[str]:
    """Input keys already in a results file; a torn last line (no newline) is cut off first."""
    if not path.exists():
        return set()
    _cut_torn_tail(path)
    done = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                done.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue
    return done


def _cut_torn_tail(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        step = min(size, 1 << 16)
        pos = size
        while pos > 0:
            start = max(0, pos - step)
            fh.seek(start)
            chunk = fh.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx != -1:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)
