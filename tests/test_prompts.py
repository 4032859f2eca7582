"""Versioned prompts: ``review.extract.llm.prompts.check_prompt`` and ``review prompts check``.

Edits are made on a copy of ``prompts/`` (``REVIEW_PROMPTS_DIR``), never on the real files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from review.cli import app
from review.errors import ResourceError
from review.extract.llm.prompts import check_prompt, load_prompt, prompts_root

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "prompts"
REF = "extract_facts/v1"


@pytest.fixture(autouse=True)
def _fresh_prompt_cache():
    load_prompt.cache_clear()
    yield
    load_prompt.cache_clear()


@pytest.fixture
def prompts_copy(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS, root)
    monkeypatch.setenv("REVIEW_PROMPTS_DIR", str(root))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _make_v2(root: Path) -> Path:
    """A new, unreleased version: how a change to a released prompt is meant to be made."""
    v2 = root / "extract_facts" / "v2.yaml"
    shutil.copy(root / "extract_facts" / "v1.yaml", v2)
    _edit(v2, "\nversion: 1\n", "\nversion: 2\n")
    return v2


def test_released_prompt_passes_its_checks():
    assert check_prompt(REF) == []


def test_released_prompt_is_pinned():
    released = (PROMPTS / "extract_facts" / "RELEASED").read_text(encoding="utf-8")
    assert f"v1 {load_prompt(REF).sha256}" in released.splitlines()


def test_copy_of_the_folder_is_used_and_passes(prompts_copy):
    assert prompts_root() == prompts_copy
    assert check_prompt(REF) == []


def test_few_shot_quote_not_in_the_example_note_is_p006(prompts_copy):
    v2 = _make_v2(prompts_copy)
    _edit(v2, "quote: palpable taut band\n", "quote: palpable taut bands in both trapezii\n")
    problems = check_prompt("extract_facts/v2")
    assert len(problems) == 1
    assert problems[0].startswith("[P006] extract_facts/v2: examples[0].exam_findings[0]: quote ")
    assert "'palpable taut bands in both trapezii' is not verbatim" in problems[0]


def test_editing_a_released_version_in_place_is_p004(prompts_copy):
    v1 = prompts_copy / "extract_facts" / "v1.yaml"
    _edit(v1, "You do not decide coverage", "You never decide coverage")
    assert check_prompt(REF) == [
        "[P004] extract_facts/v1: released version was edited in place; restore it and make v2"
    ]


def test_editing_a_released_quote_reports_both(prompts_copy):
    v1 = prompts_copy / "extract_facts" / "v1.yaml"
    _edit(v1, "quote: palpable taut band\n", "quote: palpable taut bands in both trapezii\n")
    codes = [p[:6] for p in check_prompt(REF)]
    assert codes == ["[P004]", "[P006]"]


def test_few_shot_citing_another_document_is_p005(prompts_copy):
    v2 = _make_v2(prompts_copy)
    data = yaml.safe_load(v2.read_text(encoding="utf-8"))
    data["examples"][0]["output"]["injected_muscles"][0]["citation"]["document_id"] = "other"
    v2.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (problem,) = check_prompt("extract_facts/v2")
    assert problem.startswith("[P005] extract_facts/v2: examples[0].injected_muscles[0]: cites")


def test_few_shot_quote_outside_its_cited_sentences_is_p007(prompts_copy):
    v2 = _make_v2(prompts_copy)
    data = yaml.safe_load(v2.read_text(encoding="utf-8"))
    data["examples"][0]["output"]["exam_findings"][0]["citation"]["sentence_ids"] = [3]
    v2.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (problem,) = check_prompt("extract_facts/v2")
    assert problem.startswith("[P007] extract_facts/v2: examples[0].exam_findings[0]:")


def test_unknown_prompt_is_p001_with_a_hint(prompts_copy):
    with pytest.raises(ResourceError, match=r"^\[P001\] .*did you mean 'extract_facts/v1'"):
        load_prompt("extract_facts/v9")


def test_prompt_declaring_another_version_is_p003(prompts_copy):
    shutil.copy(
        prompts_copy / "extract_facts" / "v1.yaml", prompts_copy / "extract_facts" / "v3.yaml"
    )
    with pytest.raises(
        ResourceError, match=r"^\[P003\] .*declares extract_facts/v1, expected extract_facts/v3"
    ):
        load_prompt("extract_facts/v3")


# --------------------------------------------------------------------------- CLI


def test_cli_prompts_check_ok(prompts_copy):
    result = CliRunner().invoke(app, ["prompts", "check"])
    assert result.exit_code == 0, result.output
    assert "1 prompt(s) checked, 0 problem(s)" in result.stdout


def test_cli_prompts_check_fails_with_exit_2(prompts_copy):
    _edit(prompts_copy / "extract_facts" / "v1.yaml", "You do not decide coverage", "You decide")
    result = CliRunner().invoke(app, ["prompts", "check"])
    assert result.exit_code == 2
    assert "[P004] extract_facts/v1" in result.stderr
    assert "1 prompt(s) checked, 1 problem(s)" in result.stdout


def test_cli_prompts_check_on_the_real_folder():
    result = CliRunner().invoke(app, ["prompts", "check"])
    assert result.exit_code == 0, result.output
