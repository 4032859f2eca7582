"""Reviewer corrections as evaluation cases, and reading an audit trail for the agreement report.

``review results export-overrides --db AUDIT --cases CASES --out OUT`` writes, for every case whose
latest review is an override (or a physician's confirm or reverse of a referral; referrals and
assignments decide nothing and are skipped), ``OUT/<case-id-slug>/`` with the case input (read
through :func:`review.case.load_case`, so a case can only bring files from inside its own folder) and an
``expected.yaml`` in the eval format (eval/README.md) holding the reviewer's decision and supported
code, with the review's provenance in comments. Only the decision and the code are the reviewer's:
every other label key is ``null`` (not labelled, not scored), never guessed.

An existing ``OUT/<slug>/`` is never touched: that case is skipped with a message (exporting again
after more reviews adds the new cases and leaves earlier exports as they are; delete a folder to
export it again). Each case is written to a hidden temporary folder first and renamed into place
once it loads back as a case, so a failure leaves no half-written case behind.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from review.case import CASE_FILE_NAMES, NOTE_SUFFIXES, confined_path, load_case
from review.errors import ReviewError
from review.workbench.store import DECISION_ACTIONS, AuditRow, AuditStore, verify_file

CORRECTIONS = ("override", "confirm", "reverse")
"""A reviewer's decision that replaces the engine's: a nurse's override, a physician's confirmed
denial or reversal of a referral."""
SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def read_audit(path: Path) -> list[AuditRow]:
    """Every row of a verified audit trail. The file is first checked read-only (A001 missing, A002
    not an audit trail, A003 the chain is broken, A006 written before the chain: open it once
    with ``review serve``), so a typo never creates an empty trail."""
    if path.is_file() and path.stat().st_size == 0:
        raise ReviewError("A002", "an empty file, not a workbench audit trail", source=str(path))
    verify_file(path)
    return AuditStore(path).rows()


@dataclass(frozen=True)
class Exported:
    case_key: str
    case_id: str
    folder: str | None  # OUT/<slug>, None when skipped
    status: str  # "written" | "skipped"
    message: str

    def line(self) -> str:
        return f"{self.status}: {self.case_id} ({self.case_key}): {self.message}"


def slug(case_id: str) -> str:
    """A folder name from a case id: letters, digits, ``.``, ``_``, ``-``, not starting with a dot."""
    text = SLUG.sub("-", case_id).strip(".-_")[:80]
    return text or "case"


def _one_line(text: str) -> str:
    """Free text for a YAML comment: every line break (YAML's too: NEL, LS, PS) becomes a space."""
    return " ".join(str(text).split())


def labels_yaml(row: AuditRow, first: AuditRow) -> str:
    """The expected.yaml of one override (``row``; ``first``: the case's first review, the one that
    saw the pipeline's recommendation): the reviewer's decision and code, provenance comments."""
    try:
        rules_sha256 = json.loads(row.provenance).get("rules_sha256")
    except (ValueError, AttributeError):
        rules_sha256 = None
    comments = [
        "Exported from the workbench audit trail (review results export-overrides): a reviewer's",
        "override, not a hand-labelled case. Only decision and supported_code are the reviewer's;",
        "the other keys are null (not labelled, not scored).",
        f"case: {_one_line(row.case_id)} (workbench key {_one_line(row.case_key)})",
        f"reviewer: {_one_line(row.reviewer)}",
        f"reviewed at: {_one_line(row.at)}",
        f"audit id: {row.id}",
        f"rules sha256: {rules_sha256 or 'not recorded'}",
        f"recommendation sha256: {row.rec_sha256 or 'not recorded'}",
        f"pipeline recommendation: {_label(first.from_decision, first.from_code)}",
        f"decision in force before the override: {_label(row.from_decision, row.from_code)}",
        f"reason: {_one_line(row.reason)}",
    ]
    labels = {
        "decision": row.to_decision,
        "supported_code": row.to_code,
        "procedure_performed": None,
        "injected_muscles": None,
        "hard_cases": ["reviewer-override"],
        "why": f"Reviewer override (audit row {row.id}): {_one_line(row.reason)}",
    }
    body = yaml.safe_dump(labels, sort_keys=False, allow_unicode=True, width=100)
    return "".join(f"# {c}\n" for c in comments) + body


def _label(decision: str | None, code: str | None) -> str:
    return f"{decision or 'not recorded'} {code or '(no code)'}"


def _find_case(cases: Path, key: str) -> Path | None:
    """The case folder (or FHIR bundle file) a workbench key names, inside ``cases``."""
    if cases.name == key and cases.is_dir():
        return cases  # --cases was the case folder itself
    try:
        path = confined_path(cases, key, source=str(cases))
    except ReviewError:
        return None
    return path if path.exists() else None


def _copy_input(source: Path, target: Path) -> None:
    """Write the case at ``source`` into the new folder ``target``: the case file as it is and the
    text of each note as loaded (paths already confined to the case folder)."""
    case = load_case(source)
    if source.is_file():  # a FHIR bundle or case file from a folder of them
        shutil.copyfile(source, target / "case.json")
        return
    case_file = next((source / n for n in CASE_FILE_NAMES if (source / n).is_file()), None)
    if case_file is None:  # a folder of notes (an audit with no claim)
        for note in sorted(source.iterdir()):
            if note.suffix.lower() in NOTE_SUFFIXES and note.is_file():
                confined_path(source, note.name, source=str(note))
                shutil.copyfile(note, target / note.name)
        return
    shutil.copyfile(case_file, target / case_file.name)
    for doc in case.documents:
        if doc.path:
            out = target / doc.path
            out.parent.mkdir(parents=True, exist_ok=True)
            confined_path(target, doc.path, source=str(target))
            out.write_text(doc.text, encoding="utf-8")


def export_overrides(rows: list[AuditRow], cases: Path, out: Path) -> list[Exported]:
    """Export every case whose latest review is an override (see the module docstring)."""
    if not cases.is_dir():
        raise ReviewError(
            "W002", "not a folder; give the --cases folder the workbench served", source=str(cases)
        )
    first: dict[str, AuditRow] = {}
    latest: dict[str, AuditRow] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.action not in DECISION_ACTIONS:  # a referral or an assignment decides nothing
            continue
        first.setdefault(row.case_key, row)
        latest[row.case_key] = row
    overrides = sorted(
        (r for r in latest.values() if r.action in CORRECTIONS),
        key=lambda r: (r.case_id, r.case_key),
    )
    out.mkdir(parents=True, exist_ok=True)
    results: list[Exported] = []
    used: set[str] = set()
    for row in overrides:
        name = slug(row.case_id)
        if name in used:  # two keys with one case id: tell them apart by the key
            name = f"{name}-{slug(row.case_key)}"
        used.add(name)
        target = out / name

        def skip(message: str, row: AuditRow = row) -> None:
            results.append(Exported(row.case_key, row.case_id, None, "skipped", message))

        if target.exists() or target.is_symlink():
            skip(f"{target} exists; it is left as it is (delete it to export again)")
            continue
        source = _find_case(cases, row.case_key)
        if source is None:
            skip(f"no case named {row.case_key!r} in {cases}")
            continue
        try:
            loaded = load_case(source)
        except ReviewError as exc:
            skip(f"the case does not load: {exc}")
            continue
        if loaded.case_id != row.case_id:
            skip(
                f"{source} holds case {loaded.case_id!r}, not the reviewed {row.case_id!r}; "
                "give the --cases folder the workbench served"
            )
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
        try:
            _copy_input(source, tmp)
            (tmp / "expected.yaml").write_text(
                labels_yaml(row, first[row.case_key]), encoding="utf-8"
            )
            load_case(tmp)  # the copy reads back as a case
            if target.exists() or target.is_symlink():  # appeared meanwhile: still never replace
                skip(f"{target} exists; it is left as it is (delete it to export again)")
                continue
            tmp.rename(target)
        except ReviewError as exc:
            skip(f"the exported copy does not load: {exc}")
            continue
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        results.append(
            Exported(
                row.case_key,
                row.case_id,
                str(target),
                "written",
                f"{row.to_decision} {row.to_code or '-'} by {_one_line(row.reviewer)} "
                f"(audit row {row.id})",
            )
        )
    return results
