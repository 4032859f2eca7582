"""The LLM client: any OpenAI-compatible endpoint through langchain's ChatOpenAI.

With deadline.py, the only code that imports langchain, openai or httpx2 (the extractor built on
it is extractor.py). The model reads the parsed documents as
numbered sentences and returns :class:`~review.extract.llm.schema.LLMFacts` (structured output);
answers that fail validation are fed back with the error a bounded number of times; 429/5xx and
timeouts are retried with backoff and jitter (:func:`_invoke`). When extraction finally fails the
result carries the reason and the case pends; it is never approved. Token usage is counted, failed
attempts too.

Deadlines are wall-clock, enforced in the HTTP client (deadline.py): ``timeout`` bounds one request
from connect to the last body byte; ``case_timeout`` bounds one case's extraction across every retry
and re-ask.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, SecretStr, ValidationError

from review.errors import ReviewError
from review.extract.llm.deadline import (
    CASE_CLOCK,
    CaseClock,
    http_client,
    limiter_hook,
)
from review.extract.llm.prompts import Prompt
from review.extract.llm.schema import LLMFacts
from review.extract.runtime import Runtime, RuntimeSettings, runtime_for
from review.schema import LlmUsage, ParsedDocument, Strict

ENV_PREFIX = "REVIEW_LLM_"


class LLMSettings(Strict):
    """Endpoint settings, from the environment (``REVIEW_LLM_*``) or a YAML/JSON file; frozen,
    like the ReviewConfig that holds them (a change is a new settings object)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    model: str
    api_key: SecretStr = SecretStr("not-needed")
    temperature: float = 0.0
    seed: int | None = 0
    timeout: float = Field(
        default=60.0,
        gt=0,
        description="REVIEW_LLM_TIMEOUT: seconds one HTTP request may take in total, from connecting "
        "to the last byte of the answer (wall clock, not per read: a server that drips bytes is cut "
        "off); a request past it is a timeout, retried while the case has time left",
    )
    case_timeout: float = Field(
        default=300.0,
        gt=0,
        description="REVIEW_LLM_CASE_TIMEOUT: seconds one case's extraction may take in total, across "
        "every HTTP retry and validation re-ask (time waiting for the rate limiter is not counted); "
        "when it is spent the case pends (extraction failed: endpoint too slow), it is never approved",
    )
    max_retries: int = Field(
        default=3, description="HTTP retries on 429/5xx/timeouts, with backoff"
    )
    validation_retries: int = Field(
        default=2, description="re-asks after an answer fails validation"
    )
    max_concurrency: int = 4
    structured_output: Literal["json_schema", "function_calling", "json_mode"] = "json_schema"
    use_responses_api: bool = False

    @classmethod
    def load(cls, path: str | Path | None = None) -> LLMSettings:
        data: dict[str, Any] = {}
        if path is not None:
            path = Path(path)
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                if not isinstance(data, dict):
                    raise ValueError(f"expected a mapping of settings, got {type(data).__name__}")
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise ReviewError(
                    "E002", f"cannot read LLM config: {str(exc).splitlines()[0]}", source=str(path)
                ) from None
        for name in cls.model_fields:
            value = os.environ.get(ENV_PREFIX + name.upper())
            if value is not None and name not in data:
                data[name] = value
        if "api_key" not in data and os.environ.get("OPENAI_API_KEY"):
            data["api_key"] = os.environ["OPENAI_API_KEY"]
        missing = [n for n in ("base_url", "model") if not data.get(n)]
        if missing:
            names = ", ".join(ENV_PREFIX + n.upper() for n in missing)
            raise ReviewError(
                "E001",
                f"no LLM endpoint configured; set {names} or pass --llm-config FILE",
                source=str(path) if path else "environment",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ReviewError(
                "E002",
                f"invalid LLM setting: {err['msg']}",
                source=str(path) if path else "environment",
                field=".".join(str(p) for p in err["loc"]),
            ) from None


@dataclass
class LLMResult:
    answer: LLMFacts | None
    usage: LlmUsage = field(default_factory=LlmUsage)
    error: str | None = None


def build_structured_model(settings: LLMSettings, limiter=None):
    """A ChatOpenAI client (with its own HTTP connection pool) wrapped in structured output with
    the raw message kept (for usage and error feedback). Built once per settings by the runtime
    (review.extract.runtime) and shared by threads.

    With a limiter, every HTTP request asks it right before it is sent (an httpx request hook), so
    the budget holds where the server counts it, retries included. Every request goes through
    the deadline transport (``timeout`` per request, ``case_timeout`` per case). The schema goes
    as a dict, not the pydantic class: the OpenAI client would otherwise validate inside the
    call and raise before we see the raw answer (no usage, nothing to feed back). strict=False:
    OpenAI's strict mode rejects optional fields with defaults."""
    from langchain_core.runnables import RunnableLambda
    from langchain_openai import ChatOpenAI

    hooks = {"request": [limiter_hook(limiter)]} if limiter else {}
    # the pydantic plugin gives ChatOpenAI (populate_by_name) an __init__ of field names only:
    # its documented aliases (model, base_url, api_key, timeout) are valid at run time
    chat_model = ChatOpenAI(  # type: ignore[call-arg]
        model=settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        temperature=settings.temperature,
        seed=settings.seed,
        timeout=settings.timeout,
        max_retries=0,  # retries are ours (_invoke), with backoff and jitter
        use_responses_api=settings.use_responses_api,
        http_client=http_client(settings.timeout, hooks),
    )
    structured = chat_model.with_structured_output(
        LLMFacts.model_json_schema(),
        method=settings.structured_output,
        include_raw=True,
        strict=False,
    )
    return structured | RunnableLambda(_validate)


def extract_with_llm(
    parsed: list[ParsedDocument],
    prompt: Prompt,
    settings: LLMSettings,
    runtime: Runtime | None = None,
) -> LLMResult:
    """Ask the model for the facts; never raises for model or endpoint failures.

    The runtime's model client asks its rate limiter before every request, retries included, so
    a requests/min or tokens/min budget is never exceeded. The whole call is bounded by
    ``settings.case_timeout`` (each HTTP request by ``settings.timeout``)."""
    structured = (runtime or runtime_for(RuntimeSettings())).structured_model(settings)
    messages: list[Any] = list(prompt.messages(parsed))
    # started once our own set-up is done: it times the endpoint
    clock = CaseClock(time.monotonic() + settings.case_timeout, settings.case_timeout)
    token = CASE_CLOCK.set(clock)
    try:
        return _extract(structured, messages, settings)
    finally:
        CASE_CLOCK.reset(token)


def _extract(structured, messages: list[Any], settings: LLMSettings) -> LLMResult:
    from langchain_core.messages import AIMessage, HumanMessage

    retries = settings.validation_retries
    usage = LlmUsage()
    last_error = "no answer"
    for _attempt in range(retries + 1):
        out, error = _invoke(structured, messages, settings, usage)
        if error is not None:
            return LLMResult(None, usage, f"fact extraction failed: {error}")
        raw = out.get("raw")
        _count(usage, raw)
        if out.get("parsing_error") is None and out.get("parsed") is not None:
            parsed_answer = out["parsed"]
            if not isinstance(parsed_answer, LLMFacts):
                parsed_answer = LLMFacts.model_validate(parsed_answer)
            return LLMResult(parsed_answer, usage)
        usage.failed_attempts += 1
        last_error = _parse_error(out.get("parsing_error") or "empty answer")
        content = raw.content if isinstance(raw, AIMessage) else ""
        messages.append(("ai", content if isinstance(content, str) else json.dumps(content)))
        messages.append(
            HumanMessage(
                f"That answer did not validate: {last_error}. Return only one JSON object matching the schema; "
                "every quote copied verbatim from the cited sentences."
            )
        )
    return LLMResult(
        None,
        usage,
        f"fact extraction failed: model output invalid after {retries + 1} attempts: {last_error}",
    )


RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def _invoke(structured, messages, settings: LLMSettings, usage: LlmUsage):
    """One request with our own retries: 429/5xx/timeouts back off exponentially with jitter,
    honouring Retry-After, while the case deadline leaves time (the rate limiter is asked by
    the HTTP client, retries included). Returns (output, None) or (None, reason: "endpoint error: ..." or "endpoint too
    slow: ...")."""
    import random

    import openai

    clock = CASE_CLOCK.get()
    max_retries = settings.max_retries
    for attempt in range(max_retries + 1):
        if clock is not None and clock.remaining() <= 0:
            return None, _case_too_slow(clock, usage)
        usage.calls += 1
        try:
            return structured.invoke(messages), None
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
            # the answer was cut off or filtered: a bad answer to feed back, not a transport error
            reason = (
                "answer truncated at the length limit"
                if isinstance(exc, openai.LengthFinishReasonError)
                else "answer blocked by the content filter"
            )
            return {"raw": None, "parsed": None, "parsing_error": reason}, None
        except (openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError) as exc:
            usage.failed_attempts += 1
            if isinstance(exc, openai.APITimeoutError):
                if clock is not None and clock.remaining() <= 0:
                    return None, _case_too_slow(clock, usage)
                if attempt == max_retries:
                    return None, (
                        f"endpoint too slow: no complete answer within the "
                        f"{settings.timeout:g} s request deadline "
                        f"(REVIEW_LLM_TIMEOUT), {usage.calls} request(s)"
                    )
            else:
                status = getattr(exc, "status_code", None)
                if (status is not None and status not in RETRYABLE_STATUS) or (
                    attempt == max_retries
                ):
                    return None, f"endpoint error: {_one_line(exc)}"
            delay = _retry_after(exc) or min(0.5 * 2**attempt, 20.0) * (0.5 + random.random())
            if clock is not None:
                delay = max(0.0, min(delay, clock.remaining()))
            time.sleep(delay)
    return None, "endpoint error: no attempt made"


def _case_too_slow(clock: CaseClock, usage: LlmUsage) -> str:
    return (
        f"endpoint too slow: the {clock.seconds:g} s case deadline (REVIEW_LLM_CASE_TIMEOUT) "
        f"passed after {usage.calls} request(s)"
    )


def _retry_after(exc) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return min(float(value) * scale, 60.0)
            except ValueError:
                return None
    return None


def _validate(out: dict) -> dict:
    """Validate the parsed JSON against LLMFacts (extra keys such as "decision" are errors)."""
    if out.get("parsing_error") is None and out.get("parsed") is not None:
        try:
            out = {**out, "parsed": LLMFacts.model_validate(out["parsed"])}
        except ValidationError as exc:
            out = {**out, "parsed": None, "parsing_error": exc}
    return out


def _count(usage: LlmUsage, raw) -> None:
    meta = getattr(raw, "usage_metadata", None) or {}
    usage.input_tokens += int(meta.get("input_tokens", 0) or 0)
    usage.output_tokens += int(meta.get("output_tokens", 0) or 0)


_DOC_LINK = re.compile(r"\s*For (?:troubleshooting|further information),? visit:? \S+")


def _parse_error(error: object) -> str:
    """Why an answer did not parse, for the model and the reviewer: langchain's and pydantic's
    errors carry links to their documentation, which are noise to both."""
    return _one_line(_DOC_LINK.sub("", str(error)))


def _one_line(exc: object) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
