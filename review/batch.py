"""Batch review of archives: streaming inputs, parallel workers, durable resumable output.

Inputs (read lazily, one item at a time): a folder of case folders, a JSONL of cases, or a JSONL
of notes (``{"id": ..., "text": ...}`` per line: audit mode); ``.gz`` accepted.

Output folder: ``results.jsonl`` gets one line per case, written with a single ``write`` on an
``O_APPEND`` descriptor by the parent process only, so a crash never leaves half a line (a write
cut short by a full disk or a signal is taken back at once; a torn tail from a dying disk is cut on
the next ``--resume``); ``manifest.json`` records versions, hashes, the input's identity, settings,
counts, timings and how the run ended (replaced atomically: ``running``, ``finished``, ``limited``,
``interrupted`` or ``failed`` with a reason). One run at a time per folder: the parent holds an
exclusive ``flock`` on ``OUT/.lock`` for the whole run (the OS drops it when the process dies).
``--resume`` refuses to continue a run made from another input, rules, lexicons, settings,
extractor, prompt or package version unless ``--force`` (recorded in the manifest).

Parallelism: offline reviews are CPU-bound and run in worker processes that each build their
own spaCy pipeline once (spaCy's ``n_process`` breaks with medspaCy rules); LLM reviews are
I/O-bound and run in threads with a concurrency limit and a shared rate limiter. ``--engine ray``
runs the same per-case function as Ray tasks. Worker processes exit when the parent dies, even by
``kill -9`` (``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread everywhere).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import signal
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from review import __version__
from review.errors import CaseError, ReviewError

try:
    import fcntl
except ImportError:  # not POSIX: no folder lock (documented)
    fcntl = None

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
LOCK = ".lock"
FINGERPRINT_BYTES = 1 << 16  # the input's first 64 KiB identify it; appending keeps them


class BatchOptions(BaseModel):
    extractor: Literal["offline", "llm", "hybrid"] = "offline"
    policy: str | None = None
    prompt: str = "extract_facts/v1"
    workers: int = 1
    concurrency: int = 4
    engine: Literal["local", "ray"] = "local"
    limit: int | None = None
    resume: bool = False
    force: bool = False  # with resume: continue although the run differs from the manifest
    cache_path: str | None = None  # LLM answer cache (SQLite); None disables it
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    rate_window_seconds: float = 60.0  # the limiter's window (shorter only in tests and benchmarks)
    llm_config: str | None = None


@dataclass(frozen=True)
class WorkItem:
    """What a worker needs for one case: plain data, cheap to pickle."""

    source: str  # "cases.jsonl:12" or a case folder path
    data: dict[str, Any] | None = None  # a JSONL record
    folder: str | None = None
    error: str | None = None  # an input error found while reading (record it, go on)
    error_code: str | None = None


@dataclass
class RunStats:
    done: int = 0
    errors: int = 0
    skipped: int = 0
    decisions: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.time)
    status: str = "running"  # then finished | limited | interrupted | failed (as the manifest)

    @property
    def elapsed(self) -> float:
        return time.time() - self.started


class BatchInterrupted(KeyboardInterrupt):
    """SIGTERM during a run, raised in the main thread like Ctrl-C so the run can record it."""


# --------------------------------------------------------------------------- inputs


def input_not_found(path: Path) -> CaseError:
    return CaseError(
        "B001",
        "input not found; give a folder of case folders or a .jsonl(.gz) file",
        source=str(path),
    )


def iter_inputs(path: Path) -> Iterator[WorkItem]:
    """Stream work items from a folder of case folders or a (gzipped) JSONL file.

    A bad line becomes an error item (the run goes on); a file that cannot be read on (a
    truncated or corrupt gzip, an I/O error) raises B011 naming the last line read."""
    if not path.exists():
        raise input_not_found(path)
    if path.is_dir():
        try:
            subs = sorted(path.iterdir())
        except OSError as exc:
            raise CaseError(
                "B011",
                f"cannot list the input folder ({exc.strerror or type(exc).__name__}); "
                "check it is readable",
                source=str(path),
            ) from None
        root = path.resolve()
        for sub in subs:
            if sub.is_file() and sub.suffix.lower() == ".json" and not sub.name.startswith("."):
                # a FHIR PAS Bundle (or a case JSON) among the case folders: one case each
                if sub.is_symlink() and not sub.resolve().is_relative_to(root):
                    yield WorkItem(
                        str(sub),
                        error="case file is a symlink that leaves the input folder; copy it in",
                        error_code="C011",
                    )
                else:
                    yield WorkItem(source=str(sub), folder=str(sub))
                continue
            if not sub.is_dir():
                continue
            if sub.is_symlink() and not sub.resolve().is_relative_to(root):
                yield WorkItem(  # an archive's link must not lead the run out of the input
                    str(sub),
                    error="case folder is a symlink that leaves the input folder; copy it in",
                    error_code="C011",
                )
                continue
            bundles = _bundle_files(sub)
            if bundles:  # a folder of FHIR bundles (examples/fhir): each file is a case
                for file in bundles:
                    if file.is_symlink() and not file.resolve().is_relative_to(root):
                        continue
                    yield WorkItem(source=str(file), folder=str(file))
                continue
            yield WorkItem(source=str(sub), folder=str(sub))
        return
    gz = path.suffix == ".gz"
    lineno = 0
    try:
        with (gzip.open if gz else open)(path, "rb") as raw:
            for lineno, line in enumerate(io.BufferedReader(raw) if gz else raw, start=1):
                yield from _line_item(path, lineno, line)
    except EOFError:
        raise CaseError(
            "B011",
            f"the gzip stream ends early after line {lineno} (truncated file); records up to "
            "there are in results.jsonl; re-copy the file and rerun with --resume",
            source=str(path),
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        if lineno == 0:
            message = "is not a gzip file; re-copy it (or drop the .gz suffix if it is plain JSONL)"
        else:
            detail = str(exc).split("(")[0].strip()  # e.g. "CRC check failed"; no file content
            message = (
                f"has corrupt gzip data after line {lineno} ({detail}); records up to there are "
                "in results.jsonl; re-copy the file and rerun with --resume"
            )
        raise CaseError("B011", message, source=str(path)) from None
    except OSError as exc:
        raise CaseError(
            "B011",
            f"cannot read the input after line {lineno} ({exc.strerror or type(exc).__name__}); "
            "records up to there are in results.jsonl; fix the file and rerun with --resume",
            source=str(path),
        ) from None


def _bundle_files(folder: Path) -> list[Path]:
    """The ``*.json`` files of a folder that is not a case folder and holds no notes."""
    from review.case import CASE_FILE_NAMES, NOTE_SUFFIXES

    try:
        names = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []
    if any(p.name in CASE_FILE_NAMES or p.suffix.lower() in NOTE_SUFFIXES for p in names):
        return []
    return sorted(p for p in names if p.suffix.lower() == ".json")


def _line_item(path: Path, lineno: int, line: bytes) -> Iterator[WorkItem]:
    source = f"{path.name}:{lineno}"
    if not line.strip():
        return
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield WorkItem(
            source,
            error=f"line is not UTF-8 (byte {exc.start}); re-export as UTF-8",
            error_code="C002",
        )
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield WorkItem(
            source,
            error=f"malformed JSON at column {exc.colno}: {exc.msg}",
            error_code="C003",
        )
        return
    except RecursionError:
        yield WorkItem(source, error="JSON nested too deeply to be a case", error_code="C003")
        return
    if not isinstance(data, dict):
        yield WorkItem(source, error="line is not a JSON object", error_code="C004")
        return
    yield WorkItem(source, data=data)


def input_identity(path: Path) -> dict[str, Any]:
    """What identifies the input for ``--resume``: its resolved path and, for a file, a hash of
    its first 64 KiB (decompressed for .gz) so an archive that was appended to still resumes."""
    if not path.exists():
        raise input_not_found(path)
    if path.is_dir():
        return {"input_resolved": str(path.resolve()), "input_fingerprint": {"kind": "folder"}}
    if not path.is_file():  # a pipe or a device (/dev/stdin): reading ahead would consume it
        return {"input_resolved": os.path.abspath(path), "input_fingerprint": {"kind": "stream"}}
    resolved = str(path.resolve())
    head = _head(path, FINGERPRINT_BYTES)
    return {
        "input_resolved": resolved,
        "input_fingerprint": {
            "kind": "file",
            "head_bytes": len(head),
            "head_sha256": hashlib.sha256(head).hexdigest(),
        },
    }


def _head(path: Path, size: int) -> bytes:
    """Up to ``size`` bytes of the input's content; what a damaged gzip yields before the damage
    (the reading itself reports the damage)."""
    chunks: list[bytes] = []
    got = 0
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            while got < size:
                chunk = fh.read(min(8192, size - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        pass
    except OSError as exc:
        raise CaseError(
            "B011",
            f"cannot read the input ({exc.strerror or type(exc).__name__}); check it is readable",
            source=str(path),
        ) from None
    return b"".join(chunks)


def input_key(item: WorkItem) -> str:
    """The id ``--resume`` uses: the folder name, the record's case_id/id, or its line."""
    if item.folder:
        return Path(item.folder).name
    if item.data is not None:
        value = item.data.get("case_id", item.data.get("id"))
        if isinstance(value, str | int) and str(value):
            return str(value)
    return f"line-{item.source.rsplit(':', 1)[-1]}"


# --------------------------------------------------------------------------- one case


def case_from_item(item: WorkItem):
    from review.case import case_from_dict, load_case

    if item.folder:
        return load_case(item.folder)
    data = item.data or {}
    if (
        "documents" not in data and "resourceType" not in data
    ):  # a note record: {"id", "text"} -> an audit case
        if not isinstance(data.get("text"), str):
            raise CaseError(
                "C004",
                "note record needs a string 'text' (or a case with 'documents')",
                source=item.source,
            )
        note_id = str(data.get("id", "note"))
        data = {
            "case_id": note_id,
            "documents": [{"id": "note", "kind": data.get("kind", "note"), "text": data["text"]}],
        }
    return case_from_dict(data, source=item.source)


def review_item(item: WorkItem, config) -> dict[str, Any]:
    """The per-case function every engine runs: a record, never an exception."""
    from review.pipeline import review_case

    key = input_key(item)
    if item.error:
        return _error_record(key, item.source, item.error_code or "C000", item.error)
    try:
        case = case_from_item(item)
        rec = review_case(case, config)
    except ReviewError as exc:
        return _error_record(key, item.source, exc.code, str(exc))
    except Exception as exc:  # a bug must not stop an unattended run: record it, go on
        return _error_record(
            key, item.source, "R999", f"internal error: {type(exc).__name__}: {exc}"
        )
    data = rec.model_dump(mode="json")
    return {
        "key": key,
        "case_id": rec.case_id,
        "source": item.source,
        "status": "ok",
        "decision": rec.decision,
        "billed_code": rec.billed_code,
        "supported_code": rec.supported_code,
        "failing_rules": [
            f.rule_id for f in rec.findings if f.status in ("not_met", "insufficient")
        ],
        "recommendation": data,
    }


def _error_record(key: str, source: str, code: str, message: str) -> dict[str, Any]:
    return {
        "key": key,
        "case_id": key,
        "source": source,
        "status": "error",
        "error": {"code": code, "message": message},
    }


# --------------------------------------------------------------------------- output


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


def write_manifest(out: Path, data: dict[str, Any]) -> None:
    """Replace ``manifest.json`` atomically; the temporary file never outlives a failure."""
    tmp = out / (MANIFEST + ".tmp")
    payload = (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
    placed = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, out / MANIFEST)
        placed = True
    except OSError as exc:
        raise write_error(out / MANIFEST, exc, "cannot write manifest.json") from None
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                tmp.unlink()


def read_manifest(out: Path) -> dict[str, Any] | str:
    """The previous run's manifest, or why it cannot be used (a short reason)."""
    path = out / MANIFEST
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return "manifest.json is missing"
    except (OSError, ValueError) as exc:
        return f"manifest.json is unreadable ({type(exc).__name__})"
    if not isinstance(data, dict) or not data.keys() >= _MANIFEST_KEYS:
        return "manifest.json is not a batch manifest"
    return data


_MANIFEST_KEYS = {"version", "input", "policy", "rules_sha256", "lexicons_sha256", "settings"}


def resume_changes(old: dict[str, Any], new: dict[str, Any], input_path: Path) -> list[str]:
    """What differs between the run that wrote the results and this one, each "what old -> new".
    Fields an older manifest does not record are not compared."""
    changes: list[str] = []

    def check(name: str, before: Any, after: Any) -> None:
        if before != after:
            changes.append(f"{name} {_short(before)} -> {_short(after)}")

    old_input = old.get("input_resolved") or str(Path(old["input"]).resolve())
    check("input", old_input, new["input_resolved"])
    old_print = old.get("input_fingerprint") or {}
    new_print = new["input_fingerprint"]
    if old_print.get("kind") != new_print["kind"] and old_print:
        changes.append(f"input kind {old_print.get('kind')} -> {new_print['kind']}")
    elif old_print.get("kind") == "file":
        size = int(old_print.get("head_bytes", 0))
        head = _head(input_path, size) if input_path.is_file() else b""
        if len(head) != size or hashlib.sha256(head).hexdigest() != old_print.get("head_sha256"):
            changes.append(f"input content (first {size} bytes) changed")
    for name in ("policy", "rules_sha256", "lexicons_sha256"):
        check(name, old.get(name), new[name])
    old_settings, new_settings = old.get("settings") or {}, new["settings"]
    for key in sorted(set(old_settings) | set(new_settings)):
        check(f"settings.{key}", old_settings.get(key), new_settings.get(key))
    old_options, new_options = old.get("options") or {}, new["options"]
    check("extractor", old_options.get("extractor"), new_options["extractor"])
    if (
        old_options.get("extractor", "offline") != "offline"
        or new_options["extractor"] != "offline"
    ):
        check("prompt", old_options.get("prompt"), new_options["prompt"])
        for name in ("prompt_sha256", "llm"):
            if name in old:
                check(name, old.get(name), new.get(name))
    check("version", old.get("version"), new["version"])
    return changes


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


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


# --------------------------------------------------------------------------- engines


def run_batch(
    input_path: Path,
    out: Path,
    options: BatchOptions,
    progress: Callable[[RunStats, dict[str, Any]], None] | None = None,
) -> RunStats:
    """Review every case of the input into ``out``; returns the counts.

    Raises (after recording how the run ended in the manifest, where one could be written):
    ReviewError for bad input or output, KeyboardInterrupt (also for SIGTERM) when interrupted."""
    if not input_path.exists():  # before --out is created
        raise input_not_found(input_path)
    prepare_out(out)
    with folder_lock(out), sigterm_interrupts():
        return _run_locked(input_path, out, options, progress)


@dataclass
class _InputState:
    yielded: int = 0
    exhausted: bool = False  # read to its end
    limited: bool = False  # stopped by --limit
    error: ReviewError | None = None  # the input could not be read on (B011)


def _run_locked(input_path: Path, out: Path, options: BatchOptions, progress) -> RunStats:
    from review.policy.load import load_policy, resolve_policy

    results = out / RESULTS
    has_results = results.exists() and results.stat().st_size > 0
    if has_results and not options.resume:
        raise ReviewError(
            "B002",
            "results.jsonl already exists; pass --resume to continue it, or choose a new --out",
            source=str(results),
        )
    identity = input_identity(input_path)
    # the operator's --policy (a registry id or a folder); cases name registry ids only
    policy = resolve_policy(options.policy) if options.policy else load_policy()
    config = _review_config(options)
    manifest = _manifest(input_path, identity, options, policy, config)
    if options.resume and has_results:
        manifest["forced_resumes"] = _check_resume(out, manifest, input_path, options)
    done = finished_ids(results) if options.resume else set()
    stats = RunStats()
    state = _InputState()

    def pending() -> Iterator[WorkItem]:
        seen: set[str] = set()
        try:
            for item in iter_inputs(input_path):
                key = input_key(item)
                if key in done:
                    stats.skipped += 1
                    continue
                if key in seen:
                    item = WorkItem(
                        item.source,
                        error=f"duplicate case id {key!r} in the input; ids must be unique",
                        error_code="B003",
                    )
                seen.add(key)
                if options.limit is not None and state.yielded >= options.limit:
                    state.limited = True
                    return
                state.yielded += 1
                yield item
        except ReviewError as exc:  # stop reading; the cases in flight still get their records
            state.error = exc
            return
        state.exhausted = True

    reason = None
    failure: BaseException | None = None
    records: Iterator[dict[str, Any]] | None = None
    writer = None
    try:
        write_manifest(out, {**manifest, "status": "running"})
        writer = ResultsWriter(results)
        records = _records(pending(), config, options)
        for record in records:
            writer.write(record)
            stats.done += 1
            if record["status"] == "error":
                stats.errors += 1
            else:
                stats.decisions[record["decision"]] += 1
            if progress:
                progress(stats, record)
        if state.error is not None:
            raise state.error
        if state.limited:
            stats.status = "limited"
        elif state.exhausted and stats.done == state.yielded:
            stats.status = "finished"
        else:
            raise ReviewError(
                "B016",
                f"{state.yielded - stats.done} case(s) read from the input have no record; "
                "rerun with --resume",
                source=str(out),
            )
    except KeyboardInterrupt as exc:
        stats.status, failure = "interrupted", exc
        reason = "SIGTERM" if isinstance(exc, BatchInterrupted) else "KeyboardInterrupt (Ctrl-C)"
        raise
    except BaseException as exc:
        stats.status, failure = "failed", exc
        reason = _reason(exc)
        raise
    finally:
        try:
            if records is not None and hasattr(records, "close"):
                records.close()  # stop the workers before the manifest says how the run ended
        finally:
            if writer is not None:
                writer.close()
            _end_manifest(out, manifest, stats, reason, failure)
    return stats


def _end_manifest(out: Path, manifest, stats: RunStats, reason, failure) -> None:
    ended = {
        **manifest,
        "status": stats.status,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": {
            "reviewed": stats.done,
            "errors": stats.errors,
            "skipped_as_done": stats.skipped,
            "decisions": dict(sorted(stats.decisions.items())),
        },
        "timings": {
            "seconds": round(stats.elapsed, 3),
            "cases_per_second": round(stats.done / stats.elapsed, 3) if stats.elapsed else None,
        },
    }
    if reason is not None:
        ended["reason"] = reason
    try:
        write_manifest(out, ended)
    except ReviewError:
        if failure is None:
            raise
        # the run's own error is the one to report; the manifest still says "running"


def _records(items: Iterator[WorkItem], config, options: BatchOptions) -> Iterator[dict[str, Any]]:
    if options.engine == "ray":
        return _run_ray(items, config, options)
    if options.extractor == "offline" and options.workers > 1:
        return _run_processes(items, config, options.workers)
    if options.workers > 1:
        return _run_processes_with_threads(items, config, options)
    if options.extractor != "offline" and options.concurrency > 1:
        return _run_threads(items, config, options.concurrency)
    return (review_item(item, config) for item in items)


def _check_resume(
    out: Path, manifest: dict[str, Any], input_path: Path, options: BatchOptions
) -> list[dict[str, Any]]:
    """Refuse to mix records from two different runs (B009/B010) unless forced; returns the
    manifest's ``forced_resumes`` history, with this resume added when it was forced."""
    previous = read_manifest(out)
    if isinstance(previous, str):
        if not options.force:
            raise ReviewError(
                "B010",
                f"{previous} but results.jsonl has records, so which run made them is unknown; "
                "pass --resume --force to continue anyway, or choose a new --out",
                source=str(out),
            )
        changes, history = [previous], []
    else:
        changes = resume_changes(previous, manifest, input_path)
        history = list(previous.get("forced_resumes") or [])
        if changes and not options.force:
            raise ReviewError(
                "B009",
                "this run differs from the one that wrote results.jsonl: "
                + "; ".join(changes)
                + "; resuming would mix their records; pass --resume --force to continue "
                "anyway, or choose a new --out",
                source=str(out),
            )
    if changes:
        history.append(
            {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "changed": changes}
        )
    return history


def _reason(exc: BaseException) -> str:
    """Why a run failed, for the manifest: class and the first line of the message, capped.
    Our own errors never carry note text; a foreign exception's message is cut short."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= 300 else line[:297] + "..."


def _review_config(options: BatchOptions):
    from review.pipeline import ReviewConfig

    config = ReviewConfig(policy=options.policy, extractor=options.extractor, prompt=options.prompt)
    if options.extractor != "offline":
        from review.extract.llm.cache import AnswerCache
        from review.extract.llm.client import LLMSettings
        from review.extract.llm.ratelimit import RateLimiter

        config.llm = LLMSettings.load(options.llm_config)
        config.cache = AnswerCache(options.cache_path) if options.cache_path else None
        if options.requests_per_minute or options.tokens_per_minute:
            config.limiter = RateLimiter(
                options.requests_per_minute,
                options.tokens_per_minute,
                window=options.rate_window_seconds,
            )
    return config


def _manifest(input_path: Path, identity: dict[str, Any], options: BatchOptions, policy, config):
    from review.lexicon import lexicons_sha256

    manifest = {
        "version": __version__,
        "input": str(input_path),
        **identity,
        "policy": policy.id,
        "rules_sha256": policy.sha256,
        "lexicons_sha256": lexicons_sha256(),
        "options": options.model_dump(exclude={"llm_config"}),
        "settings": policy.settings.model_dump(mode="json"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if options.extractor != "offline":
        from review.extract.llm.prompts import load_prompt

        manifest["prompt_sha256"] = load_prompt(options.prompt).sha256
        if config.llm is not None:
            manifest["llm"] = config.llm.model_dump(
                include={"model", "temperature", "seed", "structured_output"}
            )
    return manifest


def _bounded(items: Iterable[WorkItem], submit, window: int):
    """Keep at most ``window`` cases in flight so memory stays flat however big the input."""
    from concurrent.futures import FIRST_COMPLETED, wait

    in_flight = set()
    for item in items:
        in_flight.add(submit(item))
        if len(in_flight) >= window:
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    while in_flight:
        finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in finished:
            yield future.result()


_WORKER_CONFIG = None


def _init_worker(config, parent_pid: int | None = None) -> None:
    """Each worker process builds its own pipeline and loads the policy once, and dies with its
    parent. Ctrl-C goes to the whole process group: the parent alone handles it (it stops the
    workers), so a worker ignores SIGINT rather than die mid-case with a traceback."""
    global _WORKER_CONFIG
    from review.parse import build_pipeline
    from review.policy.load import load_policy, resolve_policy

    if parent_pid is not None:
        _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_CONFIG = config
    build_pipeline()
    resolve_policy(config.policy) if config.policy else load_policy()


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the batch parent dies, even by SIGKILL (which runs no cleanup).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. It fires when the *thread* that started this
    process exits, not the process: the parent starts every worker from the thread that runs the
    batch (ProcessPoolExecutor spawns in ``submit``; ``Process.start`` in the feeding loop), and
    that thread outlives its workers. Everywhere (and in case the parent died before prctl): a
    daemon thread polls ``os.getppid()`` every 0.5 s and exits when the parent has changed."""
    if os.getppid() != parent_pid:
        os._exit(1)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # it died between the check and prctl
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _worker_review(item: WorkItem) -> dict[str, Any]:
    return review_item(item, _WORKER_CONFIG)


def _run_processes(items: Iterable[WorkItem], config, workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(config, os.getpid())
    )
    try:
        yield from _bounded(items, lambda item: pool.submit(_worker_review, item), workers * 8)
    finally:  # stopped early (Ctrl-C, a full disk): drop the queued cases, finish the running
        pool.shutdown(wait=True, cancel_futures=True)


def _thread_worker(
    index: int, config, inbox, outbox, threads: int, parent_pid: int | None = None
) -> None:
    """A worker process for LLM cases: up to ``threads`` cases in flight, fed one at a time, each
    result sent back as soon as it is done (no waiting for a chunk's slowest case)."""
    from concurrent.futures import ThreadPoolExecutor

    _init_worker(config, parent_pid)

    def run(item: WorkItem) -> None:
        outbox.put((index, review_item(item, _WORKER_CONFIG)))

    with ThreadPoolExecutor(threads) as pool:
        while (item := inbox.get()) is not None:
            pool.submit(run, item)


def _run_processes_with_threads(items: Iterable[WorkItem], config, options: BatchOptions):
    """LLM cases on several processes, each with its own threads: the per-case CPU work (parse,
    grounding, rules) is spread over cores while the requests wait. The parent keeps at most
    --concurrency cases in flight in total, and splits the rate limit evenly between processes,
    so neither is ever exceeded. A dead worker stops the run (its cases in flight are the only
    ones lost; --resume picks them up)."""
    import multiprocessing
    import queue

    if config.limiter is not None:
        from review.extract.llm.ratelimit import RateLimiter

        limiter = config.limiter
        config = config.model_copy()
        config.limiter = RateLimiter(
            limiter.rpm // options.workers if limiter.rpm else None,
            limiter.tpm // options.workers if limiter.tpm else None,
            window=limiter.window,
        )
    per_process = max(1, options.concurrency // options.workers)
    context = multiprocessing.get_context("spawn")
    outbox = context.Queue()
    inboxes = [context.Queue() for _ in range(options.workers)]
    workers = [
        context.Process(
            target=_thread_worker,
            args=(i, config, inbox, outbox, per_process, os.getpid()),
            daemon=True,
        )
        for i, inbox in enumerate(inboxes)
    ]
    for worker in workers:
        worker.start()
    in_flight = [0] * options.workers
    source = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted:
                target = min(range(options.workers), key=in_flight.__getitem__)
                if in_flight[target] >= per_process:
                    break
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                inboxes[target].put(item)
                in_flight[target] += 1
            if exhausted and not any(in_flight):
                return
            try:
                index, record = outbox.get(timeout=5)
            except queue.Empty:
                dead = [
                    w.pid for w, n in zip(workers, in_flight, strict=True) if n and not w.is_alive()
                ]
                if dead:
                    raise ReviewError(
                        "B007", f"worker process(es) {dead} died; rerun with --resume"
                    ) from None
                continue
            in_flight[index] -= 1
            yield record
    finally:
        # stopped early (Ctrl-C, a full disk) with cases in flight: their records can no longer
        # be written, so do not wait for their requests to finish
        grace = 1 if any(in_flight) else 10
        for inbox in inboxes:
            inbox.put(None)
        for worker in workers:
            worker.join(timeout=grace)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)


def _run_threads(items: Iterable[WorkItem], config, concurrency: int):
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(concurrency)
    try:
        yield from _bounded(
            items, lambda item: pool.submit(review_item, item, config), concurrency * 2
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(items: Iterable[WorkItem], config, options: BatchOptions):
    try:
        import ray
    except ImportError:
        raise ReviewError("B004", "the ray engine needs Ray: pip install -e '.[ray]'") from None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        ray.init(
            address=address or None,
            num_cpus=None if address else max(options.workers, 1),
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )

    @ray.remote
    def remote_review(item: WorkItem, config) -> dict[str, Any]:
        return review_item(item, config)

    config_ref = ray.put(config)
    window = max(options.workers, options.concurrency, 1) * 4
    pending: list = []
    for item in items:
        pending.append(remote_review.remote(item, config_ref))
        if len(pending) >= window:
            ready, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(ready)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield from ray.get(ready)
