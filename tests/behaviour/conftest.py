"""Reporting for the behavioural suite: a per-capability table in pytest's terminal summary and the
same table as JSON (``$REVIEW_BEHAVIOUR_REPORT`` or ``<basetemp>/behaviour-report.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from . import harness

WORKERS_ENV = "REVIEW_BEHAVIOUR_WORKERS"


def pytest_collection_modifyitems(session, config, items):
    """Remember which capabilities were selected, so the prefetch reviews only their cases."""
    selected = []
    for item in items:
        if Path(str(item.fspath)).parent != Path(__file__).parent:
            continue
        name = item.originalname
        if name.startswith("test_mft_"):
            selected.append(("mft", name.removeprefix("test_mft_")))
        elif name in ("test_inv", "test_dir"):
            selected.append((name.removeprefix("test_"), item.callspec.params["kind"]))
    harness.STATE["selected"] = selected


@pytest.fixture(scope="session")
def bases():
    """The unperturbed complete notes shared by the INV and DIR capabilities (built once)."""
    from .generators import base_cases

    return base_cases()


@pytest.fixture(scope="session", autouse=True)
def _behaviour_session(tmp_path_factory, bases):
    """Record the basetemp for the JSON report, then review every selected capability's cases in
    parallel (REVIEW_BEHAVIOUR_WORKERS, default min(2, CPUs); 1 = review inside each test)."""
    from . import generators

    base = tmp_path_factory.getbasetemp()
    harness.STATE["basetemp"] = base
    os.environ.setdefault("REVIEW_CACHE_DIR", str(base / "review-cache"))
    workers = int(os.environ.get(WORKERS_ENV) or min(2, os.cpu_count() or 1))
    cases = []
    for family, key in harness.STATE.get("selected", []):
        cases += generators.case_dicts(family, key, bases)
    harness.STATE["prefetched"] = harness.prefetch(cases, workers)
    yield


def _table(data: dict) -> list[str]:
    rows = [("capability", "type", "cases", "failures", "rate", "notes")]
    for c in data["capabilities"]:
        notes = ", ".join(f"{k}: {v}" for k, v in c["notes"].items())
        rows.append(
            (
                c["capability"],
                c["type"],
                str(c["cases"]),
                str(c["failures"]),
                f"{c['failure_rate']:.1%}",
                notes,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = []
    for j, r in enumerate(rows):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])] + [
            r[i].rjust(widths[i]) for i in (2, 3, 4)
        ]
        out.append("  ".join(cells) + ("  " + r[5] if r[5] else ""))
        if j == 0:
            out.append("-" * len(out[0]))
    total, fails = data["total_cases"], data["total_failures"]
    out.append("-" * len(out[0]))
    out.append(
        f"{'total'.ljust(widths[0])}  {''.ljust(widths[1])}  {str(total).rjust(widths[2])}  {str(fails).rjust(widths[3])}  "
        f"{(fails / total if total else 0):.1%}".rjust(widths[4])
    )
    out.append(
        f"thresholds: MFT/INV failure rate <= {harness.MAX_RATE:.0%}; DIR 0 still approving. "
        f"{data['reviews']} distinct reviews ({harness.STATE.get('prefetched', 0)} prefetched in parallel)."
    )
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not harness.REGISTRY:
        return
    data = harness.report()
    tr = terminalreporter
    tr.section("behavioural suite: failure rate per capability")
    for line in _table(data):
        tr.write_line(line)
    failing = [c for c in data["capabilities"] if c["examples"]]
    if failing:
        tr.section("behavioural suite: example failures (synthetic text)")
        for c in failing:
            tr.write_line(f"{c['type']} {c['capability']}:")
            for ex in c["examples"]:
                text = ex["text"].replace("\r", "\\r").replace("\n", "\\n")
                tag = f" ({ex['tag']})" if ex.get("tag") else ""
                tr.write_line(f"  [{ex['case_id']}]{tag} {text[:400]}")
                for p in ex["problems"][:5]:
                    tr.write_line(f"      - {p[:400]}")
    path = os.environ.get("REVIEW_BEHAVIOUR_REPORT")
    if path:
        target = Path(path)
    else:
        base = harness.STATE.get("basetemp")
        if base is None:
            return
        target = Path(base) / "behaviour-report.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tr.write_line(f"behavioural report: {target}")
