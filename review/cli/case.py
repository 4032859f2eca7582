"""``review case``: review one case, or compare it under two policies (``--compare``)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from review.cli.common import DEFAULT_EXTRACTOR, Extractor, uses_llm, write_output
from review.errors import ReviewError


class Format(StrEnum):
    json = "json"
    text = "text"
    html = "html"
    fhir = "fhir"


def case_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="Case folder (case.json + notes), case JSON/YAML file, FHIR PAS Bundle (.json), "
            "or a note .txt"
        ),
    ],
    fmt: Annotated[
        Format,
        typer.Option("--format", "-f", help="Output format (fhir: a PAS ClaimResponse Bundle)."),
    ] = Format.text,
    policy: Annotated[
        str | None,
        typer.Option(help="Policy registry id, or a policy folder path; default: the case's own."),
    ] = None,
    extractor: Annotated[Extractor, typer.Option(help="Fact extractor.")] = DEFAULT_EXTRACTOR,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report here instead of stdout.")
    ] = None,
    prompt: Annotated[
        str, typer.Option(help="Prompt version for --extractor llm|hybrid.")
    ] = "extract_facts/v1",
    llm_config: Annotated[
        Path | None,
        typer.Option(
            help="YAML/JSON file with base_url, model, ... (default: REVIEW_LLM_* variables)."
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="A second policy (registry id or folder): decide the same facts under both "
            "and show the findings that differ."
        ),
    ] = None,
) -> None:
    """Review one case and print the recommendation.

    Example: review case examples/approve-cervical-tpi --format json
    Example: review case examples/fhir/pend-no-conservative-care.bundle.json --format fhir
    Example: review case examples/approve-cervical-tpi --policy hphc-tpi --compare medicare-lcd-tpi
    """
    from review.case import load_case
    from review.pipeline import ReviewConfig, review_case
    from review.report import render_json, render_text

    case = load_case(path)
    settings = None
    if uses_llm(extractor.value):
        from review.extract.llm.client import LLMSettings

        settings = LLMSettings.load(llm_config)
    config = ReviewConfig(policy=policy, extractor=extractor.value, prompt=prompt, llm=settings)
    if compare is not None:
        _compare(case, config, compare, fmt, out)
        return
    rec = review_case(case, config)
    if fmt is Format.html:
        from review.report.html import render_html

        rendered = render_html(rec, {doc.id: doc.text for doc in case.documents})
    elif fmt is Format.fhir:
        from review.fhir.response import render_fhir

        rendered = render_fhir(rec, case, path)
    else:
        rendered = render_json(rec) + "\n" if fmt is Format.json else render_text(rec)
    if out is None:
        sys.stdout.write(rendered)
    else:
        write_output(out, rendered)
        typer.echo(f"{rec.case_id}: {rec.decision} -> {out}", err=True)


def _compare(case, config, second: str, fmt, out) -> None:
    import json

    from review.pipeline import case_policy, compare_case
    from review.policy.compare import case_diff
    from review.policy.load import resolve_policy

    a = case_policy(case, config)
    b = resolve_policy(second)
    rec_a, rec_b = compare_case(case, a, b, config)
    diffs = case_diff(a, b, rec_a, rec_b)
    if fmt is Format.json:
        body = {
            "case_id": case.case_id,
            "policies": [a.id, b.id],
            "decisions": {a.id: rec_a.decision, b.id: rec_b.decision},
            "supported_codes": {a.id: rec_a.supported_code, b.id: rec_b.supported_code},
            "differences": [{a.id: d.first, b.id: d.second} for d in diffs],
        }
        text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    elif fmt is Format.text:
        lines = [
            f"Case {case.case_id}: {a.id} {rec_a.decision.upper()} "
            f"(code {rec_a.supported_code or 'none'}) vs {b.id} {rec_b.decision.upper()} "
            f"(code {rec_b.supported_code or 'none'})",
        ]
        if not diffs:
            lines.append("Every finding has the same status under both policies.")
        for d in diffs:
            lines += ["", f"  {a.id}: {d.first}", f"  {b.id}: {d.second}"]
        text = "\n".join(lines) + "\n"
    else:
        raise ReviewError("E005", "--compare writes text or json; choose --format text or json")
    if out:
        write_output(out, text)
    else:
        typer.echo(text, nl=False)
