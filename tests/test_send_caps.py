"""Send caps shared by every process: one global sliding-window cap, and identical-text suppression."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from bots.base import Bot, OutboundAction, SendKind, SendResult
from bots.outbox import OutboxDispatcher
from policies.loader import default_policy_path
from policies.schema import Safety
from storage import send_budget
from storage import tables as t
from storage.db import make_engine
from storage.ingest import store_fetch
from storage.send_budget import IdenticalTexts
from tactful.clock import FrozenClock
from tactful.domain import Channel, Platform
from tactful.errors import TransientPlatformError
from tactful.policy_source import PolicySource
from tactful.text_identity import text_hash
from tests.factories import BASE_TIME, make_message

DAY = IdenticalTexts(max_sends=1, window=timedelta(hours=24))


class FakeBot(Bot):
    """Records every send with the clock's time; optionally fails them without an answer."""

    def __init__(self, platform: Platform, clock: FrozenClock, log: list[tuple[str, datetime]]) -> None:
        self.platform = platform
        self._clock = clock
        self._log = log
        self._lock = threading.Lock()
        self.time_out = False

    def send(self, action: OutboundAction) -> SendResult:
        if self.time_out:
            raise TransientPlatformError("timed out", maybe_delivered=True)
        with self._lock:
            self._log.append((action.idempotency_key, self._clock.now()))
        return SendResult(platform_ref=f"ref-{action.idempotency_key}", kind_used=action.kind)

    def find_sent(self, action: OutboundAction) -> SendResult | None:
        return None


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(BASE_TIME)


@pytest.fixture
def other_engine(db_url: str, db: Engine) -> Iterator[Engine]:
    """A second engine on the same database, as another process would have."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


_counter = iter(range(1_000_000))


def enqueue(
    db: Engine,
    clock: FrozenClock,
    text: str | None = None,
    *,
    platform: Platform = Platform.X,
    kind: SendKind = SendKind.PUBLIC_REPLY,
    thread: str | None = None,
    author: str | None = None,
    due: datetime | None = None,
) -> int:
    """Store a customer message and queue one outbox item answering it; return the item's id."""
    n = next(_counter)
    external = f"m{n}"
    author = author or f"a{n}"
    channel = Channel.GROUP if platform == Platform.TELEGRAM else Channel.MENTION
    message = make_message(external, author_id=author, thread=thread, platform=platform, channel=channel)
    store_fetch(db, f"{platform.value}:test", [message], None, [], clock.now())
    with db.begin() as conn:
        message_id, thread_id, author_id = conn.execute(
            select(t.messages.c.id, t.messages.c.thread_id, t.messages.c.author_id).where(
                t.messages.c.platform == platform.value, t.messages.c.external_id == external
            )
        ).one()
        result = conn.execute(
            t.outbox.insert().values(
                idempotency_key=f"{platform.value}:{external}:{kind.value}",
                message_id=message_id,
                thread_id=thread_id,
                author_id=author_id,
                platform=platform.value,
                kind=kind.value,
                thread_external_id=thread or external,
                target_external_id=external,
                recipient_external_id=author,
                text=None if kind == SendKind.HIDE else (text or f"answer number {n}"),
                rule_id="complaint",
                policy_version="test",
                status="pending",
                attempts=0,
                next_attempt_at=due or clock.now(),
                created_at=clock.now(),
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])


def dispatcher(
    db: Engine,
    bots: dict[Platform, Bot],
    clock: FrozenClock,
    cap: int = 30,
    identical: IdenticalTexts | None = None,
) -> OutboxDispatcher:
    return OutboxDispatcher(
        db, bots, clock, sends_per_minute=lambda: cap, max_attempts=3, identical_texts=lambda: identical
    )


def statuses(db: Engine) -> dict[int, str]:
    with db.connect() as conn:
        return {row.id: row.status for row in conn.execute(select(t.outbox.c.id, t.outbox.c.status))}


def row(db: Engine, item_id: int) -> dict[str, object]:
    with db.connect() as conn:
        return dict(conn.execute(select(t.outbox).where(t.outbox.c.id == item_id)).one()._mapping)


def most_in_any_window(times: list[datetime], window: timedelta = timedelta(minutes=1)) -> int:
    """The most sends that fall in any sliding window (a send at t counts until t + window)."""
    ordered = sorted(times)
    return max((sum(1 for u in ordered if s <= u < s + window) for s in ordered), default=0)


# The global cap, across processes


def test_two_dispatchers_on_one_database_share_the_cap_and_lose_nothing(
    db: Engine, other_engine: Engine, clock: FrozenClock
) -> None:
    ids = [enqueue(db, clock) for _ in range(10)]
    sent: list[tuple[str, datetime]] = []
    bot = FakeBot(Platform.X, clock, sent)
    first = dispatcher(db, {Platform.X: bot}, clock, cap=3)
    second = dispatcher(other_engine, {Platform.X: bot}, clock, cap=3)

    assert first.dispatch_due(limit=2) == 2
    assert second.dispatch_due() == 1  # the cap is the two processes' together
    assert first.dispatch_due() + second.dispatch_due() == 0
    clock.advance(timedelta(seconds=30))
    assert first.dispatch_due() + second.dispatch_due() == 0
    assert list(statuses(db).values()).count("pending") == 7  # held back, not dropped
    clock.advance(timedelta(seconds=30))  # 60 s after the first sends: their slots are free
    assert second.dispatch_due() + first.dispatch_due() == 3
    for _ in range(3):
        clock.advance(timedelta(seconds=60))
        first.dispatch_due()
        second.dispatch_due()

    assert statuses(db) == {item: "sent" for item in ids}
    keys = [key for key, _ in sent]
    assert len(keys) == len(set(keys)) == 10, "every item sent exactly once"
    assert most_in_any_window([at for _, at in sent]) == 3
    with db.connect() as conn:
        slots = conn.execute(select(t.send_slots.c.reserved_at)).scalars().all()
    assert slots == [BASE_TIME + timedelta(minutes=3)], "slots that left the window are deleted"


def test_the_cap_follows_a_policy_change_at_once(db: Engine, clock: FrozenClock) -> None:
    for _ in range(5):
        enqueue(db, clock)
    cap = [2]
    d = OutboxDispatcher(
        db, {Platform.X: FakeBot(Platform.X, clock, [])}, clock, sends_per_minute=lambda: cap[0]
    )
    assert d.dispatch_due() == 2
    clock.advance(timedelta(seconds=30))
    assert d.dispatch_due() == 0
    cap[0] = 4  # raised while full: asked again at once, not after the window
    assert d.dispatch_due() == 2
    cap[0] = 1  # lowered: the two later sends must both leave the window first
    clock.advance(timedelta(seconds=31))
    assert d.dispatch_due() == 0
    clock.advance(timedelta(seconds=29))
    assert d.dispatch_due() == 1


def test_hides_are_not_counted_and_still_go_when_the_cap_is_full(db: Engine, clock: FrozenClock) -> None:
    replies = [enqueue(db, clock) for _ in range(3)]
    hides = [enqueue(db, clock, kind=SendKind.HIDE) for _ in range(3)]
    d = dispatcher(db, {Platform.X: FakeBot(Platform.X, clock, [])}, clock, cap=2)
    assert d.dispatch_due() == 5  # two replies, then (cap full) the hides behind the third
    state = statuses(db)
    assert [state[i] for i in hides] == ["sent"] * 3
    assert [state[i] for i in replies] == ["sent", "sent", "pending"]


def test_a_full_cap_is_logged_once_until_sends_flow_again(
    db: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(5):
        enqueue(db, clock)
    d = dispatcher(db, {Platform.X: FakeBot(Platform.X, clock, [])}, clock, cap=2)
    caplog.set_level(logging.INFO, logger="bots.outbox")
    for _ in range(5):
        d.dispatch_due()
        clock.advance(timedelta(seconds=5))
    messages = [r.getMessage() for r in caplog.records]
    assert sum("send cap of 2 a minute" in m for m in messages) == 1
    clock.advance(timedelta(seconds=60))
    assert d.dispatch_due() == 2
    d.dispatch_due()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("sending again" in m for m in messages) == 1
    assert sum("send cap of 2 a minute" in m for m in messages) == 2  # full again: said again


def meet_after(monkeypatch: pytest.MonkeyPatch, name: str) -> list[threading.Barrier]:
    """Make each sender wait for the other (briefly) right after `send_budget.<name>` answered.

    Without the budget's row lock both senders would then have read the same state before either
    wrote, the interleaving that breaks a cap; with the lock the second cannot read yet, so the
    first's wait times out and it goes on. Append a fresh barrier for each race.
    """
    real = getattr(send_budget, name)
    barriers: list[threading.Barrier] = []

    def answered_together(*args: Any, **kwargs: Any) -> Any:
        answer = real(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barriers[-1].wait(timeout=0.3)
        return answer

    monkeypatch.setattr(send_budget, name, answered_together)
    return barriers


def race(senders: list[OutboxDispatcher], passes: int, limit: int) -> None:
    """Run each sender in its own thread, started together, for `passes` passes."""
    start = threading.Barrier(len(senders))
    errors: list[BaseException] = []

    def run(d: OutboxDispatcher) -> None:
        try:
            start.wait()
            for _ in range(passes):
                d.dispatch_due(limit=limit)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_racing_dispatchers_in_threads_never_exceed_the_cap(
    db: Engine, other_engine: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two senders (own engines, own platforms, so they never contend for items) race for the slots."""
    cap, windows = 3, 3
    for _ in range(cap * windows):
        enqueue(db, clock, platform=Platform.X)
        enqueue(db, clock, platform=Platform.TELEGRAM)
    sent: list[tuple[str, datetime]] = []
    senders = [
        dispatcher(db, {Platform.X: FakeBot(Platform.X, clock, sent)}, clock, cap=cap),
        dispatcher(
            other_engine, {Platform.TELEGRAM: FakeBot(Platform.TELEGRAM, clock, sent)}, clock, cap=cap
        ),
    ]
    barriers = meet_after(monkeypatch, "full_until")
    for window in range(windows):  # a fresh race for the slots in each window
        barriers.append(threading.Barrier(2))
        race(senders, passes=2, limit=cap)
        assert len(sent) == cap * (window + 1), f"window {window}: exactly the cap, never more"
        clock.advance(timedelta(seconds=60))
    assert len({key for key, _ in sent}) == len(sent)
    assert most_in_any_window([at for _, at in sent]) == cap


# Identical-text suppression


def test_an_identical_text_to_another_conversation_is_withheld_for_a_person(
    db: Engine, clock: FrozenClock
) -> None:
    sent: list[tuple[str, datetime]] = []
    d = dispatcher(db, {Platform.X: FakeBot(Platform.X, clock, sent)}, clock, identical=DAY)
    first = enqueue(db, clock, "Oh no, sorry to hear that! We're on it.")
    again = enqueue(db, clock, "  oh NO, sorry to hear   that!\nWe're on it. ")  # case and spacing differ
    other = enqueue(db, clock, "Hi Alice, sorry to hear that!")
    hide = enqueue(db, clock, kind=SendKind.HIDE)
    assert d.dispatch_due() == 3
    state = statuses(db)
    assert (state[first], state[again], state[other], state[hide]) == ("sent", "failed", "sent", "sent")
    error = str(row(db, again)["last_error"])
    assert "identical text already sent 1 time on x in the last 24 h" in error
    assert row(db, first)["text_hash"] == text_hash("oh no, sorry to hear that! we're on it.")
    with db.connect() as conn:
        review = conn.execute(
            select(t.review_items.c.thread_id, t.review_items.c.reason, t.review_items.c.status)
        ).one()
        audit = conn.execute(
            select(t.audit_log.c.action).where(t.audit_log.c.subject_id == str(again))
        ).scalar_one()
    assert review.thread_id == row(db, again)["thread_id"]
    assert review.status == "open" and "identical text already sent" in review.reason
    assert audit == "outbox.withheld"
    assert len(sent) == 3

    clock.advance(timedelta(hours=24))  # the first send has left the window
    later = enqueue(db, clock, "Oh no, sorry to hear that! We're on it.")
    assert d.dispatch_due() == 1
    assert statuses(db)[later] == "sent"


def test_identical_texts_on_other_platforms_or_in_the_same_conversation_are_not_counted(
    db: Engine, clock: FrozenClock
) -> None:
    bots: dict[Platform, Bot] = {p: FakeBot(p, clock, []) for p in (Platform.X, Platform.TELEGRAM)}
    d = dispatcher(db, bots, clock, identical=DAY)
    text = "Thanks, we're looking into it."
    first = enqueue(db, clock, text, thread="t1", author="alice")
    telegram = enqueue(db, clock, text, platform=Platform.TELEGRAM)
    same_conversation = enqueue(db, clock, text, thread="t1", author="alice")
    same_thread_other_person = enqueue(db, clock, text, thread="t1", author="bob")
    assert d.dispatch_due() == 3
    state = statuses(db)
    assert [state[i] for i in (first, telegram, same_conversation)] == ["sent"] * 3
    assert state[same_thread_other_person] == "failed"


def test_max_identical_texts_allows_that_many_conversations(db: Engine, clock: FrozenClock) -> None:
    d = dispatcher(
        db,
        {Platform.X: FakeBot(Platform.X, clock, [])},
        clock,
        identical=IdenticalTexts(max_sends=2, window=timedelta(hours=6)),
    )
    ids = [enqueue(db, clock, "Great question! We'll reply shortly.") for _ in range(3)]
    assert d.dispatch_due() == 2
    assert [statuses(db)[i] for i in ids] == ["sent", "sent", "failed"]
    assert "already sent 2 times on x in the last 6 h" in str(row(db, ids[2])["last_error"])


def test_a_send_in_flight_counts_and_without_a_check_nothing_is_withheld(
    db: Engine, other_engine: Engine, clock: FrozenClock
) -> None:
    timing_out = FakeBot(Platform.X, clock, [])
    timing_out.time_out = True
    first = enqueue(db, clock, "Same words")
    dispatcher(db, {Platform.X: timing_out}, clock, identical=DAY).dispatch_due()
    assert statuses(db)[first] == "sending"  # may have been posted: looked for before a resend
    second = enqueue(db, clock, "same words")
    other = dispatcher(other_engine, {Platform.X: FakeBot(Platform.X, clock, [])}, clock, identical=DAY)
    other.dispatch_due()
    assert statuses(db)[second] == "failed"
    unchecked = dispatcher(other_engine, {Platform.X: FakeBot(Platform.X, clock, [])}, clock)
    third = enqueue(db, clock, "Same words")
    assert unchecked.dispatch_due() == 1
    assert statuses(db)[third] == "sent"


def test_racing_dispatchers_send_an_identical_text_once(
    db: Engine, other_engine: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two senders each take a different item with the same text at the same moment: one goes."""
    later = FrozenClock(clock.now() + timedelta(hours=1))
    # The late sender sees both items and takes the older one (lower id) first; the early one
    # sees only the other: so each starts on its own item.
    old = enqueue(db, clock, "Sorry for the wait!", due=later.now())
    new = enqueue(db, clock, "Sorry for the wait!")
    sent: list[tuple[str, datetime]] = []
    senders = [
        dispatcher(db, {Platform.X: FakeBot(Platform.X, clock, sent)}, clock, identical=DAY),
        dispatcher(other_engine, {Platform.X: FakeBot(Platform.X, later, sent)}, later, identical=DAY),
    ]
    meet_after(monkeypatch, "identical_sends").append(threading.Barrier(2))
    race(senders, passes=1, limit=2)
    assert len(sent) == 1
    assert sorted((statuses(db)[old], statuses(db)[new])) == ["failed", "sent"]


def test_the_identical_text_check_reads_the_text_hash_index(sqlite_db: Engine, clock: FrozenClock) -> None:
    query = send_budget.identical_sends_query(1, "x", "ab" * 32, 1, "100", clock.now()).compile(
        dialect=sqlite_db.dialect, compile_kwargs={"literal_binds": True}
    )
    with sqlite_db.connect() as conn:
        plan = " ".join(str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    assert "ix_outbox_platform_text_sent" in plan, plan


# Policy


def test_the_policy_fields_are_validated_and_read_by_the_active_policy() -> None:
    assert Safety().identical_text_window_hours == 24 and Safety().max_identical_texts == 20
    with pytest.raises(ValidationError):
        Safety(max_identical_texts=0)
    with pytest.raises(ValidationError):
        Safety(identical_text_window_hours=-1)
    active = PolicySource(None).current()
    assert active.identical_texts == IdenticalTexts(20, timedelta(hours=24))
    assert active.sends_per_minute == 30


def test_a_zero_window_turns_the_check_off(tmp_path: Path) -> None:
    layer = tmp_path / "off.yaml"
    layer.write_text("safety:\n  identical_text_window_hours: 0\n", encoding="utf-8")
    assert PolicySource([default_policy_path(), layer]).current().identical_texts is None
