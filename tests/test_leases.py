"""Leases shared by `tactful run` processes: atomic takeover, renewal, expiry, release, fair shares."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from listeners.base import FetchResult, Listener
from simulator.x import XSimulator
from storage import tables as t
from storage.ingest import store_fetch
from storage.leases import acquire, holder_of, live_holders, release, renew
from storage.outbox import interrupted_entries
from storage.work import read_partition
from tactful.clock import FrozenClock
from tactful.domain import Platform
from tactful.leasing import LeaseKeeper, PartitionLeases, fair_share
from tactful.polling import PollCoordinator
from tests.factories import make_message
from tests.test_outbox import dispatcher, enqueue, outbox_row
from tests.x_helpers import BRAND_ID, BRAND_USERNAME

TTL = timedelta(seconds=30)


def test_a_lease_is_held_by_one_holder_renewed_taken_over_on_expiry_and_released(
    db: Engine, clock: FrozenClock
) -> None:
    with db.begin() as conn:
        assert acquire(conn, ["listener:x"], "a", clock.now(), TTL) == {"listener:x"}
        assert acquire(conn, ["listener:x"], "b", clock.now(), TTL) == set()
    taken_at = clock.now()
    clock.advance(20)
    with db.begin() as conn:
        assert acquire(conn, ["listener:x"], "a", clock.now(), TTL) == {"listener:x"}  # renewed to +30 s
    clock.advance(20)  # 40 s after the first take, 20 s after the renewal
    with db.begin() as conn:
        assert acquire(conn, ["listener:x"], "b", clock.now(), TTL) == set()
        assert holder_of(conn, "listener:x", clock.now()) == "a"
        assert conn.execute(select(t.leases.c.acquired_at)).scalar_one() == taken_at
    clock.advance(10)  # the renewal expired: anyone may take it
    with db.begin() as conn:
        assert holder_of(conn, "listener:x", clock.now()) is None
        assert acquire(conn, ["listener:x"], "b", clock.now(), TTL) == {"listener:x"}
        assert conn.execute(select(t.leases.c.acquired_at)).scalar_one() == clock.now()
        assert renew(conn, "a", clock.now(), TTL, "listener:") == set()  # a lost it
        assert renew(conn, "b", clock.now(), TTL, "listener:") == {"listener:x"}
        assert release(conn, "a") == 0
        assert release(conn, "b", ["listener:x"]) == 1
        assert acquire(conn, ["listener:x"], "a", clock.now(), TTL) == {"listener:x"}  # free at once


def test_taking_many_leases_gets_only_the_free_and_expired_ones(db: Engine, clock: FrozenClock) -> None:
    with db.begin() as conn:
        acquire(conn, ["partition:0", "partition:1"], "a", clock.now(), TTL)
        acquire(conn, ["partition:2"], "b", clock.now(), timedelta(seconds=5))
    clock.advance(10)
    with db.begin() as conn:
        got = acquire(conn, [f"partition:{n}" for n in range(4)], "c", clock.now(), TTL)
        assert got == {"partition:2", "partition:3"}
        assert live_holders(conn, "partition:", clock.now()) == {
            "partition:0": "a",
            "partition:1": "a",
            "partition:2": "c",
            "partition:3": "c",
        }


def test_of_many_processes_racing_for_a_free_lease_exactly_one_wins(db: Engine, clock: FrozenClock) -> None:
    racers = 6
    barrier = threading.Barrier(racers)
    winners: list[str] = []
    errors: list[BaseException] = []

    def race(name: str) -> None:
        try:
            barrier.wait(10)
            with db.begin() as conn:
                if acquire(conn, ["job:team_chat"], name, clock.now(), TTL):
                    winners.append(name)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(f"p{n}",)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(winners) == 1
    with db.connect() as conn:
        assert holder_of(conn, "job:team_chat", clock.now()) == winners[0]


def test_lease_keeper_logs_gains_and_losses_once_and_calls_back_on_gain(
    db: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    gained: list[str] = []
    first = LeaseKeeper(db, clock, "job:x", "first", TTL, on_gain=lambda: gained.append("first"))
    second = LeaseKeeper(db, clock, "job:x", "second", TTL, on_gain=lambda: gained.append("second"))
    caplog.set_level(logging.INFO, logger="tactful.leasing")
    assert first.hold() and first.hold()
    assert not second.hold()
    clock.advance(31)
    assert second.hold()
    assert not first.hold() and not first.hold()
    assert gained == ["first", "second"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("took the lease" in m for m in messages) == 2
    assert sum("lease lost" in m for m in messages) == 1
    second.release()
    assert first.hold()  # released: no waiting for the expiry


def partition_leases(db: Engine, clock: FrozenClock, holder: str, **kwargs: object) -> PartitionLeases:
    return PartitionLeases(db, clock, holder, 16, TTL, **kwargs)  # type: ignore[arg-type]


def assert_disjoint_cover(*workers: PartitionLeases) -> None:
    held = [w.held for w in workers]
    assert sum(len(h) for h in held) == 16
    assert frozenset().union(*held) == frozenset(range(16))


def test_workers_hold_fair_shares_rebalance_as_workers_join_and_take_over_a_dead_workers_share(
    db: Engine, clock: FrozenClock
) -> None:
    assert fair_share(16, 3) == 6
    a = partition_leases(db, clock, "a")
    assert a.refresh() == frozenset(range(16))  # alone: every partition
    b = partition_leases(db, clock, "b")
    assert b.refresh() == frozenset()  # none free until a gives some up
    assert a.refresh() == frozenset(range(16))  # not due yet: no query, same share
    clock.advance(1)
    assert len(a.refresh()) == 8
    assert len(b.refresh(force=True)) == 8
    assert_disjoint_cover(a, b)
    c = partition_leases(db, clock, "c")
    c.refresh()
    clock.advance(1)
    a.refresh(), b.refresh()
    assert len(a.held) == len(b.held) == 6
    assert len(c.refresh(force=True)) == 4
    assert_disjoint_cover(a, b, c)
    # b dies (stops renewing): once its leases expire, a and c take its partitions over.
    for _ in range(31):
        clock.advance(1)
        a.refresh(), c.refresh()
        assert not (a.held & c.held)
    assert len(a.held) == len(c.held) == 8
    assert_disjoint_cover(a, c)
    # c stops cleanly: a takes everything at its next tick, without waiting for an expiry.
    c.release_all()
    clock.advance(1)
    assert a.refresh() == frozenset(range(16))


def test_workers_of_one_pool_split_by_preference_from_the_start(db: Engine, clock: FrozenClock) -> None:
    workers = [
        partition_leases(
            db, clock, f"pool/w{k}", min_workers=2, preferred=frozenset(p for p in range(16) if p % 2 == k)
        )
        for k in range(2)
    ]
    assert workers[0].refresh() == frozenset(range(0, 16, 2))
    assert workers[1].refresh() == frozenset(range(1, 16, 2))
    # A restarted worker keeps its slot's name and so its leases, at once.
    again = partition_leases(db, clock, "pool/w1", min_workers=2)
    assert again.refresh() == frozenset(range(1, 16, 2))


def test_reading_a_set_of_partitions_returns_only_their_threads(db: Engine, clock: FrozenClock) -> None:
    messages = [make_message(str(i), thread=f"t{i % 10}", minutes=i) for i in range(40)]
    store_fetch(db, "x:mentions:1", messages, "40", [], clock.now())
    with db.connect() as conn:
        rows = read_partition(conn, 100, ({1, 3}, 4))
        single = read_partition(conn, 100, (3, 4))
    assert rows and all(row.thread_id % 4 in (1, 3) for row in rows)
    assert {row.thread_id for row in single} == {row.thread_id for row in rows if row.thread_id % 4 == 3}
    with pytest.raises(ValueError), db.connect() as conn:
        read_partition(conn, 10, ({4}, 4))


class CountingListener(Listener):
    """A listener that returns one new message per fetch and counts its fetches."""

    def __init__(self, during_fetch: Callable[[], None] = lambda: None) -> None:
        self.key = "x:mentions:1000"
        self.platform = Platform.X
        self.fetches = 0
        self._during_fetch = during_fetch

    def fetch(self, cursor: str | None) -> FetchResult:
        self.fetches += 1
        self._during_fetch()
        return FetchResult(messages=[make_message(f"m{self.fetches}")], cursor=str(self.fetches))


def test_a_listener_is_polled_by_the_lease_holder_only_and_taken_over_when_it_stops(
    db: Engine, clock: FrozenClock
) -> None:
    interval = timedelta(seconds=5)

    def poller(holder: str, listener: Listener) -> PollCoordinator:
        lease = LeaseKeeper(db, clock, f"listener:{listener.key}", holder, TTL)
        return PollCoordinator(listener, db, clock, interval, lease=lease)

    one, two = CountingListener(), CountingListener()
    first, second = poller("one", one), poller("two", two)
    for _ in range(5):
        assert first.poll_once().stats is not None
        outcome = second.poll_once()
        assert outcome.standby and outcome.next_delay == interval
        clock.advance(interval)
    assert (one.fetches, two.fetches) == (5, 0)
    clock.advance(TTL)  # the first process died: its lease runs out
    assert second.poll_once().stats is not None
    assert first.poll_once().standby
    assert (one.fetches, two.fetches) == (5, 1)


def test_a_fetch_that_outlives_its_lease_is_not_stored(db: Engine, clock: FrozenClock) -> None:
    def stall_and_lose_the_lease() -> None:
        clock.advance(TTL * 2)
        with db.begin() as conn:
            acquire(conn, ["listener:x:mentions:1000"], "other", clock.now(), TTL)

    listener = CountingListener(during_fetch=stall_and_lose_the_lease)
    lease = LeaseKeeper(db, clock, "listener:x:mentions:1000", "slow", TTL)
    outcome = PollCoordinator(listener, db, clock, timedelta(seconds=5), lease=lease).poll_once()
    assert outcome.standby and outcome.stats is None
    with db.connect() as conn:
        assert conn.execute(select(t.messages.c.id)).all() == []


def test_only_stale_interrupted_sends_are_recovered_when_other_senders_may_be_alive(
    db: Engine, clock: FrozenClock
) -> None:
    sim = XSimulator(BRAND_ID, BRAND_USERNAME, clock)
    sim.add_user("200", "alice", "Alice")
    sim.start()
    try:
        item_id, _ = enqueue(db, sim, clock)
        with db.begin() as conn:  # another process marked it sending a moment ago, and is sending it
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id == item_id)
                .values(status="sending", attempts=1, next_attempt_at=clock.now())
            )
        d = dispatcher(db, sim, clock)
        clock.advance(10)
        assert d.recover(stale_after=timedelta(seconds=30)) == 0
        assert outbox_row(db, item_id)["status"] == "sending"  # left alone: it may be in flight
        clock.advance(25)  # now older than any send can take: that process died mid-send
        with db.connect() as conn:
            assert len(interrupted_entries(conn, marked_before=clock.now() - timedelta(seconds=30))) == 1
        assert d.recover(stale_after=timedelta(seconds=30)) == 0
        assert outbox_row(db, item_id)["status"] == "pending"
        assert d.dispatch_due() == 1
        assert len(sim.brand_replies()) == 1
    finally:
        sim.stop()
