"""The old import path of the policy loader, kept for code written against it: import from
``review.policy`` (or ``review.policy.model``, ``.load``, ``.expressions``) instead."""

from review.policy.expressions import cel_env, compile_condition, rule_names, template_path_known
from review.policy.load import (
    available_policies,
    load_policy,
    load_policy_folder,
    policy_sha256,
    resolve_policy,
)
from review.policy.model import (
    AppliesTo,
    CodeEntry,
    CodesFile,
    ExclusionGroup,
    Policy,
    Rule,
    RulesFile,
    RuleSpec,
    Settings,
    SettingsFile,
)

__all__ = [
    "AppliesTo",
    "CodeEntry",
    "CodesFile",
    "ExclusionGroup",
    "Policy",
    "Rule",
    "RuleSpec",
    "RulesFile",
    "Settings",
    "SettingsFile",
    "available_policies",
    "cel_env",
    "compile_condition",
    "load_policy",
    "load_policy_folder",
    "policy_sha256",
    "resolve_policy",
    "rule_names",
    "template_path_known",
]
