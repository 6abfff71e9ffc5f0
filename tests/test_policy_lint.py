"""Lint: the exact meaning of an unreachable rule, and the other warnings on a policy that loads."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from policies.issues import PolicyIssue
from policies.lint import lint
from policies.loader import default_policy_path, load_policy, parse_policy


def lint_rules(*conditions: dict[str, Any]) -> list[PolicyIssue]:
    rules = [
        {"id": f"r{index}", "when": when, "then": [{"queue": {"priority": 10, "reason": "look"}}]}
        for index, when in enumerate(conditions)
    ]
    document = {"version": 1, "brand": {"name": "Acme"}, "rules": rules}
    return lint(parse_policy(yaml.safe_dump(document, sort_keys=False).encode(), "p.yaml"))


def shadowing(issues: list[PolicyIssue]) -> list[str]:
    return [
        issue.message for issue in issues if "unreachable" in issue.message or "never sees" in issue.message
    ]


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ({}, {"category": "complaint"}),
        ({"category": "complaint"}, {"category": "complaint", "min_heat": 0.5}),
        ({"max_confidence": 0.5}, {"max_confidence": 0.3}),
        ({"min_heat": 0.3}, {"min_heat": 0.6}),
        ({"min_heat": 0.0}, {}),
        ({"language": ["pt"]}, {"language": ["pt-br"]}),
        ({"keywords_any": ["refund"]}, {"keywords_any": ["refunds", "Refund"]}),
        ({"is_private": False}, {"channel": ["mention", "comment"]}),
        ({"platform": ["x", "facebook"]}, {"platform": "x", "channel": "mention"}),
        ({"from_own_account": False, "category": "spam"}, {"from_own_account": False, "category": "spam"}),
    ],
)
def test_a_later_rule_whose_messages_all_match_an_earlier_one_is_unreachable(
    earlier: dict[str, Any], later: dict[str, Any]
) -> None:
    [message] = shadowing(lint_rules(earlier, later))
    assert message.startswith(
        "rule 'r1' is unreachable: every message it matches is matched first by rule 'r0'"
    )


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ({"category": "complaint", "min_heat": 0.5}, {"category": "complaint"}),
        ({"max_confidence": 0.5}, {"max_confidence": 0.6}),
        ({"max_confidence": 0.5}, {}),
        ({"min_heat": 0.3}, {"min_heat": 0.2}),
        ({"language": ["pt-br"]}, {"language": ["pt"]}),
        ({"keywords_any": ["refund"]}, {"keywords_any": ["money"]}),
        ({"is_private": False}, {"channel": ["comment", "direct"]}),
        ({"from_own_account": True}, {}),
        ({"category": "complaint"}, {}),  # a catch-all rule is meant to take what is left
    ],
)
def test_a_later_rule_with_messages_of_its_own_is_not_reported(
    earlier: dict[str, Any], later: dict[str, Any]
) -> None:
    assert shadowing(lint_rules(earlier, later)) == []


def test_categories_taken_by_different_earlier_rules_add_up() -> None:
    [message] = shadowing(
        lint_rules(
            {"category": "complaint"}, {"category": "question"}, {"category": ["complaint", "question"]}
        )
    )
    assert message.startswith("rule 'r2' is unreachable")
    assert "'r0' (p.yaml:" in message and "'r1' (p.yaml:" in message


def test_a_rule_partly_taken_names_the_categories_it_never_sees() -> None:
    issues = lint_rules({"category": "complaint"}, {"category": ["complaint", "question"]})
    [issue] = [issue for issue in issues if "never sees" in issue.message]
    assert issue.message.startswith("rule 'r1' never sees complaint messages: rule 'r0'")
    assert issue.field_path == "rules[1].when.category"


def test_the_default_policy_has_no_findings() -> None:
    assert lint(load_policy(default_policy_path(), examples=True)) == []


def test_und_is_a_condition_but_not_a_template_language() -> None:
    assert lint_rules({"language": "und"}) == []
    text = b"""version: 1
brand: {name: Acme}
default_language: und
templates:
  ack: {und: ["Hi!"]}
rules:
  - {id: a, then: [acknowledge: ack]}
"""
    issues = lint(parse_policy(text, "p.yaml"))
    assert [(issue.field_path, issue.severity) for issue in issues] == [
        ("default_language", "error"),
        ("templates.ack.und", "error"),
    ]
