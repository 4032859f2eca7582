"""``review batch``: review an archive of cases unattended."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from review.cli.common import DEFAULT_EXTRACTOR, Extractor


def batch_command(
    input_path: Annotated[
        Path,
        typer.Argument(help="Folder of case folders, JSONL of cases, or JSONL of notes (.gz ok)"),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (results.jsonl, manifest.json).")
    ],
    extractor: Annotated[Extractor, typer.Option(help="Fact extractor.")] = DEFAULT_EXTRACTOR,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes (llm/hybrid: each runs concurrency/workers threads)."
        ),
    ] = 1,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Concurrent LLM requests (llm/hybrid); default: REVIEW_LLM_MAX_CONCURRENCY (4).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Skip case ids already in results.jsonl (refused if the run differs: see --force)."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="With --resume: continue although the input, rules, settings, extractor, prompt "
            "or version differ from the run that wrote results.jsonl (recorded in the manifest).",
        ),
    ] = False,
    engine: Annotated[
        str, typer.Option(help="local or ray (RAY_ADDRESS, else a local Ray instance).")
    ] = "local",
    limit: Annotated[int | None, typer.Option(min=1, help="Review at most N new cases.")] = None,
    policy: Annotated[str | None, typer.Option(help="Policy id; default: each case's own.")] = None,
    prompt: Annotated[str, typer.Option(help="Prompt version (llm/hybrid).")] = "extract_facts/v1",
    cache: Annotated[
        Path | None,
        typer.Option(
            help="LLM answer cache (SQLite). Default: REVIEW_CACHE_DIR/llm-answers.sqlite"
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the LLM answer cache.")
    ] = False,
    rpm: Annotated[
        int | None, typer.Option(help="LLM requests per minute, never exceeded.")
    ] = None,
    tpm: Annotated[
        int | None, typer.Option(help="LLM tokens per minute (estimated), never exceeded.")
    ] = None,
    llm_config: Annotated[
        Path | None, typer.Option(help="LLM settings file (else REVIEW_LLM_* variables).")
    ] = None,
) -> None:
    """Review an archive unattended: streaming, parallel, resumable, one JSON line per case.

    Example: review batch ../shared/data/mtsamples/notes.jsonl --out runs/mts --workers 2
    """
    from review.batch.options import BatchOptions
    from review.batch.run import run_batch
    from review.codes import cache_dir
    from review.progress import BatchProgress

    if engine not in ("local", "ray"):
        raise typer.BadParameter("engine must be local or ray", param_hint="--engine")
    if force and not resume:
        raise typer.BadParameter("--force only applies with --resume", param_hint="--force")
    cache_path = None if no_cache else str(cache or cache_dir() / "llm-answers.sqlite")
    options = BatchOptions(
        extractor=extractor.value,
        policy=policy,
        prompt=prompt,
        workers=workers,
        concurrency=concurrency,
        engine="ray" if engine == "ray" else "local",  # checked above: one of the two
        limit=limit,
        resume=resume,
        force=force,
        cache_path=cache_path,
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        llm_config=str(llm_config) if llm_config else None,
    )
    progress = BatchProgress()
    try:
        with progress:
            stats = run_batch(input_path, out, options, progress=progress.update)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the manifest says "interrupted"
        typer.echo(
            f"interrupted: {out}: {progress.done} case(s) written this run, kept in results.jsonl; "
            "rerun with --resume to continue",
            err=True,
        )
        raise typer.Exit(130) from None
    progress.print_summary(stats, out)
    if stats.status == "limited":
        typer.echo(
            f"limited: {out}: stopped after --limit {limit} new case(s); the rest of the input is "
            "not reviewed yet; rerun with --resume to continue",
            err=True,
        )
