"""Command line: ``review case``, ``review rules list|check|explain|test``, ``review serve``,
``review audit verify``.

Exit codes: 0 a review was produced (whatever the decision); 2 bad input (one line naming the input
and what to do); 1 an internal error (one line; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import contextlib
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from review.errors import ReviewError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Review trigger point injection claims (CPT 20552/20553) against a payment policy.",
)
rules_app = typer.Typer(no_args_is_help=True, help="List, check, explain and test policy rules.")
app.add_typer(rules_app, name="rules")
prompts_app = typer.Typer(no_args_is_help=True, help="List and check versioned prompts.")
app.add_typer(prompts_app, name="prompts")
results_app = typer.Typer(no_args_is_help=True, help="Summarise and export batch results (DuckDB).")
app.add_typer(results_app, name="results")
audit_app = typer.Typer(no_args_is_help=True, help="Verify the workbench's audit trail.")
app.add_typer(audit_app, name="audit")

_debug = False


class Format(StrEnum):
    json = "json"
    text = "text"
    html = "html"
    fhir = "fhir"


class Extractor(StrEnum):
    offline = "offline"
    llm = "llm"
    hybrid = "hybrid"


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _debug
    _debug = debug


@app.command("case")
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
    extractor: Annotated[Extractor, typer.Option(help="Fact extractor.")] = Extractor.offline,
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
    if extractor is not Extractor.offline:
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


def _report(problems: list[str], summary: str) -> None:
    """Problems on stderr, the summary on stdout, exit 2 when there is any (bad data files)."""
    for line in problems:
        typer.echo(line, err=True)
    typer.echo(summary)
    if problems:
        raise typer.Exit(2)


def write_output(path: Path, text: str) -> None:
    """Write a report or run file atomically: a temporary file beside the target, renamed over it.
    On any failure the temporary file is removed (a report holds PHI: nothing partial stays) and
    the error is bad input naming the path, not an internal error."""
    import os
    import tempfile

    def refuse(why: str) -> ReviewError:
        return ReviewError("C010", f"cannot write the output: {why}", source=str(path))

    if path.is_dir():
        raise refuse("it is a folder; give a file name such as case.html")
    if path.exists() and not path.is_file():
        raise refuse("it is not a regular file (a device or pipe); give a file name")
    if not path.parent.is_dir():
        raise refuse("its folder does not exist; create it first")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise refuse(f"{exc.strerror or exc}; check the folder is writable and has space") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


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
        raise ReviewError("E002", "--compare writes text or json; choose --format text or json")
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@rules_app.command("list")
def rules_list(
    policy: Annotated[
        str | None,
        typer.Option(help="Registry id or policy folder; default: the registry's default."),
    ] = None,
) -> None:
    """List the rules of a policy. Example: review rules list --policy medicare-lcd-tpi"""
    from review.policy.load import load_policy, resolve_policy

    p = resolve_policy(policy) if policy else load_policy()
    typer.echo(f"{p.id}: {p.title} (rules {p.rules_version}, sha256 {p.sha256[:12]})")
    for rule in p.rules:
        s = rule.spec
        outcome = "deny" if s.on_not_met == "deny" else "pend"
        typer.echo(f"  {s.id}  {s.kind:<17}  not met -> {outcome:<4}  {s.title}")


@rules_app.command("diff")
def rules_diff(
    first: Annotated[str, typer.Argument(help="Registry id or policy folder.")],
    second: Annotated[str, typer.Argument(help="Registry id or policy folder.")],
) -> None:
    """What differs between two policies: registry entry, settings, covered diagnoses, excluded
    services and rules. Example: review rules diff hphc-tpi medicare-lcd-tpi"""
    from review.policy.compare import policy_diff
    from review.policy.load import resolve_policy

    a, b = resolve_policy(first), resolve_policy(second)
    sections = policy_diff(a, b)
    typer.echo(f"{a.id} ({a.rules_version}) vs {b.id} ({b.rules_version})")
    if not sections:
        typer.echo("No differences.")
    for section in sections:
        typer.echo(f"\n{section.title}")
        for line in section.lines:
            typer.echo(f"      {line.strip()}" if line.startswith("    ") else f"  - {line}")


@rules_app.command("policies")
def rules_policies() -> None:
    """The policy registry: each policy, its version, dates and payers. Example: review rules policies"""
    from review.policy.registry import default_policy, describe, registry

    default = default_policy()
    for entry in registry():
        typer.echo(describe(entry) + ("  (default)" if entry.id == default else ""))


@rules_app.command("check")
def rules_check(
    policy: Annotated[
        str | None, typer.Option(help="Policy id; default: every policy folder.")
    ] = None,
) -> None:
    """Check rule files, settings and covered codes (against ICD-10-CM). Example: review rules check"""
    from review.policy.check import check_policy
    from review.policy.load import available_policies
    from review.policy.registry import registry

    registry()  # overlapping registry entries fail here (R024)
    for policy_id in [policy] if policy else available_policies():
        summary = check_policy(policy_id)
        typer.echo(f"{policy_id}: ok ({summary})")


@rules_app.command("explain")
def rules_explain(
    rule_id: Annotated[str, typer.Argument(help="Rule id, as `review rules list` shows it")],
    policy: Annotated[
        str | None,
        typer.Option(help="Registry id or policy folder; default: the registry's default."),
    ] = None,
) -> None:
    """Show what a rule enforces and how. Example: review rules explain TPI-M04"""
    from review.policy.load import load_policy, resolve_policy

    s = (resolve_policy(policy) if policy else load_policy()).rule(rule_id.upper()).spec
    typer.echo(
        f"{s.id}: {s.title} ({s.kind}; not met -> {s.on_not_met}, insufficient -> {s.on_insufficient})"
    )
    typer.echo(f'Policy ({s.source}): "{s.quote}"')
    typer.echo(f"Applies when:      {s.applies_when}")
    typer.echo(f"Met when:          {s.met_when}")
    typer.echo(f"Insufficient when: {s.insufficient_when}")
    if s.evidence:
        typer.echo(f"Cites evidence from: {', '.join(s.evidence)}")
    if s.missing_documentation:
        typer.echo(f"Missing documentation asked for: {s.missing_documentation}")


@rules_app.command("test")
def rules_test(
    policy: Annotated[
        str | None, typer.Option(help="Registry id or policy folder; default: every policy.")
    ] = None,
) -> None:
    """Run the rule test cases kept beside each policy's rules (inputs in, statuses out), with
    the policy's own settings. Example: review rules test"""
    from review.policy.check import run_policy_tests
    from review.policy.load import available_policies, load_policy, resolve_policy

    policies = (
        [resolve_policy(policy)] if policy else [load_policy(p) for p in available_policies()]
    )
    failures: list[str] = []
    total = 0
    for p in policies:
        fails, count = run_policy_tests(p)
        failures += [f"{p.id}: {line}" for line in fails]
        total += count
    _report(failures, f"{total - len(failures)} passed, {len(failures)} failed")


@app.command("batch")
def batch_command(
    input_path: Annotated[
        Path,
        typer.Argument(help="Folder of case folders, JSONL of cases, or JSONL of notes (.gz ok)"),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (results.jsonl, manifest.json).")
    ],
    extractor: Annotated[Extractor, typer.Option(help="Fact extractor.")] = Extractor.offline,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes (llm/hybrid: each runs concurrency/workers threads)."
        ),
    ] = 1,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Concurrent LLM requests (llm/hybrid).")
    ] = 4,
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
    from review.batch import BatchOptions, run_batch
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
        engine=engine,
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


@results_app.command("summary")
def results_summary(
    folder: Annotated[Path, typer.Argument(help="A batch output folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Decisions, supported codes, most frequent failing rules and errors. Example: review results summary runs/mts"""
    import json

    from review.results import summary

    data = summary(folder)
    if as_json:
        typer.echo(json.dumps({k: [list(r) for r in v] for k, v in data.items()}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for name, rows in data.items():
        table = Table(
            title=name.replace("_", " "), show_header=False, title_justify="left", min_width=32
        )
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)


@results_app.command("export")
def results_export(
    folder: Annotated[Path, typer.Argument(help="A batch output folder.")],
    parquet: Annotated[
        Path | None, typer.Option(help="Target file (default: FOLDER/results.parquet).")
    ] = None,
) -> None:
    """Export results.jsonl to Parquet for DuckDB, pandas or Spark. Example: review results export runs/mts"""
    from review.results import export_parquet

    typer.echo(str(export_parquet(folder, parquet)))


@app.command("eval")
def eval_command(
    cases: Annotated[
        list[Path], typer.Argument(help="Folders of labelled cases (case.json + expected.yaml)")
    ],
    extractor: Annotated[Extractor, typer.Option(help="Fact extractor.")] = Extractor.offline,
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
    if extractor is not Extractor.offline:
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
    _report(problems, f"{len(available_prompts())} prompt(s) checked, {len(problems)} problem(s)")


@app.command("serve")
def serve_command(
    cases: Annotated[
        Path | None,
        typer.Option(
            help="Case folder(s) to review on start, e.g. examples (a folder of case folders)."
        ),
    ] = None,
    results: Annotated[
        Path | None, typer.Option(help="A `review batch` output folder (results.jsonl).")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Bind address (loopback unless --allow-remote).")
    ] = "127.0.0.1",
    db: Annotated[
        Path, typer.Option(help="SQLite audit trail (append-only) of accepts and overrides.")
    ] = Path("workbench-audit.sqlite"),
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (notes are PHI).")
    ] = False,
) -> None:
    """Start the reviewer workbench (queue, case reports, accept/override, exports) in a browser.

    Example: review serve --cases examples
    """
    from review.workbench.serve import serve

    serve(cases=cases, results=results, host=host, port=port, db=db, allow_remote=allow_remote)


@audit_app.command("verify")
def audit_verify(
    db: Annotated[
        Path, typer.Option(help="The workbench's SQLite audit trail (review serve --db).")
    ],
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="A head hash printed by an earlier verify (an anchor kept elsewhere): the chain "
            "must still contain it."
        ),
    ] = None,
    expect_rows: Annotated[
        int | None,
        typer.Option(min=1, help="With --expect-head: the row count printed with that head."),
    ] = None,
) -> None:
    """Recompute the audit trail's hash chain (read-only) and print its head.

    Prints `ok: N rows, head HASH` (exit 0) or the first broken row (exit 2). Keep the head
    somewhere else (a ticket, a write-once store) and pass it back with --expect-head.

    Example: review audit verify --db workbench-audit.sqlite --expect-head 3f2a...
    """
    from review.workbench.store import verify_file

    check = verify_file(db, expect_head=expect_head, expect_rows=expect_rows)
    typer.echo(f"ok: {check.rows} rows, head {check.head}")


def main() -> None:
    """Entry point: usage errors are click's (exit 2); ReviewErrors one line (exit 2); anything
    else one line with exit 1, the traceback only with --debug."""
    try:
        app()  # standalone: click prints usage errors and exits 2 itself
    except ReviewError as exc:
        if _debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if _debug:
            raise
        typer.echo(
            f"error: [R999] internal error: {type(exc).__name__}: {exc}; rerun with --debug and report it",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
