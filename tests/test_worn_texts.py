"""The engine avoids texts the identical-text check would withhold: customers with one name get different variants."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from moderation.classifier import Moderator
from policies.loader import default_policy_path
from storage import tables as t
from storage.ingest import store_fetch
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.processing import Processor
from tactful.text_identity import text_hash
from tests.factories import BASE_TIME, make_message

COMPLAINT = "my order never arrived and nobody answers my emails"


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def complain(db: Engine, processor: Processor, clock: FrozenClock, number: int) -> str | None:
    """A new customer named Dana complains; return the acknowledgement queued for them, if any."""
    message = make_message(f"m{number}", COMPLAINT, author_id=f"{500 + number}", username="dana")
    store_fetch(db, "x:test", [message], None, [], clock.now())
    assert processor.drain(10) == 1
    o, m = t.outbox, t.messages
    with db.connect() as conn:
        return conn.execute(
            select(o.c.text).join(m, m.c.id == o.c.message_id).where(m.c.external_id == f"m{number}")
        ).scalar_one_or_none()


def mark_sent(db: Engine, clock: FrozenClock, text: str) -> None:
    """Record the queued item as sent, as the outbox dispatcher does."""
    o = t.outbox
    with db.begin() as conn:
        conn.execute(
            update(o)
            .where(o.c.text == text)
            .values(status="sent", sent_at=clock.now(), text_hash=text_hash(text), platform_ref="ref")
        )


def test_each_dana_gets_a_variant_not_yet_sent_as_often_as_allowed_then_a_person(
    db: Engine, moderator: Moderator, tmp_path: Path
) -> None:
    layer = tmp_path / "once.yaml"
    layer.write_text(
        "safety:\n  max_identical_texts: 1\n  max_acks_per_author_per_day: 5\n", encoding="utf-8"
    )
    clock = FrozenClock(BASE_TIME)
    processor = Processor(db, moderator, PolicySource([default_policy_path(), layer]).current, clock)
    sent: list[str] = []
    while True:
        text = complain(db, processor, clock, len(sent))
        if text is None:
            break
        assert text not in sent
        mark_sent(db, clock, text)
        sent.append(text)
    assert len(sent) >= 2  # every English variant of the acknowledgement, once each
    m = t.messages
    with db.connect() as conn:
        queued = conn.execute(
            select(t.review_items.c.reason)
            .join(m, m.c.id == t.review_items.c.message_id)
            .where(m.c.external_id == f"m{len(sent)}")
        ).scalar_one()
    assert "identical-text" in queued
