"""Riding out a database outage, piece by piece: one log line per run of failures, nothing done lost.

The whole service against a real outage is tests/test_db_outage.py; here each piece is driven
with a frozen clock and a database failure injected where it hurts most.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError

import bots.outbox as outbox
import bots.team_chat as team_chat
import tactful.polling as polling
import tactful.web.webhooks as webhooks
from bots.outbox import OutboxDispatcher
from bots.x import XBot
from listeners.x import XMentionsListener
from simulator.telegram import TelegramSimulator
from simulator.x import XSimulator
from storage import tables as t
from storage.outbox import claim_interrupted
from storage.queue_actions import claim_item
from tactful.clock import FrozenClock
from tactful.domain import Platform
from tactful.outages import FailureLog, PendingWrites
from tactful.polling import DATABASE_MAX_BACKOFF, PollCoordinator
from tactful.service import build_service
from tactful.web.app import create_app
from tactful.web.receivers import TelegramWebhook
from tests.test_outbox import enqueue, outbox_row
from tests.test_team_chat import BOT_USERNAME, COMPLAINT, CUSTOMER, GROUP, TEAM, TOKEN, Env, team_settings
from tests.x_helpers import BRAND_ID, BRAND_USERNAME, START, client_for

log = logging.getLogger("tests.outages")


def database_down(*args: Any, **kwargs: Any) -> Any:
    """Stands in for any database call while the database is unreachable."""
    raise OperationalError("SELECT ...", {"text": "customer words"}, ConnectionRefusedError(111, "refused"))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def x_sim(clock: FrozenClock) -> Iterator[XSimulator]:
    sim = XSimulator(BRAND_ID, BRAND_USERNAME, clock)
    sim.add_user("200", "alice", "Alice")
    with sim:
        yield sim


# --- logging a run of failures once ------------------------------------------------------------


def test_a_run_of_failures_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tests.outages")
    failures = FailureLog(log, "stage dispatch")
    for _ in range(50):
        try:
            database_down()
        except OperationalError as exc:
            failures.failed(exc)
    assert [r.getMessage() for r in caplog.records] == [
        "stage dispatch failed: database unavailable: ConnectionRefusedError: [Errno 111] refused "
        "(retrying quietly until it is back)"
    ]
    assert caplog.records[0].exc_info is None  # the database being down is not a bug: no traceback
    failures.failed(KeyError("a bug"))  # another kind of failure in the same run is logged too
    assert caplog.records[-1].levelno == logging.ERROR and caplog.records[-1].exc_info is not None
    failures.succeeded()
    failures.succeeded()
    assert [r.getMessage() for r in caplog.records][2:] == [
        "stage dispatch recovered after 51 failed attempts"
    ]
    assert "customer words" not in caplog.text
    failures.failed(OperationalError("SELECT", {}, ConnectionRefusedError(111, "refused")))
    assert len(caplog.records) == 4  # a new run is logged again


def test_writes_the_database_refused_are_kept_and_written_in_order_once_it_is_back(
    sqlite_db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tactful.outages")
    written: list[str] = []
    down = False

    def record(name: str) -> Any:
        def write(conn: Connection) -> None:
            if down:
                database_down()
            written.append(name)

        return write

    pending = PendingWrites(sqlite_db, "outbox")
    pending.write("item 1 was delivered", record("first"))  # the database is up: written at once
    down = True
    with pytest.raises(OperationalError):
        pending.write("item 2 was delivered", record("second"))
    with pytest.raises(OperationalError):
        pending.write("item 3 was rate limited", record("third"))
    assert len(pending) == 2
    with pytest.raises(OperationalError):
        pending.replay()  # still down: kept
    down = False
    assert pending.replay() == 2
    assert written == ["first", "second", "third"] and len(pending) == 0
    assert "outbox: recorded that item 3 was rate limited while the database was unavailable" in caplog.text


# --- polling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "longest"), [(1, DATABASE_MAX_BACKOFF), (300, timedelta(seconds=300))])
def test_polls_retry_the_database_at_least_every_30s_or_every_interval(
    sqlite_db: Engine,
    x_sim: XSimulator,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    interval: int,
    longest: timedelta,
) -> None:
    listener = XMentionsListener(client_for(x_sim), BRAND_ID, clock=clock)
    poller = PollCoordinator(listener, sqlite_db, clock, timedelta(seconds=interval), rng=random.Random(2))
    monkeypatch.setattr(polling, "load_cursor", database_down)
    delays = [poller.poll_once().next_delay for _ in range(30)]  # a long outage
    assert delays[0] <= timedelta(seconds=interval)
    assert max(delays) <= longest
    assert max(delays[-5:]) > longest / 2  # backed off all the way to the cap, not beyond
    assert x_sim.request_log() == []  # nothing was asked of the platform meanwhile


# --- the outbox ------------------------------------------------------------------------------------


def x_dispatcher(db: Engine, sim: XSimulator, clock: FrozenClock) -> OutboxDispatcher:
    return OutboxDispatcher(
        db, {Platform.X: XBot(client_for(sim), BRAND_ID)}, clock, sends_per_minute=lambda: 30, max_attempts=3
    )


def test_a_rate_limited_send_is_put_back_once_the_database_is_back_not_left_sending(
    sqlite_db: Engine, x_sim: XSimulator, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id, tweet_id = enqueue(sqlite_db, x_sim, clock)
    dispatcher = x_dispatcher(sqlite_db, x_sim, clock)
    x_sim.fail_next("POST", "/2/tweets", 429, retry_after=60)
    real = outbox.reschedule
    monkeypatch.setattr(outbox, "reschedule", database_down)  # the database goes away mid-send
    with pytest.raises(OperationalError):
        dispatcher.dispatch_due()
    assert outbox_row(sqlite_db, item_id)["status"] == "sending"
    with pytest.raises(OperationalError):
        dispatcher.dispatch_due()  # still down
    monkeypatch.setattr(outbox, "reschedule", real)
    assert dispatcher.dispatch_due() == 0  # back: the item is put back for after the rate limit
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "pending" and row["attempts"] == 0 and "429" in (row["last_error"] or "")
    assert x_sim.brand_replies() == []
    clock.advance(61)
    assert dispatcher.dispatch_due() == 1
    assert [r.in_reply_to_tweet_id for r in x_sim.brand_replies()] == [tweet_id]


def test_an_outcome_kept_through_the_outage_is_dropped_if_a_recovery_took_the_item_meanwhile(
    sqlite_db: Engine, x_sim: XSimulator, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id, _ = enqueue(sqlite_db, x_sim, clock)
    dispatcher = x_dispatcher(sqlite_db, x_sim, clock)
    x_sim.fail_next("POST", "/2/tweets", 429, retry_after=60)
    real = outbox.reschedule
    monkeypatch.setattr(outbox, "reschedule", database_down)
    with pytest.raises(OperationalError):
        dispatcher.dispatch_due()
    monkeypatch.setattr(outbox, "reschedule", real)
    # A long outage: another process took the item as a crash's and is sending it itself now.
    clock.advance(120)
    with sqlite_db.begin() as conn:
        assert claim_interrupted(conn, item_id, clock.now() - timedelta(seconds=60), clock.now())
    dispatcher.dispatch_due()
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "sending" and row["next_attempt_at"] == clock.now()  # left to its new owner


# --- webhooks ----------------------------------------------------------------------------------------


def test_a_webhook_delivery_while_the_database_is_down_is_answered_503_and_logged_once(
    sqlite_db: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fixture = Path(__file__).parent / "fixtures" / "telegram" / "updates.json"
    update_body = json.loads(fixture.read_text(encoding="utf-8"))["cases"][0]["update"]
    app = create_app(
        sqlite_db, clock, telegram=TelegramWebhook(bot_id="4242", bot_username=BOT_USERNAME, secret="s3cret")
    )
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    body = json.dumps(update_body).encode()
    real = webhooks.store_fetch
    monkeypatch.setattr(webhooks, "store_fetch", database_down)
    caplog.set_level(logging.INFO, logger="tactful.web.webhooks")
    with TestClient(app) as client:
        answers = [
            client.post("/webhooks/telegram", content=body, headers=headers).status_code for _ in range(5)
        ]
        monkeypatch.setattr(webhooks, "store_fetch", real)
        assert client.post("/webhooks/telegram", content=body, headers=headers).status_code == 200
    assert answers == [503] * 5  # Telegram delivers it again later
    messages = [r.getMessage() for r in caplog.records]
    assert sum("database unavailable" in m for m in messages) == 1
    assert sum("recovered after 5 failed attempts" in m for m in messages) == 1
    with sqlite_db.connect() as conn:
        assert conn.execute(select(t.messages.c.external_id)).scalars().all() == ["-1001234567890:7"]


# --- the team chat -------------------------------------------------------------------------------------


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Env]:
    clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    tg = TelegramSimulator(TOKEN, BOT_USERNAME, clock)
    tg.start()
    tg.add_group(GROUP, "Acme customers")
    tg.add_group(TEAM, "Acme support team")
    tg.add_user(CUSTOMER, "Dana", username="dana")
    settings = team_settings(tmp_path, tg)
    service = build_service(settings, clock=clock)
    service.start_platforms()
    env = Env(tmp_path, clock, tg, settings, service)
    try:
        yield env
    finally:
        env.service.close()
        tg.stop()


def test_a_team_chat_post_made_while_the_database_went_away_is_recorded_once_it_is_back(
    team: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = team_chat.mark_post_posted
    monkeypatch.setattr(team_chat, "mark_post_posted", database_down)
    team.tg.user_says(GROUP, CUSTOMER, COMPLAINT)
    with pytest.raises(OperationalError):
        team.settle()  # the post went out, then the database failed
    assert len(team.posts()) == 1
    monkeypatch.setattr(team_chat, "mark_post_posted", real)
    team.settle(3)
    assert len(team.posts()) == 1  # never posted again
    with team.service.db.connect() as conn:
        status, ref = conn.execute(select(t.team_chat_posts.c.status, t.team_chat_posts.c.message_ref)).one()
    assert status == "posted" and ref == f"{TEAM}:{team.post().message_id}"
    # Tracked, not "unknown": a change in the dashboard still edits the post.
    claim_item(team.service.db, int(team.item().id), "alice", team.clock.now())
    team.settle()
    assert "claimed by alice" in team.post().text
