"""ICD-10-CM lookups backed by ``simple-icd-10-cm`` (the current code set; no hand-typed tables).

Importing that package parses its XML (about 2 s), so the set of valid codes and which of them are
billable is generated from it once per release: shipped in ``review/data/`` for the pinned release
(regenerate with ``python -m review.codes``; a test checks it equals the library's answer), and
otherwise cached under ``$REVIEW_CACHE_DIR`` or ``~/.cache/tpi-review`` on first use.
"""

from __future__ import annotations

import gzip
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
    """The index for the installed simple-icd-10-cm: shipped with the package when it was built
    for that release (``python -m review.codes``), else cached under the user cache dir."""
    lib_version = version("simple-icd-10-cm")
    for path, opener in (
        (packaged_index_path(lib_version), gzip.open),
        (cache_dir() / f"icd10cm-{lib_version}.json", open),
    ):
        try:
            with opener(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
            return IcdIndex(
                lib_version, frozenset(data["billable"]), frozenset(data["nonbillable"])
            )
        except (OSError, ValueError, KeyError):
            continue
    data = build_index_data()
    _write_atomic(cache_dir() / f"icd10cm-{lib_version}.json", data)
    return IcdIndex(lib_version, frozenset(data["billable"]), frozenset(data["nonbillable"]))


def packaged_index_path(lib_version: str) -> Path:
    return Path(__file__).resolve().parent / "data" / f"icd10cm-{lib_version}.json.gz"


def build_index_data() -> dict:
    """Valid and billable codes, read from simple-icd-10-cm (about 2 s: it parses its XML)."""
    import simple_icd_10_cm as icd

    billable: list[str] = []
    nonbillable: list[str] = []
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter_or_block(code):
            continue
        (billable if icd.is_leaf(code) else nonbillable).append(code)
    return {
        "version": version("simple-icd-10-cm"),
        "billable": sorted(billable),
        "nonbillable": sorted(nonbillable),
    }


def main() -> None:
    """Write the packaged index for the installed release: python -m review.codes"""
    data = build_index_data()
    path = packaged_index_path(data["version"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as fh:  # mtime 0: the same bytes on every build
        fh.write(json.dumps(data, separators=(",", ":")).encode("utf-8"))
    print(
        f"{path}: {len(data['billable'])} billable and {len(data['nonbillable'])} non-billable codes"
    )


if __name__ == "__main__":
    main()


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
