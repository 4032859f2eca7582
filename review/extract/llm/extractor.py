"""The LLM extractor: prompt -> model answer (cached) -> grounded quotes -> verified facts."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from review.extract.base import Extraction, Family
from review.extract.llm.cache import cache_key
from review.extract.llm.client import LLMResult, LLMSettings, extract_with_llm
from review.extract.llm.grounding import facts_from_llm, ground
from review.extract.llm.prompts import load_prompt, render_documents
from review.extract.llm.schema import LLMFacts
from review.extract.llm.verify import verify_answer
from review.schema import Facts, LlmUsage, ParsedDocument

if TYPE_CHECKING:
    from review.extract.runtime import Runtime


class LLMExtractor:
    """Any OpenAI-compatible endpoint, asked for schema JSON with a quote for every fact."""

    id = "llm.v1"
    family: Family = "llm"

    def __init__(self, prompt: str, settings: LLMSettings | None):
        self.prompt = load_prompt(prompt)
        self.settings = settings if settings is not None else LLMSettings.load()

    def extract(
        self, documents: list[ParsedDocument], date_of_service: dt.date | None, runtime: Runtime
    ) -> Extraction:
        prompt, settings = self.prompt, self.settings
        key = cached = None
        if runtime.cache is not None:
            sampling = settings.model_dump(include={"temperature", "seed", "structured_output"})
            key = cache_key(prompt.sha256, settings.model, sampling, render_documents(documents))
            cached = runtime.cache.get(key)
        if cached is not None:
            result = LLMResult(LLMFacts.model_validate_json(cached), LlmUsage())
        else:
            result = extract_with_llm(documents, prompt, settings, runtime)
            if key is not None and runtime.cache is not None and result.answer is not None:
                runtime.cache.put(key, result.answer.model_dump_json())
        out = Extraction(
            Facts(),
            model=settings.model,
            prompt=prompt.ref,
            prompt_sha256=prompt.sha256,
            usage=result.usage,
        )
        if result.answer is None:
            out.facts = Facts(extraction_error=result.error)
            return out
        # Ground every quote, then check each grounded fact against its span (verify.py): the
        # decision rests on the verified facts only; the full answer is kept to see whether the
        # decision would change with the unverified ones.
        docs = {d.document_id: d for d in documents}
        verification = verify_answer(
            result.answer, documents, lambda c: ground(c, docs)[0], date_of_service
        )
        out.facts, _ = facts_from_llm(verification.answer, documents)
        everything, stats = facts_from_llm(result.answer, documents)
        out.ungrounded = stats.ungrounded
        out.grounding_rate = stats.rate
        out.unverified = verification.unverified
        out.verification_rate = verification.rate
        out.with_unverified = everything if verification.unverified else None
        return out
