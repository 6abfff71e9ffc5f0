"""SLAs and promises through the pipeline: due times on queue items, promised times in sent texts, kept and broken.

The shipped default policy is used (Europe/London hours: weekdays 08:00-20:00, Saturday
10:00-16:00, Messenger longer; complaints 30 min, Messenger 15, X 60), with an injected clock.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from moderation.classifier import Moderator
from policies.engine import PolicyEngine
from policies.loader import parse_policy
from storage import tables as t
from storage.ingest import store_fetch
from storage.promises import BROKEN, KEPT, PENDING, break_overdue_promises, item_promises, list_promises
from storage.queue_actions import reply_to_item, resolve_item
from tactful.cli import main as tactful_main
from tactful.clock import FrozenClock
from tactful.domain import Channel, IncomingMessage, Platform
from tactful.policy_source import PolicySource
from tactful.processing import Processor
from tests.dashboard_helpers import CHEAP_HASHER, logged_in
from tests.factories import make_message
from tests.test_policy_engine import make_ctx

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund."
SATURDAY_NIGHT = datetime(2026, 1, 10, 23, 30, tzinfo=UTC)  # GMT in January: London time too
MONDAY_0830 = datetime(2026, 1, 12, 8, 30, tzinfo=UTC)  # 08:00 opening + the 30-minute complaint target


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def message(external_id: str, text: str, at: datetime, **kwargs: Any) -> IncomingMessage:
    return dataclasses.replace(make_message(external_id, text, **kwargs), created_at=at)


def process(db: Engine, clock: FrozenClock, moderator: Moderator, *messages: IncomingMessage) -> None:
    store_fetch(db, "test", list(messages), None, [], clock.now())
    assert Processor(db, moderator, PolicySource(None).current, clock).drain(50) == len(messages)


def rows(db: Engine, table: Any) -> list[Any]:
    with db.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)).all())


def test_an_after_hours_complaint_promises_the_time_its_item_is_due(db: Engine, moderator: Moderator) -> None:
    clock = FrozenClock(SATURDAY_NIGHT)
    process(db, clock, moderator, message("1", COMPLAINT, SATURDAY_NIGHT))
    (decision,) = rows(db, t.decisions)
    assert decision.rule_id == "complaint-after-hours"
    (sent,) = rows(db, t.outbox)
    assert "by 8:30 on Monday" in sent.text  # Sunday is closed; Monday opens at 8:00
    (item,) = rows(db, t.review_items)
    assert item.due_at == MONDAY_0830
    (promise,) = rows(db, t.promises)
    assert (promise.promised_at, promise.status, promise.thread_id) == (MONDAY_0830, PENDING, item.thread_id)
    assert promise.outbox_key == sent.idempotency_key and promise.message_id == sent.message_id
    assert (promise.platform, promise.channel, promise.made_at) == ("x", "mention", SATURDAY_NIGHT)
    ack = next(a for a in decision.actions if a["type"] == "Acknowledge")
    assert ack["promised_at"] == MONDAY_0830.isoformat()


def test_in_hours_items_are_due_per_channel_and_plain_acks_promise_nothing(
    db: Engine, moderator: Moderator
) -> None:
    monday = datetime(2026, 1, 5, 12, 0, 20, tzinfo=UTC)
    clock = FrozenClock(monday)
    process(
        db,
        clock,
        moderator,
        message(
            "m1",
            "Can I change the delivery address for my order?",
            monday,
            platform=Platform.FACEBOOK,
            channel=Channel.DIRECT,
            is_private=True,
            author_id="7",
        ),
        message(
            "x1", "Does anyone know if Acme ships to Canada?", monday, channel=Channel.SEARCH, author_id="8"
        ),
    )
    due = {row.platform: row.due_at for row in rows(db, t.review_items)}
    noon = monday.replace(second=0)
    assert due == {"facebook": noon + timedelta(minutes=15), "x": noon + timedelta(minutes=60)}
    assert [row.rule_id for row in rows(db, t.decisions)] == ["question", "question"]
    assert rows(db, t.promises) == []  # the daytime templates name no time


def test_a_waiting_item_takes_the_earlier_due_time_of_a_new_message(db: Engine, moderator: Moderator) -> None:
    monday = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    clock = FrozenClock(monday)
    fb = {"platform": Platform.FACEBOOK, "channel": Channel.COMMENT, "thread": "post-1"}
    process(db, clock, moderator, message("p1", "Just saw the Acme ad on TV", monday, **fb))
    (item,) = rows(db, t.review_items)
    assert item.due_at == monday + timedelta(minutes=240)
    later = clock.advance(timedelta(minutes=10))
    process(
        db,
        clock,
        moderator,
        message(
            "p2", "The coffee machine I bought stopped working, I want a refund", later, author_id="9", **fb
        ),
    )
    (item,) = rows(db, t.review_items)
    assert (item.message_count, item.due_at) == (2, later + timedelta(minutes=30))


def _promised(db: Engine, moderator: Moderator) -> tuple[FrozenClock, int]:
    clock = FrozenClock(SATURDAY_NIGHT)
    process(db, clock, moderator, message("1", COMPLAINT, SATURDAY_NIGHT))
    (item,) = rows(db, t.review_items)
    return clock, int(item.id)


def test_a_reply_in_time_keeps_the_promise(db: Engine, moderator: Moderator) -> None:
    clock, item_id = _promised(db, moderator)
    clock.set(MONDAY_0830 - timedelta(minutes=20))
    reply_to_item(
        db, item_id, "So sorry! A new one is on its way.", "alice", clock.now(), request_key="k" * 16
    )
    clock.set(MONDAY_0830 + timedelta(hours=1))
    with db.begin() as conn:
        assert break_overdue_promises(conn, clock.now()) == 0
    (promise,) = rows(db, t.promises)
    assert (promise.status, promise.settled_by, promise.settled_at) == (
        KEPT,
        "alice",
        MONDAY_0830 - timedelta(minutes=20),
    )
    with db.connect() as conn:
        assert item_promises(conn, [item_id], clock.now()) == {}  # kept promises are not shown


def test_a_promise_nobody_keeps_breaks_at_its_time(db: Engine, moderator: Moderator) -> None:
    clock, item_id = _promised(db, moderator)
    clock.set(MONDAY_0830)
    with db.begin() as conn:
        assert break_overdue_promises(conn, clock.now()) == 0  # the deadline itself is still in time
    with db.connect() as conn:
        assert item_promises(conn, [item_id], clock.now())[item_id].status == PENDING
    clock.advance(timedelta(minutes=1))
    with db.connect() as conn:  # before the sweep, readers already see it broken
        assert [p.status for p in list_promises(conn, clock.now(), status=BROKEN)] == [BROKEN]
    with db.begin() as conn:
        assert break_overdue_promises(conn, clock.now()) == 1
    resolve_item(db, item_id, "alice", clock.now())  # too late: stays broken, by the deadline
    (promise,) = rows(db, t.promises)
    assert (promise.status, promise.settled_by, promise.settled_at) == (BROKEN, "deadline", MONDAY_0830)


def test_a_late_resolve_breaks_the_promise_even_before_the_sweep(db: Engine, moderator: Moderator) -> None:
    clock, item_id = _promised(db, moderator)
    clock.set(MONDAY_0830 + timedelta(minutes=15))
    resolve_item(db, item_id, "bob", clock.now())
    (promise,) = rows(db, t.promises)
    assert (promise.status, promise.settled_by) == (BROKEN, "bob")


def test_tactful_promises_lists_broken_ones(
    db: Engine,
    db_url: str,
    moderator: Moderator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _promised(db, moderator)
    with db.begin() as conn:  # the sweep has run; the command itself reads the real clock
        assert break_overdue_promises(conn, MONDAY_0830 + timedelta(minutes=1)) == 1
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TACTFUL_CONFIG", raising=False)
    monkeypatch.setenv("TACTFUL_STORAGE__URL", db_url)
    assert tactful_main(["promises", "--broken", "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["promised_at"], shown["author"]) == (
        "broken",
        MONDAY_0830.isoformat(),
        "alice",
    )
    assert tactful_main(["promises", "--pending"]) == 0
    assert capsys.readouterr().out.strip() == "no promises"
    assert tactful_main(["promises"]) == 0
    assert "broken   by 2026-01-12 08:30 UTC  x/mention  @alice" in capsys.readouterr().out


AFTER_HOURS = """
version: 1
brand: {name: Acme}
templates:
  ack:
    en: ["Hi {first_name}, we're closed; a person will answer {reply_by}."]
    de: ["Hallo {first_name}, wir antworten {reply_by}.", "Hallo {first_name}, spätestens um {reply_by_time} Uhr."]
  day: {en: ["Hi {first_name}, we're on it."]}
rules:
  - id: night
    when: {in_business_hours: false}
    then: [{acknowledge: ack}, {queue: {priority: 50, reason: answer}}]
  - id: day
    then: [{acknowledge: day}, {queue: {priority: 50, reason: answer}}]
business_hours:
  timezone: Europe/Berlin
  weekly: {mon: 09:00-17:00, tue: 09:00-17:00, wed: 09:00-17:00, thu: 09:00-17:00, fri: 09:00-17:00}
sla: {default_minutes: 45}
"""


@pytest.mark.parametrize(
    ("now", "language", "expected"),
    [
        # Friday 18:00 in Berlin (17:00 UTC): Monday 09:45 Berlin is 08:45 UTC.
        (datetime(2026, 1, 9, 17, 0, tzinfo=UTC), "en", datetime(2026, 1, 12, 8, 45, tzinfo=UTC)),
        # Saturday 28 March 2026, the night before Berlin moves to CEST: Monday 09:45 CEST is 07:45 UTC.
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), "de", datetime(2026, 3, 30, 7, 45, tzinfo=UTC)),
        # Tuesday 07:30 Berlin: today, 09:45.
        (datetime(2026, 1, 6, 6, 30, tzinfo=UTC), "en", datetime(2026, 1, 6, 8, 45, tzinfo=UTC)),
    ],
)
def test_the_promised_time_in_the_text_is_the_stored_deadline(
    now: datetime, language: str, expected: datetime
) -> None:
    engine = PolicyEngine(parse_policy(AFTER_HOURS.encode(), "p.yaml"))
    ctx = make_ctx(language=language, message_id=f"m{now.isoformat()}")
    ctx = dataclasses.replace(ctx, now=now, message=dataclasses.replace(ctx.message, created_at=now))
    decision = engine.decide(ctx)
    assert decision.rule_id == "night"
    assert "outside business hours" in decision.explanation
    ack, queued = decision.actions
    assert ack.promised_at == expected and queued.due_at == expected
    shown = re.search(r"(\d{1,2}):(\d{2})", ack.text)
    assert shown is not None
    local = expected.astimezone(engine.levels.hours(Platform.X, Channel.MENTION).tz)
    assert (int(shown[1]), int(shown[2])) == (local.hour, local.minute) == (9, 45)


def test_daytime_texts_without_reply_by_carry_no_promise() -> None:
    engine = PolicyEngine(parse_policy(AFTER_HOURS.encode(), "p.yaml"))
    ctx = make_ctx()
    tuesday = datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
    decision = engine.decide(
        dataclasses.replace(ctx, now=tuesday, message=dataclasses.replace(ctx.message, created_at=tuesday))
    )
    assert decision.rule_id == "day"
    assert decision.actions[0].promised_at is None


def test_the_dashboard_queue_shows_the_promise_and_when_it_broke(
    db: Engine, moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.users.HASHER", CHEAP_HASHER)
    clock, item_id = _promised(db, moderator)
    clock.set(MONDAY_0830 - timedelta(minutes=12))
    client = logged_in(db, clock, "alice")
    row = _queue_row(client.get("/queue/live").text, item_id)
    assert '<span class="due">due in 12 min</span>' in row
    assert (
        '<span class="promise promise-pending" title="2026-01-12 08:30:00 UTC">promised in 12 min</span>'
        in row
    )
    clock.set(MONDAY_0830 + timedelta(minutes=3))
    row = _queue_row(client.get("/queue/live").text, item_id)
    assert "overdue 3 min" in row
    assert '<span class="promise promise-broken" title="2026-01-12 08:30:00 UTC">promise broken</span>' in row


def _queue_row(html: str, item_id: int) -> str:
    start = html.index(f'<a href="/queue/{item_id}">{item_id}</a>')
    return html[start : html.index("</tr>", start)]
