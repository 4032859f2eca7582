"""What a process builds once for the reviews it runs: model clients, the answer cache, the rate
limiter. A :class:`review.pipeline.ReviewConfig` holds settings only; the runtime holds the live
objects those settings describe, shared by every review (and thread) of the process.

:func:`runtime_for` gives the process's runtime for a config (one per distinct cache path and
rate budget); batch workers and the workbench call it once and pass the result on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from review.extract.base import Extractor
    from review.extract.llm.cache import AnswerCache
    from review.extract.llm.client import LLMSettings
    from review.extract.llm.ratelimit import RateLimiter


@dataclass(frozen=True)
class RuntimeSettings:
    """The settings a runtime is built from (part of ReviewConfig)."""

    cache_path: str | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    rate_window_seconds: float = 60.0


@dataclass(eq=False)
class Runtime:
    cache: AnswerCache | None = None
    limiter: RateLimiter | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)  # built once, by key
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, settings: RuntimeSettings) -> Runtime:
        cache = limiter = None
        if settings.cache_path:
            from review.extract.llm.cache import AnswerCache

            cache = AnswerCache(settings.cache_path)
        if settings.requests_per_minute or settings.tokens_per_minute:
            from review.extract.llm.ratelimit import RateLimiter

            limiter = RateLimiter(
                settings.requests_per_minute,
                settings.tokens_per_minute,
                window=settings.rate_window_seconds,
            )
        return cls(cache=cache, limiter=limiter)

    def extractor(self, name: str, prompt: str, settings: LLMSettings | None) -> Extractor:
        """The extractor for these settings, built once (it loads its prompt). LLM settings left
        out are read from the environment now, so the key names the endpoint actually used."""
        from review.extract.registry import extractor_spec

        if settings is None and extractor_spec(name).uses_llm:
            from review.extract.llm.client import LLMSettings

            settings = LLMSettings.load()
        key = f"{name}\0{prompt}\0{settings.model_dump_json() if settings else ''}"
        with self._lock:
            if key not in self._clients:
                self._clients[key] = extractor_spec(name).build(prompt, settings)
            return self._clients[key]

    def structured_model(self, settings: LLMSettings):
        """The structured-output runnable for these settings: one model client (and one HTTP
        connection pool) per settings, built on first use and shared by threads."""
        key = settings.model_dump_json()
        with self._lock:
            if key not in self._clients:
                from review.extract.llm.client import build_structured_model

                self._clients[key] = build_structured_model(settings, self.limiter)
            return self._clients[key]


_RUNTIMES: dict[RuntimeSettings, Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime_for(settings: RuntimeSettings) -> Runtime:
    """This process's runtime for these settings, built on first use."""
    with _RUNTIMES_LOCK:
        if settings not in _RUNTIMES:
            _RUNTIMES[settings] = Runtime.build(settings)
        return _RUNTIMES[settings]
