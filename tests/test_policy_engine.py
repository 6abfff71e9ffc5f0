"""Engine tests: table-driven decisions over the shipped default policy."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from moderation.verdict import Category, Sentiment, Verdict
from policies.decision import (
    Acknowledge,
    Decision,
    DecisionContext,
    Hide,
    Ignore,
    MoveToPrivate,
    QueueForReview,
)
from policies.engine import PolicyEngine
from policies.loader import default_policy_path, load_policy, parse_policy
from tactful.domain import Author, Channel, IncomingMessage, Platform

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "policies"


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(load_policy(default_policy_path()))


def make_ctx(
    category: Category = Category.COMPLAINT,
    *,
    text: str = "My parcel arrived late again",
    language: str = "en",
    confidence: float = 0.82,
    complaint: float = 0.3,
    toxicity: float = 0.1,
    message_id: str = "m1",
    platform: Platform = Platform.X,
    channel: Channel = Channel.MENTION,
    username: str | None = "jane_doe",
    display_name: str | None = "Jane Doe",
    is_bot: bool = False,
    is_private: bool = False,
    **context: Any,
) -> DecisionContext:
    author = Author(platform, "u-42", username=username, display_name=display_name, is_bot=is_bot)
    message = IncomingMessage(
        platform=platform,
        channel=channel,
        external_id=message_id,
        thread_external_id="t1",
        author=author,
        text=text,
        created_at=NOW,
        is_private=is_private,
    )
    verdict = Verdict(
        category=category,
        sentiment=Sentiment.NEGATIVE,
        sentiment_score=-0.5,
        toxicity=toxicity,
        complaint=complaint,
        language=language,
        confidence=confidence,
        explanation="test verdict",
    )
    return DecisionContext(message=message, verdict=verdict, now=NOW, **context)


def kinds(decision: Decision) -> list[type]:
    return [type(action) for action in decision.actions]


def queue_of(decision: Decision) -> QueueForReview:
    queued = [a for a in decision.actions if isinstance(a, QueueForReview)]
    assert len(queued) == 1, decision
    return queued[0]


@dataclass
class Case:
    name: str
    ctx: DecisionContext
    rule: str
    actions: list[type]
    priority: int | None = None
    reason_has: list[str] = field(default_factory=list)


CASES = [
    Case("complaint", make_ctx(), "complaint", [Acknowledge, QueueForReview], 70),
    Case(
        "question",
        make_ctx(Category.QUESTION, text="Do you ship to Malta?"),
        "question",
        [Acknowledge, QueueForReview],
        50,
    ),
    Case("praise gets a person", make_ctx(Category.PRAISE, text="Love it!"), "praise", [QueueForReview], 20),
    Case("other", make_ctx(Category.OTHER, text="hm"), "other", [QueueForReview], 30),
    Case("spam", make_ctx(Category.SPAM, text="win $$$"), "spam", [Ignore, QueueForReview], 5),
    Case(
        "troll: no send",
        make_ctx(Category.TROLL, text="lol you suck", confidence=0.9),
        "troll",
        [Ignore, QueueForReview],
        10,
    ),
    Case(
        "angry customer is not a troll",
        make_ctx(
            Category.TROLL, text="you idiots lost my parcel", confidence=0.9, complaint=0.8, toxicity=0.7
        ),
        "angry-customer",
        [QueueForReview],
        80,
    ),
    Case(
        "unsure troll",
        make_ctx(Category.TROLL, text="meh", confidence=0.6),
        "troll-unsure",
        [QueueForReview],
        35,
    ),
    Case(
        "heated thread",
        make_ctx(thread_heat=0.75, private_channel_link="https://x.com/messages/compose?recipient_id=1"),
        "heated-thread",
        [MoveToPrivate, QueueForReview],
        90,
    ),
    Case("own account ignored", make_ctx(from_own_account=True), "own-account", [Ignore]),
    Case("own account by username", make_ctx(username="Acme_Support"), "own-account", [Ignore]),
    Case(
        "second complaint in acknowledged thread",
        make_ctx(thread_acknowledged=True),
        "complaint",
        [QueueForReview],
        70,
        ["thread already acknowledged"],
    ),
    Case(
        "author over daily cap",
        make_ctx(author_acks_today=3),
        "complaint",
        [QueueForReview],
        70,
        ["limit 3"],
    ),
    Case("bot author", make_ctx(is_bot=True), "complaint", [QueueForReview], 70, ["author is a bot"]),
    Case(
        "low confidence",
        make_ctx(language="tl", confidence=0.3),
        "low-confidence",
        [QueueForReview],
        40,
    ),
    Case(
        "language without templates",
        make_ctx(language="it", text="Il pacco è arrivato rotto"),
        "complaint",
        [QueueForReview],
        70,
        ["no it variants of ack_complaint"],
    ),
    Case(
        "heated thread already moved",
        make_ctx(
            thread_heat=0.9, thread_moved_private=True, private_channel_link="https://t.me/acme?start=x"
        ),
        "heated-thread",
        [QueueForReview],
        90,
        ["thread already moved to private"],
    ),
    Case(
        "heated thread without a link moves by private reply, with no public invitation",
        make_ctx(thread_heat=0.9),
        "heated-thread",
        [MoveToPrivate, QueueForReview],
        90,
    ),
    Case(
        "heated private chat is acknowledged in place",
        make_ctx(thread_heat=0.9, is_private=True, channel=Channel.DIRECT),
        "complaint",
        [Acknowledge, QueueForReview],
        70,
    ),
    Case(
        "priority keyword boosts the queue",
        make_ctx(text="I want a REFUND now"),
        "complaint",
        [Acknowledge, QueueForReview],
        85,
    ),
    Case(
        "boost is capped at 100",
        make_ctx(thread_heat=0.8, text="refund!", private_channel_link="https://t.me/acme?start=x"),
        "heated-thread",
        [MoveToPrivate, QueueForReview],
        100,
    ),
    Case(
        "keyword match is word-prefix, not substring",
        make_ctx(text="prefunded border"),
        "complaint",
        [Acknowledge, QueueForReview],
        70,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_default_policy_decisions(engine: PolicyEngine, case: Case) -> None:
    decision = engine.decide(case.ctx)
    assert decision.rule_id == case.rule, decision.explanation
    assert kinds(decision) == case.actions, decision
    assert decision.policy_version == engine.version
    assert decision.explanation.startswith(f"rule {case.rule}: ")
    if case.priority is not None:
        assert queue_of(decision).priority == case.priority
    for fragment in case.reason_has:
        assert fragment in queue_of(decision).reason
        assert fragment in decision.explanation


def test_explanation_names_rule_and_scores(engine: PolicyEngine) -> None:
    decision = engine.decide(make_ctx(confidence=0.82))
    assert decision.explanation == "rule complaint: category complaint (0.82)"


def test_troll_and_own_account_never_send(engine: PolicyEngine) -> None:
    for ctx in (make_ctx(Category.TROLL, confidence=0.95), make_ctx(from_own_account=True, thread_heat=0.9)):
        decision = engine.decide(ctx)
        assert not any(isinstance(a, Acknowledge | MoveToPrivate) for a in decision.actions)


def test_heated_thread_texts_are_rendered(engine: PolicyEngine) -> None:
    link = "https://t.me/acme_bot?start=t1"
    decision = engine.decide(make_ctx(thread_heat=0.7, private_channel_link=link))
    move = decision.actions[0]
    assert isinstance(move, MoveToPrivate)
    assert move.template_id == "dm_heated"
    assert "Jane" in move.private_text and "{" not in move.private_text
    assert link in move.fallback_text


def test_variant_never_repeats_to_same_person(engine: PolicyEngine) -> None:
    variants_seen = set()
    for number in range(40):
        first = engine.decide(make_ctx(message_id=f"a{number}")).actions[0]
        assert isinstance(first, Acknowledge)
        variants_seen.add(first.variant)
        again = engine.decide(
            make_ctx(message_id=f"b{number}", last_variant_to_author=(first.template_id, first.variant))
        ).actions[0]
        assert isinstance(again, Acknowledge)
        assert again.variant != first.variant
        assert again.text != first.text
    assert len(variants_seen) > 1


def test_variant_choice_is_deterministic(engine: PolicyEngine) -> None:
    assert engine.decide(make_ctx(message_id="m9")) == engine.decide(make_ctx(message_id="m9"))


def test_polish_complaint_gets_polish_ack(engine: PolicyEngine) -> None:
    decision = engine.decide(
        make_ctx(language="pl", text="Paczka przyszła uszkodzona", display_name="Łukasz Nowak")
    )
    ack = decision.actions[0]
    assert isinstance(ack, Acknowledge)
    polish = engine.policy.templates["ack_complaint"]["pl"]
    assert ack.text in [v.format_map(_values("Łukasz", "Łukasz Nowak", "jane_doe")) for v in polish]


def test_regional_language_uses_base_templates(engine: PolicyEngine) -> None:
    ack = engine.decide(make_ctx(language="es-MX", display_name="Ana")).actions[0]
    assert isinstance(ack, Acknowledge)
    assert ack.text in [
        v.format_map(_values("Ana", "Ana", "jane_doe"))
        for v in engine.policy.templates["ack_complaint"]["es"]
    ]


def test_template_injection_in_display_name_is_neutralised(engine: PolicyEngine) -> None:
    hostile = "{brand.__class__} @everyone #scam\nhttps://evil.example/x {dm_link}"
    for number in range(12):
        ack = engine.decide(make_ctx(display_name=hostile, message_id=f"i{number}")).actions[0]
        assert isinstance(ack, Acknowledge)
        for bad in ("{", "}", "@", "#", "\n", "evil", "__class__", "<class", "dm_link"):
            assert bad not in ack.text, ack.text


def test_brand_name_from_context_overrides_policy() -> None:
    data = (FIXTURES / "minimal.yaml").read_text().replace('"Thanks, {name}!"', '"Thanks from {brand}!"')
    engine = PolicyEngine(parse_policy(data.encode(), "brand.yaml"))
    texts = {
        a.text
        for n in range(20)
        for a in engine.decide(make_ctx(message_id=f"b{n}", brand_name="Globex")).actions
        if isinstance(a, Acknowledge)
    }
    assert "Thanks from Globex!" in texts


def test_no_matching_rule_falls_back_to_queue() -> None:
    engine = PolicyEngine(load_policy(FIXTURES / "minimal.yaml"))
    decision = engine.decide(make_ctx(Category.PRAISE))
    assert decision.rule_id == "fallback"
    due = NOW + timedelta(minutes=240)  # the default SLA target, counted around the clock (no business hours)
    assert decision.actions == (QueueForReview(30, "no rule matched; a person should look", due),)


def test_blocked_send_without_queue_action_uses_blocked_priority() -> None:
    text = """version: 1
brand: {name: Acme}
templates:
  ack: {en: ["Hi {first_name}!", "Hello {first_name}!"]}
rules:
  - id: reply
    then:
      - acknowledge: ack
      - hide: abusive
"""
    engine = PolicyEngine(parse_policy(text.encode(), "p.yaml"))
    decision = engine.decide(make_ctx(thread_acknowledged=True))
    assert decision.actions == (
        Hide("abusive"),
        QueueForReview(
            50, "reply: acknowledgement withheld: thread already acknowledged", NOW + timedelta(minutes=240)
        ),
    )


def test_only_variant_repeating_is_queued_not_resent() -> None:
    text = """version: 1
brand: {name: Acme}
safety: {fallback_to_default_language: true}
templates:
  ack: {en: ["Hi {first_name}!"]}
rules:
  - id: reply
    then:
      - acknowledge: ack
      - queue: {priority: 60, reason: "answer"}
"""
    engine = PolicyEngine(parse_policy(text.encode(), "p.yaml"))
    decision = engine.decide(make_ctx(language="it", last_variant_to_author=("ack", 0)))
    assert kinds(decision) == [QueueForReview]
    assert "last text this person got" in queue_of(decision).reason
    fallback = engine.decide(make_ctx(language="it")).actions[0]
    assert fallback == Acknowledge("Hi Jane!", "ack", 0)


def test_conditions_on_platform_channel_language_and_keywords() -> None:
    text = """version: 1
brand: {name: Acme}
rules:
  - id: fb-polish-refund
    when: {platform: facebook, channel: [comment], language: [pl], keywords_any: [zwrot, "never arrived"]}
    then:
      - queue: {priority: 60, reason: "refund"}
"""
    engine = PolicyEngine(parse_policy(text.encode(), "p.yaml"))
    hit = make_ctx(
        platform=Platform.FACEBOOK, channel=Channel.COMMENT, language="pl", text="Chcę ZWROTU pieniędzy"
    )
    decision = engine.decide(hit)
    assert decision.rule_id == "fb-polish-refund"
    assert "keyword 'zwrot'" in decision.explanation
    assert (
        engine.decide(make_ctx(platform=Platform.FACEBOOK, channel=Channel.COMMENT, language="pl")).rule_id
        == "fallback"
    )
    assert engine.decide(make_ctx(channel=Channel.COMMENT, language="pl", text="zwrot")).rule_id == "fallback"


def test_sends_per_minute_exposed(engine: PolicyEngine) -> None:
    assert engine.global_sends_per_minute == engine.policy.safety.global_sends_per_minute == 30


def _values(first: str, name: str, username: str) -> dict[str, str]:
    return {"first_name": first, "name": name, "username": username, "brand": "Acme", "dm_link": ""}


def test_own_account_by_numeric_id_on_its_platform_only() -> None:
    text = """version: 1
brand:
  name: Acme
  own_accounts: {telegram: [4242]}
rules:
  - id: own
    when: {from_own_account: true}
    then:
      - ignore: ours
"""
    engine = PolicyEngine(parse_policy(text.encode(), "p.yaml"))
    ours = make_ctx(platform=Platform.TELEGRAM, channel=Channel.GROUP, username=None)
    ours = DecisionContext(
        message=replace(ours.message, author=replace(ours.message.author, external_id="4242")),
        verdict=ours.verdict,
        now=NOW,
    )
    assert engine.decide(ours).rule_id == "own"
    elsewhere = replace(ours, message=replace(ours.message, platform=Platform.X))
    assert engine.decide(elsewhere).rule_id == "fallback"


def test_a_move_without_a_link_needs_no_public_invitation() -> None:
    engine = PolicyEngine(load_policy(default_policy_path()))
    decision = engine.decide(make_ctx(thread_heat=0.9))
    move = next(a for a in decision.actions if isinstance(a, MoveToPrivate))
    assert move.fallback_text == ""
    assert move.private_text
