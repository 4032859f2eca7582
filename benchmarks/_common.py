"""Helpers shared by the benchmark scripts: reading notes and describing the machine.

Nothing here is imported by the ``review`` package.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DEFAULT_NOTES = Path(os.environ.get("MTSAMPLES_NOTES", "/work/shared/data/mtsamples/notes.jsonl"))
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
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": nproc,
        "cpu": cpu,
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }
