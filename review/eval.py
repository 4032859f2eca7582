"""Evaluation: an extractor / prompt / model against hand-labelled cases.

Labels live beside each case as ``expected.yaml`` (format: eval/README.md), written from the note
and the policy, never from the code's output. Metrics: per-field precision/recall/F1 (set-based,
muscles with side), decision accuracy and confusion matrix, supported-code accuracy, evidence
recall against the gold sentences, grounding, and the safety figure that matters most: false
approvals (approve where the gold says pend or deny). Deterministic for the offline extractor.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from review import __version__
from review.errors import ReviewError
from review.schema import Recommendation, Strict
from review.yamlfile import load_yaml

Decision = Literal["approve", "pend", "deny"]
DECISIONS = ("approve", "pend", "deny")
SET_FIELDS = ("injected_muscles", "injectate", "exam_findings", "prior_treatments")
SCALAR_FIELDS = ("procedure_performed", "injection_sites", "prior_injection_response")


class GoldMuscle(Strict):
    name: str
    side: Literal["left", "right", "bilateral", "unspecified"]


class GoldEvidence(Strict):
    document: str
    fact: str
    quote: str


class GoldLabels(Strict):
    decision: Decision
    supported_code: str | None
    procedure_performed: bool | None  # null: not labelled (a reviewer's exported override)
    injected_muscles: list[GoldMuscle] | None = Field(default_factory=list)
    rules: dict[str, str] = Field(default_factory=dict)
    hard_cases: list[str] = Field(default_factory=list)
    why: str = ""
    injection_sites: int | None = None
    injectate: list[str] | None = None
    exam_findings: list[str] | None = None
    prior_treatments: dict[str, str] | None = None
    prior_injection_response: Literal["improved", "no_relief", "unknown", "none"] | None = None
    evidence: list[GoldEvidence] = Field(default_factory=list)


class CaseResult(BaseModel):
    case: str
    gold_decision: str
    decision: str
    gold_code: str | None
    supported_code: str | None
    false_approval: bool
    field_errors: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    evidence_found: int = 0
    evidence_total: int = 0
    ungrounded: int = 0
    error: str | None = None


class FieldScore(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


class EvalRun(BaseModel):
    run: dict[str, object]
    metrics: dict[str, float]
    fields: dict[str, dict[str, float | int]]
    confusion: dict[str, dict[str, int]]
    false_approvals: list[str]
    cases: list[CaseResult]


def case_dirs(paths: Iterable[Path]) -> list[Path]:
    """Every folder with a case and an expected.yaml, under the given folders (sorted)."""
    out = []
    for path in paths:
        if not path.exists():
            raise ReviewError("V001", "no such folder of labelled cases", source=str(path))
        candidates = (
            [path]
            if (path / "expected.yaml").is_file()
            else sorted(p for p in path.iterdir() if p.is_dir())
        )
        out += [p for p in candidates if (p / "expected.yaml").is_file()]
    if not out:
        raise ReviewError(
            "V002",
            "no labelled case (a folder with case.json and expected.yaml) found",
            source=", ".join(str(p) for p in paths),
        )
    return sorted(out, key=lambda p: p.name)


def load_labels(case_dir: Path) -> GoldLabels:
    path = case_dir / "expected.yaml"
    try:
        return GoldLabels.model_validate(load_yaml(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ReviewError(
            "V003", f"invalid labels: {str(exc).splitlines()[0]}", source=str(path)
        ) from None


def evaluate_cases(dirs: list[Path], config=None) -> EvalRun:
    """Review every labelled case with ``config`` and score it against its labels."""
    from review.case import load_case
    from review.pipeline import ReviewConfig, review_case

    config = config or ReviewConfig()
    scores = {name: FieldScore() for name in SET_FIELDS + SCALAR_FIELDS}
    confusion = {g: dict.fromkeys(DECISIONS, 0) for g in DECISIONS}
    results: list[CaseResult] = []
    provenance = None
    grounding: list[float] = []
    for case_dir in dirs:
        gold = load_labels(case_dir)
        try:
            case = load_case(case_dir)
            rec = review_case(case, config)
        except ReviewError as exc:
            results.append(
                CaseResult(
                    case=case_dir.name,
                    gold_decision=gold.decision,
                    decision="error",
                    gold_code=gold.supported_code,
                    supported_code=None,
                    false_approval=False,
                    error=str(exc),
                )
            )
            continue
        provenance = provenance or rec.provenance
        if rec.provenance.grounding_rate is not None:
            grounding.append(rec.provenance.grounding_rate)
        confusion[gold.decision][rec.decision] += 1
        result = CaseResult(
            case=case_dir.name,
            gold_decision=gold.decision,
            decision=rec.decision,
            gold_code=gold.supported_code,
            supported_code=rec.supported_code,
            false_approval=rec.decision == "approve" and gold.decision != "approve",
            ungrounded=len(rec.ungrounded),
        )
        for name, (want, got) in _field_sets(gold, rec).items():
            if want is None:
                continue  # not labelled for this case
            score = scores[name]
            score.tp += len(want & got)
            score.fp += len(got - want)
            score.fn += len(want - got)
            if want != got:
                result.field_errors[name] = {
                    "missed": sorted(want - got),
                    "extra": sorted(got - want),
                }
        result.evidence_total, result.evidence_found = _evidence_recall(
            gold, rec, {d.id: d.text for d in case.documents}
        )
        results.append(result)
    scored = [r for r in results if r.error is None]
    n = len(scored) or 1
    metrics = {
        "cases": float(len(results)),
        "errors": float(len(results) - len(scored)),
        "decision_accuracy": round(sum(r.decision == r.gold_decision for r in scored) / n, 4),
        "supported_code_accuracy": round(
            sum(r.supported_code == r.gold_code for r in scored) / n, 4
        ),
        "false_approvals": float(sum(r.false_approval for r in scored)),
        "ungrounded_quotes": float(sum(r.ungrounded for r in scored)),
    }
    evidence_total = sum(r.evidence_total for r in scored)
    if evidence_total:
        metrics["evidence_recall"] = round(
            sum(r.evidence_found for r in scored) / evidence_total, 4
        )
    if grounding:
        metrics["grounding_rate"] = round(sum(grounding) / len(grounding), 4)
    for name, score in scores.items():
        metrics[f"{name}_f1"] = round(score.f1, 4)
    fields = {
        name: {
            "precision": round(s.precision, 4),
            "recall": round(s.recall, 4),
            "f1": round(s.f1, 4),
            "tp": s.tp,
            "fp": s.fp,
            "fn": s.fn,
        }
        for name, s in scores.items()
    }
    run = {
        "version": __version__,
        "extractor": config.extractor,
        "prompt": provenance.prompt if provenance else None,
        "prompt_sha256": provenance.prompt_sha256 if provenance else None,
        "model": provenance.model if provenance else None,
        "policy": provenance.policy if provenance else None,
        "rules_sha256": provenance.rules_sha256 if provenance else None,
        "lexicons_sha256": provenance.lexicons_sha256 if provenance else None,
        "case_set": sorted(r.case for r in results),
    }
    return EvalRun(
        run=run,
        metrics=metrics,
        fields=fields,
        confusion=confusion,
        false_approvals=sorted(r.case for r in scored if r.false_approval),
        cases=results,
    )


def _field_sets(
    gold: GoldLabels, rec: Recommendation
) -> dict[str, tuple[set[str] | None, set[str]]]:
    facts = rec.facts
    sites = facts.injection_sites
    prior = "none"
    responses = [p.response for p in facts.prior_injections]
    if "improved" in responses:
        prior = "improved"
    elif "no_relief" in responses:
        prior = "no_relief"
    elif responses:
        prior = "unknown"
    return {
        "injected_muscles": (
            None
            if gold.injected_muscles is None
            else {f"{m.side} {m.name}" for m in gold.injected_muscles},
            {f"{m.side} {m.name}" for m in facts.injected_muscles},
        ),
        "injectate": (
            None if gold.injectate is None else {i.lower() for i in gold.injectate},
            {i.name.lower() for i in facts.injectate},
        ),
        "exam_findings": (
            None if gold.exam_findings is None else set(gold.exam_findings),
            {f.kind for f in facts.exam_findings if f.present},
        ),
        "prior_treatments": (
            None
            if gold.prior_treatments is None
            else {f"{k}:{v}" for k, v in gold.prior_treatments.items()},
            # the labels have no "ongoing": an ongoing treatment with no word on how it works
            # is "unknown" (eval/README.md conventions)
            {
                f"{t.name}:{'unknown' if t.outcome == 'ongoing' else t.outcome}"
                for t in facts.prior_treatments
            },
        ),
        "procedure_performed": (
            None if gold.procedure_performed is None else {str(gold.procedure_performed)},
            {str(facts.procedure_performed)},
        ),
        "injection_sites": (
            None if "injection_sites" not in gold.model_fields_set else {str(gold.injection_sites)},
            {str(sites)},
        ),
        "prior_injection_response": (
            None if gold.prior_injection_response is None else {gold.prior_injection_response},
            {prior},
        ),
    }


def _evidence_recall(
    gold: GoldLabels, rec: Recommendation, texts: dict[str, str]
) -> tuple[int, int]:
    """Gold evidence items overlapped by any span the recommendation cites (same document)."""
    spans = [(e.document_id, e.start, e.end) for f in rec.findings for e in f.evidence]
    found = 0
    for item in gold.evidence:
        text = texts.get(item.document, "")
        start = text.find(item.quote)
        if start == -1:
            continue  # labels are checked elsewhere; an unfindable quote counts as not found
        end = start + len(item.quote)
        if any(doc == item.document and s < end and start < e for doc, s, e in spans):
            found += 1
    return len(gold.evidence), found


# --------------------------------------------------------------------------- baseline gate

HIGHER_IS_BETTER = (
    "decision_accuracy",
    "supported_code_accuracy",
    "evidence_recall",
    "grounding_rate",
)


def compare(
    run: EvalRun, baseline: EvalRun, threshold: float = 0.02
) -> tuple[list[tuple[str, float, float, float]], list[str]]:
    """Per-metric (name, baseline, now, delta) and the regressions beyond ``threshold``."""
    rows = []
    regressions = []
    for name in sorted(set(run.metrics) & set(baseline.metrics)):
        before, now = baseline.metrics[name], run.metrics[name]
        rows.append((name, before, now, round(now - before, 4)))
        if name == "false_approvals" and now > before:
            regressions.append(f"false approvals rose from {before:g} to {now:g}")
        elif (name in HIGHER_IS_BETTER or name.endswith("_f1")) and before - now > threshold:
            regressions.append(
                f"{name} fell from {before:.4f} to {now:.4f} (threshold {threshold})"
            )
    return rows, regressions


def load_run(path: Path) -> EvalRun:
    try:
        return EvalRun.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise ReviewError(
            "V004", f"not an eval run file: {str(exc).splitlines()[0]}", source=str(path)
        ) from None
