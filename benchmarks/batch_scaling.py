"""Offline batch throughput with 1 and 2 worker processes over the same notes.

    .venv/bin/python benchmarks/batch_scaling.py [--notes PATH] [--limit N] [--json]

Each run is `review.batch.run.run_batch` on the notes JSONL (audit cases) into a fresh folder. Two
figures per run: end to end (worker start-up included) and steady state (first to last record).
Target: 2 workers at least 1.7x one worker (steady state).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_NOTES, machine

from review.batch.options import BatchOptions
from review.batch.run import run_batch


def measure(notes: Path, workers: int, limit: int | None) -> dict:
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        stats = run_batch(
            notes,
            Path(tmp) / "out",
            BatchOptions(workers=workers, limit=limit),
            progress=lambda s, r: stamps.append(time.perf_counter()),
        )
        total = time.perf_counter() - start
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
    return {
        "workers": workers,
        "cases": stats.done,
        "errors": stats.errors,
        "wall_s": round(total, 2),
        "end_to_end_per_s": round(stats.done / total, 1),
        "steady_per_s": round(steady, 1) if steady else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [measure(args.notes, w, args.limit) for w in (1, 2)]
    result = {
        "benchmark": "batch_scaling",
        "machine": machine(),
        "runs": runs,
        "speedup_steady": round(runs[1]["steady_per_s"] / runs[0]["steady_per_s"], 2),
        "speedup_end_to_end": round(runs[1]["end_to_end_per_s"] / runs[0]["end_to_end_per_s"], 2),
        "target": ">= 1.7x steady state",
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for run in runs:
        print(
            f"{run['workers']} worker(s): {run['cases']} cases in {run['wall_s']} s, "
            f"{run['end_to_end_per_s']}/s end to end, {run['steady_per_s']}/s steady"
        )
    print(
        f"speed-up: {result['speedup_steady']}x steady, {result['speedup_end_to_end']}x end to end (target 1.7x)"
    )


if __name__ == "__main__":
    main()
