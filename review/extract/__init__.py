"""Extract stage: parsed documents in, :class:`~review.schema.Facts` with evidence out.

``offline`` (lexicons, matchers and ConText; the default) needs no network. The LLM extractor
lives in its own module and is the only code that imports langchain/openai.
"""
