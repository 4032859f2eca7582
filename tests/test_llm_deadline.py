"""Wall-clock deadlines on the LLM path, against a stand-in server that drips its answer.

httpx's timeouts are per read: a server sending one byte a second never trips them and held a
case for minutes. ``timeout`` (REVIEW_LLM_TIMEOUT) is now the whole request, ``case_timeout``
(REVIEW_LLM_CASE_TIMEOUT) the whole case, retries and re-asks included; a case that runs out of
time pends (TPI-X01), never approves. Small deadlines keep every test to a few seconds; the server
gives up dripping after a few seconds so a client without deadlines fails instead of hanging.
PLUMBING tests: the answers are scripted (tests/fakes.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakes import approve_cervical_facts
from llm_standin import delayed, dripping, garbage, ok, standin_server

from review.case import load_case
from review.extract.llm.client import ENV_PREFIX, LLMSettings, extract_with_llm
from review.extract.llm.prompts import load_prompt
from review.extract.runtime import Runtime
from review.parse.documents import parse_documents
from review.pipeline import ReviewConfig, review_case

ROOT = Path(__file__).resolve().parents[1]
APPROVE = ROOT / "examples" / "approve-cervical-tpi"
MARGIN = 1.0  # seconds past a deadline allowed for bookkeeping on a loaded machine
GIVE_UP = 5.0  # the stand-in stops dripping after this long (a client with no deadline)

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])


@pytest.fixture(autouse=True)
def _no_endpoint_env(monkeypatch):
    for name in LLMSettings.model_fields:
        monkeypatch.delenv(ENV_PREFIX + name.upper(), raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(scope="module")
def parsed():
    """The parsed example, with the client stack imported and warmed up by one quick answer, so
    the timings below measure requests, not imports."""
    docs = parse_documents(load_case(APPROVE).documents)
    with standin_server() as server:
        server.script(ok(approve_cervical_facts()))
        assert extract_with_llm(docs, load_prompt("extract_facts/v1"), server.settings()).answer
    return docs


def slow_answer(headers: bool = False):
    return dripping(ok(approve_cervical_facts()), every=0.2, headers=headers, for_at_most=GIVE_UP)


def timed(parsed, settings, runtime=None):
    started = time.monotonic()
    result = extract_with_llm(parsed, load_prompt("extract_facts/v1"), settings, runtime)
    return result, time.monotonic() - started


def test_a_dripping_answer_is_cut_off_at_the_request_deadline(standin, parsed):
    standin.script(slow_answer())
    result, elapsed = timed(parsed, standin.settings(timeout=1, max_retries=0))
    assert elapsed < 1 + MARGIN, f"took {elapsed:.1f} s"  # before: until the server gave up
    assert result.answer is None
    assert result.error == (
        "fact extraction failed: endpoint too slow: no complete answer within the 1 s request "
        "deadline (REVIEW_LLM_TIMEOUT), 1 request(s)"
    )
    assert (result.usage.calls, result.usage.failed_attempts) == (1, 1)


def test_dripping_headers_are_cut_off_too(standin, parsed):
    standin.script(slow_answer(headers=True))
    result, elapsed = timed(parsed, standin.settings(timeout=1, max_retries=0))
    assert elapsed < 1 + MARGIN, f"took {elapsed:.1f} s"
    assert "endpoint too slow" in result.error and "request deadline" in result.error


def test_the_case_deadline_bounds_every_retry_and_the_case_pends(standin, parsed, policy):
    standin.script(slow_answer(), slow_answer(), slow_answer())
    settings = standin.settings(timeout=1, case_timeout=2.5, max_retries=2)
    case = load_case(APPROVE)
    parse_documents(case.documents)  # the pipeline and policy are built before timing starts
    started = time.monotonic()
    rec = review_case(case, ReviewConfig(extractor="llm", llm=settings))
    elapsed = time.monotonic() - started
    assert elapsed < 2.5 + MARGIN, f"took {elapsed:.1f} s"
    assert rec.decision == "pend"
    x01 = next(f for f in rec.findings if f.rule_id == "TPI-X01")
    assert x01.status == "not_met"
    assert x01.reason.startswith(
        "fact extraction failed: endpoint too slow: the 2.5 s case deadline "
        "(REVIEW_LLM_CASE_TIMEOUT) passed after "
    )
    assert 2 <= rec.provenance.llm_usage.calls <= 3
    assert standin.unexpected == 0


def test_a_request_deadline_is_retried_while_the_case_has_time(standin, parsed):
    standin.script(slow_answer(), ok(approve_cervical_facts()))
    result, elapsed = timed(parsed, standin.settings(timeout=1, case_timeout=10, max_retries=2))
    assert result.error is None and result.answer is not None
    assert (result.usage.calls, result.usage.failed_attempts) == (2, 1)
    assert elapsed < 1 + 0.75 + MARGIN  # the cut-off request, at most 0.75 s of backoff, the answer


def test_validation_re_asks_count_against_the_case_deadline(standin, parsed):
    standin.script(*[delayed(garbage(), 0.6) for _ in range(6)])
    settings = standin.settings(case_timeout=1.0, validation_retries=5)
    result, elapsed = timed(parsed, settings)
    assert len(standin.requests) == 2  # 0.6 s each: the third ask would start past the deadline
    assert result.error.startswith("fact extraction failed: endpoint too slow: the 1 s case")
    assert elapsed < 1 + 0.6 + MARGIN


def test_waiting_for_the_rate_limiter_is_not_the_endpoint_being_slow(standin, parsed):
    class SlowLimiter:
        def acquire(self, tokens: int = 0) -> None:
            time.sleep(1.2)

    standin.script(ok(approve_cervical_facts()))
    settings = standin.settings(case_timeout=1.0)
    result, _ = timed(parsed, settings, Runtime(limiter=SlowLimiter()))
    assert result.error is None and result.answer is not None


def test_a_server_that_answers_in_time_is_unaffected(standin, parsed):
    standin.script(garbage("not json"), ok(approve_cervical_facts()))
    result, _ = timed(parsed, standin.settings(timeout=1, case_timeout=2.5))
    assert result.error is None
    assert (result.usage.calls, result.usage.failed_attempts) == (2, 1)


@pytest.mark.parametrize(("name", "value"), [("timeout", "0"), ("case_timeout", "-1")])
def test_deadlines_must_be_positive(monkeypatch, name, value):
    monkeypatch.setenv("REVIEW_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("REVIEW_LLM_MODEL", "m")
    monkeypatch.setenv(ENV_PREFIX + name.upper(), value)
    with pytest.raises(Exception, match=rf"^\[E002\] environment: {name}: invalid LLM setting"):
        LLMSettings.load()


def test_case_timeout_from_the_environment(monkeypatch):
    monkeypatch.setenv("REVIEW_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("REVIEW_LLM_MODEL", "m")
    assert LLMSettings.load().case_timeout == 300.0
    monkeypatch.setenv("REVIEW_LLM_CASE_TIMEOUT", "42.5")
    assert LLMSettings.load().case_timeout == 42.5
    assert "REVIEW_LLM_CASE_TIMEOUT" in LLMSettings.model_fields["case_timeout"].description
