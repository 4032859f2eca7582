"""Helpers shared by the benchmark scripts: reading notes and describing the machine.

Nothing here is imported by the ``review`` package.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DEFAULT_NOTES = Path(os.environ.get("MTSAMPLES_NOTES", "/work/shared/data/mtsamples/notes.jsonl"))
ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tpi-review", "spacy", "medspacy", "PyRuSH", "cel-python", "pydantic")


def read_notes(path: Path, limit: int | None = None) -> list[dict]:
    """The first ``limit`` notes (all when None) of a JSONL file with ``id`` and ``text``."""
    notes = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            item = json.loads(line)
            notes.append({"id": str(item["id"]), "text": item["text"]})
            if limit is not None and len(notes) >= limit:
                break
    if not notes:
        sys.exit(f"error: no notes in {path}")
    return notes


def word_count(text: str) -> int:
    """Words as whitespace-separated chunks: the same count for every pipeline measured."""
    return len(text.split())


def source_digest() -> dict:
    """sha256 over the code and data under test (review/ and rules/, name order), and the newest
    file's modification time: ties the figures to a code state without asking git."""
    digest = hashlib.sha256()
    newest = 0.0
    files = [
        p
        for folder in ("review", "rules")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml", ".yml", ".json", ".md", ".txt", ".j2")
    ]  # fmt: skip
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
        newest = max(newest, path.stat().st_mtime)
    return {
        "review_and_rules_sha256": digest.hexdigest()[:16],
        "files": len(files),
        "newest_file_utc": datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def machine() -> dict:
    """nproc, CPU model, RAM, Python and package versions, and the UTC time of the run."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip())
    except (OSError, ValueError):
        nproc = os.cpu_count()
    try:
        loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        loadavg = None
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": nproc,
        "cpu": cpu,
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "loadavg_1_5_15_min": loadavg,  # when the figures were printed; other work skews them
        "code": source_digest(),
    }


def emit(figures: dict, code_at_start: dict, args) -> bool:
    """Warn when the code changed mid-run, save (--save) and print JSON (--json).
    Returns True when the JSON was printed, so the caller skips its table."""
    if figures["machine"]["code"] != code_at_start:
        print(
            "warning: review/ or rules/ changed during the run; figures mix code states",
            file=sys.stderr,
        )
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(figures, indent=2))
        return True
    return False
