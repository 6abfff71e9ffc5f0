"""The polling coordinator: stores with the cursor, adapts to quota, backs off, logs once each way."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from listeners.base import RateLimitStatus
from listeners.x import XMentionsListener
from simulator.x import XSimulator
from storage import tables as t
from storage.ingest import load_cursor
from tactful.clock import FrozenClock
from tactful.polling import PollCoordinator, delay_for_quota
from tests.x_helpers import BRAND_ID, BRAND_USERNAME, START, client_for


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sim(clock: FrozenClock) -> Iterator[XSimulator]:
    simulator = XSimulator(BRAND_ID, BRAND_USERNAME, clock)
    simulator.add_user("200", "alice", "Alice")
    simulator.start()
    yield simulator
    simulator.stop()


def coordinator(db: Engine, sim: XSimulator, clock: FrozenClock) -> PollCoordinator:
    listener = XMentionsListener(client_for(sim), BRAND_ID, clock=clock)
    return PollCoordinator(listener, db, clock, timedelta(seconds=60), rng=random.Random(1))


def stored(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.messages)).scalar_one())


def test_quota_spreads_polls_until_reset_and_never_polls_faster_than_the_interval(clock: FrozenClock) -> None:
    base = timedelta(seconds=60)
    reset = clock.now() + timedelta(minutes=15)
    assert delay_for_quota(base, None, clock) == base
    assert delay_for_quota(base, RateLimitStatus(450, 449, reset), clock) == base
    assert delay_for_quota(base, RateLimitStatus(450, 5, reset), clock) == timedelta(minutes=3)
    assert delay_for_quota(base, RateLimitStatus(450, 0, reset), clock) == timedelta(minutes=15, seconds=1)


def test_poll_stores_messages_with_cursor_and_follows_quota(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    poller = coordinator(sqlite_db, sim, clock)
    first = sim.post("200", "@acme my order is late")
    outcome = poller.poll_once()
    assert outcome.stats is not None and outcome.stats.stored == 1
    assert load_cursor(sqlite_db, poller.listener.key) == first
    sim.set_rate_limit("/2/users/:id/mentions", limit=3, window_seconds=900)
    sim.post("200", "@acme still late")
    outcome = poller.poll_once()
    assert stored(sqlite_db) == 2
    assert outcome.next_delay > timedelta(seconds=60)  # 2 calls left in 15 minutes: slow down


def test_rate_limit_waits_for_reset_then_resumes(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    poller = coordinator(sqlite_db, sim, clock)
    sim.post("200", "@acme hello")
    sim.fail_next("GET", "/2/users/:id/mentions", 429, retry_after=300)
    outcome = poller.poll_once()
    assert outcome.stats is None
    assert timedelta(seconds=300) <= outcome.next_delay <= timedelta(seconds=302)
    clock.advance(outcome.next_delay)
    assert poller.poll_once().stats is not None
    assert stored(sqlite_db) == 1


def test_failures_back_off_and_are_logged_once_until_recovery(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    poller = coordinator(sqlite_db, sim, clock)
    sim.fail_next("GET", "/2/users/:id/mentions", 503, count=4)
    caplog.set_level(logging.INFO, logger="tactful.polling")
    delays = [poller.poll_once().next_delay for _ in range(4)]
    assert all(d >= timedelta(seconds=30) for d in delays)
    assert delays[-1] > delays[0]
    assert sum("polling failed" in r.message for r in caplog.records) == 1
    sim.post("200", "@acme back?")
    assert poller.poll_once().stats is not None
    assert sum("recovered" in r.message for r in caplog.records) == 1
    assert poller.poll_once().error is None
    assert sum("recovered" in r.message for r in caplog.records) == 1
