"""People acting at the same moment on two connections: one claim wins, one reply is queued, one admin stays."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from storage import tables as t
from storage.db import make_engine
from storage.queue_actions import QueueConflict, claim_item, reply_to_item
from storage.users import UserError, add_user, list_users, set_role
from tactful.clock import FrozenClock
from tactful.roles import Role
from tests.dashboard_helpers import CHEAP_HASHER, PASSWORD
from tests.factories import make_message
from tests.queue_helpers import open_item, store

ROUNDS = 8


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.users.HASHER", CHEAP_HASHER)


@pytest.fixture
def second(db: Engine) -> Iterator[Engine]:
    """A second engine on the same database: its own connections, as another process would have."""
    engine = make_engine(db.url.render_as_string(hide_password=False))
    for warm in (db, engine):  # connect both first, so the racing transactions start together
        with warm.connect():
            pass
    yield engine
    engine.dispose()


def race(first: Callable[[], Any], other: Callable[[], Any]) -> list[Any]:
    """Run two calls at the same moment on two threads; return each one's result or exception."""
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate((first, other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_two_concurrent_claims_of_one_item_have_exactly_one_winner(
    db: Engine, second: Engine, clock: FrozenClock
) -> None:
    messages = [make_message(str(n), f"help {n}", thread=f"t{n}") for n in range(ROUNDS)]
    ids = store(db, clock.now(), *messages)
    for n in range(ROUNDS):
        item = open_item(db, ids[str(n)], clock.now())
        results = race(
            lambda item=item: claim_item(db, item, "alice", clock.now()),
            lambda item=item: claim_item(second, item, "bob", clock.now()),
        )
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert isinstance(losers[0], QueueConflict)
        assert f"already claimed by {winners[0].assignee}" in str(losers[0])
        with db.connect() as conn:
            holder = conn.execute(
                select(t.review_items.c.assignee).where(t.review_items.c.id == item)
            ).scalar()
        assert holder == winners[0].assignee


def test_one_reply_form_posted_twice_at_once_queues_one_row(
    db: Engine, second: Engine, clock: FrozenClock
) -> None:
    ids = store(db, clock.now(), make_message("1", "where is my order?"))
    item = open_item(db, ids["1"], clock.now())
    key = "same-form-key-0123456789"
    results = race(
        lambda: reply_to_item(db, item, "On it!", "alice", clock.now(), request_key=key),
        lambda: reply_to_item(second, item, "On it!", "alice", clock.now(), request_key=key),
    )
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].outbox_id == results[1].outbox_id
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.outbox)).scalar_one() == 1


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    db: Engine, second: Engine, clock: FrozenClock
) -> None:
    survivor = None
    for n in range(ROUNDS):
        ann, ben = f"ann{n}", f"ben{n}"
        for name in (ann, ben):
            add_user(db, name, Role.ADMIN, PASSWORD, "test", clock.now())
        if survivor is not None:
            set_role(db, survivor, Role.AGENT, "test", clock.now())
        results = race(
            lambda ann=ann, ben=ben: set_role(db, ann, Role.AGENT, ben, clock.now()),
            lambda ann=ann, ben=ben: set_role(second, ben, Role.AGENT, ann, clock.now()),
        )
        assert sum(isinstance(r, UserError) for r in results) == 1, results
        with db.connect() as conn:
            admins = [u.name for u in list_users(conn) if u.role is Role.ADMIN]
        assert len(admins) == 1
        survivor = admins[0]
