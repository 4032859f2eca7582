"""The names a rule's CEL may read, and the values behind them.

A condition sees five namespaces (and, as a shorthand kept for the rules written before them,
every field of ``derived`` by its bare name):

- ``claim``: the claim as submitted (lines, codes, units, diagnoses, authorization, date of service)
- ``history``: earlier claims for the member, each with ``days_before`` the date of service
- ``facts``: the extracted facts as in the output contract, with their lists, so CEL macros
  (``exists``, ``all``, ``exists_one``, ``filter``, ``map``) work on them
- ``derived``: the counts and timelines that need code (``review/derive.py``)
- ``settings``: the policy's own settings (``settings.yaml``)

Every path is checked at load against these models (``check_names``): an unknown name anywhere in
a path is a coded error (R012) with a suggestion, inside macros too (``m.sidee`` in
``facts.injected_muscles.exists(m, m.sidee == "left")``).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from review.errors import RulesError, did_you_mean

if TYPE_CHECKING:
    from lark import Tree

    from review.schema import Case

NAMESPACES = ("claim", "history", "facts", "derived", "settings")
CEL_MACROS = {"exists", "all", "exists_one", "map", "filter"}


class ClaimLineView(BaseModel):
    code: str
    units: int
    modifiers: list[str]
    diagnoses: list[str]


class ClaimView(BaseModel):
    """``claim`` in a rule: empty lists and ``present`` false when the case has no claim."""

    present: bool = False
    date_of_service: str = ""  # ISO date
    authorization: str = ""
    lines: list[ClaimLineView] = []
    codes: list[str] = []  # every line's code, sorted, once each
    diagnoses: list[str] = []  # every line's diagnoses, upper-case, sorted, once each


class HistoryView(BaseModel):
    date_of_service: str  # ISO date
    code: str
    muscles: list[str]
    days_before: int  # days before this case's date of service (negative: after it; 0: unknown)


# ----------------------------------------------------------------------------- schema


@dataclass
class Node:
    """The shape of a value a path can reach: an object with fields, a list, a map, or a leaf."""

    path: str
    fields: dict[str, Node] | None = None  # an object
    item: Node | None = None  # a list's items or a map's values
    is_map: bool = False


ANY = Node("?")


def node_of(annotation: object, path: str) -> Node:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return node_of(args[0], path) if len(args) == 1 else Node(path)
    if origin is list:
        (item,) = typing.get_args(annotation) or (typing.Any,)
        return Node(path, item=node_of(item, f"{path}[]"))
    if origin is dict:
        _, value = typing.get_args(annotation) or (str, typing.Any)
        return Node(path, item=node_of(value, f"{path}[]"), is_map=True)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Node(
            path,
            fields={
                name: node_of(f.annotation, f"{path}.{name}")
                for name, f in annotation.model_fields.items()
            },
        )
    return Node(path)  # str, int, bool, date, Literal[...]


@dataclass
class Names:
    """What one policy's conditions may name: each namespace's shape, and the bare names."""

    namespaces: dict[str, Node]
    bare: dict[str, Node] = field(default_factory=dict)

    def top(self) -> dict[str, Node]:
        return {**self.bare, **self.namespaces}


def policy_names(settings_model: type[BaseModel], derived_node: Node) -> Names:
    from review.schema import Facts

    namespaces = {
        "claim": node_of(ClaimView, "claim"),
        "history": node_of(list[HistoryView], "history"),
        "facts": node_of(Facts, "facts"),
        "derived": derived_node,
        "settings": node_of(settings_model, "settings"),
    }
    return Names(namespaces, bare=dict(derived_node.fields or {}))


# ----------------------------------------------------------------------------- checking


def check_names(ast: Tree[Any], names: Names, what: str, source: str) -> None:
    """Raise R012 for the first unknown name in a parsed CEL expression (a celpy lark tree)."""
    _infer(ast, names.top(), what, source)


def _infer(node: object, scope: dict[str, Node], what: str, source: str) -> Node:
    from lark import Token, Tree

    if not isinstance(node, Tree):
        return ANY
    kids = node.children
    trees = [k for k in kids if isinstance(k, Tree)]
    tokens = [str(k) for k in kids if isinstance(k, Token)]
    kind = node.data
    if kind == "ident":
        name = tokens[0]
        if name in scope:
            return scope[name]
        if name in ("true", "false", "null"):
            return ANY
        known = sorted(n for n in scope if not n.startswith("_"))
        raise RulesError(
            "R012",
            f"{what} uses unknown name {name!r}"
            + did_you_mean(
                name, known, f"; names are {', '.join(NAMESPACES)} and derived's fields"
            ),
            source=source,
        )
    if kind == "member_dot":
        return _field(_infer(trees[0], scope, what, source), tokens[0], what, source)
    if kind == "member_dot_arg":
        base = _infer(trees[0], scope, what, source)
        method = tokens[0]
        args = trees[1].children if len(trees) > 1 else []
        if method in CEL_MACROS and len(args) >= 2:
            var = _bound_name(args[0])
            element = base.item if base.item is not None else ANY
            if base.is_map:
                element = ANY  # a macro over a map ranges over its keys
            inner = {**scope, var: element} if var else scope
            results = [_infer(a, inner, what, source) for a in args[1:]]
            if method == "filter":
                return Node(f"{base.path}.filter()", item=element)
            if method == "map":
                return Node(f"{base.path}.map()", item=results[-1])
            return ANY
        for a in args:
            _infer(a, scope, what, source)
        return ANY
    if kind == "member_index":
        base = _infer(trees[0], scope, what, source)
        for t in trees[1:]:
            _infer(t, scope, what, source)
        if base.fields is not None:
            key = _string_literal(trees[1]) if len(trees) > 1 else None
            return _field(base, key, what, source) if key is not None else ANY
        return base.item if base.item is not None else ANY
    for t in trees:
        last = _infer(t, scope, what, source)
    if kind in ("expr", "member", "primary", "paren_expr") and len(trees) == 1 and not tokens:
        return last
    return ANY


def _field(base: Node, name: str, what: str, source: str) -> Node:
    if base.fields is None:
        return base.item if (base.is_map and base.item is not None) else ANY
    if name in base.fields:
        return base.fields[name]
    raise RulesError(
        "R012",
        f"{what}: {base.path} has no {name!r}"
        + did_you_mean(name, sorted(base.fields), f"; it has {', '.join(sorted(base.fields))}"),
        source=source,
    )


def _bound_name(expr: Tree[Any]) -> str | None:
    from lark import Token

    idents = [str(t) for sub in expr.iter_subtrees() if sub.data == "ident" for t in sub.children]
    return idents[0] if len(idents) == 1 and isinstance(idents[0], (str, Token)) else None


def _string_literal(expr: Tree[Any]) -> str | None:
    for sub in expr.iter_subtrees():
        if sub.data == "literal" and sub.children:
            text = str(sub.children[0])
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
                return text[1:-1]
    return None


# ----------------------------------------------------------------------------- values


def claim_view(case: Case) -> dict[str, Any]:
    claim = case.claim
    if claim is None:
        return ClaimView().model_dump()
    return ClaimView(
        present=True,
        date_of_service=claim.date_of_service.isoformat() if claim.date_of_service else "",
        authorization=(claim.authorization or "").strip(),
        lines=[ClaimLineView(**line.model_dump()) for line in claim.lines],
        codes=sorted({line.code for line in claim.lines}),
        diagnoses=sorted({dx.strip().upper() for line in claim.lines for dx in line.diagnoses}),
    ).model_dump()


def history_view(case: Case, dos: dt.date | None) -> list[dict[str, Any]]:
    return [
        HistoryView(
            date_of_service=h.date_of_service.isoformat(),
            code=h.code,
            muscles=list(h.muscles),
            days_before=(dos - h.date_of_service).days if dos else 0,
        ).model_dump()
        for h in sorted(case.history, key=lambda h: (h.date_of_service, h.code))
    ]
