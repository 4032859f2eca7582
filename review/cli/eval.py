"""``review eval``: score an extractor, prompt or model against labelled cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from review.cli.common import DEFAULT_EXTRACTOR, Extractor, uses_llm, write_output


def eval_command(
    cases: Annotated[
        list[Path], typer.Argument(help="Folders of labelled cases (case.json + expected.yaml)")
    ],
    extractor: Annotated[Extractor, typer.Option(help="Fact extractor.")] = DEFAULT_EXTRACTOR,
    prompt: Annotated[str, typer.Option(help="Prompt version (llm/hybrid).")] = "extract_facts/v1",
    llm_config: Annotated[
        Path | None, typer.Option(help="LLM settings file (else REVIEW_LLM_* variables).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the run (JSON) here.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="A previous run: print deltas, exit 3 on regression.")
    ] = None,
    threshold: Annotated[float, typer.Option(help="Largest tolerated drop of a score.")] = 0.02,
) -> None:
    """Score an extractor, prompt or model against hand-labelled cases.

    Example: review eval eval/cases tests/golden/cases examples --out run.json --baseline eval/baseline-offline.json
    """
    from review.eval import case_dirs, compare, evaluate_cases, load_run
    from review.pipeline import ReviewConfig
    from review.report.eval import print_run

    settings = None
    if uses_llm(extractor.value):
        from review.extract.llm.client import LLMSettings

        settings = LLMSettings.load(llm_config)
    config = ReviewConfig(extractor=extractor.value, prompt=prompt, llm=settings)
    run = evaluate_cases(case_dirs(cases), config)
    if out is not None:
        write_output(out, run.model_dump_json(indent=2) + "\n")
    rows, regressions = compare(run, load_run(baseline), threshold) if baseline else ([], [])
    print_run(run, rows, regressions)
    if regressions:
        raise typer.Exit(3)
