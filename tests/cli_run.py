"""Run the CLI's ``main()`` (the function the ``review`` script runs) in the test's process."""

from __future__ import annotations

import sys

import review.cli


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``review ARGS...``: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["review", *args])
    code = 0
    try:
        review.cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
