"""The recommendation as a nurse reads it in a terminal: decision, codes, each criterion with its
reason, the policy sentence and the quoted evidence, then what is missing."""

from __future__ import annotations

import textwrap

from review.schema import Finding, Recommendation

MARKS = {"met": "MET", "not_met": "NOT MET", "insufficient": "MISSING", "not_applicable": "n/a"}
ORDER = {"not_met": 0, "insufficient": 1, "met": 2, "not_applicable": 3}


def render_text(rec: Recommendation, *, width: int = 100, quotes: bool = True) -> str:
    lines = [
        f"Case {rec.case_id}: {rec.decision.upper()}",
        f"Billed code: {rec.billed_code or '-'}    Supported by documentation: {rec.supported_code or 'none'}",
        *textwrap.wrap(rec.summary, width),
        "",
    ]
    for kind, heading in (
        ("administrative", "Administrative and coding"),
        ("medical_necessity", "Medical necessity"),
        ("extraction", "Fact extraction"),
    ):
        group = sorted(
            (f for f in rec.findings if f.kind == kind), key=lambda f: (ORDER[f.status], f.rule_id)
        )
        if not group:
            continue
        lines.append(heading)
        for f in group:
            lines.extend(_finding(f, width, quotes))
        lines.append("")
    if rec.missing_documentation:
        lines.append("Missing documentation")
        for item in rec.missing_documentation:
            lines.extend(
                textwrap.wrap(item, width, initial_indent="  - ", subsequent_indent="    ")
            )
        lines.append("")
    if rec.ungrounded:
        lines.append(f"Ungrounded evidence dropped: {len(rec.ungrounded)}")
    if rec.unverified:
        lines.append(f"Unverified facts left out of the decision: {len(rec.unverified)}")
    p = rec.provenance
    lines.append(
        f"Policy {p.policy} (rules {p.rules_sha256[:12]}), extractor {p.extractor}, version {p.version}"
    )
    return "\n".join(lines) + "\n"


def _finding(f: Finding, width: int, quotes: bool) -> list[str]:
    out = [f"  [{MARKS[f.status]:>7}] {f.rule_id} {f.title}"]
    out += textwrap.wrap(
        f.reason, width, initial_indent="            ", subsequent_indent="            "
    )
    if f.status in ("not_met", "insufficient"):
        out += textwrap.wrap(
            f'Policy: "{f.policy_text}"',
            width,
            initial_indent="            ",
            subsequent_indent="              ",
        )
    if quotes and f.status != "not_applicable":
        for ev in f.evidence[:4]:
            quote = " ".join(ev.text.split())
            if len(quote) > 160:
                quote = quote[:157] + "..."
            out += textwrap.wrap(
                f'> {ev.document_id} [{ev.start}:{ev.end}] "{quote}"',
                width,
                initial_indent="            ",
                subsequent_indent="              ",
            )
        if len(f.evidence) > 4:
            out.append(f"            > ... {len(f.evidence) - 4} more")
    return out
