"""Bad input that used to end in an internal error (R999, exit 1) or leave a partial file behind:
each is now a coded one-line input error (exit 2) and nothing partial stays (hardening issue,
items 6, 12 and 13). The tests are the reproductions: they failed before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from review.case import MAX_NOTE_CHARS, case_from_dict, load_case
from review.errors import CaseError, ReviewError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "approve-cervical-tpi"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "review.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _one_line_error(out: subprocess.CompletedProcess, code: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert out.stderr.startswith(f"error: [{code}] "), out.stderr[-2000:]
    assert out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def _case_file(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "case.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


CLAIM = {
    "date_of_service": "2026-03-14",
    "lines": [{"code": "20552", "units": 1, "diagnoses": ["M79.12"]}],
}


# --------------------------------------------------------------------------- --out


def test_out_that_is_a_folder_leaves_nothing_behind(tmp_path):
    """It used to leave DIR.tmp, a full copy of the report (PHI), beside the folder."""
    target = tmp_path / "report"
    target.mkdir()
    out = run_cli("case", str(EXAMPLE), "--format", "html", "--out", str(target))
    _one_line_error(out, "C010")
    assert "is a folder" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    assert list(target.iterdir()) == []


def test_out_in_a_missing_folder_is_an_input_error(tmp_path):
    out = run_cli("case", str(EXAMPLE), "--out", str(tmp_path / "no" / "such" / "r.txt"))
    _one_line_error(out, "C010")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EACCES", "EROFS"])
def test_failed_write_removes_the_temporary_file(tmp_path, monkeypatch, errno_name):
    """A full disk, a read-only or unwritable folder (simulated: the tests may run as root,
    which ignores permissions): a coded error, and no temporary copy of the report stays."""
    import errno

    from review.cli.common import write_output

    real_fdopen = os.fdopen

    class Failing:
        def __init__(self, fd):
            self.fh = real_fdopen(fd, "w", encoding="utf-8")

        def __enter__(self):
            return self

        def write(self, text):
            raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)))

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Failing(fd))
    with pytest.raises(ReviewError) as info:
        write_output(tmp_path / "report.html", "<html>PHI</html>")
    assert info.value.code == "C010"
    assert list(tmp_path.iterdir()) == []


def test_out_onto_a_special_file_is_refused(tmp_path):
    """Renaming a temporary file over a FIFO or a device (``--out /dev/null``) would replace
    it with a regular file. (A FIFO of the test's own stands in for a device: the test must not
    be able to break the machine it runs on.)"""
    from review.cli.common import write_output

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ReviewError) as info:
        write_output(fifo, "text")
    assert info.value.code == "C010" and "not a regular file" in str(info.value)
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


# --------------------------------------------------------------------------- case contents


def test_units_beyond_any_real_claim_is_an_input_error(tmp_path):
    """units of 10**40 overflowed downstream (exit 1, R999)."""
    claim = {**CLAIM, "lines": [{**CLAIM["lines"][0], "units": 10**40}]}
    data = {"case_id": "U-1", "claim": claim, "documents": [{"id": "n", "text": "Neck pain."}]}
    out = run_cli("case", str(_case_file(tmp_path, data)), "--format", "json")
    _one_line_error(out, "C014")
    assert "claim.lines[0].units" in out.stderr and "at most 9,999" in out.stderr


def test_note_over_the_one_limit_is_refused_by_the_loader(tmp_path):
    """1.5 M characters: the loader allowed 2 M and spaCy refused above 1 M (R999). One limit."""
    note = tmp_path / "n.txt"
    note.write_text("Neck pain. " * 140_000, encoding="utf-8")  # 1.54 M characters
    data = {"case_id": "L-1", "documents": [{"id": "n", "path": "n.txt"}]}
    out = run_cli("case", str(_case_file(tmp_path, data)))
    _one_line_error(out, "C008")
    assert f"limit {MAX_NOTE_CHARS:,}" in out.stderr


def test_parse_limit_is_the_loader_limit(nlp):
    assert nlp.max_length == MAX_NOTE_CHARS


def test_inline_note_over_the_limit_is_refused():
    with pytest.raises(CaseError) as info:
        case_from_dict(
            {"case_id": "L-2", "documents": [{"id": "n", "text": "x" * (MAX_NOTE_CHARS + 1)}]},
            source="records.jsonl:3",
        )
    assert info.value.code == "C008"


def test_json_nested_100000_levels_is_an_input_error(tmp_path):
    """json.loads raised RecursionError (R999)."""
    out = run_cli("case", str(_case_file(tmp_path, "[" * 100_000 + "]" * 100_000)))
    _one_line_error(out, "C017")
    assert "nested too deeply" in out.stderr


def test_yaml_nested_deeply_is_an_input_error(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    with pytest.raises(CaseError) as info:
        load_case(path)
    assert info.value.code == "C003"  # libyaml caps the depth: "malformed YAML"


def test_long_note_with_many_lines_parses_in_linear_time():
    """Line breaks were set token by token (each rescans the document): 20,000 short lines took
    11 s, 100,000 over 4 minutes. Timing lives in benchmarks/; here the work is counted: the
    sentence count is exact and a 20,000-line note parses (it would time out the suite before)."""
    from review.parse.documents import parse_documents
    from review.schema import Document

    text = "\n".join(f"BP {i % 97}/80" for i in range(20_000))
    parsed = parse_documents([Document(id="n", text=text)])[0]
    assert len(parsed.sentences) == 20_000
