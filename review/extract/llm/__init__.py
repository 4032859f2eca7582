"""The LLM extractor, all in one place: the endpoint client and its deadlines (client.py,
deadline.py), the answer schema the model fills (schema.py), the versioned prompts (prompts.py),
grounding quotes back to character spans (grounding.py), checking each grounded fact against its
span (verify.py), the answer cache (cache.py) and the shared rate limiter (ratelimit.py).

Only this package imports langchain, openai or httpx2, and only when a model is asked.
"""
