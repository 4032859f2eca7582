"""Evaluate and recommend stages: policy rules as data (``rules/<policy>/``) applied to derived
facts. This package never imports spaCy or any LLM code."""

from review.policy.evaluate import evaluate
from review.policy.load import (
    available_policies,
    load_policy,
    load_policy_folder,
    policy_sha256,
    resolve_policy,
    rules_root,
)
from review.policy.model import CodesFile, Policy, Rule, RuleSpec, Settings, SettingsFile
from review.policy.recommend import recommend

__all__ = [
    "CodesFile",
    "Policy",
    "Rule",
    "RuleSpec",
    "Settings",
    "SettingsFile",
    "available_policies",
    "evaluate",
    "load_policy",
    "load_policy_folder",
    "policy_sha256",
    "recommend",
    "resolve_policy",
    "rules_root",
]
