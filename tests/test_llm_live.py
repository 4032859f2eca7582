"""LIVE check against a real OpenAI-compatible endpoint (opt-in; skipped by default).

Runs one bundled example through the endpoint configured by ``REVIEW_LLM_*`` (base URL, model,
key...) and checks only what the product guarantees whatever the model says: the answer
validates against the schema (TPI-X01 met) and every piece of evidence slices back to its note.
It does not check which facts were found: that would be a model-quality evaluation, which this
is not. Makes one request (more on HTTP or validation retries). Run it with::

    REVIEW_LLM_BASE_URL=http://127.0.0.1:8000/v1 REVIEW_LLM_MODEL=... \\
        /work/venv/bin/python -m pytest tests/test_llm_live.py -m live -p no:cacheprovider
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import evidence_items

from review.case import load_case
from review.extract.llm.client import LLMSettings
from review.pipeline import ReviewConfig, review_case

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not os.environ.get("REVIEW_LLM_BASE_URL"),
        reason="live LLM test: set REVIEW_LLM_BASE_URL (and REVIEW_LLM_MODEL) to run it",
    ),
]


def test_one_example_validates_and_is_grounded():
    case = load_case(ROOT / "examples" / "approve-cervical-tpi")
    settings = LLMSettings.load()
    rec = review_case(case, ReviewConfig(extractor="llm", llm=settings))

    x01 = next(f for f in rec.findings if f.rule_id == "TPI-X01")
    assert x01.status == "met", f"the endpoint's answer did not validate: {x01.reason}"
    assert rec.provenance.model == settings.model
    assert rec.provenance.llm_usage is not None and rec.provenance.llm_usage.calls >= 1
    assert rec.provenance.grounding_rate is not None
    assert 0.0 <= rec.provenance.grounding_rate <= 1.0

    texts = {d.id: d.text for d in case.documents}
    for ev in evidence_items(rec.model_dump(mode="json")):  # facts and findings
        assert ev["document_id"] in texts
        assert texts[ev["document_id"]][ev["start"] : ev["end"]] == ev["text"]
    for u in rec.ungrounded:
        assert u.grounding == "unmatched"
