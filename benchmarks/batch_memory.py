"""Peak memory of a batch run over the archive and over the archive replicated N times.

    .venv/bin/python benchmarks/batch_memory.py [--notes PATH] [--copies 10] [--workers 2] [--json]

Each run is a separate `review batch` process; a sampler adds up the resident memory (VmRSS from
/proc) of that process and all its descendants every 50 ms and keeps the peak. The replicated
archive is written as a gzipped JSONL with new ids (the input is streamed, never loaded whole).
Target: the 10x run's peak at most 1.2x the 1x run's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_NOTES, machine


def tree_rss_kib(pid: int) -> int:
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{current}/task/{current}/children") as fh:
                stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run(input_path: Path, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-c",
            "from review.cli import main; main()",
            "batch",
            str(input_path),
            "--out",
            str(Path(tmp) / "out"),
            "--workers",
            str(workers),
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss_kib(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
        lines = len((Path(tmp) / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines())
    return {
        "input": input_path.name,
        "exit": code,
        "cases": lines,
        "wall_s": round(time.perf_counter() - start, 1),
        "peak_rss_mib": round(peak / 1024, 1),
    }


def replicate(notes: Path, copies: int, target: Path) -> Path:
    with gzip.open(target, "wt", encoding="utf-8") as out:
        for copy in range(copies):
            with notes.open(encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        item = json.loads(line)
                        item["id"] = f"{item['id']}-{copy}"
                        out.write(json.dumps(item) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = replicate(args.notes, args.copies, Path(tmp) / f"notes-x{args.copies}.jsonl.gz")
        one = run(args.notes, args.workers)
        many = run(big, args.workers)
    ratio = round(many["peak_rss_mib"] / one["peak_rss_mib"], 3)
    result = {
        "benchmark": "batch_memory",
        "machine": machine(),
        "workers": args.workers,
        "x1": one,
        f"x{args.copies}": many,
        "peak_ratio": ratio,
        "target": "<= 1.2",
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"x1: {one}\nx{args.copies}: {many}\npeak ratio {ratio} (target <= 1.2)")
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
