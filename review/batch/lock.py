"""One run at a time per output folder: the parent creates ``OUT``, holds an exclusive ``flock``
on ``OUT/.lock`` for the whole run (the OS drops it when the process dies), and turns SIGTERM into
an interrupt the run records."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from review.batch.results import write_error
from review.errors import ReviewError

if sys.platform == "win32":  # not POSIX: no folder lock (documented)
    fcntl = None
else:
    import fcntl


LOCK = ".lock"


class BatchInterrupted(KeyboardInterrupt):
    """SIGTERM during a run, raised in the main thread like Ctrl-C so the run can record it."""


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking ``flock`` on ``OUT/.lock`` (B008 if another run has it).

    The lock belongs to the open file: it is dropped when this process exits or dies, however it
    dies, and is not inherited by workers (Python opens files non-inheritable). The file stays."""
    try:
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_error(out, exc, "cannot write to the output folder") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise write_error(out, exc, "cannot lock the output folder") from None
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                pid = f" (pid {holder})" if holder.isdigit() else ""
                raise ReviewError(
                    "B008",
                    f"another review batch run{pid} holds this output folder; wait for it to "
                    "end, or choose another --out",
                    source=str(out),
                ) from None
            with contextlib.suppress(OSError):  # who holds it, for the message above
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReviewError(
            "B012",
            "--out is an existing file, not a folder; give a folder (it is created if missing)",
            source=str(out),
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ReviewError(
            "B012",
            "a parent of --out is a file, not a folder; give a folder path",
            source=str(out),
        ) from None
    except OSError as exc:
        raise write_error(out, exc, "cannot create the output folder") from None


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`BatchInterrupted` in the main thread for the run (then the previous
    handler is back, so a second SIGTERM acts as before). Not installable off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None:  # set outside Python: the default is the closest we can restore
        previous = signal.SIG_DFL

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, previous)
        raise BatchInterrupted("SIGTERM")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
