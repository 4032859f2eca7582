"""A thread-safe requests/min and tokens/min limiter for LLM calls (sliding 60 s window).

``acquire`` blocks until one more request (with its estimated tokens) fits in the window, so the
limit is never exceeded, retries included."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    def __init__(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        window: float = 60.0,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.window = window
        # requests reach the server a few ms after they pass here, not all equally late: a small
        # margin keeps the server's own count under the limit too
        self.margin = max(0.05, 0.02 * window)
        self._clock = clock
        self._sleep = sleep
        self._events: deque[tuple[float, int]] = deque()
        self.granted = 0
        self.last_grants: deque[float] = deque(maxlen=1000)  # for tests and diagnostics
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        # a copy in another process limits that process only (Ray tasks): budgets are per worker
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def acquire(self, tokens: int = 0) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._events and now - self._events[0][0] >= self.window + self.margin:
                    self._events.popleft()
                used = sum(t for _, t in self._events)
                fits_requests = self.rpm is None or len(self._events) < self.rpm
                fits_tokens = self.tpm is None or not self._events or used + tokens <= self.tpm
                if fits_requests and fits_tokens:
                    self._events.append((now, tokens))
                    self.granted += 1
                    self.last_grants.append(now)
                    return
                wait = self.window + self.margin - (now - self._events[0][0]) + 0.001
            self._sleep(max(wait, 0.001))
