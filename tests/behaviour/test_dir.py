"""Directional: the base approves; each edit must move the decision to pend or deny. Any edited
case that still approves is a directional failure that would approve a claim: zero allowed."""

from __future__ import annotations

import pytest

from . import generators as g
from .harness import assert_directional, run_dir


@pytest.mark.parametrize("kind", list(g.DIR_EDITS))
def test_dir(kind, bases):
    cases = g.directional_cases(bases, kind, g.DIR_SEEDS[kind])
    assert_directional(run_dir(kind, g.DIR_EDITS[kind], cases))
