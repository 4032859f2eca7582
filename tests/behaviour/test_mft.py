"""Minimum functionality: one test per capability, each a fixed generated sample
(generators.MFT_CAPABILITIES says what each checks)."""

from __future__ import annotations

from .generators import MFT_CAPABILITIES
from .harness import assert_rate, run_mft


def _run(key: str) -> None:
    name, description, factory = MFT_CAPABILITIES[key]
    assert_rate(run_mft(name, description, factory()))


def test_mft_procedure_status():
    _run("procedure_status")


def test_mft_treatment_outcomes():
    _run("treatment_outcomes")


def test_mft_excluded_services():
    _run("excluded_services")


def test_mft_muscles_and_sides():
    _run("muscles_and_sides")


def test_mft_exam_features():
    _run("exam_features")


def test_mft_coordinated_lists():
    _run("coordinated_lists")


def test_mft_later_mention():
    _run("later_mention")


def test_mft_checkboxes():
    _run("checkboxes")


def test_mft_field_pairs():
    _run("field_pairs")


def test_mft_table_rows():
    _run("table_rows")
