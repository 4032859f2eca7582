"""Where the workbench's cases come from: case folders reviewed on load, or a batch's results.

``--cases DIR``: a case folder, a folder of case folders, or a folder of FHIR PAS Bundles
(``*.json``); each is reviewed once with
:func:`review.pipeline.review_case` when the workbench starts and kept in memory.
``--results DIR``: ``DIR/results.jsonl`` from ``review batch``; a record's note text is shown only
when its source case folder still exists (else the report shows the evidence quotes).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from review.errors import ReviewError
from review.schema import Case, Recommendation

SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


@dataclass
class CaseEntry:
    key: str  # the batch key (folder name, case id or line): what the audit trail records
    case_id: str
    source: str
    rec: Recommendation | None = None
    documents: dict[str, str] | None = None  # None: the note text is not available
    date_of_service: str | None = None
    error: str | None = None
    slug: str = ""  # the key as it appears in URLs

    @property
    def failing_rules(self) -> list[str]:
        if self.rec is None:
            return []
        return [f.rule_id for f in self.rec.findings if f.status in ("not_met", "insufficient")]


@dataclass
class CaseSource:
    kind: str  # "cases" | "results"
    root: str
    entries: list[CaseEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_slug: dict[str, CaseEntry] = {}
        for entry in self.entries:
            self._add(entry)

    def _add(self, entry: CaseEntry) -> None:
        slug = entry.key if SAFE_KEY.match(entry.key) else _hashed(entry.key)
        while slug in self._by_slug:
            slug = _hashed(slug)
        entry.slug = slug
        self._by_slug[slug] = entry

    def replace(self, entry: CaseEntry) -> None:
        """Add a case (a FHIR submission), or put a resubmission in its place (same key)."""
        for i, old in enumerate(self.entries):
            if old.key == entry.key:
                self.entries[i] = entry
                entry.slug = old.slug
                self._by_slug[old.slug] = entry
                return
        self.entries.append(entry)
        self._add(entry)

    def get(self, slug: str) -> CaseEntry | None:
        return self._by_slug.get(slug)

    @property
    def reviewable(self) -> list[CaseEntry]:
        return [e for e in self.entries if e.rec is not None]

    @property
    def errors(self) -> list[CaseEntry]:
        return [e for e in self.entries if e.rec is None]


def _hashed(key: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:40].strip("._-") or "case"
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _documents(case: Case) -> dict[str, str]:
    return {doc.id: doc.text for doc in case.documents}


def _dos(case: Case) -> str | None:
    if case.claim and case.claim.date_of_service:
        return case.claim.date_of_service.isoformat()
    dates = [doc.date for doc in case.documents if doc.date]
    return max(dates).isoformat() if dates else None


def _bundle_files(folder: Path) -> list[Path]:
    """The ``*.json`` files of a folder that is not a case folder and holds no notes."""
    from review.case import CASE_FILE_NAMES, NOTE_SUFFIXES

    names = [p for p in folder.iterdir() if p.is_file()]
    if any(p.name in CASE_FILE_NAMES or p.suffix.lower() in NOTE_SUFFIXES for p in names):
        return []
    return sorted(p for p in names if p.suffix.lower() == ".json")


def load_cases(
    folder: str | Path, review: Callable[[Case], Recommendation] | None = None
) -> CaseSource:
    """Review every case folder under ``folder`` (or ``folder`` itself if it is one)."""
    from review.case import CASE_FILE_NAMES, load_case

    if review is None:
        from review.pipeline import review_case

        review = review_case

    root = Path(folder)
    if not root.is_dir():
        raise ReviewError(
            "W002", "not a folder; give a case folder or a folder of case folders", source=str(root)
        )
    if any((root / name).is_file() for name in CASE_FILE_NAMES):
        folders = [root]
    elif _bundle_files(root):  # a folder of FHIR bundles (or case JSON files): each is a case
        folders = _bundle_files(root)
    else:
        # a folder of FHIR bundles among the case folders (examples/fhir) is not a case: it is
        # served on its own (--cases examples/fhir)
        folders = sorted(
            p
            for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and not _bundle_files(p)
        )
    entries = []
    for sub in folders:
        try:
            case = load_case(sub)
        except ReviewError as exc:
            entries.append(
                CaseEntry(key=sub.name, case_id=sub.name, source=str(sub), error=str(exc))
            )
            continue
        try:
            rec = review(case)
        except Exception as exc:  # one bad case must not keep the others from the queue
            entries.append(
                CaseEntry(
                    key=sub.name,
                    case_id=case.case_id,
                    source=str(sub),
                    error=f"internal error: {type(exc).__name__}: {exc}",
                )
            )
            continue
        entries.append(
            CaseEntry(
                key=sub.name,
                case_id=rec.case_id,
                source=str(sub),
                rec=rec,
                documents=_documents(case),
                date_of_service=_dos(case),
            )
        )
    if not entries:
        raise ReviewError(
            "W002", "no case folders here (each needs a case.json or notes)", source=str(root)
        )
    return CaseSource("cases", str(root), entries)


def load_results(folder: str | Path) -> CaseSource:
    """Read ``folder/results.jsonl`` (``review batch`` output); one entry per key, last wins."""
    root = Path(folder)
    path = root / "results.jsonl" if root.is_dir() else root
    if not path.is_file():
        raise ReviewError(
            "W003",
            "no results.jsonl here; run `review batch INPUT --out DIR` first",
            source=str(root),
        )
    by_key: dict[str, CaseEntry] = {}
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                key = str(record.get("key") or record.get("case_id") or f"line-{lineno}")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                by_key[f"line-{lineno}"] = CaseEntry(
                    key=f"line-{lineno}",
                    case_id=f"line-{lineno}",
                    source=f"{path.name}:{lineno}",
                    error="unreadable line in results.jsonl",
                )
                continue
            by_key.pop(key, None)
            by_key[key] = _entry_from_record(record, key, path.parent)
    if not by_key:
        raise ReviewError("W003", "results.jsonl is empty", source=str(path))
    return CaseSource("results", str(root), list(by_key.values()))


def _entry_from_record(record: dict, key: str, base: Path) -> CaseEntry:
    source = str(record.get("source") or "")
    case_id = str(record.get("case_id") or key)
    if record.get("status") != "ok" or not isinstance(record.get("recommendation"), dict):
        err = record.get("error") or {}
        message = f"[{err.get('code', '?')}] {err.get('message', 'no recommendation')}"
        return CaseEntry(key=key, case_id=case_id, source=source, error=message)
    try:
        rec = Recommendation.model_validate(record["recommendation"])
    except ValueError as exc:
        return CaseEntry(
            key=key, case_id=case_id, source=source, error=f"invalid recommendation: {exc}"
        )
    entry = CaseEntry(key=key, case_id=rec.case_id, source=source, rec=rec)
    case = _source_case(source, base)
    if case is not None and case.case_id == rec.case_id:
        entry.documents = _documents(case)
        entry.date_of_service = _dos(case)
    return entry


def _source_case(source: str, base: Path) -> Case | None:
    """The case folder a batch record came from, if it is still there (cwd, then beside the
    results folder)."""
    from review.case import load_case

    if not source or ":" in Path(source).name:  # "cases.jsonl:12": a line, not a folder
        return None
    for candidate in (Path(source), base / source, base.parent / source):
        if candidate.is_dir():
            try:
                return load_case(candidate)
            except ReviewError:
                return None
    return None
