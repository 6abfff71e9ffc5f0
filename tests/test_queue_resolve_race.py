"""A person resolves a review item while a batch of the same thread is being decided: nothing is lost."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

import tactful.processing as processing
from moderation.classifier import Moderator
from storage import tables as t
from storage.queue_actions import resolve_item
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.processing import Processor
from tests.factories import make_message
from tests.queue_helpers import store


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def items(db: Engine) -> list[tuple[str, int, int]]:
    r = t.review_items
    with db.connect() as conn:
        return [
            (row.status, row.message_count, row.message_id)
            for row in conn.execute(select(r.c.status, r.c.message_count, r.c.message_id).order_by(r.c.id))
        ]


def test_a_message_for_an_item_resolved_meanwhile_opens_a_new_item(
    db: Engine, clock: FrozenClock, moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = Processor(db, moderator, PolicySource(None).current, clock)
    first = make_message("1", "my order #4411 never arrived, I want a refund", thread="t1")
    ids = store(db, clock.now(), first)
    assert processor.drain(50) == 1
    [(status, _count, _message)] = items(db)
    assert status == "open"
    item_id = 1

    load = processing.load_thread_states

    def load_then_resolve(conn: Any, thread_ids: set[int]) -> Any:
        states = load(conn, thread_ids)
        resolve_item(db, item_id, "alice", clock.now(), note="refund sent")  # a person, on another connection
        return states

    monkeypatch.setattr(processing, "load_thread_states", load_then_resolve)
    clock.advance(60)
    ids = store(
        db, clock.now(), make_message("2", "still nothing?? where is my refund", thread="t1", minutes=1)
    )
    assert processor.drain(50) == 1
    assert items(db) == [("resolved", 1, ids["1"]), ("open", 1, ids["2"])]


def test_a_message_for_a_waiting_item_joins_it(db: Engine, clock: FrozenClock, moderator: Moderator) -> None:
    processor = Processor(db, moderator, PolicySource(None).current, clock)
    store(db, clock.now(), make_message("1", "my order #4411 never arrived, I want a refund", thread="t1"))
    processor.drain(50)
    ids = store(
        db, clock.now(), make_message("2", "still nothing?? where is my refund", thread="t1", minutes=1)
    )
    processor.drain(50)
    assert items(db) == [("open", 2, ids["2"])]


def test_a_flag_a_person_set_meanwhile_survives_the_batch(
    db: Engine, clock: FrozenClock, moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = Processor(db, moderator, PolicySource(None).current, clock)
    store(db, clock.now(), make_message("0", "hello there", thread="t0"))
    assert processor.drain(50) == 1  # records the policy version: later batches write only at the end
    load = processing.load_thread_states

    def load_then_person_acts(conn: Any, thread_ids: set[int]) -> Any:
        states = load(conn, thread_ids)
        with db.begin() as other:  # a person answers and moves the thread to private, on another connection
            other.execute(
                t.threads.update()
                .where(t.threads.c.external_id == "t1")
                .values(acknowledged=True, moved_private=True)
            )
        return states

    monkeypatch.setattr(processing, "load_thread_states", load_then_person_acts)
    store(db, clock.now(), make_message("1", "spam spam FREE crypto giveaway bit.ly/x", thread="t1"))
    assert processor.drain(50) == 1
    with db.connect() as conn:
        flags = conn.execute(
            select(t.threads.c.acknowledged, t.threads.c.moved_private).where(t.threads.c.external_id == "t1")
        ).one()
    assert tuple(flags) == (True, True)
