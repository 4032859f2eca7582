"""Cold-process wall time of ``review case examples/approve-cervical-tpi --format json > /dev/null``.

Every run is a new process (new interpreter, imports, pipeline build, one review). Two series:

cold cache   each run gets a fresh, empty ``REVIEW_CACHE_DIR``, so it also builds the ICD-10-CM
             index from ``simple-icd-10-cm`` and writes it (what the very first run on a machine
             pays once)
warm cache   one ``REVIEW_CACHE_DIR`` warmed by one untimed run, then the timed runs (every run
             after the first)
warm cache + .pyc  as warm cache, with bytecode caching allowed under a temporary
             ``PYTHONPYCACHEPREFIX`` (matters where ``PYTHONDONTWRITEBYTECODE`` is set: then the
             editable ``review`` package is compiled from source on every start)

Both use temporary cache directories, so ``~/.cache/tpi-review`` is neither read nor written.
"Cold process" does not mean a cold OS page cache: files read by earlier runs stay in memory
(dropping the page cache needs root and affects the whole machine, so this does not do it).

Reference floors, timed the same way: ``python -c pass`` and ``python -c "import spacy"``.
``--importtime`` adds the slowest top-level imports of one warm-cache run (``python -X importtime``).
``--phases`` adds where a warm-cache run spends its time (imports, pipeline build, policy load,
ICD index, the review itself, rendering), timed inside fresh processes (median of 3).

    python benchmarks/cold_start.py               # 5 runs per series
    python benchmarks/cold_start.py --runs 9 --importtime --phases --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, machine, source_digest

ROOT = Path(__file__).resolve().parent.parent
CASE = "examples/approve-cervical-tpi"
TARGET_S = 2.5


def review_command() -> list[str]:
    exe = Path(sys.executable).parent / "review"
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-m", "review.cli"]


def timed_run(cmd: list[str], env: dict[str, str]) -> dict:
    """Wall and CPU (user+sys) time of one child process; stdout to /dev/null."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[:500]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def summary(runs: list[dict]) -> dict:
    walls = [r["wall_s"] for r in runs]
    return {
        "runs_wall_s": walls,
        "best_s": min(walls),
        "median_s": statistics.median(walls),
        "worst_s": max(walls),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
    }


def importtime(env: dict[str, str], top: int) -> list[dict]:
    code = (
        "import sys; from review.cli import main; "
        f"sys.argv = ['review', 'case', {CASE!r}, '--format', 'json']; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line, or not an importtime line
        name = parts[2].removeprefix(" ")
        if name.startswith(" "):
            continue  # imported by another module; keep top-level imports only
        rows.append({"module": name.strip(), "cumulative_s": int(parts[1]) / 1e6})
    rows.sort(key=lambda r: -r["cumulative_s"])
    return rows[:top]


PHASES_PROBE = f"""
import json, time
T = time.perf_counter
out = {{}}
t = T(); import spacy; out["import spacy"] = T() - t
t = T()
import medspacy.context, medspacy.section_detection, medspacy.target_matcher
out["import medspacy (context, sectionizer, target matcher)"] = T() - t
t = T()
import review.cli
from review.case import load_case
from review.pipeline import review_case
from review.report import render_json
out["import review (cli, typer, pipeline, pydantic models)"] = T() - t
t = T(); case = load_case({CASE!r}); out["load_case"] = T() - t
from review.parse.pipeline import build_pipeline
from review.lexicon import load_lexicon, TARGET_KINDS
t = T()
for kind in (*TARGET_KINDS, "sections", "context"):
    load_lexicon(kind)
out["load lexicons (YAML)"] = T() - t
t = T(); build_pipeline(); out["build_pipeline (after lexicons)"] = T() - t
from review.policy import load_policy
t = T(); load_policy(case.policy); out["load_policy (rules YAML + CEL compile)"] = T() - t
from review.codes import icd_index
t = T(); icd_index(); out["icd_index (from cache)"] = T() - t
t = T(); rec = review_case(case); out["review_case (parse, extract, rules)"] = T() - t
t = T(); render_json(rec); out["render_json"] = T() - t
print(json.dumps(out))
"""


def phases(env: dict[str, str], repeats: int = 3) -> dict[str, float]:
    """Median seconds per start-up phase, each repeat in a fresh process."""
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-c", PHASES_PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"error: phase probe failed: {proc.stderr.decode()[-800:]}")
        for name, secs in json.loads(proc.stdout).items():
            samples.setdefault(name, []).append(secs)
    return {name: statistics.median(v) for name, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per series (default 5)")
    parser.add_argument("--importtime", action="store_true", help="add the slowest imports")
    parser.add_argument("--phases", action="store_true", help="add a start-up phase breakdown")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--save", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    code_at_start = source_digest()

    cmd = [*review_command(), "case", CASE, "--format", "json"]
    base_env = {k: v for k, v in os.environ.items() if k != "REVIEW_CACHE_DIR"}
    with tempfile.TemporaryDirectory(prefix="tpi-review-bench-") as tmp:
        tmp = Path(tmp)
        # check once that the command works and prints one JSON object (not timed)
        check_env = {**base_env, "REVIEW_CACHE_DIR": str(tmp / "check")}
        out = subprocess.run(cmd, cwd=ROOT, env=check_env, capture_output=True, check=False)
        if out.returncode != 0:
            sys.exit(f"error: {' '.join(cmd)} exited {out.returncode}: {out.stderr.decode()[:500]}")
        decision = json.loads(out.stdout)["decision"]

        floors = {
            "python -c pass": summary(
                [timed_run([sys.executable, "-c", "pass"], base_env) for _ in range(args.runs)]
            ),
            "python -c 'import spacy'": summary(
                [
                    timed_run([sys.executable, "-c", "import spacy"], base_env)
                    for _ in range(args.runs)
                ]
            ),
        }
        cold = []
        for i in range(args.runs):
            cold.append(timed_run(cmd, {**base_env, "REVIEW_CACHE_DIR": str(tmp / f"cold{i}")}))
        warm_env = {**base_env, "REVIEW_CACHE_DIR": str(tmp / "warm")}
        timed_run(cmd, warm_env)  # builds the cache; not counted
        cache_files = (
            sorted(p.name for p in (tmp / "warm").iterdir()) if (tmp / "warm").is_dir() else []
        )
        warm = [timed_run(cmd, warm_env) for _ in range(args.runs)]
        # bytecode: with PYTHONDONTWRITEBYTECODE set, modules without a .pyc (the editable
        # ``review`` package here) are compiled on every start; this series lets Python cache
        # bytecode under a temporary PYTHONPYCACHEPREFIX (warmed by one untimed run)
        pyc_env = {k: v for k, v in warm_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        pyc_env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        timed_run(cmd, pyc_env)
        warm_pyc = [timed_run(cmd, pyc_env) for _ in range(args.runs)]
        imports = importtime(warm_env, 12) if args.importtime else None
        phase_s = phases(warm_env) if args.phases else None

    figures = {
        "benchmark": "cold_start",
        "machine": machine(),
        "code_at_start": code_at_start,
        "command": " ".join(["review", *cmd[-4:]]) + " > /dev/null",
        "decision": decision,
        "runs": args.runs,
        "cold_cache": summary(cold),
        "warm_cache": summary(warm),
        "warm_cache_bytecode_cached": summary(warm_pyc),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "cache_files": cache_files,
        "floors": floors,
        "target_s": TARGET_S,
        "target_met_warm_cache": summary(warm)["median_s"] < TARGET_S,
        "target_met_cold_cache": summary(cold)["median_s"] < TARGET_S,
    }
    if imports is not None:
        figures["slowest_top_level_imports"] = imports
    if phase_s is not None:
        figures["phases_s"] = phase_s
    if emit(figures, code_at_start, args):
        return 0
    m = figures["machine"]
    print(f"{m['date_utc']}  {m['nproc']} cpu  {m['cpu']}  Python {m['python']}")
    c = m["code"]
    print(
        f"code: review/+rules/ sha256 {c['review_and_rules_sha256']} (newest file {c['newest_file_utc']})"
    )
    print(f"{figures['command']}  (decision: {decision}; {args.runs} runs per series)")
    print()
    print(f"{'':<28}{'best s':>8}{'median s':>10}{'worst s':>9}{'cpu s (med)':>13}")
    series = [
        ("review, cold cache", figures["cold_cache"]),
        ("review, warm cache", figures["warm_cache"]),
        ("review, warm cache + .pyc", figures["warm_cache_bytecode_cached"]),
    ]
    series += list(floors.items())
    for label, s in series:
        print(
            f"{label:<28}{s['best_s']:>8.2f}{s['median_s']:>10.2f}{s['worst_s']:>9.2f}"
            f"{s['median_cpu_s']:>13.2f}"
        )
    print()
    print(f"(PYTHONDONTWRITEBYTECODE={figures['PYTHONDONTWRITEBYTECODE']!r} in this environment)")
    for key, label in (("warm_cache", "warm cache"), ("cold_cache", "cold cache")):
        med = figures[key]["median_s"]
        verdict = "met" if med < TARGET_S else "MISSED"
        print(f"target < {TARGET_S} s, {label}: median {med:.2f} s -> {verdict}")
    if imports:
        print("\nslowest top-level imports (one warm-cache run, -X importtime, cumulative s):")
        for row in imports:
            print(f"  {row['module']:<40}{row['cumulative_s']:>7.2f}")
    if phase_s:
        print("\nwhere a warm-cache start goes (in-process, median of 3 fresh processes):")
        for name, secs in phase_s.items():
            print(f"  {name:<56}{secs:>7.3f}")
        print(f"  {'sum':<56}{sum(phase_s.values()):>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
