"""Wall-clock deadlines for the LLM client's HTTP requests.

httpx's own timeouts restart on every byte read, so a server that drips its answer could hold a
case for minutes. :func:`http_client` builds an httpx2 client whose transport gives every request
a deadline (``timeout`` per request, or what is left of the case's ``case_timeout``, whichever is
sooner) and caps every socket read and write at the time left. The case's deadline travels in a
context variable (:data:`CASE_CLOCK`, set by ``client.extract_with_llm``) since the client and its
connection pool are shared by threads.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from functools import cache


@dataclass
class CaseClock:
    deadline: float  # time.monotonic() value
    seconds: float  # the case_timeout setting, for messages

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


CASE_CLOCK: contextvars.ContextVar[CaseClock | None] = contextvars.ContextVar(
    "review_llm_case_clock", default=None
)
"""The running case's deadline: set by extract_with_llm in the thread that sends its requests."""
REQUEST_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "review_llm_request_deadline", default=None
)
"""The deadline of the request whose bytes this thread is reading or writing right now."""


def limiter_hook(limiter):
    def ask(request) -> None:
        started = time.monotonic()
        limiter.acquire(len(request.content) // 4)
        not_counted(started)

    return ask


def not_counted(started: float) -> None:
    """Waiting for our own rate limiter is not the endpoint being slow: the case clock stops."""
    clock = CASE_CLOCK.get()
    if clock is not None:
        clock.deadline += time.monotonic() - started


def http_client(request_timeout: float, hooks: dict):
    """An httpx2 client whose transports enforce the deadlines. Proxies from the environment
    still apply (a client given a transport would otherwise ignore them)."""
    import httpx2

    deadline_transport = deadline_transport_type()

    def transport(proxy: str | None = None):
        inner = httpx2.HTTPTransport(proxy=httpx2.Proxy(proxy) if proxy else None)
        return deadline_transport(inner, request_timeout)

    try:
        from httpx2._utils import get_environment_proxies

        env = get_environment_proxies()
    except ImportError:  # pragma: no cover - a future httpx2 without it
        env = {}
    mounts = {pattern: transport(url) if url else None for pattern, url in env.items()}
    return httpx2.Client(
        timeout=request_timeout, event_hooks=hooks, transport=transport(), mounts=mounts
    )


@cache
def deadline_transport_type():
    """The transport class (built on first use: httpx2 is imported only when a model is)."""
    import httpcore2
    import httpx2

    class DeadlineTransport(httpx2.BaseTransport):
        """Wraps httpx2's HTTPTransport: each request gets a wall-clock deadline (the request
        timeout, or what is left of the case's, whichever is sooner). Its socket timeouts are
        capped at the time left, every socket read and write is capped again as it starts (so
        a server dripping headers or body one byte at a time is cut off), and reading the body
        stops with a timeout once the deadline has passed."""

        def __init__(self, inner: httpx2.HTTPTransport, request_timeout: float):
            self._inner = inner
            self._timeout = request_timeout
            pool = getattr(inner, "_pool", None)
            backend = getattr(pool, "_network_backend", None)
            if (
                pool is not None
                and backend is not None
                and not isinstance(backend, DeadlineBackend)
            ):
                pool._network_backend = DeadlineBackend(backend)

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            now = time.monotonic()
            deadline = now + self._timeout
            clock = CASE_CLOCK.get()
            if clock is not None:
                deadline = min(deadline, clock.deadline)
            left = deadline - now
            if left <= 0:
                raise httpx2.ConnectTimeout("deadline passed before the request", request=request)
            timeouts = dict(request.extensions.get("timeout") or {})
            for name in ("connect", "read", "write", "pool"):
                value = timeouts.get(name)
                timeouts[name] = left if value is None else min(value, left)
            request.extensions = {**request.extensions, "timeout": timeouts}
            token = REQUEST_DEADLINE.set(deadline)
            try:
                response = self._inner.handle_request(request)
            finally:
                REQUEST_DEADLINE.reset(token)
            response.stream = DeadlineStream(response.stream, deadline, request)
            return response

        def close(self) -> None:
            self._inner.close()

    class DeadlineStream(httpx2.SyncByteStream):
        def __init__(self, inner, deadline: float, request: httpx2.Request):
            self._inner = inner
            self._deadline = deadline
            self._request = request

        def __iter__(self):
            chunks = iter(self._inner)
            while True:
                # set and reset inside one step: a generator may be resumed in another context
                token = REQUEST_DEADLINE.set(self._deadline)
                try:
                    chunk = next(chunks, None)
                finally:
                    REQUEST_DEADLINE.reset(token)
                if chunk is None:
                    return
                if time.monotonic() > self._deadline:
                    raise httpx2.ReadTimeout(
                        "deadline passed reading the body", request=self._request
                    )
                yield chunk

        def close(self) -> None:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()

    def capped(timeout: float | None, error: type[Exception]) -> float | None:
        deadline = REQUEST_DEADLINE.get()
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise error("request deadline passed")
        return left if timeout is None else min(timeout, left)

    class DeadlineNetworkStream(httpcore2.NetworkStream):
        def __init__(self, inner):
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, capped(timeout, httpcore2.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, capped(timeout, httpcore2.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            timeout = capped(timeout, httpcore2.ConnectTimeout)
            return DeadlineNetworkStream(
                self._inner.start_tls(ssl_context, server_hostname, timeout)
            )

        def get_extra_info(self, info: str):
            return self._inner.get_extra_info(info)

    class DeadlineBackend(httpcore2.NetworkBackend):
        def __init__(self, inner):
            self._inner = inner

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            timeout = capped(timeout, httpcore2.ConnectTimeout)
            stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            return DeadlineNetworkStream(stream)

        def connect_unix_socket(self, path, timeout=None, socket_options=None):
            timeout = capped(timeout, httpcore2.ConnectTimeout)
            stream = self._inner.connect_unix_socket(path, timeout, socket_options)
            return DeadlineNetworkStream(stream)

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return DeadlineTransport
