"""An eval run as tables in the terminal (rich): headline figures, per-field scores, the decision
confusion matrix, false approvals, and deltas against a baseline."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from review.eval import DECISIONS, EvalRun


def print_run(
    run: EvalRun, deltas: list[tuple[str, float, float, float]], regressions: list[str]
) -> None:
    console = Console()
    head = Table(
        title=f"eval: {run.run['extractor']} extractor, {len(run.cases)} cases",
        title_justify="left",
    )
    head.add_column("metric")
    head.add_column("value", justify="right")
    for name in (
        "decision_accuracy",
        "supported_code_accuracy",
        "false_approvals",
        "evidence_recall",
        "grounding_rate",
        "ungrounded_quotes",
        "errors",
    ):
        if name in run.metrics:
            head.add_row(name, f"{run.metrics[name]:g}")
    console.print(head)
    fields = Table(title="fields", title_justify="left")
    for col in ("field", "precision", "recall", "F1", "tp", "fp", "fn"):
        fields.add_column(col, justify="left" if col == "field" else "right")
    for name, s in run.fields.items():
        fields.add_row(
            name,
            f"{s['precision']:.3f}",
            f"{s['recall']:.3f}",
            f"{s['f1']:.3f}",
            str(s["tp"]),
            str(s["fp"]),
            str(s["fn"]),
        )
    console.print(fields)
    matrix = Table(title="decisions (rows gold, columns predicted)", title_justify="left")
    matrix.add_column("gold")
    for d in DECISIONS:
        matrix.add_column(d, justify="right")
    for gold in DECISIONS:
        matrix.add_row(gold, *(str(run.confusion[gold][d]) for d in DECISIONS))
    console.print(matrix)
    if run.false_approvals:
        console.print(f"[bold red]false approvals:[/] {', '.join(run.false_approvals)}")
    if deltas:
        table = Table(title="against the baseline", title_justify="left")
        for col in ("metric", "baseline", "now", "delta"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for name, before, now, delta in deltas:
            table.add_row(name, f"{before:g}", f"{now:g}", f"{delta:+g}")
        console.print(table)
    for line in regressions:
        console.print(f"[bold red]regression:[/] {line}")
