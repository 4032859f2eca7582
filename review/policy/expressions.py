"""A rule's CEL conditions and reason templates: the names they may use (``rule_names``), checked
and compiled at load (``compile_conditions``, ``check_reason_templates``), and the compiled-CEL
environment the evaluate stage runs them in (``cel_env``).
"""

from __future__ import annotations

import string
from functools import cache
from typing import TYPE_CHECKING, Any

from review.errors import RulesError, did_you_mean
from review.policy.model import RuleSpec, Settings
from review.policy.names import NAMESPACES, Names, Node, check_names, node_of, policy_names
from review.schema import Derived

if TYPE_CHECKING:
    import celpy

# cel_expr_python ships no py.typed marker, so mypy sees its objects (the Env, an Activation, a
# compiled Expression and the values it gives) as Any.


def rule_names(settings: Settings) -> Names:
    """What this policy's conditions may name: the five namespaces, with ``derived``'s
    exclusion groups as the fields the policy declares."""
    derived = node_of(Derived, "derived")
    assert derived.fields is not None  # a model's node always has its fields
    derived.fields["exclusion_signals"] = Node(
        "derived.exclusion_signals",
        fields={
            g: Node(f"derived.exclusion_signals.{g}", item=Node(""))
            for g in settings.exclusion_groups
        },
    )
    return policy_names(Settings, derived)


def template_path_known(field_name: str, names: Names) -> bool:
    """A reason template's ``{a.b.c}`` names a path these names hold."""
    node: Node | None = Node("", fields=names.top())
    for part in field_name.split("."):
        if node is None or node.fields is None or part not in node.fields:
            return False
        node = node.fields[part]
    return True


def _template_paths(top: dict[str, Node]) -> list[str]:
    out = list(top)
    for name, node in top.items():
        out += [f"{name}.{f}" for f in (node.fields or {})]
    return out


@cache
def _parser() -> celpy.Environment:
    import celpy

    return celpy.Environment()


def compile_conditions(rule: RuleSpec, names: Names, path: str) -> dict[str, Any]:
    """A rule's three conditions, each parsed (R008), its names checked (``check_names``) and
    compiled (``compile_condition``); a literal ``true``/``false`` stays a bool, needing no
    interpreter (most rules leave two of their three conditions as one)."""
    programs: dict[str, Any] = {}
    for name in ("applies_when", "met_when", "insufficient_when"):
        expr = getattr(rule, name)
        try:
            ast = _parser().compile(expr)
        except Exception as exc:  # celpy raises its own CELParseError
            first = str(exc).splitlines()[0]
            raise RulesError(
                "R008", f"rule {rule.id}: {name} is not valid CEL: {first}", source=path
            ) from None
        check_names(ast, names, f"rule {rule.id} {name}", path)
        literal = expr.strip()
        programs[name] = (
            literal == "true"
            if literal in ("true", "false")
            else compile_condition(expr, f"rule {rule.id}: {name}", path)
        )
    return programs


def check_reason_templates(rule: RuleSpec, names: Names, path: str) -> None:
    """Every ``{symbol}`` or ``{path.to.value}`` a reason names is one a condition could (R015)."""
    for status, template in rule.reasons.items():
        for _, field_name, _, _ in string.Formatter().parse(template):
            if field_name and not template_path_known(field_name, names):
                raise RulesError(
                    "R015",
                    f"rule {rule.id} reason '{status}' names unknown symbol {field_name!r}"
                    + did_you_mean(field_name.split(".")[-1], _template_paths(names.top())),
                    source=path,
                    field="reasons",
                )


@cache
def cel_env() -> Any:
    """The compiled-CEL environment: every bare Derived symbol declared with its type, and the
    namespaces as maps (their paths are checked by ``check_names``), so a condition is
    type-checked once, at load."""
    from cel_expr_python import cel

    T = cel.Type
    types: dict[object, Any] = {
        bool: T.BOOL,
        int: T.INT,
        str: T.STRING,
        list[str]: T.List(T.STRING),
    }
    types[dict[str, list[str]]] = T.Map(T.STRING, T.List(T.STRING))
    variables = {name: types[f.annotation] for name, f in Derived.model_fields.items()}
    for namespace in NAMESPACES:
        variables[namespace] = T.List(T.DYN) if namespace == "history" else T.Map(T.STRING, T.DYN)
    return cel.NewEnv(variables=variables)


def compile_condition(expr: str, what: str, source: str) -> Any:
    """One condition as a compiled, type-checked CEL expression returning bool (R021). A
    condition over a namespace may be ``dyn`` at load; it must still give a bool (R020)."""
    from cel_expr_python import cel

    try:
        program = cel_env().compile(expr)
    except RuntimeError as exc:
        detail = str(exc).removeprefix("INVALID_ARGUMENT: ").replace("ERROR: <input>:", "at ")
        raise RulesError(
            "R021", f"{what} does not type-check: {detail.splitlines()[0]}", source=source
        ) from None
    if program.return_type() not in (cel.Type.BOOL, cel.Type.DYN):
        raise RulesError(
            "R021",
            f"{what} does not type-check: it gives {program.return_type().name().lower()}, not bool",
            source=source,
        )
    return program
