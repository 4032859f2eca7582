"""A scripted, OpenAI-compatible stand-in server for tests (loopback only, stdlib only).

It serves ``POST /v1/chat/completions`` and answers each request with the next scripted
behaviour from a queue that the test sets::

    with standin_server() as srv:
        srv.script(status(429, retry_after_ms=10), ok(facts_dict))
        settings = srv.settings()          # LLMSettings pointing at http://127.0.0.1:<port>/v1
        ...
        assert len(srv.requests) == 2

What it is for: exercising the real client code path (langchain-openai ``ChatOpenAI`` ->
openai 3.x -> httpx2) end to end: request shape, structured-output parsing, retries on 429/5xx,
garbage and truncated answers. It is a PLUMBING fixture: the answers are written by the test,
so nothing here says anything about the quality of any model.

How the real client reads an answer (langchain-openai 1.7 ``with_structured_output(LLMFacts,
method="json_schema", include_raw=True)``): the request carries ``response_format`` =
``{"type": "json_schema", "json_schema": {"name": "LLMFacts", "schema": ..., "strict": true}}``
and goes through ``client.chat.completions.parse``; the openai client parses
``choices[0].message.content`` as JSON into the pydantic model itself (a ``parsed`` field sent by
the server is ignored), and raises ``LengthFinishReasonError`` when ``finish_reason`` is
``"length"``. So the stand-in only needs to send ``message.content`` as JSON text.

Bounded: binds 127.0.0.1 only, on a free port chosen by the OS; serves from a daemon thread;
:func:`standin_server` shuts it down on exit, and a watchdog stops it after ``max_lifetime``
seconds even if a test forgets. When the queue is empty it answers ``418`` (not retried by the
product) and counts the request in ``unexpected``, so an extra request fails fast and visibly.
Received requests are kept in ``requests`` with the ``authorization`` value redacted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"
MODEL = "standin-model"
API_KEY = "sk-test-not-a-real-key"  # never a real key; cassettes must not contain it


@dataclass
class Behaviour:
    """One scripted answer: HTTP status, JSON body (dict) or raw text, extra headers.

    ``drip`` sends the answer one byte every ``drip`` seconds (the body, or with
    ``drip_headers`` the status line and headers too), for at most ``drip_for`` seconds before
    the server drops the connection: a slow server that never stops sending."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""
    drip: float | None = None
    drip_headers: bool = False
    drip_for: float = 10.0
    delay: float = 0.0  # seconds to wait before answering (a slow but well-formed server)


def _completion(
    content: str,
    finish_reason: str = "stop",
    prompt_tokens: int = 1200,
    completion_tokens: int = 300,
    model: str = MODEL,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 1767225600,  # fixed: cassettes stay byte-stable between recordings
        "model": model,
        "system_fingerprint": "fp_standin",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def ok(facts: dict[str, Any], prompt_tokens: int = 1200, completion_tokens: int = 300) -> Behaviour:
    """A valid chat.completion whose ``message.content`` is ``facts`` as JSON text."""
    content = json.dumps(facts, separators=(",", ":"))
    return Behaviour(
        200, _completion(content, "stop", prompt_tokens, completion_tokens), label="ok"
    )


def garbage(
    text: str = "not json", prompt_tokens: int = 1200, completion_tokens: int = 5
) -> Behaviour:
    """A 200 chat.completion whose content is not the schema (or not JSON at all)."""
    return Behaviour(
        200, _completion(text, "stop", prompt_tokens, completion_tokens), label="garbage"
    )


def truncated(
    partial: str = '{"procedure_status": "performed", "injected_muscles": [{"name": "trape',
    finish_reason: str = "length",
    prompt_tokens: int = 1200,
    completion_tokens: int = 4096,
) -> Behaviour:
    """A 200 chat.completion cut off by the token limit (``finish_reason: "length"``)."""
    return Behaviour(
        200,
        _completion(partial, finish_reason, prompt_tokens, completion_tokens),
        label="truncated",
    )


def dripping(
    behaviour: Behaviour, every: float = 0.2, headers: bool = False, for_at_most: float = 10.0
) -> Behaviour:
    """``behaviour`` sent one byte every ``every`` seconds (an answer of ~2 KB would take minutes);
    the server gives up after ``for_at_most`` seconds so a client without a deadline fails in
    bounded time instead of hanging the test run."""
    return Behaviour(
        behaviour.status,
        behaviour.body,
        dict(behaviour.headers),
        label=f"dripping {behaviour.label}",
        drip=every,
        drip_headers=headers,
        drip_for=for_at_most,
    )


def delayed(behaviour: Behaviour, seconds: float) -> Behaviour:
    """``behaviour`` answered after ``seconds`` (a model that takes its time)."""
    return Behaviour(
        behaviour.status,
        behaviour.body,
        dict(behaviour.headers),
        label=f"delayed {behaviour.label}",
        delay=seconds,
    )


def status(code: int, retry_after_ms: int | None = 10, message: str | None = None) -> Behaviour:
    """An error status with an OpenAI-style error body. ``retry-after-ms`` keeps the client's
    retry backoff short (the openai client honours it); ``None`` leaves the default backoff."""
    kinds = {429: "rate_limit_exceeded", 500: "server_error", 503: "service_unavailable"}
    headers = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
    body = {
        "error": {
            "message": message or f"stand-in scripted HTTP {code}",
            "type": kinds.get(code, "error"),
            "param": None,
            "code": kinds.get(code, str(code)),
        }
    }
    return Behaviour(code, body, headers, label=f"status {code}")


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased; authorization reduced to its scheme
    body: Any  # parsed JSON, or the raw text when it is not JSON
    received_at: float = field(default_factory=time.monotonic)  # for rate-limit checks


class StandIn:
    """The server object: script behaviours, read received requests."""

    def __init__(self, max_lifetime: float = 120.0):
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self.requests: list[ReceivedRequest] = []
        self.unexpected = 0
        self.auth_header_seen: list[bool] = []
        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._httpd.daemon_threads = True
        host, self.port = self._httpd.server_address[:2]
        if host != LOOPBACK:  # pragma: no cover - guarded by construction
            raise RuntimeError("the stand-in listens on loopback only")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._watchdog = threading.Timer(max_lifetime, self.stop)
        self._watchdog.daemon = True
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> StandIn:
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._watchdog.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ scripting
    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    def script(self, *behaviours: Behaviour) -> StandIn:
        with self._lock:
            self._queue.extend(behaviours)
        return self

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    def settings(self, **overrides: Any):
        """LLMSettings for this server (test key, short timeout, 2 HTTP + 2 validation retries)."""
        from review.extract.llm.client import LLMSettings

        values: dict[str, Any] = {
            "base_url": self.base_url,
            "model": MODEL,
            "api_key": API_KEY,
            "max_retries": 2,
            "timeout": 5,
            "validation_retries": 2,
        }
        values.update(overrides)
        return LLMSettings(**values)

    def _next(self) -> Behaviour | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # a stuck client connection cannot hold a thread forever

            def log_message(self, *args: Any) -> None:  # quiet: notes are PHI-like
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                auth = headers.pop("authorization", None)
                headers.pop("api-key", None)
                headers.pop("x-api-key", None)
                server.auth_header_seen.append(auth is not None)
                if auth is not None:
                    headers["authorization"] = auth.split(" ", 1)[0] + " <redacted>"
                with server._lock:
                    server.requests.append(ReceivedRequest("POST", self.path, headers, body))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(Behaviour(404, {"error": {"message": f"no route {self.path}"}}, {}))
                    return
                behaviour = server._next()
                if behaviour is None:
                    server.unexpected += 1
                    behaviour = Behaviour(
                        418,
                        {"error": {"message": "stand-in: no scripted response left"}},
                        {"x-should-retry": "false"},
                    )
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                self._send(behaviour)

            def do_GET(self) -> None:
                self._send(Behaviour(404, {"error": {"message": "stand-in serves POST only"}}))

            def _send(self, behaviour: Behaviour) -> None:
                if isinstance(behaviour.body, str):
                    payload = behaviour.body.encode("utf-8")
                    ctype = "text/plain; charset=utf-8"
                else:
                    payload = json.dumps(behaviour.body).encode("utf-8")
                    ctype = "application/json"
                if behaviour.drip is not None:
                    self._drip(behaviour, payload, ctype)
                    return
                self.send_response(behaviour.status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(payload)))
                for name, value in behaviour.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def _drip(self, behaviour: Behaviour, payload: bytes, ctype: str) -> None:
                head = (
                    f"HTTP/1.1 {behaviour.status} OK\r\ncontent-type: {ctype}\r\n"
                    f"content-length: {len(payload)}\r\n"
                    + "".join(f"{k}: {v}\r\n" for k, v in behaviour.headers.items())
                    + "\r\n"
                ).encode("latin-1")
                if not behaviour.drip_headers:
                    self.wfile.write(head)
                    self.wfile.flush()
                    head = b""
                data = head + payload
                give_up = time.monotonic() + behaviour.drip_for
                try:
                    for i in range(len(data)):
                        if server._stopped or time.monotonic() > give_up:
                            break
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(behaviour.drip)
                except OSError:  # the client gave up and closed the connection
                    pass
                self.close_connection = True

            def version_string(self) -> str:
                return "llm-standin"

            def date_time_string(self, timestamp: float | None = None) -> str:
                return "Thu, 01 Jan 2026 00:00:00 GMT"  # fixed: stable cassettes

        return Handler


@contextmanager
def standin_server(max_lifetime: float = 120.0) -> Iterator[StandIn]:
    """Start a stand-in on a free loopback port; always stopped on exit."""
    server = StandIn(max_lifetime=max_lifetime).start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(predicate, timeout: float = 2.0) -> bool:
    """Poll ``predicate`` (for tests that check the server from another thread)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
