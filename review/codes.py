"""ICD-10-CM lookups backed by ``simple-icd-10-cm`` (the current code set; no hand-typed tables).

Importing that package parses its XML (about 2 s), so the set of valid codes and which of them are
billable is cached once per package version as JSON under the user cache directory
(``$REVIEW_CACHE_DIR`` or ``~/.cache/tpi-review``); later runs load it in milliseconds.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path


@dataclass(frozen=True)
class IcdIndex:
    version: str
    billable: frozenset[str]
    nonbillable: frozenset[str]

    def normalise(self, code: str) -> str:
        code = code.strip().upper().replace(" ", "")
        if "." not in code and len(code) > 3:
            code = f"{code[:3]}.{code[3:]}"
        return code

    def is_valid(self, code: str) -> bool:
        code = self.normalise(code)
        return code in self.billable or code in self.nonbillable

    def is_billable(self, code: str) -> bool:
        return self.normalise(code) in self.billable


def cache_dir() -> Path:
    return Path(os.environ.get("REVIEW_CACHE_DIR") or Path.home() / ".cache" / "tpi-review")


@cache
def icd_index() -> IcdIndex:
    lib_version = version("simple-icd-10-cm")
    path = cache_dir() / f"icd10cm-{lib_version}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return IcdIndex(lib_version, frozenset(data["billable"]), frozenset(data["nonbillable"]))
    except (OSError, ValueError, KeyError):
        pass
    import simple_icd_10_cm as icd

    billable, nonbillable = [], []
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter_or_block(code):
            continue
        (billable if icd.is_leaf(code) else nonbillable).append(code)
    index = IcdIndex(lib_version, frozenset(billable), frozenset(nonbillable))
    _write_atomic(
        path,
        {"version": lib_version, "billable": sorted(billable), "nonbillable": sorted(nonbillable)},
    )
    return index


def _write_atomic(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
        ) as fh:
            json.dump(data, fh)
        os.replace(fh.name, path)
    except OSError:
        pass  # a read-only home only costs the 2 s parse on the next run
