"""Author history: repeat abusers are recognised; a long-time customer is not made a troll by one message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from moderation.classifier import Moderator
from moderation.history import AuthorHistory, apply_history
from moderation.verdict import Category, Verdict

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INSULT = "you people are clowns and everyone who buys your junk is an idiot"
UNSURE_TROLL = "is your support team run by clowns?"  # a troll verdict below the policy's 0.7
ANGRY_CUSTOMER = "your delivery guys are clowns lol"  # troll on its own, names a service


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def troll(moderator: Moderator, text: str = INSULT) -> Verdict:
    verdict = moderator.classify_texts([text])[0]
    assert verdict.category is Category.TROLL, verdict.explanation
    return verdict


def history_of(*verdicts_and_days: tuple[Verdict, float]) -> AuthorHistory:
    history = AuthorHistory()
    for verdict, days_ago in verdicts_and_days:
        history.record(verdict, NOW - timedelta(days=days_ago))
    return history


def test_a_repeat_abuser_is_a_confident_troll(moderator: Moderator) -> None:
    verdict = troll(moderator, UNSURE_TROLL)
    assert verdict.confidence < 0.7
    history = history_of((troll(moderator), 20), (troll(moderator), 3))
    adjusted = apply_history(verdict, history, NOW)
    assert adjusted.category is Category.TROLL
    assert adjusted.confidence >= 0.9
    assert "repeat abuser: 2 earlier troll verdicts" in adjusted.explanation


def test_old_abuse_does_not_make_a_repeat_abuser(moderator: Moderator) -> None:
    verdict = troll(moderator, UNSURE_TROLL)
    history = history_of((troll(moderator), 90), (troll(moderator), 60))
    assert apply_history(verdict, history, NOW) == verdict


def test_a_long_time_customer_is_not_made_a_troll_by_one_message(moderator: Moderator) -> None:
    question = moderator.classify_texts(["does the kettle work with 110V?"])[0]
    history = history_of((question, 200), (question, 100), (question, 5))
    adjusted = apply_history(troll(moderator), history, NOW)
    assert adjusted.category is not Category.TROLL
    assert adjusted.confidence <= 0.4  # the default policy sends unsure verdicts to a person
    assert "long-time customer (3 messages since" in adjusted.explanation


def test_a_long_time_customer_with_a_problem_reads_as_a_complaint(moderator: Moderator) -> None:
    question = moderator.classify_texts(["is there a student discount?"])[0]
    history = history_of((question, 100), (question, 50), (question, 30))
    adjusted = apply_history(troll(moderator, ANGRY_CUSTOMER), history, NOW)
    assert adjusted.category is Category.COMPLAINT
    assert "read as complaint, not troll" in adjusted.explanation


@pytest.mark.parametrize(
    ("messages", "first_days_ago", "trolls"),
    [(2, 100, 0), (5, 3, 0), (5, 100, 1)],
    ids=["too few messages", "too recent", "trolled before"],
)
def test_who_is_not_a_long_time_customer(
    moderator: Moderator, messages: int, first_days_ago: float, trolls: int
) -> None:
    question = moderator.classify_texts(["where is the manual?"])[0]
    earlier = [(question, first_days_ago - n * 0.01) for n in range(messages - trolls)]
    earlier += [(troll(moderator), 50.0)] * trolls
    verdict = troll(moderator)
    adjusted = apply_history(verdict, history_of(*earlier), NOW)
    assert adjusted.category is Category.TROLL


def test_history_never_touches_other_categories(moderator: Moderator) -> None:
    complaint = moderator.classify_texts(["my order #4411 never arrived and I want a refund"])[0]
    abuser = history_of((troll(moderator), 2), (troll(moderator), 1))
    assert apply_history(complaint, abuser, NOW) == complaint


def test_record_counts_final_verdicts() -> None:
    history = AuthorHistory()
    verdict = Verdict(Category.TROLL, *_neutral())
    history.record(verdict, NOW - timedelta(days=2))
    history.record(Verdict(Category.QUESTION, *_neutral()), NOW - timedelta(days=9))
    assert (history.messages, history.trolls) == (2, 1)
    assert history.first_message_at == NOW - timedelta(days=9)
    assert history.last_troll_at == NOW - timedelta(days=2)


def _neutral() -> tuple:  # type: ignore[type-arg]
    from moderation.verdict import Sentiment

    return (Sentiment.NEUTRAL, 0.0, 0.0, 0.0, "en", 0.8, "test")
