"""The per-process runtime: what it shares and what it must keep apart."""

from __future__ import annotations

from review.extract.llm.client import LLMSettings
from review.extract.runtime import Runtime, RuntimeSettings, runtime_for


def _settings(key: str) -> LLMSettings:
    return LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", api_key=key)


def test_settings_that_differ_only_in_the_api_key_get_their_own_client():
    """The settings' JSON masks the key: a client cached on it alone would send a rotated-out
    (or another tenant's) key."""
    runtime = Runtime()
    first = runtime.structured_model(_settings("sk-test-one"))
    second = runtime.structured_model(_settings("sk-test-two"))
    assert first is not second
    assert runtime.structured_model(_settings("sk-test-one")) is first
    assert not any("sk-test" in key for key in runtime._clients)  # digests, never the key


def test_one_limiter_per_budget_whatever_the_cache(tmp_path):
    """Two configs with the same budget in one process share one limiter (else they could send
    twice the budget between them); another budget gets its own."""
    budget = {"requests_per_minute": 7, "tokens_per_minute": None, "rate_window_seconds": 0.7}
    a = runtime_for(RuntimeSettings(cache_path=None, **budget))
    b = runtime_for(RuntimeSettings(cache_path=str(tmp_path / "answers.sqlite"), **budget))
    c = runtime_for(RuntimeSettings(**{**budget, "requests_per_minute": 8}))
    assert a is not b and a.limiter is b.limiter is not None
    assert c.limiter is not a.limiter
    assert runtime_for(RuntimeSettings()).limiter is None


def test_an_alias_and_its_version_are_one_extractor():
    runtime = Runtime()
    assert runtime.extractor("offline", "extract_facts/v1", None) is runtime.extractor(
        "offline.v1", "extract_facts/v1", None
    )


def test_a_review_config_cannot_be_changed_after_it_is_built():
    import pytest
    from pydantic import ValidationError

    from review.pipeline import ReviewConfig

    config = ReviewConfig(extractor="llm", llm=_settings("sk-test-one"))
    with pytest.raises(ValidationError):
        config.extractor = "offline"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.llm.model = "another"  # type: ignore[misc,union-attr]
    changed = config.model_copy(update={"prompt": "extract_facts/v2"})
    assert (config.prompt, changed.prompt) == ("extract_facts/v1", "extract_facts/v2")
