"""What a process builds once for the reviews it runs: model clients, the answer cache, the rate
limiter, built extractors. A :class:`review.pipeline.ReviewConfig` holds settings only; the
runtime holds the live objects those settings describe, shared by every review (and thread) of
the process.

:func:`runtime_for` gives the process's runtime for a config's runtime settings, built on first
use: ``review_case`` asks for it when it is given none, and a batch worker process builds its own
when it starts. One rate limiter per budget serves every runtime of the process, so two configs
with the same budget never get twice the requests between them. A runtime passed explicitly to
``review_case`` is used as it is (its cache and limiter, not the config's settings).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
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
        cache = None
        if settings.cache_path:
            from review.extract.llm.cache import AnswerCache

            cache = AnswerCache(settings.cache_path)
        return cls(cache=cache, limiter=_limiter_for(settings))

    def extractor(self, name: str, prompt: str, settings: LLMSettings | None) -> Extractor:
        """The extractor for these settings, built once (it loads its prompt). LLM settings left
        out are read from the environment now, so the key names the endpoint actually used."""
        from review.extract.registry import extractor_spec

        spec = extractor_spec(name)
        if settings is None and spec.uses_llm:
            from review.extract.llm.client import LLMSettings

            settings = LLMSettings.load()
        key = f"extractor\0{spec.id}\0{prompt}\0{_settings_key(settings)}"
        return self._once(key, lambda: spec.build(prompt, settings))

    def structured_model(self, settings: LLMSettings) -> Any:
        """The structured-output runnable for these settings: one model client (and one HTTP
        connection pool) per settings, built on first use and shared by threads."""
        from review.extract.llm.client import build_structured_model

        key = f"client\0{_settings_key(settings)}"
        return self._once(key, lambda: build_structured_model(settings, self.limiter))

    def _once(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()`` for ``key`` once; built outside the lock (a first model client imports
        langchain), so two threads may race to build and one result is kept."""
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        built = build()
        with self._lock:
            return self._clients.setdefault(key, built)


def _settings_key(settings: LLMSettings | None) -> str:
    """LLM settings as a cache key, the API key included (its JSON dump masks it: two keys must
    not share a client), as a digest so the key itself is never kept in a dict key."""
    if settings is None:
        return ""
    secret = settings.api_key.get_secret_value() if settings.api_key else ""
    return settings.model_dump_json() + hashlib.sha256(secret.encode()).hexdigest()


_LIMITERS: dict[tuple[int | None, int | None, float], RateLimiter] = {}


def _limiter_for(settings: RuntimeSettings) -> RateLimiter | None:
    if not (settings.requests_per_minute or settings.tokens_per_minute):
        return None
    from review.extract.llm.ratelimit import RateLimiter

    budget = (
        settings.requests_per_minute,
        settings.tokens_per_minute,
        settings.rate_window_seconds,
    )
    with _RUNTIMES_LOCK:
        if budget not in _LIMITERS:
            _LIMITERS[budget] = RateLimiter(budget[0], budget[1], window=budget[2])
        return _LIMITERS[budget]


_RUNTIMES: dict[RuntimeSettings, Runtime] = {}
_RUNTIMES_LOCK = threading.RLock()


def runtime_for(settings: RuntimeSettings) -> Runtime:
    """This process's runtime for these settings, built on first use."""
    with _RUNTIMES_LOCK:
        if settings not in _RUNTIMES:
            _RUNTIMES[settings] = Runtime.build(settings)
        return _RUNTIMES[settings]
