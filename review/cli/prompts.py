"""``review prompts list|check``: the versioned LLM prompts."""

from __future__ import annotations

import typer

from review.cli.common import report_problems

prompts_app = typer.Typer(no_args_is_help=True, help="List and check versioned prompts.")


@prompts_app.command("list")
def prompts_list() -> None:
    """List prompt versions. Example: review prompts list"""
    from review.extract.llm.prompts import available_prompts, load_prompt

    for ref in available_prompts():
        p = load_prompt(ref)
        typer.echo(f"{ref}  sha256 {p.sha256[:12]}  {len(p.examples)} example(s)  {p.description}")


@prompts_app.command("check")
def prompts_check() -> None:
    """Validate every prompt: schema, verbatim few-shot quotes, released versions unchanged.

    Example: review prompts check
    """
    from review.extract.llm.prompts import available_prompts, check_prompt

    problems = [p for ref in available_prompts() for p in check_prompt(ref)]
    report_problems(
        problems, f"{len(available_prompts())} prompt(s) checked, {len(problems)} problem(s)"
    )
