"""A batch run's options, and the review config they make (policy, extractor, LLM settings,
answer cache path, rate budget)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, field_validator, model_validator

from review.errors import ReviewError
from review.extract.registry import DEFAULT as DEFAULT_EXTRACTOR
from review.extract.registry import extractor_spec

if TYPE_CHECKING:
    from review.pipeline import ReviewConfig


class BatchOptions(BaseModel):
    extractor: str = DEFAULT_EXTRACTOR  # a name from review.extract.registry
    policy: str | None = None
    prompt: str = "extract_facts/v1"
    workers: int = 1
    concurrency: int | None = None  # LLM requests in flight; None: REVIEW_LLM_MAX_CONCURRENCY
    engine: Literal["local", "ray"] = "local"
    limit: int | None = None
    resume: bool = False
    force: bool = False  # with resume: continue although the run differs from the manifest
    cache_path: str | None = None  # LLM answer cache (SQLite); None disables it
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    rate_window_seconds: float = 60.0  # the limiter's window (shorter only in tests and benchmarks)
    llm_config: str | None = None

    @property
    def uses_llm(self) -> bool:
        return extractor_spec(self.extractor).uses_llm

    @model_validator(mode="after")
    def _budgets_split(self) -> BatchOptions:
        """With LLM workers in several processes each gets an equal share of the budgets; a
        share of 0 would be no limit at all, so a budget smaller than --workers is refused."""
        if self.workers > 1 and self.engine == "local" and self.uses_llm:
            for flag, budget in (
                ("--rpm", self.requests_per_minute),
                ("--tpm", self.tokens_per_minute),
            ):
                if budget and budget < self.workers:
                    raise ReviewError(
                        "E004",
                        f"a {flag} budget of {budget} cannot be split between {self.workers} "
                        "worker processes; give a budget of at least --workers, or fewer --workers",
                    )
        return self

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, name: str) -> str:
        extractor_spec(name)  # an unknown name is an error naming the known ones
        return name


def review_config(options: BatchOptions) -> ReviewConfig:
    """The pipeline's config for these options; the LLM settings, answer cache and rate budget
    only when an LLM extracts. Plain settings: each process builds its runtime from them."""
    from review.pipeline import ReviewConfig

    llm: dict = {}
    if options.uses_llm:
        from review.extract.llm.client import LLMSettings

        llm = {
            "llm": LLMSettings.load(options.llm_config),
            "cache_path": options.cache_path,
            "requests_per_minute": options.requests_per_minute,
            "tokens_per_minute": options.tokens_per_minute,
            "rate_window_seconds": options.rate_window_seconds,
        }
    return ReviewConfig(
        policy=options.policy, extractor=options.extractor, prompt=options.prompt, **llm
    )
