"""Batch runs on the LLM path against the test suite's OpenAI-compatible stand-in server (loopback
only): 429/5xx are retried, the rate limit is never exceeded, and a rerun is served by the
answer cache with no model call. Plumbing tests: the answers are scripted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from llm_standin import API_KEY, MODEL, ok, standin_server, status

from review.batch.options import BatchOptions
from review.batch.run import run_batch
from review.extract.llm.ratelimit import RateLimiter

NOTHING = {"procedure_status": "not_mentioned"}  # a valid answer for any note


def _notes(path: Path, n: int) -> Path:
    lines = [
        json.dumps({"id": f"n{i}", "text": f"Clinic note {i}. Neck pain for {i + 2} weeks."})
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _llm_config(path: Path, server) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "base_url": server.base_url,
                "model": MODEL,
                "api_key": API_KEY,
                "max_retries": 2,
                "timeout": 5,
                "validation_retries": 1,
            }
        ),
        encoding="utf-8",
    )
    return path


def _records(out: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    ]


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_429_and_5xx_are_retried_and_every_case_finishes(tmp_path):
    with standin_server() as server:
        server.script(
            status(429, retry_after_ms=10), ok(NOTHING), status(503, retry_after_ms=10), ok(NOTHING)
        )
        options = BatchOptions(
            extractor="llm",
            concurrency=1,
            llm_config=str(_llm_config(tmp_path / "llm.yaml", server)),
        )
        stats = run_batch(_notes(tmp_path / "notes.jsonl", 2), tmp_path / "out", options)
        assert len(server.requests) == 4 and server.remaining == 0
    records = _records(tmp_path / "out")
    assert stats.errors == 0 and len(records) == 2
    usage = [r["recommendation"]["provenance"]["llm_usage"] for r in records]
    assert sorted((u["calls"], u["failed_attempts"]) for u in usage) == [(2, 1), (2, 1)]
    assert all(r["recommendation"]["facts"]["extraction_error"] is None for r in records)


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_rate_limit_is_never_exceeded_and_a_rerun_is_served_from_the_cache(tmp_path):
    notes = _notes(tmp_path / "notes.jsonl", 6)
    cache = tmp_path / "answers.sqlite"
    window, per_window = 0.4, 2
    with standin_server() as server:
        server.script(*[ok(NOTHING) for _ in range(6)])
        config = str(_llm_config(tmp_path / "llm.yaml", server))
        options = BatchOptions(
            extractor="llm",
            concurrency=4,
            requests_per_minute=per_window,
            rate_window_seconds=window,
            cache_path=str(cache),
            llm_config=config,
        )
        captured: list = []
        original = RateLimiter.__init__

        def capture(self, *args, **kwargs):
            original(self, *args, **kwargs)
            captured.append(self)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(RateLimiter, "__init__", capture)
            run_batch(notes, tmp_path / "first", options)
        times = sorted(r.received_at for r in server.requests)
        assert len(times) == 6
        # the limiter never grants (per_window + 1) requests inside a window...
        grants = _limiter_grants(captured)
        assert len(grants) == 6
        assert all(b - a >= window for a, b in zip(grants, grants[per_window:], strict=False)), (
            grants
        )
        # ...and the server sees the same, give or take the first connections' set-up
        gaps = [later - earlier for earlier, later in zip(times, times[per_window:], strict=False)]
        assert min(gaps) >= window / 2, gaps  # loose: a loaded CI machine delays delivery

        rerun = run_batch(notes, tmp_path / "second", options)
        assert len(server.requests) == 6, "the rerun asked the model again"
    assert rerun.done == 6 and rerun.errors == 0
    assert all(
        r["recommendation"]["provenance"]["llm_usage"]["calls"] == 0
        for r in _records(tmp_path / "second")
    )


def _limiter_grants(limiters: list) -> list[float]:
    (limiter,) = limiters
    return sorted(limiter.last_grants)


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_processes_with_threads_finish_every_case_once(tmp_path):
    """--workers with the LLM extractor: worker processes, each with threads, fed one case at a
    time by the parent; every case is written exactly once."""
    with standin_server() as server:
        server.script(*[ok(NOTHING) for _ in range(8)])
        options = BatchOptions(
            extractor="llm",
            workers=2,
            concurrency=4,
            llm_config=str(_llm_config(tmp_path / "llm.yaml", server)),
        )
        stats = run_batch(_notes(tmp_path / "notes.jsonl", 8), tmp_path / "out", options)
        assert len(server.requests) == 8
    keys = sorted(r["key"] for r in _records(tmp_path / "out"))
    assert keys == [f"n{i}" for i in range(8)] and stats.errors == 0


def test_a_budget_smaller_than_the_worker_count_is_refused_before_anything_runs(tmp_path):
    """Split between processes, a budget of 1 request/min over 2 workers would be 0 each,
    which the limiter reads as no limit: refused up front, naming the flags."""
    from review.batch.options import BatchOptions
    from review.errors import ReviewError

    with pytest.raises(ReviewError, match=r"\[E004\].*--rpm budget of 1.*2 worker processes"):
        BatchOptions(extractor="llm", workers=2, requests_per_minute=1)
    BatchOptions(extractor="llm", workers=2, requests_per_minute=2)  # one each: allowed
    BatchOptions(extractor="offline", workers=2, requests_per_minute=1)  # no LLM: no budget


def test_an_unknown_extractor_is_refused_naming_the_known_ones():
    from review.batch.options import BatchOptions
    from review.errors import ReviewError

    with pytest.raises(ReviewError, match=r"\[E003\] unknown extractor 'ofline'.*'offline'"):
        BatchOptions(extractor="ofline")


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_a_versioned_extractor_name_runs_the_llm_path_like_its_alias(tmp_path):
    """`--extractor llm.v1` is the LLM extractor: threads, the prompt in the manifest, and the
    versioned id in every recommendation (not a silent fall-back to the offline path)."""
    with standin_server() as server:
        server.script(ok(NOTHING), ok(NOTHING))
        options = BatchOptions(
            extractor="llm.v1",
            concurrency=2,
            llm_config=str(_llm_config(tmp_path / "llm.yaml", server)),
        )
        stats = run_batch(_notes(tmp_path / "notes.jsonl", 2), tmp_path / "out", options)
        assert len(server.requests) == 2
    assert stats.errors == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["prompt_sha256"] and manifest["llm"]["model"] == MODEL
    provenance = [r["recommendation"]["provenance"] for r in _records(tmp_path / "out")]
    assert {(p["extractor"], p["extractor_id"], p["model"]) for p in provenance} == {
        ("llm", "llm.v1", MODEL)
    }


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_concurrency_defaults_to_the_endpoint_setting(tmp_path):
    """Without --concurrency, LLM requests in flight follow REVIEW_LLM_MAX_CONCURRENCY
    (max_concurrency in the LLM config), recorded in the manifest."""
    with standin_server() as server:
        server.script(*[ok(NOTHING) for _ in range(3)])
        config = _llm_config(tmp_path / "llm.yaml", server)
        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
        config.write_text(yaml.safe_dump({**settings, "max_concurrency": 3}), encoding="utf-8")
        options = BatchOptions(extractor="llm", llm_config=str(config))
        run_batch(_notes(tmp_path / "notes.jsonl", 3), tmp_path / "out", options)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["concurrency"] == 3
