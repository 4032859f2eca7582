"""Attacks on input confinement: a submitted case must not choose which files are read or which
rules decide it. Each test is written as the attack; it failed before the loader confined paths
and policy names (the hardening issue, items 1 and 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from review.case import load_case
from review.errors import CaseError

ROOT = Path(__file__).resolve().parents[2]
NOTE = "Trigger point injection of the left trapezius with 1% lidocaine 2 mL."
SECRET_NOTE = "TOP SECRET outside note: the case folder must never reach this file."


def _case(folder: Path, documents: list[dict], **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"case_id": "ATK-1", "documents": documents, **extra}
    (folder / "case.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.fixture
def outside(tmp_path) -> Path:
    secret = tmp_path / "outside.txt"
    secret.write_text(SECRET_NOTE, encoding="utf-8")
    return secret


def _refused(path: Path, code: str) -> str:
    with pytest.raises(CaseError) as info:
        load_case(path)
    message = str(info.value)
    assert message.startswith(f"[{code}] "), message
    assert SECRET_NOTE not in message and "\n" not in message
    return message


def test_parent_relative_path_is_refused(tmp_path, outside):
    case = _case(tmp_path / "case", [{"id": "p", "path": "../outside.txt"}])
    assert "leaves the case folder" in _refused(case, "C011")


def test_deep_parent_path_that_comes_back_inside_is_refused(tmp_path, outside):
    """'notes/../../case/proc.txt' resolves inside, but '..' is never needed: refuse it plainly."""
    case = _case(tmp_path / "case", [{"id": "p", "path": "../case/proc.txt"}])
    (case / "proc.txt").write_text(NOTE, encoding="utf-8")
    _refused(case, "C011")


def test_absolute_path_is_refused(tmp_path, outside):
    case = _case(tmp_path / "case", [{"id": "p", "path": str(outside)}])
    assert "absolute" in _refused(case, "C011")


def test_proc_environ_is_refused(tmp_path):
    case = _case(tmp_path / "case", [{"id": "p", "path": "/proc/self/environ"}])
    _refused(case, "C011")


def test_symlink_in_case_folder_pointing_outside_is_refused(tmp_path, outside):
    case = _case(tmp_path / "case", [{"id": "p", "path": "proc.txt"}])
    (case / "proc.txt").symlink_to(outside)
    assert "symlink" in _refused(case, "C011")


def test_symlink_in_notes_folder_pointing_outside_is_refused(tmp_path, outside):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text(NOTE, encoding="utf-8")
    (notes / "b.txt").symlink_to(outside)
    _refused(notes, "C011")


def test_symlink_to_a_file_inside_the_folder_is_read(tmp_path):
    """Confinement is about where a file really is, not about links as such."""
    case = _case(tmp_path / "case", [{"id": "p", "path": "link.txt"}])
    (case / "real.txt").write_text(NOTE, encoding="utf-8")
    (case / "link.txt").symlink_to(case / "real.txt")
    assert load_case(case).documents[0].text == NOTE


def test_subfolder_path_is_read(tmp_path):
    case = _case(tmp_path / "case", [{"id": "p", "path": "notes/proc.txt"}])
    (case / "notes").mkdir()
    (case / "notes" / "proc.txt").write_text(NOTE, encoding="utf-8")
    assert load_case(case).documents[0].text == NOTE


def test_cli_html_report_never_shows_the_environment(tmp_path):
    """The attack as reported: /proc/self/environ (API keys included) put into the HTML report."""
    case = _case(tmp_path / "case", [{"id": "p", "path": "/proc/self/environ"}])
    env = {**os.environ, "REVIEW_LLM_API_KEY": "sk-attack-canary-123456"}
    out = subprocess.run(
        [sys.executable, "-m", "review.cli", "case", str(case), "--format", "html"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "sk-attack-canary" not in out.stdout + out.stderr
    assert out.stderr.startswith("error: [C011] ")


def test_batch_folder_of_cases_confines_paths(tmp_path, outside):
    from review.batch.options import BatchOptions
    from review.batch.run import run_batch

    cases = tmp_path / "cases"
    _case(cases / "a", [{"id": "p", "path": "../../outside.txt"}])
    run_batch(cases, tmp_path / "out", BatchOptions())
    text = (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8")
    record = json.loads(text)
    assert record["status"] == "error" and record["error"]["code"] == "C011"
    assert SECRET_NOTE not in text


# --------------------------------------------------------------------------- policy choice


def _permissive_policy(tmp_path: Path) -> Path:
    """A copy of the real policy whose every condition is 'true': rules that approve anything."""
    folder = tmp_path / "evil" / "hphc-tpi"
    shutil.copytree(ROOT / "rules" / "hphc-tpi", folder)
    rules = (folder / "rules.yaml").read_text(encoding="utf-8")
    import re

    rules = re.sub(r"met_when: .*", 'met_when: "true"', rules)
    (folder / "rules.yaml").write_text(rules, encoding="utf-8")
    return folder


@pytest.mark.parametrize("style", ["absolute", "relative", "parent"])
def test_case_cannot_bring_its_own_rules(tmp_path, style):
    evil = _permissive_policy(tmp_path)
    case_dir = tmp_path / "case"
    ref = {
        "absolute": str(evil),
        "relative": os.path.relpath(evil, case_dir),
        "parent": "../" + "../" * 8 + str(evil).lstrip("/"),
    }[style]
    case = _case(case_dir, [{"id": "p", "text": "Well-child visit. Growth normal."}], policy=ref)
    message = _refused(case, "C004")
    assert "policy" in message and "registry id" in message


def test_unknown_policy_id_in_a_case_is_an_input_error(tmp_path):
    from review.pipeline import review_case

    case = _case(tmp_path / "case", [{"id": "p", "text": NOTE}], policy="no-such-policy")
    with pytest.raises(Exception) as info:
        review_case(load_case(case))
    assert "[R001]" in str(info.value) and "unknown policy 'no-such-policy'" in str(info.value)


def test_operator_may_name_a_policy_folder_on_the_command_line(tmp_path):
    """Folders come from the operator: `--policy PATH` loads a draft policy folder."""
    draft = tmp_path / "draft"
    shutil.copytree(ROOT / "rules" / "hphc-tpi", draft)
    case = _case(tmp_path / "case", [{"id": "p", "text": NOTE}])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "review.cli",
            "case",
            str(case),
            "-f",
            "json",
            "--policy",
            str(draft),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["provenance"]["policy"] == "hphc-tpi"


def test_batch_does_not_follow_a_case_folder_link_out_of_the_input(tmp_path, outside):
    from review.batch.options import BatchOptions
    from review.batch.run import run_batch

    elsewhere = _case(tmp_path / "elsewhere", [{"id": "p", "path": "proc.txt"}])
    (elsewhere / "proc.txt").write_text(SECRET_NOTE, encoding="utf-8")
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "linked").symlink_to(elsewhere, target_is_directory=True)
    run_batch(cases, tmp_path / "out", BatchOptions())
    text = (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8")
    assert json.loads(text)["error"]["code"] == "C011"
    assert "TOP SECRET" not in text


def test_batch_jsonl_with_deep_nesting_is_an_error_record(tmp_path):
    from review.batch.options import BatchOptions
    from review.batch.run import run_batch

    src = tmp_path / "in.jsonl"
    src.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    run_batch(src, tmp_path / "out", BatchOptions())
    record = json.loads((tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8"))
    assert record["error"]["code"] == "C017"
