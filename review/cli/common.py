"""What several commands share: the extractor choice, atomic output files, and problem reports."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from review.errors import ReviewError
from review.extract.registry import DEFAULT, extractor_names, extractor_spec

# the choices come from the registry, the one place extractor names exist
if TYPE_CHECKING:  # mypy cannot list members made at run time: to it, an enum of strings

    class Extractor(StrEnum):
        pass

else:
    Extractor = StrEnum("Extractor", {name.replace(".", "_"): name for name in extractor_names()})
DEFAULT_EXTRACTOR = Extractor(DEFAULT)


def uses_llm(extractor: str) -> bool:
    return extractor_spec(extractor).uses_llm


def report_problems(problems: list[str], summary: str) -> None:
    """Problems on stderr, the summary on stdout, exit 2 when there is any (bad data files)."""
    for line in problems:
        typer.echo(line, err=True)
    typer.echo(summary)
    if problems:
        raise typer.Exit(2)


def write_output(path: Path, text: str) -> None:
    """Write a report or run file atomically: a temporary file beside the target, renamed over it.
    On any failure the temporary file is removed (a report holds PHI: nothing partial stays) and
    the error is bad input naming the path, not an internal error."""
    import os
    import tempfile

    def refuse(why: str) -> ReviewError:
        return ReviewError("C010", f"cannot write the output: {why}", source=str(path))

    if path.is_dir():
        raise refuse("it is a folder; give a file name such as case.html")
    if path.exists() and not path.is_file():
        raise refuse("it is not a regular file (a device or pipe); give a file name")
    if not path.parent.is_dir():
        raise refuse("its folder does not exist; create it first")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise refuse(f"{exc.strerror or exc}; check the folder is writable and has space") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
