"""Invariance: a paraphrase must leave the projected facts unchanged, and the unperturbed base
must match its template's expectation. One capability per perturbation."""

from __future__ import annotations

import pytest

from . import generators as g
from .harness import assert_rate, run_inv


@pytest.mark.parametrize("kind", list(g.INV_PERTURBATIONS))
def test_inv(kind, bases):
    pairs = g.invariance_pairs(bases, kind, g.INV_SEEDS[kind])
    assert_rate(run_inv(kind, g.INV_PERTURBATIONS[kind], pairs))
