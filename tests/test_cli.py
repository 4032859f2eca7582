"""The command line as a user runs it: ``review case`` (JSON contract, text report, --out, exit
codes, one-line errors without note text) and ``review rules list|check|explain|test``.

Error paths and the entry point run in a subprocess (``python -m review.cli``, the same ``main()``
as the installed ``review`` script); the slower successful reviews also run in-process through
``review.cli.main`` so the spaCy pipeline is built once.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run_main

from review.policy import available_policies, load_policy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "case.json").is_file())
RULE_IDS = [rule.spec.id for rule in load_policy("hphc-tpi").rules]
"""Every rule of the default policy, in catalogue order (read from rules/, not hard-coded)."""
BUNDLED_RULES = [(p, rule.spec.id) for p in available_policies() for rule in load_policy(p).rules]
"""(policy id, rule id) for every rule of every bundled policy, as the registry lists them."""
ERROR_LINE = re.compile(r"^error: \[[CRL]\d{3}\] \S.*$")

# a note made up for these tests; its words must never reach an error line
SECRET = "Zebulon Quackenbush DOB 02/29/1960 MRN 8675309"
NOTE = f"{SECRET} has neck pain. Trigger point injection into the left trapezius today."


@functools.cache
def _command() -> list[str]:
    """``python -m review.cli`` if it runs, else the installed ``review`` script."""
    probe = subprocess.run(
        [sys.executable, "-m", "review.cli", "--help"], capture_output=True, cwd=ROOT, timeout=60
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "review.cli"]
    script = shutil.which("review", path=str(Path(sys.executable).parent))
    assert script, "neither 'python -m review.cli' nor the 'review' script runs"
    return [script]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_command(), *args],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_both_entry_points_run():
    assert run("--help").returncode == 0
    script = shutil.which("review", path=str(Path(sys.executable).parent))
    if script:
        listed = subprocess.run([script, "rules", "list"], capture_output=True, cwd=ROOT)
        assert listed.returncode == 0 and b"TPI-M04" in listed.stdout


# --------------------------------------------------------------------------- review case --format json


def _check_contract(data: dict) -> None:
    assert list(data)[:9] == [
        "case_id",
        "decision",
        "billed_code",
        "supported_code",
        "summary",
        "findings",
        "facts",
        "missing_documentation",
        "provenance",
    ]
    assert data["decision"] in ("approve", "pend", "deny")
    assert isinstance(data["summary"], str) and data["summary"]
    assert {f["rule_id"] for f in data["findings"]} == set(RULE_IDS)
    for f in data["findings"]:
        assert {"rule_id", "status", "reason", "policy_text", "evidence"} <= f.keys()
        assert f["status"] in ("met", "not_met", "insufficient", "not_applicable")
        assert f["reason"] and f["policy_text"]
        for ev in f["evidence"]:
            assert list(ev) == ["document_id", "start", "end", "text"]
    assert isinstance(data["facts"], dict) and "procedure_performed" in data["facts"]
    assert isinstance(data["missing_documentation"], list)
    prov = data["provenance"]
    assert {"version", "policy", "rules_sha256", "extractor", "model", "prompt"} <= prov.keys()
    assert prov["policy"] == "hphc-tpi" and prov["extractor"] == "offline"
    assert re.fullmatch(r"[0-9a-f]{64}", prov["rules_sha256"])


def _note_texts(case_dir: Path) -> dict[str, str]:
    from review.case import load_case

    return {d.id: d.text for d in load_case(case_dir).documents}


@pytest.mark.parametrize("case_dir", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_case_json_is_one_object_following_the_contract(monkeypatch, capsys, case_dir):
    code, out, err = run_main(monkeypatch, capsys, "case", str(case_dir), "--format", "json")
    assert code == 0, err
    data = json.loads(out)  # the whole stdout is exactly one JSON object
    assert isinstance(data, dict)
    _check_contract(data)
    expected = json.loads((case_dir / "case.json").read_text())
    assert data["case_id"] == expected["case_id"]
    assert data["billed_code"] == expected["claim"]["lines"][0]["code"]
    texts = _note_texts(case_dir)
    for f in data["findings"]:
        for ev in f["evidence"]:
            assert texts[ev["document_id"]][ev["start"] : ev["end"]] == ev["text"]
    assert err == ""


def test_catalogue_rules_are_all_in_the_policy():
    catalogue = [f"TPI-A0{i}" for i in range(1, 9)] + [f"TPI-M{i:02d}" for i in range(1, 11)]
    assert set(catalogue) <= set(RULE_IDS)


def test_entry_point_exits_0_for_every_decision_and_gives_the_same_bytes(monkeypatch, capsys):
    """Each example once through ``python -m review.cli`` (a fresh process with its own hash seed)
    and once in this process: exit 0 whatever the decision, and byte-identical JSON."""
    decisions = set()
    for seed, case_dir in enumerate(EXAMPLES, start=1):
        done = run("case", str(case_dir), "--format", "json", env={"PYTHONHASHSEED": str(seed)})
        assert done.returncode == 0, done.stderr.decode()
        assert done.stderr == b""
        decisions.add(json.loads(done.stdout)["decision"])
        _, here, _ = run_main(monkeypatch, capsys, "case", str(case_dir), "--format", "json")
        assert done.stdout.decode("utf-8") == here
    assert decisions == {"approve", "pend", "deny"}


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_two_runs_give_identical_bytes_in_process(monkeypatch, capsys, fmt):
    outs = {
        run_main(monkeypatch, capsys, "case", str(case_dir), "--format", fmt)[1]
        for case_dir in EXAMPLES
        for _ in range(2)
    }
    assert len(outs) == len(EXAMPLES)


# --------------------------------------------------------------------------- --format text, --out


@pytest.mark.parametrize("case_dir", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_text_report_names_the_decision_and_every_rule(monkeypatch, capsys, case_dir):
    code, out, err = run_main(monkeypatch, capsys, "case", str(case_dir), "--format", "text")
    assert code == 0, err
    _, json_out, _ = run_main(monkeypatch, capsys, "case", str(case_dir), "--format", "json")
    decision = json.loads(json_out)["decision"]
    assert out.splitlines()[0].endswith(f": {decision.upper()}")
    for rule_id in RULE_IDS:
        assert rule_id in out
    assert not out.lstrip().startswith("{")


def test_out_writes_the_file_and_keeps_stdout_empty(monkeypatch, capsys, tmp_path):
    target = tmp_path / "rec.json"
    code, out, err = run_main(
        monkeypatch, capsys, "case", str(EXAMPLES[0]), "--format", "json", "--out", str(target)
    )
    assert code == 0
    assert out == ""
    data = json.loads(target.read_text(encoding="utf-8"))
    _check_contract(data)
    assert str(target) in err and data["decision"] in err
    assert not (tmp_path / "rec.json.tmp").exists()
    _, stdout_json, _ = run_main(monkeypatch, capsys, "case", str(EXAMPLES[0]), "--format", "json")
    assert target.read_text(encoding="utf-8") == stdout_json


def test_out_into_a_missing_folder_is_bad_input(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    done = run("case", str(note), "--out", str(tmp_path / "no-such-dir" / "rec.json"))
    assert done.returncode == 2
    assert ERROR_LINE.match(done.stderr.decode().strip())
    assert "internal error" not in done.stderr.decode()


# --------------------------------------------------------------------------- bad input


def _malformed_json(tmp_path: Path) -> Path:
    (tmp_path / "case.json").write_text(
        '{"case_id": "x", "documents": [{"id": "n", "text": "' + NOTE + '"}, ]}',
        encoding="utf-8",
    )
    return tmp_path


def _control_char_json(tmp_path: Path) -> Path:
    (tmp_path / "case.json").write_text(
        '{"case_id": "x", "documents": [{"id": "n", "text": "' + NOTE.replace(". ", ".\n") + '"}]}',
        encoding="utf-8",
    )
    return tmp_path


def _malformed_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(f'case_id: x\ndocuments:\n  - {{id: n, text: "{NOTE}\n  - [\n', "utf-8")
    return path


def _non_utf8_note(tmp_path: Path) -> Path:
    path = tmp_path / "note.txt"
    path.write_bytes(NOTE.encode("utf-8").replace(b"neck", b"n\xffck"))
    return path


def _bad_field(tmp_path: Path) -> Path:
    data = {
        "case_id": "x",
        "documents": [{"id": "n", "kind": "progress_note", "date": NOTE, "text": NOTE}],
    }
    (tmp_path / "case.json").write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


def _note(tmp_path: Path) -> Path:
    path = tmp_path / "note.txt"
    path.write_text(NOTE, encoding="utf-8")
    return path


BAD_INPUT = [
    # (label, make the input, extra args, expected error code, fragment of the error line)
    ("missing path", lambda p: p / "nope", [], "C001", "no such file"),
    ("malformed JSON", _malformed_json, [], "C003", "malformed JSON at line 1"),
    ("control character in JSON", _control_char_json, [], "C003", "malformed JSON"),
    ("malformed YAML", _malformed_yaml, [], "C003", "malformed YAML"),
    ("non-UTF-8 note", _non_utf8_note, [], "C002", "re-export the file as UTF-8"),
    ("invalid field", _bad_field, [], "C004", "documents[0].date"),
    ("unknown policy", _note, ["--policy", "nope"], "R001", "unknown policy 'nope'"),
]


@pytest.mark.parametrize(
    ("label", "make", "extra", "code", "fragment"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT]
)
def test_bad_input_exits_2_with_one_line_and_no_note_text(
    tmp_path, label, make, extra, code, fragment
):
    path = make(tmp_path)
    done = run("case", str(path), "--format", "json", *extra)
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 2, stderr
    assert done.stdout == b""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert ERROR_LINE.match(lines[0]), lines[0]
    assert lines[0].startswith(f"error: [{code}] ")
    assert fragment in lines[0]
    assert "Traceback" not in stderr
    for word in [*SECRET.split(), "neck pain", "trapezius"]:
        assert word not in stderr, f"note text {word!r} leaked into the error line"


def test_debug_shows_the_traceback():
    done = run("--debug", "case", "nope")
    assert done.returncode != 0
    stderr = done.stderr.decode("utf-8")
    assert "Traceback" in stderr and "C001" in stderr


def test_text_report_of_a_single_note_quotes_only_what_it_cites(monkeypatch, capsys, tmp_path):
    """A note alone is an audit case; the report quotes only cited spans, never the whole note."""
    path = tmp_path / "visit.txt"
    path.write_text("Unrelated first line about the weather.\n" + NOTE, encoding="utf-8")
    code, out, err = run_main(monkeypatch, capsys, "case", str(path))
    assert code == 0, err
    assert out.startswith("Case visit: ")
    assert "weather" not in out
    assert err == ""


def test_empty_note_error_names_the_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  \n\n", encoding="utf-8")
    done = run("case", str(path))
    assert done.returncode == 2
    assert done.stderr.decode().startswith(f"error: [C006] {path}")


# --------------------------------------------------------------------------- review rules


def test_rules_list_shows_every_rule(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "rules", "list")
    assert code == 0, err
    assert out.startswith("hphc-tpi: ")
    listed = re.findall(r"^\s+(TPI-[A-Z]\d\d)\s", out, flags=re.M)
    assert listed == RULE_IDS


def test_rules_check(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "rules", "check")
    assert code == 0, err
    assert any(
        line.startswith(f"hphc-tpi: ok ({len(RULE_IDS)} rules, ") for line in out.splitlines()
    ), out


@pytest.mark.parametrize("rule_id", ["TPI-M04", "tpi-m04"])
def test_rules_explain(monkeypatch, capsys, rule_id):
    code, out, err = run_main(monkeypatch, capsys, "rules", "explain", rule_id)
    assert code == 0, err
    assert out.startswith("TPI-M04: ")
    spec = load_policy("hphc-tpi").rule("TPI-M04").spec
    assert f'Policy (policy): "{spec.quote}"' in out
    assert f"Met when:          {spec.met_when}" in out


@pytest.mark.parametrize(("policy_id", "rule_id"), BUNDLED_RULES)
def test_rules_explain_every_bundled_rule(monkeypatch, capsys, policy_id, rule_id):
    """A rule quoting several sentences (a list in rules.yaml) explains like one quoting one."""
    code, out, err = run_main(
        monkeypatch, capsys, "rules", "explain", rule_id, "--policy", policy_id
    )
    assert code == 0, err
    assert out.startswith(f"{rule_id}: ")
    for quote in load_policy(policy_id).rule(rule_id).spec.policy_text:
        assert " ".join(quote.split()) in out


def test_some_bundled_rule_quotes_several_sentences():
    """The case ``test_rules_explain_every_bundled_rule`` must cover is there."""
    assert len(available_policies()) > 1
    assert any(len(load_policy(p).rule(r).spec.policy_text) > 1 for p, r in BUNDLED_RULES)


def test_rules_test(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "rules", "test")
    assert code == 0, err
    assert re.fullmatch(r"\d+ passed, 0 failed\n", out)


def test_rules_explain_unknown_rule_suggests_the_closest():
    done = run("rules", "explain", "TPI-M4")
    stderr = done.stderr.decode()
    assert done.returncode == 2
    assert len(stderr.splitlines()) == 1
    assert ERROR_LINE.match(stderr.strip())
    assert "did you mean 'TPI-M04'" in stderr
    assert done.stdout == b""
