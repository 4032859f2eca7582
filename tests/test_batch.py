"""Batch runs: same results whatever the parallelism, crash-safe resume, bad records recorded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from review.batch.options import BatchOptions
from review.batch.results import finished_ids
from review.batch.run import run_batch
from review.errors import ReviewError

ROOT = Path(__file__).resolve().parents[1]
CASE_DIRS = sorted(
    p
    for base in ("examples", "tests/golden/cases")
    for p in (ROOT / base).iterdir()
    if (p / "case.json").is_file()  # case folders (not examples/fhir, a folder of bundles)
)


def _notes_jsonl(path: Path, copies: int = 1) -> Path:
    """A JSONL of synthetic notes: every golden/example note, as audit records."""
    with open(path, "w", encoding="utf-8") as fh:
        for copy in range(copies):
            for case_dir in CASE_DIRS:
                for note in sorted(case_dir.glob("*.txt")):
                    record = {
                        "id": f"{case_dir.name}-{note.stem}-{copy}",
                        "text": note.read_text(encoding="utf-8"),
                    }
                    fh.write(json.dumps(record) + "\n")
    return path


def _records(out: Path) -> list[dict]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda r: r["key"])


@pytest.fixture
def case_folder(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for case_dir in CASE_DIRS[:12]:
        shutil.copytree(case_dir, folder / case_dir.name)
    return folder


def test_one_and_two_workers_give_the_same_records(case_folder, tmp_path):
    one = run_batch(case_folder, tmp_path / "one", BatchOptions(workers=1))
    two = run_batch(case_folder, tmp_path / "two", BatchOptions(workers=2))
    assert one.done == two.done == 12 and one.errors == 0
    assert _records(tmp_path / "one") == _records(tmp_path / "two")
    decisions = {r["key"]: r["decision"] for r in _records(tmp_path / "one")}
    assert decisions["approve-cervical-tpi"] == "approve"
    assert decisions["deny-dry-needling"] == "deny"
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["counts"]["reviewed"] == 12
    assert manifest["rules_sha256"] and manifest["options"]["workers"] == 2


def test_local_and_ray_engines_give_the_same_records(case_folder, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    run_batch(case_folder, tmp_path / "local", BatchOptions(workers=1))
    run_batch(case_folder, tmp_path / "ray", BatchOptions(workers=2, engine="ray"))
    assert _records(tmp_path / "local") == _records(tmp_path / "ray")


def test_bad_records_become_error_records_and_the_rest_finish(tmp_path):
    good = _notes_jsonl(tmp_path / "good.jsonl").read_bytes().splitlines(keepends=True)[:3]
    lines = [
        good[0],
        b'{"id": "broken", "text": "unterminated\n',
        b'{"id": "no-text"}\n',
        b'{"id": "latin1", "text": "caf\xe9"}\n',
        json.dumps({"id": "huge", "text": "x" * 5_000_001}).encode() + b"\n",
        b"[1, 2, 3]\n",
        good[1],
        good[1],  # a duplicate id
        good[2],
    ]
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"".join(lines))
    stats = run_batch(source, tmp_path / "out", BatchOptions())
    records = {r["source"]: r for r in _records(tmp_path / "out")}
    assert stats.done == 9 and stats.errors == 6
    expected_errors = {
        "mixed.jsonl:2": "C003",
        "mixed.jsonl:3": "C016",
        "mixed.jsonl:4": "C002",
        "mixed.jsonl:5": "C008",
        "mixed.jsonl:6": "C012",
        "mixed.jsonl:8": "B003",
    }
    for source_line, code in expected_errors.items():
        assert records[source_line]["status"] == "error", source_line
        assert records[source_line]["error"]["code"] == code, records[source_line]
    for source_line in ("mixed.jsonl:1", "mixed.jsonl:7", "mixed.jsonl:9"):
        assert records[source_line]["status"] == "ok"


def test_refuses_to_overwrite_finished_work(case_folder, tmp_path):
    run_batch(case_folder, tmp_path / "out", BatchOptions(limit=2))
    with pytest.raises(ReviewError) as info:
        run_batch(case_folder, tmp_path / "out", BatchOptions())
    assert info.value.code == "B002" and "--resume" in str(info.value)
    stats = run_batch(case_folder, tmp_path / "out", BatchOptions(resume=True))
    assert stats.skipped == 2 and stats.done == 10
    assert len(_records(tmp_path / "out")) == 12


def test_a_torn_last_line_is_cut_on_resume(tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text('{"key": "a"}\n{"key": "b"}\n{"key": "c", "sta', encoding="utf-8")
    assert finished_ids(results) == {"a", "b"}
    assert results.read_text(encoding="utf-8").endswith('"b"}\n')


def _review_cli() -> list[str]:
    return [sys.executable, "-c", "from review.cli import main; main()"]


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    notes = _notes_jsonl(tmp_path / "notes.jsonl", copies=4)
    total = sum(1 for _ in notes.open())
    reference = tmp_path / "reference"
    run_batch(notes, reference, BatchOptions())

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [*_review_cli(), "batch", str(notes), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = results.read_bytes()
    assert 10 <= partial.count(b"\n") < total, "the kill should land mid-run"

    subprocess.run(
        [*_review_cli(), "batch", str(notes), "--out", str(out), "--resume"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lines = results.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["key"] for line in lines]
    assert len(ids) == len(set(ids)) == total
    assert _records(out) == _records(reference)
