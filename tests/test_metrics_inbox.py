"""Response metrics are noted by the processing stage and folded later: nothing counted twice or lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from moderation.classifier import Moderator
from storage import tables as t
from storage.ingest import store_fetch
from storage.outbox import mark_sent
from storage.response_metrics import catch_up, fold_pending, rebuild
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.processing import Processor
from tests.factories import make_message

COMPLAINT = "@acme my order #{n} arrived broken and I want a refund"


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def process(db: Engine, clock: FrozenClock, moderator: Moderator, count: int, start: int = 0) -> None:
    messages = [
        make_message(f"m{n}", COMPLAINT.format(n=n), author_id=f"a{n}", thread=f"t{n}", minutes=n)
        for n in range(start, start + count)
    ]
    store_fetch(db, "x:mentions:1", messages, None, [], clock.now())
    assert Processor(db, moderator, PolicySource(None).current, clock).drain(100) == count


def conversations(db: Engine) -> list[tuple[int, int, int | None]]:
    rc = t.response_conversations
    with db.connect() as conn:
        return [
            (row.message_id, row.message_count, row.automated_ms)
            for row in conn.execute(
                select(rc.c.message_id, rc.c.message_count, rc.c.automated_ms).order_by(rc.c.message_id)
            )
        ]


def inbox(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.metrics_inbox)).scalar_one())


def test_processing_notes_messages_and_a_fold_counts_each_once(
    db: Engine, clock: FrozenClock, moderator: Moderator
) -> None:
    process(db, clock, moderator, 7)
    assert inbox(db) == 7
    assert conversations(db) == []
    with db.begin() as conn:
        assert fold_pending(conn, limit=5) == 5  # oldest first, at most `limit`
    assert len(conversations(db)) == 5
    assert catch_up(db) == 2
    assert catch_up(db) == 0  # folding again finds nothing: no message is counted twice
    assert [count for _, count, _ in conversations(db)] == [1] * 7
    assert inbox(db) == 0


def test_a_send_confirmed_before_its_message_was_folded_still_counts(
    db: Engine, clock: FrozenClock, moderator: Moderator
) -> None:
    process(db, clock, moderator, 1)
    o = t.outbox
    with db.begin() as conn:
        sends = conn.execute(select(o.c.id).where(o.c.kind == "public_reply")).scalars().all()
        assert len(sends) == 1, "the default policy acknowledges a complaint"
        mark_sent(conn, sends[0], "tweet-1", "public_reply", clock.now() + timedelta(seconds=90))
    assert conversations(db) == []  # the conversation does not exist yet: the send waits for the fold
    catch_up(db)
    [(_, _, automated_ms)] = conversations(db)
    assert automated_ms is not None and automated_ms > 0


def test_a_rebuild_takes_what_was_noted_so_nothing_is_folded_twice(
    db: Engine, clock: FrozenClock, moderator: Moderator
) -> None:
    process(db, clock, moderator, 3)
    with db.begin() as conn:
        assert rebuild(conn) == 3
    assert inbox(db) == 0
    assert catch_up(db) == 0
    assert [count for _, count, _ in conversations(db)] == [1, 1, 1]
