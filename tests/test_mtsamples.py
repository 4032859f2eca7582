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


def test_line_sectionizer_finds_what_medspacys_sectionizer_finds(mtsamples_path, nlp):
    """review.parse.sections.LineSectionizer replaced medspaCy's sectionizer for speed; medspaCy's, with
    the same rules ("phrase:", "phrase (qualifier):", PHRASE in capitals, start of line only),
    stays the oracle: the same headings on every sampled real note and on the synthetic ones."""
    from pathlib import Path

    from medspacy.section_detection import Sectionizer, SectionRule

    from review.lexicon import load_lexicon
    from review.parse.sections import LineSectionizer
    from review.parse.sentences import join_wrapped_lines

    oracle = Sectionizer(nlp, rules=None, require_start_line=True)
    rules = []
    for entry in load_lexicon("sections").entries:
        for phrase in entry.phrases:
            rules.append(SectionRule(f"{phrase}:", entry.name))
            qualified = [{"LOWER": t.lower_} for t in nlp.make_doc(phrase)]
            qualified += [{"TEXT": "("}, {"TEXT": {"NOT_IN": [")", "\n"]}, "OP": "{1,5}"}]
            qualified += [{"TEXT": ")"}, {"TEXT": ":"}]
            rules.append(SectionRule(f"{phrase} (...):", entry.name, pattern=qualified))
            if len(phrase) > 1:
                tokens = [{"TEXT": t.text} for t in nlp.make_doc(phrase.upper())]
                rules.append(SectionRule(phrase.upper(), entry.name, pattern=tokens))
    oracle.add(rules)
    ours = LineSectionizer(nlp)
    root = Path(__file__).resolve().parents[1]
    texts = [n["text"] for n in _sample(mtsamples_path)]
    texts += [p.read_text(encoding="utf-8") for p in sorted(root.glob("eval/*/*/*.txt"))]
    headings = 0
    for text in texts:
        doc = nlp.make_doc(join_wrapped_lines(text))
        want = [
            (s.category, s.title_start, s.title_end, s.section_span[1])
            for s in oracle(doc)._.sections
            if s.category
        ]
        got = [(c, a, b, end) for c, a, b, _, end in ours(doc)._.review_sections if c]
        assert got == want, text[:80]
        headings += len(got)
    assert headings > 1000  # the comparison saw real headings
