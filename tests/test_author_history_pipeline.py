"""The processing stage weighs each author's history, counted across batches in the store."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from moderation.classifier import Moderator
from storage import tables as t
from storage.ingest import store_fetch
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.processing import Processor
from tests.factories import make_message

DAY = 24 * 60


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def process(db: Engine, clock: FrozenClock, moderator: Moderator, *messages: object) -> None:
    store_fetch(db, "test", list(messages), None, [], clock.now())  # type: ignore[arg-type]
    assert Processor(db, moderator, PolicySource(None).current, clock).drain(50) == len(messages)


def verdict_of(db: Engine, external_id: str) -> tuple[str, float, str]:
    m, v = t.messages, t.verdicts
    with db.connect() as conn:
        row = conn.execute(
            select(v.c.category, v.c.confidence, v.c.explanation)
            .join(m, m.c.id == v.c.message_id)
            .where(m.c.external_id == external_id)
        ).one()
    return row.category, row.confidence, row.explanation


def rule_of(db: Engine, external_id: str) -> str:
    m, d = t.messages, t.decisions
    with db.connect() as conn:
        return str(
            conn.execute(
                select(d.c.rule_id).join(m, m.c.id == d.c.message_id).where(m.c.external_id == external_id)
            ).scalar_one()
        )


def counters(db: Engine, author: str) -> tuple[int, int]:
    a = t.authors
    with db.connect() as conn:
        row = conn.execute(
            select(a.c.messages_processed, a.c.troll_verdicts).where(a.c.external_id == author)
        ).one()
    return row.messages_processed, row.troll_verdicts


def test_a_long_time_customer_on_a_bad_day_goes_to_a_person(
    db: Engine, clock: FrozenClock, moderator: Moderator
) -> None:
    earlier = [
        make_message(
            f"q{n}", "does the kettle work with 110V?", author_id="7", thread=f"q{n}", minutes=n * 10 * DAY
        )
        for n in range(3)
    ]
    process(db, clock, moderator, *earlier)  # one batch: counted in memory and in the store
    assert counters(db, "7") == (3, 0)
    angry = make_message(
        "angry",
        "you people are clowns and everyone who buys your junk is an idiot",
        author_id="7",
        minutes=30 * DAY,
    )
    process(db, clock, moderator, angry)
    category, confidence, explanation = verdict_of(db, "angry")
    assert category != "troll" and confidence <= 0.4
    assert "long-time customer (3 messages since" in explanation
    assert rule_of(db, "angry") == "low-confidence"  # queued for a person, not ignored
    assert counters(db, "7") == (4, 0)


def test_the_same_message_from_a_newcomer_is_a_troll(
    db: Engine, clock: FrozenClock, moderator: Moderator
) -> None:
    process(
        db,
        clock,
        moderator,
        make_message(
            "angry", "you people are clowns and everyone who buys your junk is an idiot", author_id="8"
        ),
    )
    assert verdict_of(db, "angry")[0] == "troll"
    assert rule_of(db, "angry") == "troll"
    assert counters(db, "8") == (1, 1)


def test_a_repeat_abuser_is_recognised_across_batches(
    db: Engine, clock: FrozenClock, moderator: Moderator
) -> None:
    process(db, clock, moderator, make_message("a1", "lol you are all idiots", author_id="9", thread="a1"))
    process(
        db,
        clock,
        moderator,
        make_message("a2", "what a bunch of clowns", author_id="9", thread="a2", minutes=DAY),
    )
    assert counters(db, "9") == (2, 2)
    process(
        db,
        clock,
        moderator,
        make_message(
            "a3", "is your support team run by clowns?", author_id="9", thread="a3", minutes=2 * DAY
        ),
    )
    category, confidence, explanation = verdict_of(db, "a3")
    assert (category, confidence) == ("troll", 0.9)
    assert "repeat abuser: 2 earlier troll verdicts" in explanation
    assert rule_of(db, "a3") == "troll"  # confident: ignored, not fed


def acks_to(db: Engine, author: str) -> int:
    o, a = t.outbox, t.authors
    with db.connect() as conn:
        return len(
            conn.execute(
                select(o.c.id).join(a, a.c.id == o.c.author_id).where(a.c.external_id == author)
            ).all()
        )


def test_the_daily_cap_per_author_holds_across_batches(
    db: Engine, clock: FrozenClock, moderator: Moderator
) -> None:
    texts = [f"my order #{n}4411 never arrived and I want a refund" for n in range(5)]
    process(db, clock, moderator, make_message("c0", texts[0], author_id="5", thread="c0"))
    for n in range(1, 5):  # separate batches: the cap must come from the store, not the batch's memory
        process(
            db, clock, moderator, make_message(f"c{n}", texts[n], author_id="5", thread=f"c{n}", minutes=n)
        )
    assert acks_to(db, "5") == 3  # default safety.max_acks_per_author_per_day
