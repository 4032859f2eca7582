"""Inter-rater reliability: Cohen's kappa between the pipeline and reviewers and between reviewers.

Pure functions over plain values: no web, no database. The audit rows passed in need only the
attributes of :class:`review.workbench.store.AuditRow` read here (``id``, ``reviewer``,
``case_key``, ``from_decision``, ``from_code``, ``to_decision``, ``to_code``, ``rec_sha256``).

Cohen's kappa for two raters over the same n items: ``kappa = (p_o - p_e) / (1 - p_e)`` where
``p_o`` is the share of items both raters labelled alike and ``p_e = sum_k p_a(k) * p_b(k)`` the
agreement expected by chance from each rater's own label frequencies. It is computed here in exact
integer arithmetic, ``(n * agree - sum_k a_k * b_k) / (n * n - sum_k a_k * b_k)``, so it is never a
division by zero and lies in [-1, 1]. It is undefined (``kappa`` None, with the reason) when there
are no items, or when both raters put every item in the same single category (``p_e`` = 1).

Which labels are paired (see :func:`agreement_report`):

- pipeline vs reviewer: the workbench shows a case's latest review once there is one, so only the
  first review of a case saw the engine's own recommendation; its ``from_decision``/``from_code``
  is taken as the pipeline's label for that case. A later review's ``from_decision`` is an
  earlier reviewer's decision, not the pipeline's. Each reviewer's latest review of the case gives
  the reviewer's label. A review made against a different recommendation (its ``rec_sha256``
  differs from the first review's: the case was resubmitted or re-reviewed under other rules) is
  left out and counted, because what the pipeline said then is not recorded.
- reviewer vs reviewer: the first review of each reviewer on each case, for every pair of
  reviewers with a case in common. These reviews are not blind (the second reviewer saw the first
  one's decision), so agreement is likely overstated.
- blind reviewer vs reviewer (:func:`blind_pairs`): a supervisor sent a sample of decided cases to
  a second reviewer who did not see the first decision (``second_assign`` rows); the case's first
  decision (the first reviewer's) against the second reviewer's ``second_review`` (the first one
  per reviewer and case). Pairs are ordered (first reviewer, second reviewer). The counts of cases
  sent, reviewed and still pending are reported with them.
- per criterion (:func:`criterion_judgments`): the workbench records in a decision row's
  provenance, under ``provenance["workbench"]``, ``engine_criteria`` (the recommendation's status of
  every finding when the row was written) and ``criteria`` (the reviewer's own non-blank status per
  rule id). Convention: on an accept or override a blank criterion means "agree with the engine",
  so the reviewer's effective judgment is ``engine_criteria`` overlaid with ``criteria`` (an accept
  agrees with every criterion); on a blind second review a blank criterion is not judged, so its
  judgment is ``criteria`` alone. The pipeline-vs-reviewer pairs compare ``engine_criteria`` with
  the effective judgment of the same row; the blind pairs compare the first decision's effective
  judgment with the second review's. A rule counts in a pair only where both sides judged it; rows
  written before criteria were recorded, and a physician's sign-off (no criteria form), have no
  ``engine_criteria`` and are left out per criterion.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import Any, Protocol

DECISIONS = ("approve", "pend", "deny")
DECISION_ACTIONS = ("accept", "override", "confirm", "reverse")
SECOND_ASSIGN = "second_assign"
SECOND_REVIEW = "second_review"
NO_CODE = "none"
ROUND = 4

NO_ITEMS = "no cases rated by both; kappa needs at least one"
PER_CRITERION_NOTE = (
    "per-criterion agreement needs per-criterion review (not recorded yet): the audit trail holds "
    "each reviewer's decision and code, not a judgment per rule"
)
CRITERION_CONVENTION = (
    "per criterion, a blank criterion on an accept or override agrees with the engine (an accept "
    "agrees with every criterion); on a blind second review a blank criterion is not judged"
)
NOT_BLIND = (
    "reviewer vs reviewer is not blind: a later reviewer saw the decision in force (an earlier "
    "review), so agreement between reviewers is likely overstated; the blind pairs (a second "
    "review that did not see the first decision) are reported separately"
)
NO_FIRST_DECISION = "the case had no decision before the second review"
SAME_REVIEWER = "the second review was by the first decision's reviewer"
POOLED = (
    "'all reviewers' pools every (case, reviewer) pair: a case reviewed by several reviewers "
    "counts once per reviewer"
)
CHANGED = "reviewed against a different recommendation than the first review (rec_sha256 differs)"
NO_RECOMMENDATION = "the first review of the case recorded no recommended decision"


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa of two raters, with what it is made of."""

    n: int
    categories: tuple[str, ...]
    confusion: dict[str, dict[str, int]]  # rater A's label -> rater B's label -> items
    observed: float | None  # p_o
    expected: float | None  # p_e
    kappa: float | None
    undefined: str | None = None  # why kappa is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "categories": list(self.categories),
            "confusion": self.confusion,
            "observed": self.observed,
            "expected": self.expected,
            "kappa": self.kappa,
            "undefined": self.undefined,
        }


def cohen_kappa(a: Sequence[str], b: Sequence[str], categories: Sequence[str] = ()) -> Kappa:
    """Cohen's kappa of the paired labels ``a[i]``, ``b[i]``. ``categories`` fixes the order (and
    includes categories neither rater used, with zero counts); labels outside it are added,
    sorted."""
    if len(a) != len(b):
        raise ValueError(f"the raters labelled different numbers of items ({len(a)} and {len(b)})")
    cats = list(dict.fromkeys(categories))
    cats += sorted((set(a) | set(b)) - set(cats))
    confusion = {x: dict.fromkeys(cats, 0) for x in cats}
    for x, y in zip(a, b, strict=True):
        confusion[x][y] += 1
    n = len(a)
    if n == 0:
        return Kappa(0, tuple(cats), confusion, None, None, None, NO_ITEMS)
    agree = sum(confusion[x][x] for x in cats)
    row = {x: sum(confusion[x].values()) for x in cats}
    col = {y: sum(confusion[x][y] for x in cats) for y in cats}
    chance = sum(row[x] * col[x] for x in cats)  # n * n * p_e
    observed = Fraction(agree, n)
    expected = Fraction(chance, n * n)
    if chance == n * n:
        only = next(x for x in cats if row[x])
        return Kappa(
            n,
            tuple(cats),
            confusion,
            _round(observed),
            _round(expected),
            None,
            f"both raters labelled every case {only!r}: expected agreement is 1, so kappa is "
            "undefined (agreement is total but says nothing beyond chance)",
        )
    kappa = Fraction(n * agree - chance, n * n - chance)
    return Kappa(n, tuple(cats), confusion, _round(observed), _round(expected), _round(kappa), None)


def _round(value: Fraction) -> float:
    return round(float(value), ROUND)


def one_vs_rest(a: Sequence[str], b: Sequence[str], value: str) -> Kappa:
    """Kappa of "``value`` or not": every other label becomes ``not <value>``."""
    other = f"not {value}"
    return cohen_kappa(
        [value if x == value else other for x in a],
        [value if y == value else other for y in b],
        (value, other),
    )


def decision_kappas(a: Sequence[str], b: Sequence[str]) -> dict[str, Any]:
    """The 3-class approve/pend/deny kappa and one kappa per decision value against the rest."""
    return {
        "decision": cohen_kappa(a, b, DECISIONS),
        "one_vs_rest": {d: one_vs_rest(a, b, d) for d in DECISIONS},
    }


def criterion_kappas(
    a: Mapping[str, Mapping[str, str]], b: Mapping[str, Mapping[str, str]]
) -> dict[str, Kappa]:
    """Per criterion (rule id): kappa over the cases where both raters judged that rule.
    ``a[case][rule]`` is a status such as ``met``/``not_met``/``insufficient``."""
    rules = sorted(
        {r for case in a.values() for r in case} | {r for case in b.values() for r in case}
    )
    out = {}
    for rule in rules:
        cases = sorted(c for c in set(a) & set(b) if rule in a[c] and rule in b[c])
        out[rule] = cohen_kappa([a[c][rule] for c in cases], [b[c][rule] for c in cases])
    return out


class ReviewRow(Protocol):
    """What is read of an audit row (read-only, as the frozen AuditRow has it)."""

    @property
    def id(self) -> int: ...
    @property
    def reviewer(self) -> str: ...
    @property
    def case_key(self) -> str: ...
    @property
    def from_decision(self) -> str | None: ...
    @property
    def from_code(self) -> str | None: ...
    @property
    def to_decision(self) -> str: ...
    @property
    def to_code(self) -> str | None: ...
    @property
    def rec_sha256(self) -> str | None: ...


@dataclass(frozen=True)
class Pair:
    """One case labelled by two raters: decisions and supported codes (``none`` for no code)."""

    case_key: str
    decision_a: str
    decision_b: str
    code_a: str
    code_b: str
    criteria_a: Mapping[str, str] | None = None  # rule id -> status; None: not recorded
    criteria_b: Mapping[str, str] | None = None


def _workbench(row: Any) -> dict[str, Any]:
    try:
        value = json.loads(row.provenance).get("workbench")
    except (ValueError, AttributeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _statuses(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def criterion_judgments(row: Any) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(the engine's statuses, the reviewer's effective judgment) per rule id recorded in a row
    (see the module docstring for the convention); None where not recorded."""
    detail = _workbench(row)
    engine = _statuses(detail.get("engine_criteria"))
    own = _statuses(detail.get("criteria"))
    if getattr(row, "action", "accept") == SECOND_REVIEW:
        return engine, own
    if engine is None:
        return None, None
    return engine, {**engine, **(own or {})}


def _code(code: str | None) -> str:
    return code if code else NO_CODE


def pipeline_pairs(rows: Iterable[ReviewRow]) -> tuple[dict[str, list[Pair]], dict[str, int]]:
    """Per reviewer, the pipeline's recommendation (A) against the reviewer's latest review of each
    case (B); and the number of reviews left out, by reason."""
    ordered = sorted(rows, key=lambda r: r.id)
    first: dict[str, ReviewRow] = {}
    latest: dict[tuple[str, str], ReviewRow] = {}
    for row in ordered:
        first.setdefault(row.case_key, row)
        latest[(row.reviewer, row.case_key)] = row
    pairs: dict[str, list[Pair]] = {}
    excluded: dict[str, int] = {}
    for (reviewer, key), row in sorted(latest.items()):
        engine = first[key]
        if engine.from_decision is None:
            excluded[NO_RECOMMENDATION] = excluded.get(NO_RECOMMENDATION, 0) + 1
            continue
        if row.rec_sha256 and engine.rec_sha256 and row.rec_sha256 != engine.rec_sha256:
            excluded[CHANGED] = excluded.get(CHANGED, 0) + 1
            continue
        engine_says, reviewer_says = criterion_judgments(row)
        pairs.setdefault(reviewer, []).append(
            Pair(
                key,
                engine.from_decision,
                row.to_decision,
                _code(engine.from_code),
                _code(row.to_code),
                engine_says,
                reviewer_says,
            )
        )
    return pairs, excluded


def reviewer_pairs(rows: Iterable[ReviewRow]) -> dict[tuple[str, str], list[Pair]]:
    """For each pair of reviewers (sorted names) with a case in common: their first reviews of
    each shared case."""
    first: dict[str, dict[str, ReviewRow]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        first.setdefault(row.case_key, {}).setdefault(row.reviewer, row)
    out: dict[tuple[str, str], list[Pair]] = {}
    for key in sorted(first):
        by_reviewer = first[key]
        for ra, rb in combinations(sorted(by_reviewer), 2):
            a, b = by_reviewer[ra], by_reviewer[rb]
            out.setdefault((ra, rb), []).append(
                Pair(key, a.to_decision, b.to_decision, _code(a.to_code), _code(b.to_code))
            )
    return out


def _second_reviewer(row: Any) -> str | None:
    try:
        value = json.loads(row.provenance).get("workbench", {}).get("second_reviewer")
    except (ValueError, AttributeError, TypeError):
        return None
    return value if isinstance(value, str) else None


def blind_pairs(
    rows: Iterable[Any],
) -> tuple[dict[tuple[str, str], list[Pair]], dict[str, int], dict[str, int]]:
    """(first reviewer, second reviewer) -> the first decision of each case (A) against the blind
    second review of it (B); the second reviews left out, by reason; and the counts of second
    reviews ``sent`` (assignments), ``reviewed`` and ``pending``. ``rows`` is the whole trail (it
    needs ``action``; ``provenance`` for an assignment's second reviewer)."""
    first: dict[str, Any] = {}
    assigned: set[tuple[str, str]] = set()
    reviewed: dict[tuple[str, str], Any] = {}
    for row in sorted(rows, key=lambda r: r.id):
        action = getattr(row, "action", "accept")
        if action in DECISION_ACTIONS:
            first.setdefault(row.case_key, row)
        elif action == SECOND_ASSIGN:
            who = _second_reviewer(row)
            if who is not None:
                assigned.add((row.case_key, who))
        elif action == SECOND_REVIEW and (row.case_key, row.reviewer) in assigned:
            reviewed.setdefault((row.case_key, row.reviewer), row)
    pairs: dict[tuple[str, str], list[Pair]] = {}
    excluded: dict[str, int] = {}
    for (key, second_reviewer), b in sorted(reviewed.items()):
        a = first.get(key)
        if a is None or a.id > b.id:
            excluded[NO_FIRST_DECISION] = excluded.get(NO_FIRST_DECISION, 0) + 1
            continue
        if a.reviewer == second_reviewer:
            excluded[SAME_REVIEWER] = excluded.get(SAME_REVIEWER, 0) + 1
            continue
        pairs.setdefault((a.reviewer, second_reviewer), []).append(
            Pair(
                key,
                a.to_decision,
                b.to_decision,
                _code(a.to_code),
                _code(b.to_code),
                criterion_judgments(a)[1],
                criterion_judgments(b)[1],
            )
        )
    counts = {
        "sent": len(assigned),
        "reviewed": len(reviewed),
        "pending": len(assigned) - len(reviewed),
    }
    return pairs, excluded, counts


def pair_kappas(pairs: Sequence[Pair]) -> dict[str, Any]:
    """Decision (3-class and one-vs-rest) and supported-code kappas of a set of paired labels."""
    da = [p.decision_a for p in pairs]
    db = [p.decision_b for p in pairs]
    out = decision_kappas(da, db)
    out["supported_code"] = cohen_kappa(
        [p.code_a for p in pairs], [p.code_b for p in pairs], ("20552", "20553", NO_CODE)
    )
    out["cases"] = len({p.case_key for p in pairs})
    return out


def pair_criteria(pairs: Sequence[Pair]) -> dict[str, Any]:
    """Per rule id, the kappa over the pairs where both sides judged it, and how many pairs had
    judgments recorded on both sides."""
    judged = [p for p in pairs if p.criteria_a is not None and p.criteria_b is not None]
    a: dict[str, Mapping[str, str]] = {str(i): p.criteria_a or {} for i, p in enumerate(judged)}
    b: dict[str, Mapping[str, str]] = {str(i): p.criteria_b or {} for i, p in enumerate(judged)}
    rules = {r: k for r, k in criterion_kappas(a, b).items() if k.n}
    return {"judged": len(judged), "rules": rules}


def per_criterion(
    by_reviewer: Mapping[str, Sequence[Pair]], blind: Mapping[tuple[str, str], Sequence[Pair]]
) -> dict[str, Any]:
    """The per-criterion part of the report; ``available`` once any pair has criteria on both
    sides (else the note that they are not recorded yet)."""
    pooled = [p for r in sorted(by_reviewer) for p in by_reviewer[r]]
    blind_pooled = [p for names in sorted(blind) for p in blind[names]]
    pipeline_all = pair_criteria(pooled)
    blind_all = pair_criteria(blind_pooled)
    out: dict[str, Any] = {
        "pipeline_vs_reviewer": {
            "all": pipeline_all,
            "by_reviewer": {r: pair_criteria(p) for r, p in sorted(by_reviewer.items())},
        },
        "blind_reviewer_vs_reviewer": {
            "blind": True,
            "all": blind_all,
            "pairs": [
                {"reviewers": list(names), "blind": True, **pair_criteria(p)}
                for names, p in sorted(blind.items())
            ],
        },
    }
    available = bool(pipeline_all["rules"]) or bool(blind_all["rules"])
    note = CRITERION_CONVENTION if available else PER_CRITERION_NOTE
    return {"available": available, "note": note, **out}


def agreement_report(rows: Sequence[ReviewRow]) -> dict[str, Any]:
    """Everything ``review results agreement`` prints, as plain JSON-ready data. Only decisions
    count (accept, override, a physician's confirm or reverse): a referral or an assignment row
    of the workbench's trail decides nothing and is left out; a blind second review counts only in
    ``blind_reviewer_vs_reviewer``."""
    blind, blind_excluded, blind_counts = blind_pairs(rows)
    rows = [r for r in rows if getattr(r, "action", "accept") in DECISION_ACTIONS]
    by_reviewer, excluded = pipeline_pairs(rows)
    pooled = [p for reviewer in sorted(by_reviewer) for p in by_reviewer[reviewer]]
    between = reviewer_pairs(rows)
    return _plain(
        {
            "reviews": len(rows),
            "cases": len({r.case_key for r in rows}),
            "reviewers": sorted({r.reviewer for r in rows}),
            "pipeline_vs_reviewer": {
                "all": pair_kappas(pooled),
                "by_reviewer": {r: pair_kappas(p) for r, p in sorted(by_reviewer.items())},
                "excluded": dict(sorted(excluded.items())),
            },
            "reviewer_vs_reviewer": [
                {"reviewers": list(names), **pair_kappas(p)} for names, p in sorted(between.items())
            ],
            "blind_reviewer_vs_reviewer": {
                "blind": True,
                **blind_counts,
                "all": pair_kappas([p for names in sorted(blind) for p in blind[names]]),
                "pairs": [
                    {"reviewers": list(names), "blind": True, **pair_kappas(p)}
                    for names, p in sorted(blind.items())
                ],
                "excluded": dict(sorted(blind_excluded.items())),
            },
            "per_criterion": per_criterion(by_reviewer, blind),
            "notes": [POOLED, NOT_BLIND],
        }
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Kappa):
        return value.as_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- text


Scope = tuple[str, dict[str, Any]]


def scopes(report: Mapping[str, Any]) -> tuple[list[Scope], list[Scope]]:
    """The report's (name, kappas) scopes in display order: pipeline vs reviewer (all reviewers
    pooled, when there is any pair, then each reviewer), and each pair of reviewers."""
    pvr = report["pipeline_vs_reviewer"]
    pipeline = [("all reviewers", pvr["all"])] if pvr["all"]["decision"]["n"] else []
    pipeline += [(f"reviewer {name}", ks) for name, ks in pvr["by_reviewer"].items()]
    reviewers = [(" / ".join(p["reviewers"]), p) for p in report["reviewer_vs_reviewer"]]
    return pipeline, reviewers


def blind_scopes(report: Mapping[str, Any]) -> list[Scope]:
    """The blind reviewer-vs-reviewer scopes: all pairs pooled (when there is any), then each
    (first reviewer, second reviewer)."""
    blind = report["blind_reviewer_vs_reviewer"]
    out = [("all blind pairs", blind["all"])] if blind["all"]["decision"]["n"] else []
    out += [(" / ".join(p["reviewers"]), p) for p in blind["pairs"]]
    return out


def kappa_rows(ks: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The labelled kappas of one scope of a report, in display order."""
    rows = [("decision (approve/pend/deny)", ks["decision"])]
    rows += [(f"{d} vs rest", ks["one_vs_rest"][d]) for d in DECISIONS]
    rows.append(("supported code", ks["supported_code"]))
    return rows


def criterion_scopes(report: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The per-criterion scopes with any rule judged on both sides: pipeline vs reviewer (pooled,
    then each reviewer), then blind pairs (pooled, then each pair)."""
    pc = report["per_criterion"]
    if not pc["available"]:
        return []
    pvr, blind = pc["pipeline_vs_reviewer"], pc["blind_reviewer_vs_reviewer"]
    out = [("pipeline vs all reviewers", pvr["all"])]
    out += [(f"pipeline vs reviewer {n}", ks) for n, ks in pvr["by_reviewer"].items()]
    out.append(("all blind pairs", blind["all"]))
    out += [("blind " + " / ".join(p["reviewers"]), p) for p in blind["pairs"]]
    return [(name, ks) for name, ks in out if ks["rules"]]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _kappa_line(scope: str, label: str, k: dict[str, Any], undefined: list[str]) -> str:
    kappa = _fmt(k["kappa"])
    if k["undefined"]:
        undefined.append(f"{scope}, {label}: {k['undefined']}")
        kappa = "n/a*"
    return (
        f"    {label:<32} {k['n']:>5} {_fmt(k['observed']):>9} {_fmt(k['expected']):>9} {kappa:>7}"
    )


def _section(title: str, scopes: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = [
        title,
        f"  {'scope / label':<34} {'n':>5} {'observed':>9} {'expected':>9} {'kappa':>7}",
    ]
    undefined: list[str] = []
    if not scopes:
        lines.append("  (no pairs)")
    for scope, ks in scopes:
        cases = ks["cases"]
        lines.append(f"  {scope} ({cases} case{'' if cases == 1 else 's'})")
        lines += [_kappa_line(scope, label, k, undefined) for label, k in kappa_rows(ks)]
        lines += _confusion(ks["decision"])
    lines += [f"  * {u}" for u in undefined]
    return lines


def _confusion(k: dict[str, Any]) -> list[str]:
    if not k["n"]:
        return []
    cats = k["categories"]
    out = ["    decision counts (rows: first rater, columns: second)"]
    out.append("    " + " " * 10 + "".join(f"{c:>9}" for c in cats))
    for x in cats:
        out.append(f"    {x:<10}" + "".join(f"{k['confusion'][x][y]:>9}" for y in cats))
    return out


def render_text(report: Mapping[str, Any]) -> str:
    """The report as small fixed-width tables with counts."""
    pvr = report["pipeline_vs_reviewer"]
    pipeline, reviewers = scopes(report)
    lines = [
        f"{report['reviews']} reviews of {report['cases']} cases by "
        f"{len(report['reviewers'])} reviewers",
        "",
    ]
    lines += _section(
        "Pipeline vs reviewer (first rater: the recommendation; second: each reviewer's latest "
        "review)",
        pipeline,
    )
    for reason, count in pvr["excluded"].items():
        lines.append(f"  left out: {count} review(s) {reason}")
    lines.append("")
    lines += _section(
        "Reviewer vs reviewer, not blind (first review of each reviewer on a shared case)",
        reviewers,
    )
    lines.append("")
    blind = report["blind_reviewer_vs_reviewer"]
    lines += _section(
        "Reviewer vs reviewer, blind (first rater: the case's first decision; second: the blind "
        "second review)",
        blind_scopes(report),
    )
    lines.append(
        f"  second reviews: {blind['sent']} sent, {blind['reviewed']} reviewed, "
        f"{blind['pending']} pending"
    )
    for reason, count in blind["excluded"].items():
        lines.append(f"  left out: {count} second review(s): {reason}")
    lines.append("")
    criteria = criterion_scopes(report)
    if not criteria:
        lines.append(f"Per criterion: {report['per_criterion']['note']}.")
    else:
        lines.append(
            "Per criterion (first rater: the engine, or the first decision for blind pairs; "
            "second: the reviewer)"
        )
        lines.append(
            f"  {'scope / rule':<34} {'n':>5} {'observed':>9} {'expected':>9} {'kappa':>7}"
        )
        undefined: list[str] = []
        for scope, ks in criteria:
            judged = ks["judged"]
            lines.append(f"  {scope} ({judged} judged review{'' if judged == 1 else 's'})")
            lines += [_kappa_line(scope, rule, k, undefined) for rule, k in ks["rules"].items()]
        lines += [f"  * {u}" for u in undefined]
        lines.append(f"  Note: {report['per_criterion']['note']}.")
    lines += [f"Note: {n}." for n in report["notes"]]
    return "\n".join(lines) + "\n"
