"""The excluded-service vocabulary has one source (review/lexicons/excluded_services.yaml); every
other list of kinds in the code is a subset of it, so a kind renamed or dropped in the lexicon
fails here instead of silently never matching."""

from __future__ import annotations

import typing

import pytest

from review.extract.llm.schema import CitedExcludedService, CitedInjectate
from review.extract.offline import excluded, status
from review.lexicon import entry_attributes, excluded_service_kinds
from review.policy import load_policy
from review.policy.registry import registry

KINDS = set(excluded_service_kinds())


def test_the_lexicon_defines_the_kinds():
    assert {"botulinum_toxin", "dry_needling", "nerve_block"} <= KINDS
    assert len(excluded_service_kinds()) == len(KINDS)


def test_the_llm_schema_offers_exactly_the_lexicon_kinds_in_order():
    (kinds,) = [typing.get_args(CitedExcludedService.model_fields["kind"].annotation)]
    assert kinds == excluded_service_kinds()


@pytest.mark.parametrize(
    "name, values",
    [
        ("status.NEEDLE_SERVICES", status.NEEDLE_SERVICES),
        ("status.NEEDLE_TREATMENTS (kinds)", set(status.NEEDLE_TREATMENTS.values())),
        ("excluded.NON_MUSCLE_SERVICES", excluded.NON_MUSCLE_SERVICES),
        ("excluded.EXCLUDED_INJECTATES (kinds)", set(excluded.EXCLUDED_INJECTATES.values())),
    ],
)
def test_offline_classifications_name_lexicon_kinds(name, values):
    assert set(values) <= KINDS, f"{name}: {sorted(set(values) - KINDS)} not in the lexicon"


def test_offline_injectate_categories_are_ones_the_schema_and_lexicon_know():
    categories = set(typing.get_args(CitedInjectate.model_fields["category"].annotation))
    lexicon = {e.category for e in entry_attributes("injectates").values() if e.category}
    assert set(excluded.EXCLUDED_INJECTATES) <= categories & lexicon


def test_every_policy_exclusion_group_uses_lexicon_kinds():
    for policy_id in [entry.id for entry in registry()]:
        groups = load_policy(policy_id).settings.exclusion_groups
        for name, group in groups.items():
            assert set(group.kinds) <= KINDS, (policy_id, name)
