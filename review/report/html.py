"""The recommendation as one self-contained HTML page a nurse opens in a browser.

``render_html(rec, documents)`` gives a single file: inline CSS and a few lines of inline script,
nothing fetched from anywhere. Each note is shown in full with every cited span wrapped in a
``<mark>`` (an ``id``, the ``data-rule`` ids citing it, colour-coded by the worst status among
those findings). Spans may overlap (two findings citing neighbouring or nested sentences), so the
note is cut at every span boundary into non-overlapping segments; each segment is marked with
every span covering it. Criteria link to ``#anchors`` (readable without script); the script only
adds the highlight of all the evidence of the criterion clicked.

All note text goes through Jinja2 autoescaping: a note is untrusted input.

The same templates are reused by the reviewer workbench (``review/workbench``), which passes a
CSP nonce for the inline style and script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import jinja2

from review.schema import Evidence, Finding, Recommendation

TEMPLATES = Path(__file__).parent / "templates"

STATUS_LABEL = {
    "met": "Met",
    "not_met": "Not met",
    "insufficient": "Not documented",
    "not_applicable": "N/A",
}
STATUS_RANK = {"not_met": 0, "insufficient": 1, "met": 2, "not_applicable": 3}
GROUPS = (
    ("administrative", "Administrative and coding"),
    ("medical_necessity", "Medical necessity"),
    ("extraction", "Fact extraction"),
)
DECISION_LABEL = {"approve": "Approve", "pend": "Pend for nurse review", "deny": "Deny"}

# The standalone file fetches nothing: no default source at all, inline style and script only.
STANDALONE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


@dataclass
class Span:
    """One distinct cited span (document, start, end) and the findings citing it."""

    document_id: str
    start: int
    end: int
    text: str
    citations: list[tuple[str, str]] = field(default_factory=list)  # (rule_id, status)
    first_mark: str = ""  # id of the first <mark> that shows it

    @property
    def status(self) -> str:
        return min((s for _, s in self.citations), key=STATUS_RANK.__getitem__)


@dataclass
class Segment:
    text: str
    start: int
    end: int
    spans: list[Span] = field(default_factory=list)
    mark_id: str | None = None

    @property
    def rules(self) -> list[str]:
        return sorted({rule for span in self.spans for rule, _ in span.citations})

    @property
    def status(self) -> str:
        return min((sp.status for sp in self.spans), key=STATUS_RANK.__getitem__)

    @property
    def title(self) -> str:
        by_rule = {}
        for span in self.spans:
            for rule, status in span.citations:
                by_rule[rule] = STATUS_LABEL[status].lower()
        return ", ".join(f"{rule} ({st})" for rule, st in sorted(by_rule.items()))


@dataclass
class DocumentView:
    index: int
    document_id: str
    has_text: bool
    segments: list[Segment] = field(default_factory=list)  # the full note, cut at span edges
    quotes: list[Segment] = field(default_factory=list)  # evidence shown as quotes only


@dataclass
class CriterionView:
    finding: Finding
    status_label: str
    anchor: str | None  # id of the first <mark> of its first evidence span
    quotes: list[Evidence]


def split_segments(text: str, spans: list[Span]) -> list[Segment]:
    """Cut ``text`` at every span boundary; each segment lists the spans covering it whole.

    Concatenating the segments gives ``text`` back; every span is exactly the union of the
    consecutive segments that list it.
    """
    bounds = {0, len(text)}
    for sp in spans:
        bounds.update((sp.start, sp.end))
    edges = sorted(bounds)
    out: list[Segment] = []
    for a, b in pairwise(edges):
        if a == b:
            continue
        covering = [sp for sp in spans if sp.start <= a and sp.end >= b]
        out.append(Segment(text=text[a:b], start=a, end=b, spans=covering))
    return out


def build_view(rec: Recommendation, documents: dict[str, str]) -> dict:
    """Everything the templates need, computed once (also used by the workbench)."""
    spans: dict[tuple[str, int, int], Span] = {}
    for f in rec.findings:
        if f.status == "not_applicable":
            continue
        for ev in f.evidence:
            key = (ev.document_id, ev.start, ev.end)
            span = spans.setdefault(key, Span(ev.document_id, ev.start, ev.end, ev.text))
            if (f.rule_id, f.status) not in span.citations:
                span.citations.append((f.rule_id, f.status))

    doc_ids = list(documents) + sorted({sp.document_id for sp in spans.values()} - set(documents))
    views: list[DocumentView] = []
    for index, doc_id in enumerate(doc_ids):
        text = documents.get(doc_id)
        mine = sorted(
            (sp for sp in spans.values() if sp.document_id == doc_id),
            key=lambda sp: (sp.start, sp.end),
        )
        view = DocumentView(index=index, document_id=doc_id, has_text=text is not None)
        located = [
            sp
            for sp in mine
            if text is not None
            and 0 <= sp.start < sp.end <= len(text)
            and text[sp.start : sp.end] == sp.text
        ]
        if text is not None:
            view.segments = split_segments(text, located)
            for seg in view.segments:
                if seg.spans:
                    seg.mark_id = f"m-{index}-{seg.start}-{seg.end}"
                    for sp in seg.spans:
                        sp.first_mark = sp.first_mark or seg.mark_id
        for n, sp in enumerate(s for s in mine if s not in located):
            seg = Segment(text=sp.text, start=sp.start, end=sp.end, spans=[sp])
            seg.mark_id = f"q-{index}-{n}"
            sp.first_mark = seg.mark_id
            view.quotes.append(seg)
        views.append(view)

    groups: list[dict[str, Any]] = []
    known = {kind for kind, _ in GROUPS}
    for kind, heading in (*GROUPS, ("other", "Other")):
        chosen = [
            f for f in rec.findings if (f.kind == kind if kind != "other" else f.kind not in known)
        ]
        chosen.sort(key=lambda f: (STATUS_RANK[f.status], f.rule_id))
        if not chosen:
            continue
        items: list[CriterionView] = []
        for f in chosen:
            anchor = None
            if f.status != "not_applicable":
                cited = sorted(
                    (spans[(e.document_id, e.start, e.end)] for e in f.evidence),
                    key=lambda sp: (doc_ids.index(sp.document_id), sp.start, sp.end),
                )
                anchor = cited[0].first_mark if cited else None
            items.append(CriterionView(f, STATUS_LABEL[f.status], anchor, list(f.evidence)))
        groups.append({"kind": kind, "heading": heading, "items": items})

    open_items = [
        c for g in groups for c in g["items"] if c.finding.status in ("not_met", "insufficient")
    ]
    return {
        "rec": rec,
        "open_items": open_items,
        "decision_label": DECISION_LABEL.get(rec.decision, rec.decision),
        "code_sentence": code_sentence(rec.billed_code, rec.supported_code),
        "codes_differ": bool(rec.billed_code) and rec.billed_code != rec.supported_code,
        "groups": groups,
        "documents": views,
        "counts": {s: sum(1 for f in rec.findings if f.status == s) for s in STATUS_LABEL},
        "status_label": STATUS_LABEL,
        "settings": sorted(rec.provenance.settings.items()),
    }


def code_sentence(billed: str | None, supported: str | None) -> str:
    if not billed:
        if supported:
            return f"No claim was submitted (documentation audit); the documentation supports {supported}."
        return "No claim was submitted (documentation audit); the documentation supports no trigger point injection code."
    if supported == billed:
        return f"The billed code {billed} is supported by the documentation."
    if supported:
        return f"The claim bills {billed}, but the documentation supports {supported}."
    return (
        f"The claim bills {billed}, but the documentation supports no trigger point injection code."
    )


@cache
def environment(extra: str | None = None) -> jinja2.Environment:
    """The Jinja2 environment (autoescape on for everything); ``extra`` is another template
    folder searched first (the workbench's)."""
    paths = [extra, str(TEMPLATES)] if extra else [str(TEMPLATES)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["oneline"] = lambda s: " ".join(str(s).split())
    return env


def render_html(rec: Recommendation, documents: dict[str, str], *, nonce: str | None = None) -> str:
    """One self-contained HTML page for ``rec``; ``documents`` maps document id -> note text.

    A document whose text is not given shows its evidence as quotes instead of the full note.
    """
    context = build_view(rec, documents)
    return (
        environment()
        .get_template("report.html.j2")
        .render(**context, nonce=nonce, csp=STANDALONE_CSP, standalone=True)
    )
