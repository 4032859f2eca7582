"""Evaluate stage: each rule's CEL conditions over the derived symbols -> one Finding per rule.

Status order: ``applies_when`` false -> not_applicable; ``met_when`` -> met;
``insufficient_when`` -> insufficient; otherwise not_met.
"""

from __future__ import annotations

from review.derive import Derived
from review.policy.folder import Policy, Rule, cel_env
from review.schema import Evidence, Fact, Facts, Finding


def evaluate(derived: Derived, facts: Facts, policy: Policy) -> list[Finding]:
    activation = cel_env().Activation(derived.model_dump())
    values = _display_values(derived)
    return [_finding(rule, activation, values, facts) for rule in policy.rules]


def _finding(rule: Rule, activation, values: dict[str, str], facts: Facts) -> Finding:
    spec = rule.spec
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
        reason=spec.reasons[status].format_map(values),
        policy_text=policy_quote(spec.policy_text),
        evidence=evidence,
        title=spec.title,
        kind=spec.kind,
        missing_documentation=spec.missing_documentation
        if status in ("insufficient", "not_met")
        else None,
    )


def _true(rule: Rule, name: str, activation) -> bool:
    program = rule.programs[name]
    if isinstance(program, bool):  # a literal "true"/"false" condition
        return program
    from cel_expr_python import cel

    result = program.eval(activation)
    if result.type() == cel.Type.ERROR:  # compiled CEL returns an ERROR value, never raises
        from review.errors import RulesError

        raise RulesError(
            "R020",
            f"rule {rule.spec.id}: {name} failed to evaluate: {result.value()}",
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


def _display_values(derived: Derived) -> dict[str, str]:
    out = {}
    for name, value in derived.model_dump().items():
        if isinstance(value, list):
            out[name] = ", ".join(str(v) for v in value) if value else "none"
        elif isinstance(value, bool):
            out[name] = "yes" if value else "no"
        elif value == "":
            out[name] = "none"
        else:
            out[name] = str(value)
    return out


def policy_quote(text: str | list[str]) -> str:
    """The sentence(s) a rule enforces, as one string ("[...]" between separate sentences)."""
    parts = [text] if isinstance(text, str) else text
    return " [...] ".join(" ".join(p.split()) for p in parts)
