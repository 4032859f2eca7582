"""Evaluate stage: each rule's CEL conditions over the rule inputs -> one Finding per rule.

The inputs are the five namespaces of ``review/policy/names.py`` (``claim``, ``history``,
``facts``, ``derived``, ``settings``) plus every derived symbol by its bare name.
Status order: ``applies_when`` false -> not_applicable; ``met_when`` -> met;
``insufficient_when`` -> insufficient; otherwise not_met.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping, Sequence
from typing import Any

from review.policy.expressions import cel_env
from review.policy.model import Policy, Rule
from review.policy.names import claim_view, history_view
from review.schema import Case, Derived, Evidence, Fact, Facts, Finding, Status


def rule_inputs(
    derived: Derived,
    facts: Facts,
    policy: Policy,
    case: Case | None = None,
    dos: dt.date | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a rule's conditions and reasons see. ``settings`` defaults to the policy's own."""
    case = case or Case(case_id="-", documents=[])
    symbols = derived.model_dump()
    return {
        **symbols,
        "claim": claim_view(case),
        "history": history_view(case, dos),
        "facts": facts.model_dump(mode="json"),
        "derived": symbols,
        "settings": settings if settings is not None else policy.settings.model_dump(mode="json"),
    }


def evaluate(inputs: dict[str, Any], facts: Facts, policy: Policy) -> list[Finding]:
    activation = cel_env().Activation(inputs)
    return [_finding(rule, activation, inputs, facts) for rule in policy.rules]


def _finding(rule: Rule, activation: Any, inputs: dict[str, Any], facts: Facts) -> Finding:
    spec = rule.spec
    status: Status
    if not _true(rule, "applies_when", activation):
        status = "not_applicable"
    elif _true(rule, "met_when", activation):
        status = "met"
    elif _true(rule, "insufficient_when", activation):
        status = "insufficient"
    else:
        status = "not_met"
    evidence = [] if status == "not_applicable" else _evidence(spec.evidence, facts)
    return Finding(
        rule_id=spec.id,
        status=status,
        reason=_REASONS.render(spec.reasons[status], inputs),
        policy_text=spec.quote,
        evidence=evidence,
        title=spec.title,
        kind=spec.kind,
        missing_documentation=spec.missing_documentation
        if status in ("insufficient", "not_met")
        else None,
    )


def _true(rule: Rule, name: str, activation: Any) -> bool:
    program = rule.programs[name]
    if isinstance(program, bool):  # a literal "true"/"false" condition
        return program
    from cel_expr_python import cel

    result = program.eval(activation)
    kind = result.type()
    if kind != cel.Type.BOOL:  # an ERROR value (compiled CEL never raises), or not a bool
        from review.errors import RulesError

        detail = result.value() if kind == cel.Type.ERROR else f"it gave {kind.name().lower()}"
        raise RulesError(
            "R020",
            f"rule {rule.spec.id}: {name} failed to evaluate: {detail}",
            source=rule.spec.id,
        )
    return result.value() is True


def _evidence(sources: list[str], facts: Facts) -> list[Evidence]:
    out: list[Evidence] = []
    for source in sources:
        value = getattr(facts, source)
        items = value if isinstance(value, list) else []
        for item in items:
            for ev in item.evidence if isinstance(item, Fact) else [item]:
                if ev not in out:
                    out.append(ev)
    return sorted(out, key=lambda e: (e.document_id, e.start, e.end))


class _ReasonFormatter(string.Formatter):
    """Reason templates name symbols (``{muscles}``) or paths (``{settings.min_exam_features}``,
    ``{exclusion_signals.acupuncture}``); values are shown as a nurse reads them."""

    def render(self, template: str, inputs: dict[str, Any]) -> str:
        return self.vformat(template, (), inputs)

    def get_field(
        self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[str, str]:
        value: object = kwargs
        for part in field_name.split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        return display(value), field_name


_REASONS = _ReasonFormatter()


def display(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value == "" or value is None:
        return "none"
    return str(value)
