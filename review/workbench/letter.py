"""The drafted request for additional documentation sent to the provider for a pended case.

It lists exactly the recommendation's ``missing_documentation`` items, each with the policy
sentence(s) of the criteria asking for it. The nurse edits it in the workbench before sending.
"""

from __future__ import annotations

import datetime as dt
import textwrap

from review.schema import Recommendation


def missing_items(rec: Recommendation) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each missing item with the (rule id, policy sentence) pairs of the open criteria asking
    for it, in the recommendation's order."""
    out = []
    for item in rec.missing_documentation:
        rules = [
            (f.rule_id, " ".join(f.policy_text.split()))
            for f in rec.findings
            if f.missing_documentation == item and f.status in ("not_met", "insufficient")
        ]
        out.append((item, rules))
    return out


def draft_letter(
    rec: Recommendation,
    *,
    date_of_service: str | None = None,
    today: dt.date | None = None,
    width: int = 90,
) -> str:
    today = today or dt.datetime.now(dt.UTC).date()
    claim = f"Claim for CPT {rec.billed_code}" if rec.billed_code else "Documentation review"
    dos = f", date of service {date_of_service}" if date_of_service else ""
    lines = [
        today.isoformat(),
        "",
        "To: the treating provider",
        f"Re: Request for additional documentation - case {rec.case_id}",
        f"    {claim}{dos} (trigger point injections, policy {rec.provenance.policy})",
        "",
        "Dear provider,",
        "",
        *textwrap.wrap(
            "We are reviewing the claim above against our trigger point injection payment "
            "policy. The records we received do not show everything the policy requires. To "
            "complete the review, please send the following documentation:",
            width,
        ),
        "",
    ]
    for n, (item, rules) in enumerate(missing_items(rec), start=1):
        lines += textwrap.wrap(item, width, initial_indent=f"{n}. ", subsequent_indent="   ")
        for rule_id, policy_text in rules:
            lines += textwrap.wrap(
                f'Policy ({rule_id}): "{policy_text}"',
                width,
                initial_indent="   ",
                subsequent_indent="   ",
            )
        lines.append("")
    if not rec.missing_documentation:
        lines += ["(No missing documentation was identified.)", ""]
    lines += [
        *textwrap.wrap(
            "Please send copies of the existing medical records only; do not create new "
            "documentation for this request. The claim stays pended until we receive them.",
            width,
        ),
        "",
        "Sincerely,",
        "",
        "Utilization review nurse",
    ]
    return "\n".join(lines) + "\n"
