"""Evaluate and recommend stages: policy rules as data (``rules/<policy>/``) applied to derived
facts. This package never imports spaCy or any LLM code."""

from review.policy.evaluate import evaluate
from review.policy.folder import Policy, load_policy
from review.policy.recommend import recommend

__all__ = ["Policy", "evaluate", "load_policy", "recommend"]
