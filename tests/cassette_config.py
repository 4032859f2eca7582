"""Cassette (vcrpy / pytest-recording) settings for the LLM plumbing tests.

Imported by ``tests/conftest.py`` (the ``vcr_config`` fixture and the
``pytest_recording_configure`` hook must live in a conftest or a plugin to take effect)::

    from cassette_config import pytest_recording_configure, vcr_config  # noqa: F401

What a cassette holds and how it is matched:

- requests are matched on method, path and the JSON body (parsed, so key order and whitespace
  do not matter); scheme, host and port are NOT matched, because the stand-in server listens on
  a different free port at every run;
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


def json_body(r1, r2) -> None:
    """vcrpy matcher: the two bodies are equal as JSON (or byte for byte when not JSON).

    Raises AssertionError naming the first differing top-level key, which vcrpy shows when a
    replayed request is not in the cassette."""
    b1, b2 = _body_bytes(r1), _body_bytes(r2)
    try:
        j1, j2 = json.loads(b1 or b"null"), json.loads(b2 or b"null")
    except ValueError:
        if b1 != b2:
            raise AssertionError("bodies differ (not JSON)") from None
        return
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


def pytest_recording_configure(config, vcr) -> None:
    """pytest-recording hook: register the ``json_body`` matcher on every VCR instance."""
    vcr.register_matcher("json_body", json_body)


@pytest.fixture
def vcr_config() -> dict:
    return {
        "filter_headers": list(SECRET_HEADERS),
        "match_on": ["method", "path", "json_body"],
        "decode_compressed_response": True,
    }
