"""Robustness on real notes: a deterministic sample of MTSamples (none of them a trigger point
injection) runs through the whole pipeline as audit cases (no claim). Nothing may fail, nothing
may be reported as a performed TPI or approved, and every evidence span must slice back.

Failures are reported by note id only: the test never prints note text.
"""

from __future__ import annotations

import json

from conftest import evidence_items

from review.case import case_from_dict
from review.pipeline import review_case

STEP = 10
"""Every 10th note by id: 236 of the 2,352 notes, about 5 s at ~50 notes/s."""
MIN_SAMPLE = 200


def _sample(path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        notes = [json.loads(line) for line in fh if line.strip()]
    notes.sort(key=lambda n: n["id"])
    return notes[::STEP]


def test_real_notes_are_never_a_performed_tpi(mtsamples_path, nlp):
    sample = _sample(mtsamples_path)
    assert len(sample) >= MIN_SAMPLE
    problems: list[str] = []
    for note in sample:
        nid = note["id"]
        case = case_from_dict(
            {"case_id": nid, "documents": [{"id": "note", "kind": "note", "text": note["text"]}]},
            source=nid,
        )
        try:
            rec = review_case(case)
        except Exception as exc:  # report the id and the error type, never the note text
            problems.append(f"{nid}: raised {type(exc).__name__}")
            continue
        if rec.facts.procedure_performed:
            problems.append(f"{nid}: procedure_performed ({rec.facts.procedure_status})")
        if rec.decision == "approve":
            problems.append(f"{nid}: approved")
        if rec.ungrounded:
            problems.append(f"{nid}: {len(rec.ungrounded)} ungrounded evidence item(s)")
        for ev in evidence_items(rec.model_dump(mode="json")):
            text = note["text"]
            if not (
                0 <= ev["start"] < ev["end"] <= len(text)
                and text[ev["start"] : ev["end"]] == ev["text"]
            ):
                problems.append(f"{nid}: evidence [{ev['start']}:{ev['end']}] does not slice back")
    assert problems == []
