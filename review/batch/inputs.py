"""Batch inputs, read lazily one item at a time: a folder of case folders (or of FHIR bundles), a
JSONL of cases, or a JSONL of notes (``{"id": ..., "text": ...}`` per line: audit mode); ``.gz``
accepted. Also what identifies an input for ``--resume`` and each item's key."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.errors import CaseError

FINGERPRINT_BYTES = 1 << 16  # the input's first 64 KiB identify it; appending keeps them


@dataclass(frozen=True)
class WorkItem:
    """What a worker needs for one case: plain data, cheap to pickle."""

    source: str  # "cases.jsonl:12" or a case folder path
    data: dict[str, Any] | None = None  # a JSONL record
    folder: str | None = None
    error: str | None = None  # an input error found while reading (record it, go on)
    error_code: str | None = None


def input_not_found(path: Path) -> CaseError:
    return CaseError(
        "B001",
        "input not found; give a folder of case folders or a .jsonl(.gz) file",
        source=str(path),
    )


def iter_inputs(path: Path) -> Iterator[WorkItem]:
    """Stream work items from a folder of case folders or a (gzipped) JSONL file.

    A bad line becomes an error item (the run goes on); a file that cannot be read on (a
    truncated or corrupt gzip, an I/O error) raises B011 naming the last line read."""
    if not path.exists():
        raise input_not_found(path)
    if path.is_dir():
        try:
            subs = sorted(path.iterdir())
        except OSError as exc:
            raise CaseError(
                "B011",
                f"cannot list the input folder ({exc.strerror or type(exc).__name__}); "
                "check it is readable",
                source=str(path),
            ) from None
        root = path.resolve()
        for sub in subs:
            if sub.is_file() and sub.suffix.lower() == ".json" and not sub.name.startswith("."):
                # a FHIR PAS Bundle (or a case JSON) among the case folders: one case each
                if sub.is_symlink() and not sub.resolve().is_relative_to(root):
                    yield WorkItem(
                        str(sub),
                        error="case file is a symlink that leaves the input folder; copy it in",
                        error_code="C011",
                    )
                else:
                    yield WorkItem(source=str(sub), folder=str(sub))
                continue
            if not sub.is_dir():
                continue
            if sub.is_symlink() and not sub.resolve().is_relative_to(root):
                yield WorkItem(  # an archive's link must not lead the run out of the input
                    str(sub),
                    error="case folder is a symlink that leaves the input folder; copy it in",
                    error_code="C011",
                )
                continue
            bundles = _bundle_files(sub)
            if bundles:  # a folder of FHIR bundles (examples/fhir): each file is a case
                for file in bundles:
                    if file.is_symlink() and not file.resolve().is_relative_to(root):
                        continue
                    yield WorkItem(source=str(file), folder=str(file))
                continue
            yield WorkItem(source=str(sub), folder=str(sub))
        return
    gz = path.suffix == ".gz"
    lineno = 0
    try:
        with (gzip.open if gz else open)(path, "rb") as raw:
            for lineno, line in enumerate(io.BufferedReader(raw) if gz else raw, start=1):
                yield from _line_item(path, lineno, line)
    except EOFError:
        raise CaseError(
            "B011",
            f"the gzip stream ends early after line {lineno} (truncated file); records up to "
            "there are in results.jsonl; re-copy the file and rerun with --resume",
            source=str(path),
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        if lineno == 0:
            message = "is not a gzip file; re-copy it (or drop the .gz suffix if it is plain JSONL)"
        else:
            detail = str(exc).split("(")[0].strip()  # e.g. "CRC check failed"; no file content
            message = (
                f"has corrupt gzip data after line {lineno} ({detail}); records up to there are "
                "in results.jsonl; re-copy the file and rerun with --resume"
            )
        raise CaseError("B011", message, source=str(path)) from None
    except OSError as exc:
        raise CaseError(
            "B011",
            f"cannot read the input after line {lineno} ({exc.strerror or type(exc).__name__}); "
            "records up to there are in results.jsonl; fix the file and rerun with --resume",
            source=str(path),
        ) from None


def _bundle_files(folder: Path) -> list[Path]:
    """The ``*.json`` files of a folder that is not a case folder and holds no notes."""
    from review.case import CASE_FILE_NAMES, NOTE_SUFFIXES

    try:
        names = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []
    if any(p.name in CASE_FILE_NAMES or p.suffix.lower() in NOTE_SUFFIXES for p in names):
        return []
    return sorted(p for p in names if p.suffix.lower() == ".json")


def _line_item(path: Path, lineno: int, line: bytes) -> Iterator[WorkItem]:
    source = f"{path.name}:{lineno}"
    if not line.strip():
        return
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield WorkItem(
            source,
            error=f"line is not UTF-8 (byte {exc.start}); re-export as UTF-8",
            error_code="C002",
        )
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield WorkItem(
            source,
            error=f"malformed JSON at column {exc.colno}: {exc.msg}",
            error_code="C003",
        )
        return
    except RecursionError:
        yield WorkItem(source, error="JSON nested too deeply to be a case", error_code="C017")
        return
    if not isinstance(data, dict):
        yield WorkItem(source, error="line is not a JSON object", error_code="C012")
        return
    yield WorkItem(source, data=data)


def input_identity(path: Path) -> dict[str, Any]:
    """What identifies the input for ``--resume``: its resolved path and, for a file, a hash of
    its first 64 KiB (decompressed for .gz) so an archive that was appended to still resumes."""
    if not path.exists():
        raise input_not_found(path)
    if path.is_dir():
        return {"input_resolved": str(path.resolve()), "input_fingerprint": {"kind": "folder"}}
    if not path.is_file():  # a pipe or a device (/dev/stdin): reading ahead would consume it
        return {"input_resolved": os.path.abspath(path), "input_fingerprint": {"kind": "stream"}}
    resolved = str(path.resolve())
    head = input_head(path, FINGERPRINT_BYTES)
    return {
        "input_resolved": resolved,
        "input_fingerprint": {
            "kind": "file",
            "head_bytes": len(head),
            "head_sha256": hashlib.sha256(head).hexdigest(),
        },
    }


def input_head(path: Path, size: int) -> bytes:
    """Up to ``size`` bytes of the input's content; what a damaged gzip yields before the damage
    (the reading itself reports the damage)."""
    chunks: list[bytes] = []
    got = 0
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            while got < size:
                chunk = fh.read(min(8192, size - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        pass
    except OSError as exc:
        raise CaseError(
            "B011",
            f"cannot read the input ({exc.strerror or type(exc).__name__}); check it is readable",
            source=str(path),
        ) from None
    return b"".join(chunks)


def input_key(item: WorkItem) -> str:
    """The id ``--resume`` uses: the folder name, the record's case_id/id, or its line."""
    if item.folder:
        return Path(item.folder).name
    if item.data is not None:
        value = item.data.get("case_id", item.data.get("id"))
        if isinstance(value, str | int) and str(value):
            return str(value)
    return f"line-{item.source.rsplit(':', 1)[-1]}"


def case_from_item(item: WorkItem):
    from review.case import case_from_dict, load_case

    if item.folder:
        return load_case(item.folder)
    data = item.data or {}
    if (
        "documents" not in data and "resourceType" not in data
    ):  # a note record: {"id", "text"} -> an audit case
        if not isinstance(data.get("text"), str):
            raise CaseError(
                "C016",
                "note record needs a string 'text' (or a case with 'documents')",
                source=item.source,
            )
        note_id = str(data.get("id", "note"))
        data = {
            "case_id": note_id,
            "documents": [{"id": "note", "kind": data.get("kind", "note"), "text": data["text"]}],
        }
    return case_from_dict(data, source=item.source)
