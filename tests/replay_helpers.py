"""A small stored history for replay tests: scripted verdicts, the real pipeline, a changed policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from moderation.classifier import ModerationInput
from moderation.verdict import Category, Sentiment, Verdict
from policies.loader import LoadedPolicy, default_policy_path, load_policies
from storage.ingest import store_fetch
from tactful.clock import FrozenClock
from tactful.domain import IncomingMessage, Platform
from tactful.platforms import x_private_route
from tactful.policy_source import ActivePolicy
from tactful.processing import Processor
from tactful.settings import XSettings
from tests.factories import BASE_TIME, make_message

DAY = 24 * 60
CHANGES = """
rules:
  - id: troll
    when: {category: [troll], min_confidence: 0.7}
    then:
      - hide: "troll: hidden"
      - queue: {priority: 10, reason: "troll hidden"}
  - id: question
    when: {category: [question]}
    then:
      - queue: {priority: 50, reason: "question: answer it"}
  - id: praise
    when: {category: [praise]}
    then:
      - acknowledge: thanks
      - queue: {priority: 20, reason: "praise: thank them personally"}
templates:
  thanks:
    en:
      - "Thank you, {first_name}! That made our day."
"""
ROUTES = {Platform.X: x_private_route(XSettings(user_id="1000"))}


def verdict(
    category: Category, *, complaint: float = 0.2, toxicity: float = 0.0, sentiment: float = 0.0
) -> Verdict:
    """A scripted verdict (English, confidence 0.9)."""
    mood = Sentiment.NEGATIVE if sentiment < 0 else Sentiment.POSITIVE if sentiment > 0 else Sentiment.NEUTRAL
    return Verdict(category, mood, sentiment, toxicity, complaint, "en", 0.9, f"scripted {category.value}")


#: Text -> verdict: what the (scripted) moderator concludes.
VERDICTS = {
    "my order arrived broken": verdict(Category.COMPLAINT, complaint=0.9, sentiment=-0.6),
    "still broken, nobody answered": verdict(Category.COMPLAINT, complaint=0.9, sentiment=-0.7),
    "does the kettle come in black?": verdict(Category.QUESTION),
    "love my new vacuum <b>really</b>": verdict(Category.PRAISE, sentiment=0.8),
    "you are all clowns": verdict(Category.TROLL, toxicity=0.9, sentiment=-0.8),
    "what is this about": verdict(Category.OTHER),
    "thanks, great help": verdict(Category.PRAISE, sentiment=0.7),
}


class ScriptedScoring:
    """The moderator stand-in: each known text gets its scripted verdict."""

    def classify(self, items: Sequence[ModerationInput]) -> list[Verdict]:
        """The scripted verdict of each input."""
        return [VERDICTS[item.text] for item in items]


def day0() -> list[IncomingMessage]:
    """Day 0: a complaint and its follow-up, a question, a praise, a troll."""
    return [
        make_message("1", "my order arrived broken", author_id="11", username="ann", minutes=0),
        make_message("2", "does the kettle come in black?", author_id="12", username="bob", minutes=1),
        make_message("3", "love my new vacuum <b>really</b>", author_id="13", username="cat", minutes=2),
        make_message("4", "you are all clowns", author_id="14", username="dan", minutes=3),
        make_message(
            "5", "still broken, nobody answered", author_id="11", username="ann", thread="1", minutes=4
        ),
    ]


def day2() -> list[IncomingMessage]:
    """Day 2: the complaint's thread again, another question, the troll again, another praise."""
    return [
        # Ann's thread was acknowledged two days ago: no second acknowledgement, whatever the window.
        make_message(
            "6", "still broken, nobody answered", author_id="11", username="ann", thread="1", minutes=2 * DAY
        ),
        make_message(
            "7", "does the kettle come in black?", author_id="15", username="eve", minutes=2 * DAY + 1
        ),
        make_message("8", "you are all clowns", author_id="14", username="dan", minutes=2 * DAY + 2),
        make_message(
            "9", "love my new vacuum <b>really</b>", author_id="16", username="fay", minutes=2 * DAY + 3
        ),
    ]


def changed_policy(tmp_path: Path) -> LoadedPolicy:
    """The shipped policy with CHANGES layered over it."""
    changes = tmp_path / "changes.yaml"
    changes.write_text(CHANGES, encoding="utf-8")
    return load_policies([default_policy_path(), changes])


def process(db: Engine, clock: FrozenClock, loaded: LoadedPolicy, messages: list[IncomingMessage]) -> None:
    """Store the messages and run the pipeline over them a minute after the last one."""
    clock.set(messages[-1].created_at + timedelta(minutes=1))
    store_fetch(db, "test", messages, None, [], clock.now())
    active = ActivePolicy(loaded)
    processor = Processor(db, ScriptedScoring(), lambda: active, clock, private_routes=ROUTES)
    assert processor.drain(50) == len(messages)


def build(db: Engine, loaded: LoadedPolicy) -> None:
    """Store and process day 0 and day 2 under `loaded`."""
    clock = FrozenClock(BASE_TIME)
    process(db, clock, loaded, day0())
    process(db, clock, loaded, day2())
