"""Extract stage: parsed documents and the date of service in, :class:`~review.schema.Facts`
with evidence out (never the claim or the policy).

The extractors are named and versioned in ``registry.py`` behind the protocol in ``base.py``:
``offline.v1`` (lexicons, matchers and ConText; the default; no network), ``llm.v1`` (the
``llm/`` package, the only code that imports langchain/openai) and ``hybrid.v1`` (both).
``runtime.py`` holds what a process builds once for them.
"""
