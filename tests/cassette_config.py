"""Cassette (vcrpy / pytest-recording) settings for the LLM plumbing tests.

Imported by ``tests/conftest.py`` (the ``vcr_config`` fixture and the
``pytest_recording_configure`` hook must live in a conftest or a plugin to take effect)::

    from cassette_config import pytest_recording_configure, vcr_config  # noqa: F401

What a cassette holds and how it is matched:

- the plumbing tests match a request on method, path and its shape (``llm_request``: the model,
  the message roles in order, the ``response_format`` schema and any ``tools``), not on the text of the prompt
  or the note, so editing a prompt does not invalidate every cassette; what the product sends
  now is checked by the tests on the live request (the ``sent`` fixture), not on the recording;
- the notebook's evaluation cassette answers many notes of the same shape, so it matches the
  whole JSON body (``json_body``: parsed, so key order and whitespace do not matter);
- scheme, host and port are NOT matched: the stand-in server listens on a different free port
  at every run;
- ``authorization``, ``x-api-key`` and ``api-key`` request headers are never written;
- compressed responses are stored decoded, so a cassette is readable and diffable.
"""

from __future__ import annotations

import json

import pytest

SECRET_HEADERS = ["authorization", "x-api-key", "api-key"]


def _body_bytes(request) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return b"".join(body)  # an iterator body (not used by httpx2, handled for safety)


def _json_bodies(r1, r2) -> tuple[object, object] | None:
    """Both bodies parsed as JSON; None when they are not JSON and equal byte for byte (an
    AssertionError when they differ)."""
    b1, b2 = _body_bytes(r1), _body_bytes(r2)
    try:
        return json.loads(b1 or b"null"), json.loads(b2 or b"null")
    except ValueError:
        if b1 != b2:
            raise AssertionError("bodies differ (not JSON)") from None
        return None


def json_body(r1, r2) -> None:
    """vcrpy matcher: the two bodies are equal as JSON (or byte for byte when not JSON).

    Raises AssertionError naming the first differing top-level key, which vcrpy shows when a
    replayed request is not in the cassette."""
    bodies = _json_bodies(r1, r2)
    if bodies is None:
        return
    j1, j2 = bodies
    if j1 == j2:
        return
    if isinstance(j1, dict) and isinstance(j2, dict):
        keys = sorted(k for k in set(j1) | set(j2) if j1.get(k) != j2.get(k))
        if keys == ["messages"] and len(j1["messages"]) != len(j2["messages"]):
            raise AssertionError(
                f"JSON bodies differ: {len(j1['messages'])} vs {len(j2['messages'])} messages"
            )
        raise AssertionError(f"JSON bodies differ in: {', '.join(keys)}")
    raise AssertionError("JSON bodies differ")


def _shape(body: object) -> object:
    if not isinstance(body, dict):
        return body
    messages = body.get("messages")
    roles = [m.get("role") for m in messages] if isinstance(messages, list) else messages
    return {
        "model": body.get("model"),
        "roles": roles,
        "response_format": body.get("response_format"),
        "tools": body.get("tools"),  # function_calling sends the schema as a tool
    }


def llm_request(r1, r2) -> None:
    """vcrpy matcher: the same model, message roles and response schema (bodies that are not
    JSON must be equal byte for byte). Raises AssertionError naming what differs."""
    bodies = _json_bodies(r1, r2)
    if bodies is None:
        return
    s1, s2 = _shape(bodies[0]), _shape(bodies[1])
    if s1 == s2:
        return
    if isinstance(s1, dict) and isinstance(s2, dict):
        keys = sorted(k for k in s1 if s1[k] != s2[k])
        raise AssertionError(f"requests differ in: {', '.join(keys)}")
    raise AssertionError("JSON bodies differ")


def pytest_recording_configure(config, vcr) -> None:
    """pytest-recording hook: register the matchers on every VCR instance."""
    vcr.register_matcher("json_body", json_body)
    vcr.register_matcher("llm_request", llm_request)


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """The JSON bodies the product's HTTP client sent in this test, live or replayed alike
    (recorded above the transport that vcrpy replaces), so assertions are about what the code
    sends now, not about what a cassette once recorded."""
    import httpx2

    bodies: list[dict] = []
    original = httpx2.Client.send

    def send(self, request, *args, **kwargs):
        content = request.read()
        try:
            bodies.append(json.loads(content or b"null"))
        except ValueError:
            bodies.append({"raw": content.decode("utf-8", "replace")})
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(httpx2.Client, "send", send)
    return bodies


@pytest.fixture
def vcr_config() -> dict:
    return {
        "filter_headers": list(SECRET_HEADERS),
        "match_on": ["method", "path", "llm_request"],
        "decode_compressed_response": True,
    }
