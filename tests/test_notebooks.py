"""Notebooks are stored without outputs (CI executes them with nbmake; outputs would hold note
text and churn in diffs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code, "a notebook with no code"
    for cell in code:
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"01_prompt_evaluation.ipynb", "02_error_analysis.ipynb"}
