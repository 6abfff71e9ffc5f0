"""The policy's priority keywords feed the complaint signal of the moderator `tactful run` builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from moderation.rules import DEFAULT_KEYWORDS
from policies.loader import PolicyError, default_policy_path
from tactful.scoring import build_moderator, complaint_keywords
from tactful.settings import PolicySettings, Settings


def test_policy_keywords_extend_the_defaults_once() -> None:
    keywords = complaint_keywords(["Refund", "  warranty  claim ", "WARRANTY CLAIM", "chargeback", ""])
    assert keywords[: len(DEFAULT_KEYWORDS)] == DEFAULT_KEYWORDS
    assert keywords[len(DEFAULT_KEYWORDS) :] == ("warranty claim", "chargeback")


def test_a_keyword_added_to_the_policy_raises_the_complaint_score(tmp_path: Path) -> None:
    text = "I filed a chargeback with my bank last week"
    policy = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    default = build_moderator(Settings()).classify_texts([text])[0]
    policy["keywords"]["priority"].append("chargeback")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    tuned = build_moderator(Settings(policy=PolicySettings(path=path))).classify_texts([text])[0]
    assert "chargeback" not in default.keywords
    assert "chargeback" in tuned.keywords
    assert tuned.complaint > default.complaint


def test_an_invalid_policy_stops_the_moderator_from_being_built(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("rules: [", encoding="utf-8")
    with pytest.raises(PolicyError):
        build_moderator(Settings(policy=PolicySettings(path=path)))
