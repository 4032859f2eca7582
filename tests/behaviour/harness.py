"""Run generated cases through the public API, compare with what the template expects, and keep
per-capability counts for the report (conftest.py prints them and writes the JSON).

Each generated case is reviewed once per session (results are memoised on the case content), so
an unperturbed base shared by several INV and DIR capabilities costs one review.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from .templates import NOT_APPROVE, expand_sides, note_text

MAX_RATE = 0.02  # MFT / INV: at most 2% of a capability's cases may fail
EXAMPLES_PER_CAPABILITY = 3
UNSET = object()

# Label conventions (eval/README.md): when several entries share a name, the name takes the first
# outcome that applies in this order. "ongoing" is not a label value; it sits with "unknown".
OUTCOME_ORDER = (
    "contraindicated",
    "not_tolerated",
    "failed",
    "partial",
    "effective",
    "ongoing",
    "unknown",
    "not_tried",
)
ABSENT = "absent"  # in Expect.treatments: the name may be missing from prior_treatments


# --------------------------------------------------------------------------- reviewing

_REVIEWS: dict[str, object] = {}


def _key(case: dict) -> str:
    return json.dumps({k: v for k, v in case.items() if k != "case_id"}, sort_keys=True)


def _review_now(case: dict):
    from review.case import case_from_dict
    from review.pipeline import review_case

    return review_case(case_from_dict(case, source="behaviour"))


def review(case: dict):
    """Review one case dict; memoised on everything but the case id."""
    key = _key(case)
    if key not in _REVIEWS:
        _REVIEWS[key] = _review_now(case)
    return _REVIEWS[key]


def _review_chunk(chunk: list[tuple[str, dict]]) -> list[tuple[str, object]]:
    return [(key, _review_now(case)) for key, case in chunk]


def prefetch(cases: list[dict], workers: int) -> int:
    """Review ``cases`` in ``workers`` forked processes and memoise the results, so the tests that
    generate the same cases find them reviewed. Returns how many were reviewed. The parent never
    loads spaCy before forking; each worker builds its own pipeline once."""
    todo: dict[str, dict] = {}
    for case in cases:
        key = _key(case)
        if key not in _REVIEWS:
            todo.setdefault(key, case)
    if workers <= 1 or len(todo) < 100:
        return 0
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    items = list(todo.items())
    size = max(20, len(items) // (workers * 8))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    # fork is cheap and safe while the parent has not loaded spaCy (the usual case: this suite
    # alone); after other tests loaded it, spawn fresh interpreters instead.
    method = "spawn" if "spacy" in sys.modules else "fork"
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method)) as pool:
        for results in pool.map(_review_chunk, chunks):
            _REVIEWS.update(results)
    return len(items)


# --------------------------------------------------------------------------- reading a recommendation


def muscles_of(rec) -> frozenset[tuple[str, str]]:
    return expand_sides((m.name, m.side) for m in rec.facts.injected_muscles)


def treatments_of(rec) -> dict[str, str]:
    by_name: dict[str, list[str]] = {}
    for t in rec.facts.prior_treatments:
        by_name.setdefault(t.name, []).append(t.outcome)
    return {
        name: min(outcomes, key=lambda o: OUTCOME_ORDER.index(o) if o in OUTCOME_ORDER else 99)
        for name, outcomes in sorted(by_name.items())
    }


def exam_pairs_of(rec) -> frozenset[tuple[str, bool]]:
    return frozenset((e.kind, e.present) for e in rec.facts.exam_findings)


def exam_present_of(rec) -> frozenset[str]:
    return frozenset(e.kind for e in rec.facts.exam_findings if e.present)


def excluded_performed_of(rec) -> frozenset[str]:
    return frozenset(e.kind for e in rec.facts.excluded_services if e.performed)


def project(rec) -> dict:
    """The facts an invariance test compares (a paraphrase must leave all of them unchanged)."""
    return {
        "decision": rec.decision,
        "supported_code": rec.supported_code,
        "procedure_status": rec.facts.procedure_status,
        "procedure_performed": rec.facts.procedure_performed,
        "injected_muscles": sorted(muscles_of(rec)),
        "injectate": sorted({i.name for i in rec.facts.injectate}),
        "exam_present": sorted(exam_present_of(rec)),
        "prior_treatments": treatments_of(rec),
        "excluded_performed": sorted(excluded_performed_of(rec)),
    }


# --------------------------------------------------------------------------- expectations


@dataclass
class Expect:
    """What the template put into a note. ``None`` / empty = not checked."""

    decision: str | frozenset | None = None
    supported_code: object = UNSET
    status: str | frozenset | None = None
    performed: bool | None = None
    muscles: frozenset | None = None  # exact set of (name, side), bilateral expanded
    muscles_contain: frozenset | None = None
    injectate: frozenset | None = None  # exact set of names
    exam_present: frozenset | None = None  # exact set of kinds documented as present
    exam_pairs: frozenset = frozenset()  # (kind, present) that must be reported
    exam_not_present: frozenset = frozenset()  # kinds that must not be reported as present
    treatments: dict = field(default_factory=dict)  # name -> allowed outcomes (ABSENT allowed)
    treatments_exact: bool = False  # no other treatment names
    excluded: frozenset | None = None  # exact set of kinds performed today
    excluded_any: tuple = ()  # each item: a set of kinds, one of which must be performed today

    def problems(self, rec) -> list[str]:
        out: list[str] = []

        def one_of(label, want, got):
            ok = got in want if isinstance(want, (set, frozenset)) else got == want
            if not ok:
                shown = sorted(want) if isinstance(want, (set, frozenset)) else want
                out.append(f"{label}: expected {shown!r}, got {got!r}")

        if self.decision is not None:
            one_of("decision", self.decision, rec.decision)
        if self.supported_code is not UNSET:
            one_of("supported_code", self.supported_code, rec.supported_code)
        if self.status is not None:
            one_of("procedure_status", self.status, rec.facts.procedure_status)
        if self.performed is not None:
            one_of("procedure_performed", self.performed, rec.facts.procedure_performed)
        if self.muscles is not None:
            want, got = expand_sides(self.muscles), muscles_of(rec)
            if want != got:
                out.append(f"injected_muscles: expected {sorted(want)}, got {sorted(got)}")
        if self.muscles_contain is not None:
            want, got = expand_sides(self.muscles_contain), muscles_of(rec)
            if not want <= got:
                out.append(
                    f"injected_muscles: expected to contain {sorted(want)}, got {sorted(got)}"
                )
        if self.injectate is not None:
            got = frozenset(i.name for i in rec.facts.injectate)
            if got != self.injectate:
                out.append(f"injectate: expected {sorted(self.injectate)}, got {sorted(got)}")
        if self.exam_present is not None:
            got = exam_present_of(rec)
            if got != self.exam_present:
                out.append(f"exam present: expected {sorted(self.exam_present)}, got {sorted(got)}")
        pairs = exam_pairs_of(rec)
        for pair in sorted(self.exam_pairs):
            if pair not in pairs:
                out.append(f"exam_findings: expected {pair}, got {sorted(pairs)}")
        for kind in sorted(self.exam_not_present):
            if (kind, True) in pairs:
                out.append(f"exam_findings: {kind} must not be present, got {sorted(pairs)}")
        if self.treatments or self.treatments_exact:
            got = treatments_of(rec)
            for name, allowed in self.treatments.items():
                value = got.get(name, ABSENT)
                if value not in allowed:
                    out.append(
                        f"prior_treatments[{name}]: expected {sorted(allowed)}, got {value!r}"
                    )
            if self.treatments_exact:
                extra = sorted(set(got) - set(self.treatments))
                if extra:
                    out.append(f"prior_treatments: unexpected {[(n, got[n]) for n in extra]}")
        if self.excluded is not None:
            got = excluded_performed_of(rec)
            if got != self.excluded:
                out.append(
                    f"excluded_services performed: expected {sorted(self.excluded)}, got {sorted(got)}"
                )
        for kinds in self.excluded_any:
            got = excluded_performed_of(rec)
            if not (got & kinds):
                listed = sorted((e.kind, e.performed) for e in rec.facts.excluded_services)
                out.append(
                    f"excluded_services: expected one of {sorted(kinds)} performed, got {listed}"
                )
        return out


@dataclass
class GenCase:
    """One generated case: the case dict, the varied text (for the report) and the expectation."""

    case_id: str
    data: dict
    snippet: str
    expect: Expect
    tags: tuple[str, ...] = ()
    spec: object = None  # the NoteSpec of a base case (INV / DIR perturb it)


@dataclass
class InvPair:
    base: GenCase
    perturbed: dict
    what: str  # the perturbation, for the report


@dataclass
class DirCase:
    base: GenCase
    perturbed: dict
    what: str
    snippet: str


def changed_line(base: dict, perturbed: dict) -> str:
    """The first line the perturbation changed (case-, CR- and space-insensitively), else the
    first procedure line: what to show for an INV failure."""
    norm = lambda t: " ".join(t.replace("\r", "").lower().split())  # noqa: E731
    before = {norm(line) for line in note_text(base).splitlines()}
    lines = [line for line in note_text(perturbed).splitlines() if line.strip()]
    for line in lines:
        if norm(line) not in before and not line.startswith("---"):
            return line.strip()
    for line in lines:
        if norm(line).startswith(("procedure", "proc:")):
            return line.strip()
    return lines[0] if lines else ""


# --------------------------------------------------------------------------- capabilities and report


@dataclass
class Capability:
    name: str
    test_type: str  # MFT | INV | DIR
    description: str
    cases: int = 0
    failures: int = 0
    notes: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.failures / self.cases if self.cases else 0.0

    def record(
        self, case_id: str, ok: bool, snippet: str, problems: list[str], tag: str = ""
    ) -> None:
        """Count one case; keep up to 3 failing examples, preferring different tags (statuses,
        outcomes, service kinds) so the examples show different gaps."""
        self.cases += 1
        if ok:
            return
        self.failures += 1
        example = {"case_id": case_id, "text": snippet, "problems": problems, "tag": tag}
        seen = {e["tag"] for e in self.examples}
        if len(self.examples) < EXAMPLES_PER_CAPABILITY and (not tag or tag not in seen):
            self.examples.append(example)
        elif tag and tag not in seen:
            for i, e in enumerate(self.examples):  # replace a repeated tag with a new one
                if [x["tag"] for x in self.examples].count(e["tag"]) > 1:
                    self.examples[i] = example
                    break

    def bump(self, note: str) -> None:
        self.notes[note] = self.notes.get(note, 0) + 1

    def as_dict(self) -> dict:
        return {
            "capability": self.name,
            "type": self.test_type,
            "description": self.description,
            "cases": self.cases,
            "failures": self.failures,
            "failure_rate": round(self.rate, 4),
            "notes": self.notes,
            "examples": self.examples,
        }


REGISTRY: dict[str, Capability] = {}
STATE: dict[str, object] = {}


def capability(name: str, test_type: str, description: str) -> Capability:
    cap = Capability(name, test_type, description)
    REGISTRY[name] = cap
    return cap


def _failure_message(cap: Capability) -> str:
    lines = [f"{cap.name}: {cap.failures}/{cap.cases} failed ({cap.rate:.1%})"]
    for ex in cap.examples:
        lines.append(f"  [{ex['case_id']}] {ex['text'][:300]!r}")
        lines += [f"      {p}" for p in ex["problems"][:4]]
    return "\n".join(lines)


def run_mft(name: str, description: str, cases: list[GenCase]) -> Capability:
    cap = capability(name, "MFT", description)
    for case in cases:
        rec = review(case.data)
        problems = case.expect.problems(rec)
        cap.record(case.case_id, not problems, case.snippet, problems, "/".join(case.tags))
    return cap


def run_inv(name: str, description: str, pairs: list[InvPair]) -> Capability:
    cap = capability(name, "INV", description)
    for pair in pairs:
        base_rec = review(pair.base.data)
        base_problems = pair.base.expect.problems(base_rec)
        pert_rec = review(pair.perturbed)
        a, b = project(base_rec), project(pert_rec)
        diffs = [f"{k}: base {a[k]!r} -> perturbed {b[k]!r}" for k in a if a[k] != b[k]]
        problems = [f"base: {p}" for p in base_problems] + [f"changed {d}" for d in diffs]
        if base_problems:
            cap.bump("base off expectation")
        if diffs:
            cap.bump("not invariant")
        snippet = f"{pair.what} | {changed_line(pair.base.data, pair.perturbed)}"
        tag = "not invariant" if diffs else "base"
        cap.record(pair.perturbed["case_id"], not problems, snippet, problems, tag)
    return cap


def run_dir(name: str, description: str, cases: list[DirCase]) -> Capability:
    """Failures are perturbed cases that still approve; a base that does not approve is counted
    in ``notes`` (the edit cannot be judged against it)."""
    cap = capability(name, "DIR", description)
    cap.notes = {"still approving": 0, "base not approving": 0}
    for case in cases:
        base_rec = review(case.base.data)
        if base_rec.decision != "approve":
            cap.bump("base not approving")
        rec = review(case.perturbed)
        ok = rec.decision in NOT_APPROVE
        if not ok:
            cap.bump("still approving")
        problems = (
            [] if ok else [f"decision: expected pend or deny after the edit, got {rec.decision!r}"]
        )
        cap.record(case.perturbed["case_id"], ok, f"{case.what} | {case.snippet}", problems)
    return cap


def assert_rate(cap: Capability) -> None:
    assert cap.cases > 0, f"{cap.name}: no cases generated"
    assert cap.rate <= MAX_RATE, _failure_message(cap)


def assert_directional(cap: Capability) -> None:
    assert cap.cases > 0, f"{cap.name}: no cases generated"
    base_rate = cap.notes.get("base not approving", 0) / cap.cases
    assert cap.notes.get("still approving", 0) == 0, _failure_message(cap)
    assert base_rate <= MAX_RATE, (
        f"{cap.name}: {cap.notes['base not approving']}/{cap.cases} unperturbed bases do not approve, "
        "so the edit cannot be judged"
    )


TYPE_ORDER = ("MFT", "INV", "DIR")


def report() -> dict:
    ordered = sorted(REGISTRY.values(), key=lambda c: TYPE_ORDER.index(c.test_type))
    caps = [c.as_dict() for c in ordered]
    return {
        "capabilities": caps,
        "total_cases": sum(c["cases"] for c in caps),
        "total_failures": sum(c["failures"] for c in caps),
        "reviews": len(_REVIEWS),
        "thresholds": {
            "MFT": f"failure rate <= {MAX_RATE:.0%}",
            "INV": f"failure rate <= {MAX_RATE:.0%}",
            "DIR": "0 still approving",
        },
    }
