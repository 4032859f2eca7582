"""Two policies side by side, in words a policy analyst reads.

``policy_diff`` (``review rules diff A B``): registry entries, settings, covered diagnoses, how
each excluded service is treated, and the rules (matched by id, else by title) whose conditions
or outcomes differ or that exist in one policy only. ``case_diff`` (``review case --compare``):
the two decisions on the same facts and every finding that differs, with each policy's reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from review.policy.model import Policy, Rule
from review.schema import Finding, Recommendation


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


def policy_diff(a: Policy, b: Policy) -> list[Section]:
    return [
        s
        for s in (
            _registry(a, b),
            _settings(a, b),
            _diagnoses(a, b),
            _exclusions(a, b),
            _rules(a, b),
        )
        if s.lines
    ]


def _registry(a: Policy, b: Policy) -> Section:
    out = Section("Registry entry")
    for name in ("title", "version", "source", "effective_from", "effective_to"):
        va, vb = getattr(a.meta, name), getattr(b.meta, name)
        if va != vb:
            out.lines.append(f"{name}: {a.id} {_show(va)}; {b.id} {_show(vb)}")
    pa = {x.payer for x in a.meta.applies_to}
    pb = {x.payer for x in b.meta.applies_to}
    if pa != pb:
        out.lines.append(f"payers: {a.id} {_show(sorted(pa))}; {b.id} {_show(sorted(pb))}")
    return out


def _settings(a: Policy, b: Policy) -> Section:
    out = Section("Settings")
    da = a.settings.model_dump(mode="json", exclude={"exclusion_groups"})
    db = b.settings.model_dump(mode="json", exclude={"exclusion_groups"})
    for name in sorted(set(da) | set(db)):
        if da.get(name) != db.get(name):
            out.lines.append(f"{name}: {a.id} {_show(da.get(name))}; {b.id} {_show(db.get(name))}")
    return out


def _diagnoses(a: Policy, b: Policy) -> Section:
    """Which billable ICD-10-CM codes each policy covers (a listed code covers the codes below
    it), so "M79.1" and "M79.10 ... M79.18" compare as the same four codes."""
    from review.codes import icd_index

    billable = icd_index().billable
    ca = {c for c in billable if a.codes.covers(c)}
    cb = {c for c in billable if b.codes.covers(c)}
    out = Section("Covered diagnoses (billable ICD-10-CM codes)")
    both = sorted(ca & cb)
    if ca != cb:
        out.lines.append(f"both cover {len(both)}: {_codes(both)}")
    for mine, theirs, pid in ((ca, cb, a.id), (cb, ca, b.id)):
        only = sorted(mine - theirs)
        if only:
            out.lines.append(f"only {pid} covers {len(only)}: {_codes(only)}")
    na, nb = set(a.codes.nonspecific), set(b.codes.nonspecific)
    if na != nb:
        out.lines.append(
            f"non-specific codes: {a.id} {_show(sorted(na))}; {b.id} {_show(sorted(nb))}"
        )
    return out


def _codes(codes: list[str], limit: int = 24) -> str:
    shown = ", ".join(codes[:limit])
    return (
        shown + (f", ... ({len(codes) - limit} more)" if len(codes) > limit else "")
        if codes
        else "none"
    )


_GROUP_USE = re.compile(r"exclusion_signals\.(\w+)")


def _exclusion_treatment(p: Policy) -> dict[str, str]:
    """Excluded-service kind -> what the policy does with it ("deny (TPI-A04)")."""
    out: dict[str, str] = {}
    for rule in p.rules:
        for group in _GROUP_USE.findall(rule.spec.met_when):
            kinds = p.settings.exclusion_groups[group].kinds  # names were checked at load
            verb = "denied" if rule.spec.on_not_met == "deny" else "pended for review"
            for kind in kinds:
                out[kind] = f"{verb} ({rule.spec.id})"
    return out


def _exclusions(a: Policy, b: Policy) -> Section:
    out = Section("Excluded services")
    ta, tb = _exclusion_treatment(a), _exclusion_treatment(b)
    for kind in sorted(set(ta) | set(tb)):
        wa, wb = ta.get(kind, "not excluded"), tb.get(kind, "not excluded")
        if wa.split(" (")[0] != wb.split(" (")[0]:
            out.lines.append(f"{kind}: {a.id} {wa}; {b.id} {wb}")
    return out


def matched_rules(a: Policy, b: Policy) -> tuple[list[tuple[Rule, Rule]], list[Rule], list[Rule]]:
    """Rule pairs (same ``topic``, else same id, else same title), and the rules each policy
    has alone."""
    by_topic = {r.spec.topic: r for r in b.rules if r.spec.topic}
    by_id = {r.spec.id: r for r in b.rules}
    by_title = {_norm(r.spec.title): r for r in b.rules}
    pairs, only_a, used = [], [], set()
    for rule in a.rules:
        other = (
            (by_topic.get(rule.spec.topic) if rule.spec.topic else None)
            or by_id.get(rule.spec.id)
            or by_title.get(_norm(rule.spec.title))
        )
        if other is not None and other.spec.id not in used:
            pairs.append((rule, other))
            used.add(other.spec.id)
        else:
            only_a.append(rule)
    only_b = [r for r in b.rules if r.spec.id not in used]
    return pairs, only_a, only_b


def _rules(a: Policy, b: Policy) -> Section:
    out = Section("Rules")
    pairs, only_a, only_b = matched_rules(a, b)
    for ra, rb in pairs:
        changes = []
        for name, label in (
            ("applies_when", "applies when"),
            ("met_when", "met when"),
            ("insufficient_when", "insufficient when"),
        ):
            ea, eb = getattr(ra.spec, name), getattr(rb.spec, name)
            if " ".join(ea.split()) != " ".join(eb.split()):
                changes.append(f"{label}: {' '.join(ea.split())} -> {' '.join(eb.split())}")
        for name in ("on_not_met", "on_insufficient", "kind"):
            ea, eb = getattr(ra.spec, name), getattr(rb.spec, name)
            if ea != eb:
                changes.append(f"{name}: {ea} -> {eb}")
        qa, qb = ra.spec.quote, rb.spec.quote
        if changes:
            out.lines.append(f"{_label(ra)} vs {_label(rb)}: " + "; ".join(changes))
            if qa != qb:
                out.lines.append(f'    {a.id} quotes "{_short(qa)}"; {b.id} quotes "{_short(qb)}"')
    for pid, alone in ((a.id, only_a), (b.id, only_b)):
        for rule in alone:
            outcome = "deny" if rule.spec.on_not_met == "deny" else "pend"
            out.lines.append(
                f'only {pid}: {_label(rule)} (not met -> {outcome}): "{_short(rule.spec.quote)}"'
            )
    return out


def _label(rule: Rule) -> str:
    return f"{rule.spec.id} {rule.spec.title}"


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _show(value: object) -> str:
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


# ----------------------------------------------------------------------------- one case


@dataclass
class FindingDiff:
    first: str  # "TPI-M04 not_met: <reason>" or "no such rule"
    second: str


def case_diff(
    a: Policy, b: Policy, rec_a: Recommendation, rec_b: Recommendation
) -> list[FindingDiff]:
    """Every finding whose status differs between the two policies (paired rules), and every
    finding of a rule only one policy has that does not pass (met or not applicable)."""
    fa = {f.rule_id: f for f in rec_a.findings}
    fb = {f.rule_id: f for f in rec_b.findings}
    pairs, only_a, only_b = matched_rules(a, b)
    out = []
    for ra, rb in pairs:
        x, y = fa[ra.spec.id], fb[rb.spec.id]
        passing = {"met", "not_applicable"}
        if x.status != y.status and not {x.status, y.status} <= passing:
            out.append(FindingDiff(_finding(x), _finding(y)))
    for rule in only_a:
        x = fa[rule.spec.id]
        if x.status not in ("met", "not_applicable"):
            out.append(FindingDiff(_finding(x), f"no such rule in {b.id}"))
    for rule in only_b:
        y = fb[rule.spec.id]
        if y.status not in ("met", "not_applicable"):
            out.append(FindingDiff(f"no such rule in {a.id}", _finding(y)))
    return out


def _finding(f: Finding) -> str:
    return f"{f.rule_id} {f.status}: {f.reason}"
