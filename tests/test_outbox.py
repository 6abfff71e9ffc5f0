"""The outbox dispatcher with the real X bot over HTTP: retries, rate limits, give-up, crash recovery."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bots.base import OutboundAction, SendKind, SendResult
from bots.outbox import OutboxDispatcher, backoff_delay, to_action
from bots.x import XBot
from simulator.x import XSimulator
from storage import tables as t
from storage.ingest import store_fetch
from storage.outbox import OutboxEntry, due_entries
from tactful.clock import FrozenClock
from tactful.domain import Platform
from tactful.errors import DeliveryUnknown, TransientPlatformError
from tests.factories import make_message
from tests.x_helpers import BRAND_ID, BRAND_USERNAME, START, client_for


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sim(clock: FrozenClock) -> Iterator[XSimulator]:
    simulator = XSimulator(BRAND_ID, BRAND_USERNAME, clock)
    simulator.add_user("200", "alice", "Alice")
    simulator.add_user("201", "bob", "Bob", accepts_dms=False)
    simulator.start()
    yield simulator
    simulator.stop()


def dispatcher(db: Engine, sim: XSimulator, clock: FrozenClock, cap: int = 30) -> OutboxDispatcher:
    bot = XBot(client_for(sim), BRAND_ID)
    return OutboxDispatcher(db, {Platform.X: bot}, clock, sends_per_minute=lambda: cap, max_attempts=3)


def enqueue(
    db: Engine,
    sim: XSimulator,
    clock: FrozenClock,
    kind: SendKind = SendKind.PUBLIC_REPLY,
    author: str = "200",
    text: str = "Sorry about that, we're on it",
    fallback: str | None = None,
) -> tuple[int, str]:
    """Post a real tweet in the simulator, store it, and queue one outbox item for it."""
    tweet_id = sim.post(author, f"@{BRAND_USERNAME} my order is late")
    store_fetch(db, "x:test", [make_message(tweet_id, author_id=author)], tweet_id, [], clock.now())
    with db.begin() as conn:
        message_id, thread_id, author_id = conn.execute(
            select(t.messages.c.id, t.messages.c.thread_id, t.messages.c.author_id).where(
                t.messages.c.external_id == tweet_id
            )
        ).one()
        result = conn.execute(
            t.outbox.insert().values(
                idempotency_key=f"x:{tweet_id}:{kind.value}",
                message_id=message_id,
                thread_id=thread_id,
                author_id=author_id,
                platform="x",
                kind=kind.value,
                thread_external_id=tweet_id,
                target_external_id=tweet_id,
                recipient_external_id=author,
                text=text,
                fallback_text=fallback,
                rule_id="complaint",
                policy_version="test",
                status="pending",
                attempts=0,
                next_attempt_at=clock.now(),
                created_at=clock.now(),
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0]), tweet_id


def outbox_row(db: Engine, item_id: int) -> dict[str, object]:
    with db.connect() as conn:
        return dict(conn.execute(select(t.outbox).where(t.outbox.c.id == item_id)).one()._mapping)


def test_reply_is_sent_once_and_recorded_with_platform_id(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, tweet_id = enqueue(sqlite_db, sim, clock)
    d = dispatcher(sqlite_db, sim, clock)
    assert d.dispatch_due() == 1
    assert d.dispatch_due() == 0
    replies = sim.brand_replies()
    assert [r.in_reply_to_tweet_id for r in replies] == [tweet_id]
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "sent"
    assert row["platform_ref"] == replies[0].tweet_id
    with sqlite_db.connect() as conn:
        audit = conn.execute(select(t.audit_log.c.action, t.audit_log.c.detail)).one()
    assert audit.action == "outbox.public_reply"
    assert audit.detail["rule"] == "complaint"


def test_server_errors_back_off_then_succeed(sqlite_db: Engine, sim: XSimulator, clock: FrozenClock) -> None:
    item_id, _ = enqueue(sqlite_db, sim, clock)
    sim.fail_next("POST", "/2/tweets", 503, count=1)
    d = dispatcher(sqlite_db, sim, clock)
    assert d.dispatch_due() == 0
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "sending"  # X may have posted it anyway: looked for before any resend
    assert row["attempts"] == 1
    assert "503" in str(row["last_error"]) or "Service" in str(row["last_error"])
    assert d.dispatch_due() == 0  # not looked for yet
    clock.advance(timedelta(seconds=5))
    assert d.dispatch_due() == 0  # looked for and not found: back to pending, after a backoff
    assert outbox_row(sqlite_db, item_id)["status"] == "pending"
    clock.advance(timedelta(seconds=5))
    assert d.dispatch_due() == 1
    assert len(sim.brand_replies()) == 1


def test_a_reply_posted_although_no_answer_came_back_is_not_sent_again(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, tweet_id = enqueue(sqlite_db, sim, clock)
    sim.set_drop_rate(1.0, after_effect=True, methods=["POST"], paths=["^/2/tweets$"], limit=1)
    d = dispatcher(sqlite_db, sim, clock)
    assert d.dispatch_due() == 0
    assert [r.in_reply_to_tweet_id for r in sim.brand_replies()] == [tweet_id]  # posted, answer lost
    clock.advance(timedelta(seconds=5))
    assert d.dispatch_due() == 1  # found on the timeline and recorded
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "sent"
    assert row["platform_ref"] == sim.brand_replies()[0].tweet_id
    clock.advance(timedelta(minutes=10))
    assert d.dispatch_due() == 0
    assert len(sim.brand_replies()) == 1


def test_rate_limit_waits_for_reset_without_counting_an_attempt(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, _ = enqueue(sqlite_db, sim, clock)
    sim.fail_next("POST", "/2/tweets", 429, retry_after=120)
    d = dispatcher(sqlite_db, sim, clock)
    assert d.dispatch_due() == 0
    row = outbox_row(sqlite_db, item_id)
    assert row["attempts"] == 0
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=120)
    clock.advance(timedelta(seconds=60))
    assert d.dispatch_due() == 0
    clock.advance(timedelta(seconds=61))
    assert d.dispatch_due() == 1


def test_gives_up_after_max_attempts_into_the_review_queue(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, _ = enqueue(sqlite_db, sim, clock)
    sim.fail_next("POST", "/2/tweets", 500, count=10)
    d = dispatcher(sqlite_db, sim, clock)
    for _ in range(7):  # each failed attempt is looked for on X before the next one
        d.dispatch_due()
        clock.advance(timedelta(minutes=15))
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    with sqlite_db.connect() as conn:
        item = conn.execute(select(t.review_items.c.reason, t.review_items.c.priority)).one()
    assert "failed" in item.reason
    assert item.priority >= 80
    assert sim.brand_replies() == []


def test_closed_dms_fall_back_to_public_invitation(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, tweet_id = enqueue(
        sqlite_db,
        sim,
        clock,
        kind=SendKind.DIRECT_MESSAGE,
        author="201",
        fallback="Please DM us: https://x.com/dm",
    )
    d = dispatcher(sqlite_db, sim, clock)
    assert d.dispatch_due() == 1
    assert sim.brand_dms() == []
    [reply] = sim.brand_replies()
    assert reply.in_reply_to_tweet_id == tweet_id
    assert "DM us" in reply.text
    assert outbox_row(sqlite_db, item_id)["kind_used"] == "public_reply"


def test_global_send_cap_holds_back_sends_until_the_window_moves(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    for _ in range(3):
        enqueue(sqlite_db, sim, clock)
    d = dispatcher(sqlite_db, sim, clock, cap=2)
    assert d.dispatch_due() == 2
    assert d.dispatch_due() == 0
    clock.advance(timedelta(seconds=61))
    assert d.dispatch_due() == 1


def test_recovery_finds_a_reply_delivered_before_the_crash(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, _ = enqueue(sqlite_db, sim, clock)
    # The crash happened after the platform accepted the reply but before it was marked sent.
    XBot(client_for(sim), BRAND_ID).send(to_action(_entry(sqlite_db, item_id)))
    with sqlite_db.begin() as conn:
        conn.execute(t.outbox.update().where(t.outbox.c.id == item_id).values(status="sending", attempts=1))
    d = dispatcher(sqlite_db, sim, clock)
    assert d.recover() == 1
    assert d.dispatch_due() == 0
    assert len(sim.brand_replies()) == 1
    assert outbox_row(sqlite_db, item_id)["status"] == "sent"


def test_recovery_resends_what_never_reached_the_platform(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, _ = enqueue(sqlite_db, sim, clock)
    with sqlite_db.begin() as conn:
        conn.execute(t.outbox.update().where(t.outbox.c.id == item_id).values(status="sending", attempts=1))
    d = dispatcher(sqlite_db, sim, clock)
    assert d.recover() == 0
    assert d.dispatch_due() == 1
    assert len(sim.brand_replies()) == 1


def test_backoff_is_capped_and_jittered() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(n, base=2, cap=60, rng=rng).total_seconds() for n in range(1, 12)]
    assert all(d <= 60 for d in delays)
    assert delays[0] <= 2
    assert max(delays) > 25


def _entry(db: Engine, item_id: int) -> OutboxEntry:
    with db.connect() as conn:
        return next(e for e in due_entries(conn, START + timedelta(days=1), 100, set()) if e.id == item_id)


class _TimingOutBot(XBot):
    """An X bot whose platform cannot list sends, and whose every send times out."""

    finds_sent = False

    def send(self, action: OutboundAction) -> SendResult:
        raise TransientPlatformError("sendMessage timed out", maybe_delivered=True)

    def find_sent(self, action: OutboundAction) -> SendResult | None:
        raise DeliveryUnknown("this platform cannot list sent messages")


def test_a_timed_out_send_that_cannot_be_looked_for_goes_to_a_person_not_out_again(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock
) -> None:
    item_id, _ = enqueue(sqlite_db, sim, clock)
    bot = _TimingOutBot(client_for(sim), BRAND_ID)
    d = OutboxDispatcher(sqlite_db, {Platform.X: bot}, clock, sends_per_minute=lambda: 30, max_attempts=3)
    assert d.dispatch_due() == 0
    clock.advance(timedelta(seconds=5))
    assert d.dispatch_due() == 0
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "failed"
    assert row["attempts"] == 1, "sent once, never again"
    assert "check the conversation" in str(row["last_error"])


def test_only_timeouts_say_a_telegram_request_may_have_been_carried_out() -> None:
    from telegram.error import NetworkError, TimedOut

    from listeners.telegram_client import translate_error

    timed_out = translate_error(TimedOut(), "sendMessage")
    bad_gateway = translate_error(NetworkError("Bad Gateway"), "sendMessage")
    assert isinstance(timed_out, TransientPlatformError) and timed_out.maybe_delivered
    assert isinstance(bad_gateway, TransientPlatformError) and not bad_gateway.maybe_delivered


def test_a_spell_of_rate_limits_is_logged_once_not_once_per_send(
    sqlite_db: Engine, sim: XSimulator, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    d = dispatcher(sqlite_db, sim, clock, cap=1000)
    caplog.set_level(logging.INFO, logger="bots.outbox")
    for _ in range(5):  # each send is followed by a "slow down" on the next one, as Telegram paces a chat
        enqueue(sqlite_db, sim, clock)
        sim.fail_next("POST", "/2/tweets", 429, retry_after=1)
        assert d.dispatch_due() == 0
        clock.advance(timedelta(seconds=2))
        assert d.dispatch_due() == 1
    paced = [r for r in caplog.records if "rate limit" in r.getMessage()]
    assert [r.getMessage().split(" (")[0] for r in paced] == ["sending on x is paced by its rate limit"]
    assert all(r.levelno == logging.INFO for r in paced)
    clock.advance(timedelta(minutes=2))
    enqueue(sqlite_db, sim, clock)
    assert d.dispatch_due() == 1
    ended = [r.getMessage() for r in caplog.records if "no longer rate limited" in r.getMessage()]
    assert ended == ["sending on x is no longer rate limited"]
