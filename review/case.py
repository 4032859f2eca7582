"""Load cases: a case directory (``case.json`` + note files), one case JSON/YAML file with inline
documents, or notes alone (a ``.txt`` file or a folder of them: an audit with no claim).

Every problem becomes a :class:`~review.errors.CaseError` naming the file, the field and what to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from review.errors import CaseError
from review.schema import Case, Document
from review.yamlfile import load_yaml

CASE_FILE_NAMES = ("case.json", "case.yaml", "case.yml")
NOTE_SUFFIXES = (".txt", ".text", ".md")
MAX_NOTE_CHARS = 2_000_000
"""Notes longer than this are refused: a real clinical note is far smaller, and a file this big is
almost always a mis-exported archive. Raise it with ``load_case(..., max_note_chars=...)``."""

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
        return _audit_case(path.name, notes, max_note_chars)
    if path.suffix.lower() in NOTE_SUFFIXES:
        return _audit_case(path.stem, [path], max_note_chars)
    return _case_from_file(path, max_note_chars)


def case_from_dict(
    data: Any, *, source: str, base_dir: Path | None = None, max_note_chars: int = MAX_NOTE_CHARS
) -> Case:
    """Validate a case mapping (from JSON, YAML or a JSONL line) and read its note files."""
    if not isinstance(data, dict):
        raise CaseError("C004", f"expected a JSON object, got {type(data).__name__}", source=source)
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
                    "C005",
                    "document has a 'path' but the case has no folder; inline the text",
                    source=source,
                    field=field,
                )
            doc.text = _read_note(base_dir / doc.path, max_note_chars)
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
    else:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CaseError(
                "C003",
                f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                source=str(path),
            ) from None
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
                "C004",
                f"{line.code!r} is not a CPT or HCPCS code (5 characters, e.g. 20552)",
                source=source,
                field=f"claim.lines[{i}].code",
            )
        if line.units < 1:
            raise CaseError(
                "C004",
                f"units must be at least 1, got {line.units}",
                source=source,
                field=f"claim.lines[{i}].units",
            )
        for j, dx in enumerate(line.diagnoses):
            if not ICD10_SHAPE.match(dx.strip().upper()):
                raise CaseError(
                    "C004",
                    f"{dx!r} is not shaped like an ICD-10-CM code (e.g. M79.18)",
                    source=source,
                    field=f"claim.lines[{i}].diagnoses[{j}]",
                )
    for i, item in enumerate(case.history):
        if not CPT_OR_HCPCS.match(item.code):
            raise CaseError(
                "C004",
                f"{item.code!r} is not a CPT or HCPCS code",
                source=source,
                field=f"history[{i}].code",
            )


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
