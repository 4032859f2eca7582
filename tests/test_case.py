"""Case loading: the three input shapes, and every bad input gets its own stable error code."""

from __future__ import annotations

import json

import pytest

from review.case import load_case
from review.errors import CaseError

GOOD = {
    "case_id": "C-1",
    "policy": "hphc-tpi",
    "claim": {
        "date_of_service": "2026-03-14",
        "authorization": None,
        "lines": [{"code": "20552", "units": 1, "modifiers": [], "diagnoses": ["M79.18"]}],
    },
    "history": [{"date_of_service": "2025-11-02", "code": "20553"}],
    "documents": [
        {"id": "proc", "kind": "procedure_note", "date": "2026-03-14", "path": "proc.txt"}
    ],
}


def write_case(tmp_path, data, note="Trigger point injection of the left trapezius."):
    (tmp_path / "proc.txt").write_text(note, encoding="utf-8")
    (tmp_path / "case.json").write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


def test_case_directory_reads_notes_by_path(tmp_path):
    case = load_case(write_case(tmp_path, GOOD))
    assert case.documents[0].text == "Trigger point injection of the left trapezius."
    assert case.claim.lines[0].code == "20552"
    assert str(case.history[0].date_of_service) == "2025-11-02"


def test_single_json_file_with_inline_text(tmp_path):
    data = {**GOOD, "documents": [{"id": "v", "kind": "progress_note", "text": "Neck pain."}]}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_case(path).documents[0].text == "Neck pain."


def test_yaml_case_file(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text("case_id: Y-1\ndocuments:\n  - {id: a, text: 'Neck pain.'}\n", encoding="utf-8")
    case = load_case(path)
    assert case.case_id == "Y-1" and case.claim is None


def test_notes_only_folder_is_an_audit_case(tmp_path):
    (tmp_path / "b.txt").write_text("Second note.", encoding="utf-8")
    (tmp_path / "a.txt").write_text("First note.", encoding="utf-8")
    case = load_case(tmp_path)
    assert case.claim is None
    assert [d.id for d in case.documents] == ["a", "b"]


def test_note_file_alone(tmp_path):
    path = tmp_path / "visit.txt"
    path.write_text("\ufeffBOM is dropped.", encoding="utf-8")
    case = load_case(path)
    assert case.case_id == "visit" and case.documents[0].text == "BOM is dropped."


def _bad_json(tmp_path):
    (tmp_path / "case.json").write_text('{"case_id": "x",', encoding="utf-8")
    return tmp_path


def _non_utf8(tmp_path):
    write_case(tmp_path, GOOD)
    (tmp_path / "proc.txt").write_bytes(b"Injected the left trapezius \xff\xfe with lidocaine")
    return tmp_path


def _with(tmp_path, **changes):
    data = json.loads(json.dumps(GOOD))
    for dotted, value in changes.items():
        target = data
        *parts, last = dotted.split("__")
        for part in parts:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return write_case(tmp_path, data)


CASES = [
    ("missing path", lambda p: p / "nope", "C001", "no such file"),
    ("malformed JSON", _bad_json, "C003", "line 1 column"),
    ("non-UTF-8 note", _non_utf8, "C002", "re-export the file as UTF-8"),
    (
        "bad CPT",
        lambda p: _with(p, claim__lines__0__code="2055"),
        "C013",
        "claim.lines[0].code: '2055' is not a CPT",
    ),
    (
        "bad ICD shape",
        lambda p: _with(p, claim__lines__0__diagnoses=["hello"]),
        "C015",
        "diagnoses[0]",
    ),
    (
        "zero units",
        lambda p: _with(p, claim__lines__0__units=0),
        "C014",
        "units must be at least 1",
    ),
    ("unknown key", lambda p: _with(p, claimz=1), "C004", "claimz"),
    (
        "bad date",
        lambda p: _with(p, claim__date_of_service="14/03/2026"),
        "C004",
        "claim.date_of_service",
    ),
    (
        "missing note file",
        lambda p: _with(p, documents=[{"id": "x", "path": "missing.txt"}]),
        "C005",
        "note file not found",
    ),
    (
        "duplicate ids",
        lambda p: _with(p, documents=[{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]),
        "C007",
        "duplicate document id",
    ),
    (
        "empty notes",
        lambda p: _with(p, documents=[{"id": "x", "text": "   "}]),
        "C006",
        "every document is empty",
    ),
    ("no documents", lambda p: _with(p, documents=[]), "C006", "no documents"),
    ("folder without case or notes", lambda p: p, "C009", "no case.json"),
    (
        "not an object",
        lambda p: (p / "case.json").write_text("[1, 2]") and p,
        "C012",
        "expected a JSON object",
    ),
]


@pytest.mark.parametrize(("label", "make", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_has_a_stable_code_and_says_what_to_do(tmp_path, label, make, code, fragment):
    path = make(tmp_path)
    with pytest.raises(CaseError) as info:
        load_case(path)
    message = str(info.value)
    assert message.startswith(f"[{code}] ")
    assert fragment in message
    assert "\n" not in message


def test_huge_note_is_refused_with_the_limit(tmp_path):
    write_case(tmp_path, GOOD, note="x" * 5000)
    with pytest.raises(CaseError) as info:
        load_case(tmp_path, max_note_chars=1000)
    assert info.value.code == "C008" and "limit 1,000" in str(info.value)
