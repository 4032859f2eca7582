"""The HTML case report: structure, escaping, evidence marks that slice back, self-contained."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import pytest

from review.case import case_from_dict, load_case
from review.pipeline import review_case
from review.report.html import Span, render_html, split_segments
from review.schema import Evidence, Finding

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "case.json").is_file())
RANK = {"not_met": 0, "insufficient": 1, "met": 2, "not_applicable": 3}


class Page(HTMLParser):
    """Collects <mark>s (attributes + text), the text of each note, links, ids and tags."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.marks: list[dict] = []
        self.notes: dict[str, str] = {}
        self.links: list[dict] = []
        self.ids: set[str] = set()
        self.tags: list[tuple[str, dict]] = []
        self._mark: dict | None = None
        self._note: str | None = None
        self._note_depth = 0
        self._doc: str | None = None
        self.nested_marks = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self.tags.append((tag, a))
        if "id" in a:
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids.add(a["id"])
        if "data-document-id" in a:
            self._doc = a["data-document-id"]
        if tag == "div" and "note-text" in a.get("class", "").split():
            self._note = self._doc
            self.notes[self._note] = ""
            self._note_depth = 1
        elif self._note is not None and tag == "div":
            self._note_depth += 1
        if tag == "a":
            self.links.append(a)
        if tag == "mark" and "ev" in a.get("class", "").split():
            if self._mark is not None:
                self.nested_marks = True
            self._mark = {**a, "text": "", "in_note": self._note is not None}
            self.marks.append(self._mark)

    def handle_endtag(self, tag):
        if tag == "mark":
            self._mark = None
        if tag == "div" and self._note is not None:
            self._note_depth -= 1
            if self._note_depth == 0:
                self._note = None

    def handle_data(self, data):
        if self._mark is not None:
            self._mark["text"] += data
        if self._note is not None:
            self.notes[self._note] += data


@pytest.fixture(scope="module")
def reviewed():
    out = {}
    for folder in EXAMPLES:
        case = load_case(folder)
        rec = review_case(case)
        docs = {d.id: d.text for d in case.documents}
        out[folder.name] = (rec, docs, render_html(rec, docs))
    return out


def check_marks(rec, docs, page: Page) -> None:
    """Every mark slices back; every cited span is tiled exactly by the marks citing its rule."""
    note_marks = [m for m in page.marks if m["in_note"]]
    for m in note_marks:
        start, end = int(m["data-start"]), int(m["data-end"])
        assert m["text"] == docs[m["data-doc"]][start:end]
        assert m["id"] and m["data-rule"]
        assert f"st-{m['data-status']}" in m["class"].split()
    for f in rec.findings:
        if f.status == "not_applicable":
            continue
        for ev in f.evidence:
            mine = sorted(
                (int(m["data-start"]), int(m["data-end"]))
                for m in note_marks
                if m["data-doc"] == ev.document_id
                and f.rule_id in m["data-rule"].split()
                and ev.start <= int(m["data-start"])
                and int(m["data-end"]) <= ev.end
            )
            assert mine, f"{f.rule_id}: no mark for {ev}"
            assert mine[0][0] == ev.start and mine[-1][1] == ev.end
            assert all(a[1] == b[0] for a, b in pairwise(mine)), mine
            joined = "".join(docs[ev.document_id][a:b] for a, b in mine)
            assert joined == ev.text
            # colour: no better than the status of this finding
            for m in note_marks:
                if f.rule_id in m["data-rule"].split():
                    assert RANK[m["data-status"]] <= RANK[f.status]


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_every_example_renders_with_grounded_marks(reviewed, name):
    rec, docs, html = reviewed[name]
    page = Page(html)
    assert not page.nested_marks
    # the full note text comes back exactly (escaping round-trips, nothing lost or added)
    assert page.notes == docs
    check_marks(rec, docs, page)
    # every criterion with evidence links to an existing mark that carries its rule
    by_id = {m["id"]: m for m in page.marks}
    rule_links = [a for a in page.links if "data-rule-link" in a]
    assert rule_links
    for a in rule_links:
        target = a["href"].removeprefix("#")
        assert target in by_id
        assert a["data-rule-link"] in by_id[target]["data-rule"].split()
    cited = {f.rule_id for f in rec.findings if f.evidence and f.status != "not_applicable"}
    assert {a["data-rule-link"] for a in rule_links} == cited


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_structure(reviewed, name):
    rec, _docs, html = reviewed[name]
    page = Page(html)
    assert html.startswith("<!doctype html>")
    assert f'class="banner dec-{rec.decision}"' in html
    assert {"decision", "criteria", "missing-documentation", "notes", "provenance"} <= page.ids
    for f in rec.findings:
        li = [a for t, a in page.tags if a.get("id") == f"c-{f.rule_id}"]
        assert li and li[0]["data-status"] == f.status
        assert " ".join(f.policy_text.split()) in html.replace("&#39;", "'").replace("&#34;", '"')
    groups = {a["id"] for t, a in page.tags if a.get("id", "").startswith("group-")}
    assert {"group-administrative", "group-medical_necessity", "group-extraction"} <= groups
    for item in rec.missing_documentation:
        assert item.replace("'", "&#39;") in html or item in html
    assert rec.provenance.rules_sha256 in html
    assert "@media print" in html
    # deterministic: same input, same bytes
    assert render_html(rec, _docs) == html


def test_billed_and_supported_codes_differ_sentence(reviewed):
    rec, _docs, html = reviewed["downcode-20553-two-muscles"]
    assert (rec.billed_code, rec.supported_code) == ("20553", "20552")
    assert "The claim bills 20553, but the documentation supports 20552." in html
    assert 'class="codes codes-differ"' in html
    rec, _docs, html = reviewed["approve-cervical-tpi"]
    assert "The billed code 20552 is supported by the documentation." in html
    assert 'class="codes codes-differ"' not in html
    rec, _docs, html = reviewed["deny-dry-needling"]
    assert "documentation supports no trigger point injection code" in html


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_self_contained(reviewed, name):
    html = reviewed[name][2]
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"<link\b|@import|url\(", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert html.count("<script") == 1 and html.count("<style") == 1
    assert 'http-equiv="Content-Security-Policy"' in html


def test_note_text_is_escaped():
    evil = (
        "PROCEDURE: Trigger point injections to the left upper trapezius and left levator "
        "scapulae with 1% lidocaine 2 mL each. <script>alert(1)</script> "
        '<img src=x onerror="alert(2)"> & done.\n'
        "EXAM: taut band with local twitch response and referred pain.\n"
    )
    data = {
        "case_id": "<b>XSS</b>",
        "claim": {"date_of_service": "2026-03-14", "lines": [{"code": "20552"}]},
        "documents": [{"id": "n<1>", "kind": "procedure_note", "date": "2026-03-14", "text": evil}],
    }
    case = case_from_dict(data, source="test")
    rec = review_case(case)
    docs = {d.id: d.text for d in case.documents}
    html = render_html(rec, docs)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "<b>XSS" not in html
    assert html.count("<script") == 1  # only the report's own
    page = Page(html)
    assert page.notes == docs  # shown as text, exactly
    check_marks(rec, docs, page)


def test_overlapping_spans_are_split_into_segments(reviewed):
    rec, docs, _ = reviewed["pend-no-conservative-care"]
    text = docs["visit"]
    spans = [(10, 60), (40, 90), (45, 50), (90, 120), (10, 60)]
    extra = [
        Finding(
            rule_id=f"T-{i}",
            status=status,
            reason="test",
            policy_text="test",
            kind="administrative",
            evidence=[Evidence(document_id="visit", start=a, end=b, text=text[a:b])],
        )
        for i, ((a, b), status) in enumerate(
            zip(spans, ["met", "not_met", "insufficient", "met", "met"], strict=True)
        )
    ]
    rec = rec.model_copy(update={"findings": rec.findings + extra})
    html = render_html(rec, docs)
    page = Page(html)
    assert not page.nested_marks
    assert page.notes == docs
    check_marks(rec, docs, page)
    seg = next(m for m in page.marks if (m["data-start"], m["data-end"]) == ("45", "50"))
    assert set(seg["data-rule"].split()) >= {"T-0", "T-1", "T-2", "T-4"}
    assert seg["data-status"] == "not_met"  # the worst status citing it


def test_split_segments_unit():
    text = "abcdefghij"
    a, b, c = Span("d", 1, 5, "bcde"), Span("d", 3, 8, "defgh"), Span("d", 3, 8, "defgh")
    segs = split_segments(text, [a, b, c])
    assert "".join(s.text for s in segs) == text
    assert [(s.start, s.end, len(s.spans)) for s in segs] == [
        (0, 1, 0),
        (1, 3, 1),
        (3, 5, 3),
        (5, 8, 2),
        (8, 10, 0),
    ]


def test_without_note_text_evidence_is_quoted(reviewed):
    rec, _docs, _ = reviewed["pend-no-conservative-care"]
    html = render_html(rec, {})
    page = Page(html)
    assert not page.notes
    quotes = [m for m in page.marks if "quote" in m["class"].split()]
    cited = {
        (e.document_id, e.start, e.end): e.text
        for f in rec.findings
        if f.status != "not_applicable"
        for e in f.evidence
    }
    assert len(quotes) == len(cited)
    for m in quotes:
        key = (m["data-doc"], int(m["data-quote-start"]), int(m["data-quote-end"]))
        assert m["text"] == cited[key]
    assert "The note text is not available here" in html
    # a stale note (text changed since the review): spans that no longer slice back are quoted
    stale = {"visit": "something else entirely"}
    page = Page(render_html(rec, stale))
    assert page.notes == stale
    assert all("quote" in m["class"].split() for m in page.marks)


def test_cli_html_format(tmp_path):
    from typer.testing import CliRunner

    from review.cli import app

    folder = ROOT / "examples" / "downcode-20553-two-muscles"
    out = tmp_path / "case.html"
    result = CliRunner().invoke(app, ["case", str(folder), "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "EX-004" in html
    result = CliRunner().invoke(app, ["case", str(folder), "--format", "html"])
    assert result.exit_code == 0
    assert result.stdout == html
