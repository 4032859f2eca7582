"""Load cases: a case directory (``case.json`` + note files), one case JSON/YAML file with inline
documents, or notes alone (a ``.txt`` file or a folder of them: an audit with no claim).

Every problem becomes a :class:`~review.errors.CaseError` naming the file, the field and what to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import ValidationError

from review.errors import CaseError
from review.schema import Case, Document
from review.yamlfile import load_yaml

CASE_FILE_NAMES = ("case.json", "case.yaml", "case.yml")
NOTE_SUFFIXES = (".txt", ".text", ".md")
MAX_NOTE_CHARS = 1_000_000
"""Notes longer than this are refused: a real clinical note is far smaller (the longest of the
2,352 MTSamples notes has about 30,000 characters), and a file this big is almost always a
mis-exported archive. It is also the parse stage's limit (spaCy's ``max_length``), so a note the
loader accepts always parses. Lower it with ``load_case(..., max_note_chars=...)``."""

CPT_OR_HCPCS = re.compile(r"^(?:\d{4}[0-9A-Z]|[A-Z]\d{4})$")
ICD10_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


def load_case(path: str | Path, *, max_note_chars: int = MAX_NOTE_CHARS) -> Case:
    """Read a case from a directory, a case file or a note file."""
    path = Path(path)
    if not path.exists():
        raise CaseError(
            "C001",
            "no such file or directory; give a case folder, case JSON or note file",
            source=str(path),
        )
    if path.is_dir():
        for name in CASE_FILE_NAMES:
            if (path / name).is_file():
                return _case_from_file(path / name, max_note_chars)
        notes = sorted(
            p for p in path.iterdir() if p.suffix.lower() in NOTE_SUFFIXES and p.is_file()
        )
        if not notes:
            raise CaseError(
                "C009",
                "folder has no case.json and no .txt notes; add a case.json (see README) or note files",
                source=str(path),
            )
        for note in notes:  # a link in a notes folder must not lead out of it
            confined_path(path, note.name, source=str(note))
        return _audit_case(path.name, notes, max_note_chars)
    if path.suffix.lower() in NOTE_SUFFIXES:  # named on the command line: the operator's choice
        return _audit_case(path.stem, [path], max_note_chars)
    return _case_from_file(path, max_note_chars)


def parse_json(text: str, source: str) -> Any:
    """``json.loads`` with every failure as a coded input error: C003 malformed, C017 nested too deeply."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseError(
            "C003",
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            source=source,
        ) from None
    except RecursionError:
        raise CaseError(
            "C017",
            "JSON nested too deeply to be a case; check the export",
            source=source,
        ) from None


def case_from_dict(
    data: Any, *, source: str, base_dir: Path | None = None, max_note_chars: int = MAX_NOTE_CHARS
) -> Case:
    """Validate a case mapping (from JSON, YAML or a JSONL line) and read its note files."""
    if not isinstance(data, dict):
        raise CaseError("C012", f"expected a JSON object, got {type(data).__name__}", source=source)
    if "resourceType" in data:  # FHIR: a Da Vinci PAS Claim/$submit Bundle
        from review.fhir.bundle import case_from_bundle

        return case_from_bundle(data, source=source, max_note_chars=max_note_chars)
    try:
        case = Case.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_path(err["loc"])
        raise CaseError(
            "C004",
            f"{err['msg']}; fix this field (see the case contract in README)",
            source=source,
            field=field,
        ) from None
    _check_codes(case, source)
    seen: set[str] = set()
    for i, doc in enumerate(case.documents):
        field = f"documents[{i}]"
        if doc.id in seen:
            raise CaseError(
                "C007",
                f"duplicate document id {doc.id!r}; ids must be unique",
                source=source,
                field=field,
            )
        seen.add(doc.id)
        if doc.path:
            if base_dir is None:
                raise CaseError(
                    "C018",
                    "document has a 'path' but the case has no folder; inline the text",
                    source=source,
                    field=field,
                )
            note = confined_path(base_dir, doc.path, source=source, field=f"{field}.path")
            doc.text = _read_note(note, max_note_chars)
        elif len(doc.text) > max_note_chars:
            raise CaseError(
                "C008",
                f"note has {len(doc.text):,} characters (limit {max_note_chars:,}); split the export",
                source=source,
                field=field,
            )
    if not case.documents:
        raise CaseError(
            "C006", "case has no documents; add at least one note", source=source, field="documents"
        )
    if not any(doc.text.strip() for doc in case.documents):
        raise CaseError(
            "C006", "every document is empty; add the note text", source=source, field="documents"
        )
    return case


def _case_from_file(path: Path, max_note_chars: int) -> Case:
    raw = _read_text(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = load_yaml(raw)
        except yaml.YAMLError as exc:
            raise CaseError(
                "C003", f"malformed YAML: {str(exc).splitlines()[0]}", source=str(path)
            ) from None
        except RecursionError:
            raise CaseError(
                "C017", "YAML nested too deeply to be a case; check the export", source=str(path)
            ) from None
    else:
        data = parse_json(raw, str(path))
    return case_from_dict(
        data, source=str(path), base_dir=path.parent, max_note_chars=max_note_chars
    )


def _audit_case(case_id: str, notes: list[Path], max_note_chars: int) -> Case:
    documents = [
        Document(id=p.stem, kind="note", text=_read_note(p, max_note_chars)) for p in notes
    ]
    case = Case(case_id=case_id, documents=documents)
    if not any(doc.text.strip() for doc in documents):
        raise CaseError(
            "C006",
            "every note is empty; nothing to review",
            source=str(notes[0] if len(notes) == 1 else notes[0].parent),
        )
    return case


def confined_path(base_dir: Path, name: str, *, source: str, field: str | None = None) -> Path:
    """``base_dir / name``, refused (C011) unless it stays inside ``base_dir`` once every link
    is followed: a case names its notes relative to its own folder and can reach nothing else
    (not ``../x``, not ``/proc/self/environ``, not a symlink to a file elsewhere)."""

    def refuse(why: str) -> CaseError:
        return CaseError(
            "C011",
            f"{why}; a case may only read note files inside its own folder",
            source=source,
            field=field,
        )

    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        raise refuse("absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise refuse("path leaves the case folder ('..')")
    path = base_dir / name
    try:
        real = path.resolve(strict=False)
        root = base_dir.resolve(strict=True)
    except (OSError, RuntimeError):  # a symlink loop
        raise refuse("path cannot be resolved (symlink loop?)") from None
    if not real.is_relative_to(root):
        raise refuse("path is a symlink that leaves the case folder")
    return path


def _read_note(path: Path, max_note_chars: int) -> str:
    if not path.is_file():
        raise CaseError(
            "C005", "note file not found; check the document 'path' in case.json", source=str(path)
        )
    size = path.stat().st_size
    if size > max_note_chars * 4:
        raise CaseError(
            "C008",
            f"note file is {size:,} bytes (limit {max_note_chars:,} characters); split the export",
            source=str(path),
        )
    text = _read_text(path)
    if len(text) > max_note_chars:
        raise CaseError(
            "C008",
            f"note has {len(text):,} characters (limit {max_note_chars:,}); split the export",
            source=str(path),
        )
    return text


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaseError(
            "C002",
            f"not UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); re-export the file as UTF-8",
            source=str(path),
        ) from None
    return text.removeprefix("\ufeff")


def _check_codes(case: Case, source: str) -> None:
    if case.claim is None:
        return
    for i, line in enumerate(case.claim.lines):
        if not CPT_OR_HCPCS.match(line.code):
            raise CaseError(
                "C013",
                f"{line.code!r} is not a CPT or HCPCS code (5 characters, e.g. 20552)",
                source=source,
                field=f"claim.lines[{i}].code",
            )
        if not 1 <= line.units <= MAX_UNITS:
            raise CaseError(
                "C014",
                f"units must be at least 1 and at most {MAX_UNITS:,}, got {_short_int(line.units)}",
                source=source,
                field=f"claim.lines[{i}].units",
            )
        for j, dx in enumerate(line.diagnoses):
            if not ICD10_SHAPE.match(dx.strip().upper()):
                raise CaseError(
                    "C015",
                    f"{dx!r} is not shaped like an ICD-10-CM code (e.g. M79.18)",
                    source=source,
                    field=f"claim.lines[{i}].diagnoses[{j}]",
                )
    for i, item in enumerate(case.history):
        if not CPT_OR_HCPCS.match(item.code):
            raise CaseError(
                "C013",
                f"{item.code!r} is not a CPT or HCPCS code",
                source=source,
                field=f"history[{i}].code",
            )


MAX_UNITS = 9999
"""Units on one claim line: no service is billed in more (X12 allows 15 digits; a number beyond
this is a data error, and unbounded integers overflow SQLite and Parquet downstream)."""


def _short_int(n: int) -> str:
    text = str(n)
    return text if len(text) <= 12 else f"{text[:6]}... ({len(text)} digits)"


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
