"""The shipped default policy keeps the conduct craft: varied, warm, multilingual, human-first."""

from __future__ import annotations

import pytest

from moderation.verdict import Category
from policies.loader import default_policy_path, load_policy
from policies.schema import Policy
from policies.templates import template_fields

LANGUAGES = ("en", "es", "de", "fr", "pl", "ro", "ru")
ROBOT_PHRASES = (
    "inconvenience",
    "valued customer",
    "your feedback is important",
    "dear customer",
    "we apologize for",
    "do not reply",
    "ticket number",
)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(default_policy_path()).policy


@pytest.mark.parametrize("template_id", ["ack_complaint", "ack_question", "dm_heated", "invite_private"])
def test_templates_cover_languages_with_several_variants(policy: Policy, template_id: str) -> None:
    template = policy.templates[template_id]
    assert set(LANGUAGES) <= set(template)
    assert len(template["en"]) >= 3
    for language in LANGUAGES:
        assert len(template[language]) >= 2, language


def test_acknowledgements_do_not_sound_like_a_robot(policy: Policy) -> None:
    for template_id in ("ack_complaint", "ack_question"):
        for variant in policy.templates[template_id]["en"]:
            lowered = variant.lower()
            assert not any(phrase in lowered for phrase in ROBOT_PHRASES), variant
        assert len(policy.templates[template_id]["en"]) == len(set(policy.templates[template_id]["en"]))


def test_public_invitation_always_carries_the_private_link(policy: Policy) -> None:
    for variants in policy.templates["invite_private"].values():
        assert all("dm_link" in template_fields(v) for v in variants)


def test_rule_order_protects_people(policy: Policy) -> None:
    ids = [rule.id for rule in policy.rules]
    assert ids[0] == "own-account"
    assert ids.index("low-confidence") < ids.index("complaint")
    assert ids.index("angry-customer") < ids.index("troll")
    praise = next(rule for rule in policy.rules if rule.id == "praise")
    assert [action.kind for action in praise.then] == ["queue"]
    troll = next(rule for rule in policy.rules if rule.id == "troll")
    assert {action.kind for action in troll.then} == {"ignore", "queue"}


def test_every_category_has_a_rule(policy: Policy) -> None:
    covered = {category for rule in policy.rules for category in (rule.when.category or ())}
    assert covered == set(Category)


def test_default_never_replies_in_english_to_other_languages(policy: Policy) -> None:
    assert policy.safety.fallback_to_default_language is False
