"""Attacks on ``review batch`` and ``review results``: two runs on one folder, resuming into a
different run, statuses that lie, workers outliving their parent, bad input and full disks.

Each test reproduces a failure of the batch runner as it was before these fixes. Subprocess tests
run the real CLI (``python -m review.cli``) where a real process, signal or lock is the point."""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import review.batch
from review.batch.options import BatchOptions
from review.batch.run import run_batch
from review.errors import ReviewError
from review.policy.load import clear_policy_caches

ROOT = Path(__file__).resolve().parents[1]
NOTE_FILES = sorted(
    note
    for base in ("examples", "tests/golden/cases")
    for case_dir in sorted((ROOT / base).iterdir())
    if case_dir.is_dir()
    for note in sorted(case_dir.glob("*.txt"))
)
CLI = [sys.executable, "-m", "review.cli"]
ONE_LINE = re.compile(r"^error: \[B\d{3}\] \S[^\n]*\n$")


def _note_lines(n: int, tag: str = "") -> list[bytes]:
    """``n`` audit records made from the synthetic example/golden notes (cycled)."""
    lines = []
    for i in range(n):
        note = NOTE_FILES[i % len(NOTE_FILES)]
        record = {"id": f"n{i:04d}{tag}", "text": note.read_text(encoding="utf-8")}
        lines.append(json.dumps(record).encode() + b"\n")
    return lines


def _notes(path: Path, n: int) -> Path:
    path.write_bytes(b"".join(_note_lines(n)))
    return path


def _keys(out: Path) -> list[str]:
    return [
        json.loads(line)["key"]
        for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != ".lock"
    }


def _no_temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.tmp")]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def _outcome(stderr: str) -> str:
    """The one line a run ends with; before it only the periodic progress lines may appear."""
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    assert all(line.startswith("reviewed ") for line in lines[:-1]), stderr
    assert "Traceback" not in stderr
    return lines[-1] + "\n"


def _wait_for(predicate, timeout: float = 60.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def _lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# --------------------------------------------------------------------------- 1. one run per folder


def test_a_second_run_on_a_busy_folder_fails_at_once_and_writes_nothing(tmp_path):
    """A run in progress (paused after its first record) holds the folder: a second run, even
    with --resume, refuses with B008 and leaves every file as it was."""
    notes = _notes(tmp_path / "notes.jsonl", 4)
    out = tmp_path / "out"
    paused, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def pause(stats, record):
        if stats.done == 1:
            paused.set()
            release.wait(30)

    def first_run():
        try:
            outcome["stats"] = run_batch(notes, out, BatchOptions(), progress=pause)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert paused.wait(60), outcome
        before = _snapshot(out)
        started = time.monotonic()
        with pytest.raises(ReviewError) as info:
            run_batch(notes, out, BatchOptions(resume=True))
        assert time.monotonic() - started < 5, "the second run should fail at once"
        assert info.value.code == "B008"
        assert str(out) in str(info.value) and "another" in str(info.value)
        assert _snapshot(out) == before, "the refused run wrote something"
    finally:
        release.set()
        thread.join(60)
    assert "error" not in outcome, outcome
    assert sorted(_keys(out)) == [f"n{i:04d}" for i in range(4)]
    # once the first run is over, the folder is free again
    assert run_batch(notes, out, BatchOptions(resume=True)).skipped == 4


def test_two_cli_runs_started_together_write_every_case_once(tmp_path):
    notes = _notes(tmp_path / "notes.jsonl", 100)
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [*CLI, "batch", str(notes), "--out", str(out), "--resume"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (loser_err,) = [err for code, err in results if code == 2]
    assert ONE_LINE.match(loser_err) and "[B008]" in loser_err and str(out) in loser_err
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == 100


# --------------------------------------------------------------------------- 2. resume = same run


def _first_run(tmp_path: Path, n: int = 3, **options) -> tuple[Path, Path]:
    notes = _notes(tmp_path / "notes.jsonl", n)
    out = tmp_path / "out"
    run_batch(notes, out, BatchOptions(limit=2, **options))
    return notes, out


def test_a_piped_input_is_not_read_ahead(tmp_path):
    """Fingerprinting the input must not consume a stream (``review batch /dev/stdin``)."""
    notes = _notes(tmp_path / "notes.jsonl", 3)
    out = tmp_path / "out"
    result = subprocess.run(
        [*CLI, "batch", "/dev/stdin", "--out", str(out)],
        input=notes.read_bytes(),  # through a pipe
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(_keys(out)) == ["n0000", "n0001", "n0002"]
    assert _manifest(out)["input_fingerprint"]["kind"] == "stream"


def test_resume_with_another_input_file_is_refused(tmp_path):
    _, out = _first_run(tmp_path)
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"".join(_note_lines(3, tag="x")))
    before = _snapshot(out)
    with pytest.raises(ReviewError) as info:
        run_batch(other, out, BatchOptions(resume=True))
    message = str(info.value)
    assert info.value.code == "B009"
    assert "input" in message and "notes.jsonl" in message and "other.jsonl" in message
    assert "--resume --force" in message
    assert _snapshot(out) == before


def test_resume_over_a_rewritten_input_file_is_refused(tmp_path):
    """Same path, different content (not an append): the first 64 KiB changed."""
    notes, out = _first_run(tmp_path)
    notes.write_bytes(b"".join(_note_lines(3, tag="new")))
    with pytest.raises(ReviewError) as info:
        run_batch(notes, out, BatchOptions(resume=True))
    assert info.value.code == "B009" and "input content" in str(info.value)


def test_resume_after_an_append_still_resumes(tmp_path):
    notes, out = _first_run(tmp_path)
    with open(notes, "ab") as fh:
        fh.write(b"".join(_note_lines(6)[3:]))
    stats = run_batch(notes, out, BatchOptions(resume=True))
    assert stats.skipped == 2 and stats.done == 4 and stats.errors == 0
    assert sorted(_keys(out)) == [f"n{i:04d}" for i in range(6)]
    assert _manifest(out)["status"] == "finished"
    assert not _manifest(out).get("forced_resumes")


def test_resume_under_changed_rules_is_refused_then_forced(tmp_path, monkeypatch):
    """Edit a rules file between the runs (a real change of rules_sha256)."""

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    monkeypatch.setenv("REVIEW_RULES_DIR", str(rules))
    clear_policy_caches()
    try:
        notes, out = _first_run(tmp_path)
        old_sha = _manifest(out)["rules_sha256"]
        with open(rules / "hphc-tpi" / "rules.yaml", "a", encoding="utf-8") as fh:
            fh.write("\n# edited between the runs\n")
        clear_policy_caches()
        before = _snapshot(out)
        with pytest.raises(ReviewError) as info:
            run_batch(notes, out, BatchOptions(resume=True))
        message = str(info.value)
        assert info.value.code == "B009" and "rules_sha256" in message
        assert old_sha[:12] in message and "--resume --force" in message
        assert _snapshot(out) == before

        stats = run_batch(notes, out, BatchOptions(resume=True, force=True))
        assert stats.done == 1 and stats.skipped == 2
        manifest = _manifest(out)
        (forced,) = manifest["forced_resumes"]
        assert any("rules_sha256" in change for change in forced["changed"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", forced["at"])
        assert manifest["rules_sha256"] != old_sha
    finally:
        clear_policy_caches()


@pytest.mark.parametrize(
    ("field", "edit", "expected"),
    [
        ("lexicons_sha256", lambda m: m.update(lexicons_sha256="0" * 64), "lexicons_sha256"),
        ("settings", lambda m: m["settings"].update(max_sessions_per_window=99), "settings"),
        ("extractor", lambda m: m["options"].update(extractor="hybrid"), "extractor"),
        ("version", lambda m: m.update(version="0.0.1"), "version"),
        ("policy", lambda m: m.update(policy="other-policy"), "policy"),
    ],
)
def test_resume_into_a_run_made_with_other_settings_is_refused(tmp_path, field, edit, expected):
    """The manifest says the finished records were made differently: refuse, naming the field."""
    notes, out = _first_run(tmp_path)
    manifest = _manifest(out)
    if field == "settings":
        assert "max_sessions_per_window" in manifest["settings"], manifest["settings"]
    edit(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ReviewError) as info:
        run_batch(notes, out, BatchOptions(resume=True))
    assert info.value.code == "B009" and expected in str(info.value)
    assert len(_keys(out)) == 2


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_resume_without_a_readable_manifest_is_refused_unless_forced(tmp_path, damage):
    notes, out = _first_run(tmp_path)
    if damage == "missing":
        (out / "manifest.json").unlink()
    else:
        (out / "manifest.json").write_text('{"status": "runn', encoding="utf-8")
    with pytest.raises(ReviewError) as info:
        run_batch(notes, out, BatchOptions(resume=True))
    assert info.value.code == "B010" and "--force" in str(info.value)
    assert len(_keys(out)) == 2
    stats = run_batch(notes, out, BatchOptions(resume=True, force=True))
    assert stats.done == 1 and stats.skipped == 2
    (forced,) = _manifest(out)["forced_resumes"]
    assert forced["changed"] and forced["at"]


def test_force_is_a_cli_flag_of_batch(tmp_path):
    notes, out = _first_run(tmp_path)
    (out / "manifest.json").unlink()
    refused = _cli("batch", str(notes), "--out", str(out), "--resume")
    assert refused.returncode == 2 and ONE_LINE.match(refused.stderr), refused.stderr
    assert "[B010]" in refused.stderr
    forced = _cli("batch", str(notes), "--out", str(out), "--resume", "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(_keys(out)) == 3


# --------------------------------------------------------------------------- 3. honest status


def test_an_interrupted_run_says_so_and_keeps_its_records(tmp_path):
    notes = _notes(tmp_path / "notes.jsonl", 5)
    out = tmp_path / "out"

    def ctrl_c(stats, record):
        if stats.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(notes, out, BatchOptions(), progress=ctrl_c)
    manifest = _manifest(out)
    assert manifest["status"] == "interrupted" and manifest["reason"]
    assert manifest["counts"]["reviewed"] == 2
    assert _keys(out) == ["n0000", "n0001"]
    assert _no_temp_files(out) == []
    stats = run_batch(notes, out, BatchOptions(resume=True))
    assert stats.skipped == 2 and stats.done == 3 and _manifest(out)["status"] == "finished"


def test_a_run_stopped_by_limit_is_limited_not_finished(tmp_path):
    notes = _notes(tmp_path / "notes.jsonl", 5)
    out = tmp_path / "out"
    before = signal.getsignal(signal.SIGTERM)
    run_batch(notes, out, BatchOptions(limit=2))
    assert signal.getsignal(signal.SIGTERM) is before, "the run's SIGTERM handler stayed"
    assert _manifest(out)["status"] == "limited"
    run_batch(notes, out, BatchOptions(resume=True, limit=3))  # exactly the rest
    assert _manifest(out)["status"] == "finished"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_interrupted_by_a_signal_exits_130_with_one_line(tmp_path, signum):
    notes = _notes(tmp_path / "notes.jsonl", 400)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*CLI, "batch", str(notes), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(lambda: _lines_in(out / "results.jsonl") >= 3, timeout=60)
        proc.send_signal(signum)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert code == 130, (code, stderr)
    line = _outcome(stderr)
    assert line.startswith("interrupted: ") and str(out) in line and "--resume" in line, stderr
    manifest = _manifest(out)
    assert manifest["status"] == "interrupted", manifest
    data = (out / "results.jsonl").read_bytes()
    assert data.endswith(b"\n")
    assert manifest["counts"]["reviewed"] == data.count(b"\n") < 400
    assert _no_temp_files(out) == []


# --------------------------------------------------------------------------- 4. orphaned workers


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir() or not sys.platform.startswith("linux"),
    reason="reads worker pids from /proc (Linux)",
)
@pytest.mark.parametrize("path", ["processes", "processes-with-threads"])
def test_workers_exit_when_the_parent_is_killed(tmp_path, path):
    """kill -9 of the parent: every worker process is gone within a few seconds."""
    notes = _notes(tmp_path / "notes.jsonl", 400)
    out = tmp_path / "out"
    args = [*CLI, "batch", str(notes), "--out", str(out), "--workers", "2"]
    listener = None
    if path == "processes-with-threads":
        # an LLM endpoint that accepts connections and never answers: cases hang in flight
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(60)
        config = tmp_path / "llm.yaml"
        config.write_text(
            f"base_url: http://127.0.0.1:{listener.getsockname()[1]}/v1\n"
            "model: stand-in\napi_key: test\ntimeout: 60\nmax_retries: 0\n",
            encoding="utf-8",
        )
        args += ["--extractor", "llm", "--llm-config", str(config), "--no-cache"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    accepted = []
    try:
        if listener is not None:
            accepted.append(listener.accept()[0])  # a worker is up and sending requests
        else:
            assert _wait_for(lambda: _lines_in(out / "results.jsonl") >= 2, timeout=90)
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        gone = _wait_for(lambda: not any(_alive(pid) for pid in workers), timeout=5)
        assert gone, f"workers still running 5 s after the parent died: {workers}"
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        for conn in accepted:
            conn.close()
        if listener is not None:
            listener.close()


# --------------------------------------------------------------------------- 5. bad input, bad --out


def _truncated_gz(path: Path, n: int) -> tuple[bytes, bytes]:
    whole = gzip.compress(b"".join(_note_lines(n)), mtime=0)
    path.write_bytes(whole[: len(whole) * 2 // 3])
    return whole, path.read_bytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_truncated_gzip_is_a_coded_error_and_keeps_the_records_before_the_cut(tmp_path, workers):
    source = tmp_path / "notes.jsonl.gz"
    whole, _ = _truncated_gz(source, 120)
    out = tmp_path / "out"
    with pytest.raises(ReviewError) as info:
        run_batch(source, out, BatchOptions(workers=workers))
    message = str(info.value)
    match = re.search(r"ends early after line (\d+)", message)
    assert info.value.code == "B011" and match, message
    assert "notes.jsonl.gz" in message and "--resume" in message and "truncated" in message
    reached = int(match.group(1))
    assert 0 < reached < 120
    # every line read before the cut has its record (none lost in flight), nothing after it
    assert sorted(_keys(out)) == [f"n{i:04d}" for i in range(reached)]
    manifest = _manifest(out)
    assert manifest["status"] == "failed" and "B011" in manifest["reason"]
    assert _no_temp_files(out) == []

    # the message's advice works: re-copy the whole file and resume
    source.write_bytes(whole)
    stats = run_batch(source, out, BatchOptions(resume=True))
    assert stats.skipped == reached and stats.done == 120 - reached
    assert sorted(_keys(out)) == [f"n{i:04d}" for i in range(120)]
    assert _manifest(out)["status"] == "finished"


def test_cli_truncated_gzip_exits_2_with_one_line(tmp_path):
    source = tmp_path / "notes.jsonl.gz"
    _truncated_gz(source, 60)
    result = _cli("batch", str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert ONE_LINE.match(_outcome(result.stderr)) and "[B011]" in result.stderr, result.stderr


def test_a_gz_that_is_not_gzip_is_a_coded_error(tmp_path):
    source = tmp_path / "notes.jsonl.gz"
    source.write_bytes(b"".join(_note_lines(2)))  # plain JSONL named .gz
    with pytest.raises(ReviewError) as info:
        run_batch(source, tmp_path / "out", BatchOptions())
    assert info.value.code == "B011" and "is not a gzip file" in str(info.value)
    assert _manifest(tmp_path / "out")["status"] == "failed"


def test_a_missing_input_creates_no_output(tmp_path):
    with pytest.raises(ReviewError) as info:
        run_batch(tmp_path / "absent.jsonl", tmp_path / "out", BatchOptions())
    assert info.value.code == "B001"
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_a_coded_error(tmp_path):
    notes = _notes(tmp_path / "notes.jsonl", 1)
    target = tmp_path / "taken"
    target.write_text("not a folder", encoding="utf-8")
    result = _cli("batch", str(notes), "--out", str(target))
    assert result.returncode == 2 and ONE_LINE.match(result.stderr), result.stderr
    assert "[B012]" in result.stderr and str(target) in result.stderr
    assert target.read_text(encoding="utf-8") == "not a folder"


def _deny_writes_under(monkeypatch, folder: Path) -> None:
    """A read-only folder, for a test running as root (which chmod cannot stop)."""
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if Path(path).resolve().is_relative_to(folder.resolve()) and flags & (
            os.O_WRONLY | os.O_RDWR | os.O_CREAT
        ):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
    real_write_text = Path.write_text

    def guarded_text(self, *args, **kwargs):
        if self.resolve().is_relative_to(folder.resolve()):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", guarded_text)


def test_a_read_only_out_folder_is_a_coded_error(tmp_path, monkeypatch):
    notes = _notes(tmp_path / "notes.jsonl", 2)
    out = tmp_path / "readonly"
    out.mkdir()
    if os.geteuid() == 0:
        _deny_writes_under(monkeypatch, out)
    else:
        out.chmod(0o555)
    try:
        with pytest.raises(ReviewError) as info:
            run_batch(notes, out, BatchOptions())
    finally:
        out.chmod(0o755)
    assert info.value.code == "B013" and "ermission denied" in str(info.value)
    assert str(out) in str(info.value)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("failure", ["ENOSPC", "KeyboardInterrupt"])
def test_a_write_cut_short_never_leaves_half_a_line(tmp_path, monkeypatch, failure):
    """The disk fills up (or Ctrl-C lands) in the middle of the third record's write."""
    notes = _notes(tmp_path / "notes.jsonl", 5)
    out = tmp_path / "out"
    real_write = os.write
    calls = {"records": 0}

    def failing_write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("results.jsonl"):
            calls["records"] += 1
            if calls["records"] == 3:
                real_write(fd, bytes(data[: len(data) // 2]))
                if failure == "ENOSPC":
                    raise OSError(errno.ENOSPC, "No space left on device")
                raise KeyboardInterrupt
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    expected = ReviewError if failure == "ENOSPC" else KeyboardInterrupt
    with pytest.raises(expected) as info:
        run_batch(notes, out, BatchOptions())
    data = (out / "results.jsonl").read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 2
    assert [json.loads(line)["key"] for line in data.splitlines()] == ["n0000", "n0001"]
    manifest = _manifest(out)
    if failure == "ENOSPC":
        assert info.value.code == "B013" and "No space left" in str(info.value)
        assert "--resume" in str(info.value)
        assert manifest["status"] == "failed" and "B013" in manifest["reason"]
    else:
        assert manifest["status"] == "interrupted"
    assert manifest["counts"]["reviewed"] == 2
    assert _no_temp_files(out) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_results_on_a_full_device_is_a_coded_error(tmp_path):
    """A real ENOSPC from the kernel: results.jsonl points at /dev/full."""
    notes = _notes(tmp_path / "notes.jsonl", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").symlink_to("/dev/full")
    with pytest.raises(ReviewError) as info:
        run_batch(notes, out, BatchOptions())
    assert info.value.code == "B013" and "No space left" in str(info.value)
    assert _manifest(out)["status"] == "failed"
    assert _no_temp_files(out) == []


def test_a_manifest_that_cannot_be_written_leaves_no_temporary_file(tmp_path, monkeypatch):
    notes = _notes(tmp_path / "notes.jsonl", 2)
    out = tmp_path / "out"
    real_write = os.write

    def failing_write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("manifest.json.tmp"):
            real_write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(ReviewError) as info:
        run_batch(notes, out, BatchOptions())
    assert info.value.code == "B013" and "manifest.json" in str(info.value)
    assert _no_temp_files(out) == []


# --------------------------------------------------------------------------- results summary/export


def _results_with_garbage(tmp_path: Path) -> Path:
    notes = _notes(tmp_path / "notes.jsonl", 4)
    out = tmp_path / "out"
    run_batch(notes, out, BatchOptions())
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    lines.insert(2, b'{"key": "torn", "status": "o\n')
    (out / "results.jsonl").write_bytes(b"".join(lines))
    return out


@pytest.mark.parametrize("command", ["summary", "export"])
def test_results_over_a_garbage_line_name_the_file_and_line(tmp_path, command):
    pytest.importorskip("duckdb")
    out = _results_with_garbage(tmp_path)
    result = _cli("results", command, str(out))
    assert result.returncode == 2, result.stderr
    assert ONE_LINE.match(result.stderr), result.stderr
    assert "results.jsonl" in result.stderr and "line 3" in result.stderr
    assert not (out / "results.parquet").exists()
    assert _no_temp_files(out) == []


def test_export_that_cannot_be_placed_leaves_no_temporary_parquet(tmp_path):
    pytest.importorskip("duckdb")
    from review.results import export_parquet

    notes = _notes(tmp_path / "notes.jsonl", 2)
    out = tmp_path / "out"
    run_batch(notes, out, BatchOptions())
    target = tmp_path / "exports"
    target.mkdir()  # a folder where the file should go: the final rename fails
    with pytest.raises(ReviewError) as info:
        export_parquet(out, target)
    assert info.value.code == "B013" and str(target) in str(info.value)
    assert _no_temp_files(tmp_path) == []


def test_batch_package_keeps_its_public_names():
    """Code outside the repo imports these from ``review.batch``: the modules' own objects."""
    from review.batch import inputs, lock, options, records, results, run

    expected = {
        "BatchInterrupted": lock.BatchInterrupted,
        "BatchOptions": options.BatchOptions,
        "RunStats": run.RunStats,
        "WorkItem": inputs.WorkItem,
        "finished_ids": results.finished_ids,
        "iter_inputs": inputs.iter_inputs,
        "review_item": records.review_item,
        "run_batch": run.run_batch,
    }
    assert sorted(review.batch.__all__) == sorted(expected)
    for name, obj in expected.items():
        assert getattr(review.batch, name) is obj


def test_resume_with_the_versioned_name_of_the_same_extractor_is_not_a_change(tmp_path):
    """`--extractor offline` then `--resume --extractor offline.v1`: one extractor, two names;
    the resume goes on (a real change of extractor is refused: the test above)."""
    notes, out = _first_run(tmp_path)
    stats = run_batch(notes, out, BatchOptions(resume=True, extractor="offline.v1"))
    assert stats.errors == 0
    assert "forced_resumes" not in _manifest(out) or not _manifest(out)["forced_resumes"]
