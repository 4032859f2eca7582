"""A batch run's options, and the review config they make (policy, extractor, LLM client, answer
cache, rate limiter)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class BatchOptions(BaseModel):
    extractor: Literal["offline", "llm", "hybrid"] = "offline"
    policy: str | None = None
    prompt: str = "extract_facts/v1"
    workers: int = 1
    concurrency: int = 4
    engine: Literal["local", "ray"] = "local"
    limit: int | None = None
    resume: bool = False
    force: bool = False  # with resume: continue although the run differs from the manifest
    cache_path: str | None = None  # LLM answer cache (SQLite); None disables it
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    rate_window_seconds: float = 60.0  # the limiter's window (shorter only in tests and benchmarks)
    llm_config: str | None = None


def review_config(options: BatchOptions):
    """The pipeline's config for these options; the LLM parts only when an LLM extracts."""
    from review.pipeline import ReviewConfig

    config = ReviewConfig(policy=options.policy, extractor=options.extractor, prompt=options.prompt)
    if options.extractor != "offline":
        from review.extract.llm.cache import AnswerCache
        from review.extract.llm.client import LLMSettings
        from review.extract.llm.ratelimit import RateLimiter

        config.llm = LLMSettings.load(options.llm_config)
        config.cache = AnswerCache(options.cache_path) if options.cache_path else None
        if options.requests_per_minute or options.tokens_per_minute:
            config.limiter = RateLimiter(
                options.requests_per_minute,
                options.tokens_per_minute,
                window=options.rate_window_seconds,
            )
    return config
