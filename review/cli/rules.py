"""``review rules list|diff|policies|check|explain|test``: inspect and test policy rules."""

from __future__ import annotations

from typing import Annotated

import typer

from review.cli.common import report_problems

rules_app = typer.Typer(no_args_is_help=True, help="List, check, explain and test policy rules.")


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
    report_problems(failures, f"{total - len(failures)} passed, {len(failures)} failed")
