"""Fault handling: the simulators' random fault switches, read retries, database outages, refused credentials."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

import tactful.polling as polling
from bots.outbox import OutboxDispatcher
from bots.x import XBot
from listeners.facebook_client import GraphClient
from listeners.x import XMentionsListener
from listeners.x_client import make_x_client
from simulator.facebook import FacebookSimulator
from simulator.http import LoopbackServer
from simulator.telegram import TelegramSimulator
from simulator.x import XSimulator
from storage import tables as t
from storage.db import make_engine
from storage.ingest import load_cursor, store_fetch
from tactful.channel_alerts import ChannelAlerts, alert_key
from tactful.clock import FrozenClock
from tactful.domain import Platform, QuarantinedPayload
from tactful.errors import AuthenticationFailed, PermanentPlatformError, TransientPlatformError
from tactful.platforms import READ_RETRIES
from tactful.polling import PollCoordinator
from tests.e2e_helpers import SECRET_ENV, db_ready, start_service, wait_for
from tests.test_outbox import enqueue, outbox_row
from tests.three_platforms import free_port
from tests.x_helpers import BRAND_ID, BRAND_USERNAME, START, client_for

PAGE_TOKEN = "fault-page-token"
BOT_TOKEN = "777:fault-bot-token"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def x_sim(clock: FrozenClock) -> Iterator[XSimulator]:
    sim = XSimulator(BRAND_ID, BRAND_USERNAME, clock)
    sim.add_user("200", "alice", "Alice")
    with sim:
        yield sim


@pytest.fixture
def fb_sim(clock: FrozenClock) -> Iterator[FacebookSimulator]:
    sim = FacebookSimulator("5000", PAGE_TOKEN, clock, app_secret="secret")
    with sim:
        yield sim


@pytest.fixture
def tg_sim(clock: FrozenClock) -> Iterator[TelegramSimulator]:
    sim = TelegramSimulator(BOT_TOKEN, "fault_bot", clock)
    with sim:
        yield sim


def x_get(sim: XSimulator) -> requests.Response:
    return requests.get(
        f"{sim.base_url}/2/users/{BRAND_ID}/mentions", headers={"Authorization": "Bearer t"}, timeout=5
    )


def fb_get(sim: FacebookSimulator) -> requests.Response:
    return requests.get(f"{sim.base_url}/v21.0/5000/posts", params={"access_token": PAGE_TOKEN}, timeout=5)


def tg_get(sim: TelegramSimulator) -> requests.Response:
    return requests.post(f"{sim.base_url}/bot{BOT_TOKEN}/getUpdates", json={"timeout": 0}, timeout=5)


# --- the simulators' switches ---------------------------------------------------------------


def test_random_errors_use_each_platforms_error_body(
    x_sim: XSimulator, fb_sim: FacebookSimulator, tg_sim: TelegramSimulator
) -> None:
    for sim in (x_sim, fb_sim, tg_sim):
        sim.set_fault_rate(503, 1.0)
    x, fb, tg = x_get(x_sim), fb_get(fb_sim), tg_get(tg_sim)
    assert (x.status_code, x.headers["content-type"], x.json()["status"]) == (
        503,
        "application/problem+json",
        503,
    )
    assert fb.status_code == 503
    assert fb.json()["error"]["code"] == 2 and fb.json()["error"]["is_transient"] is True
    assert tg.status_code == 503
    assert tg.json() == {"ok": False, "error_code": 503, "description": "Service Unavailable"}
    assert [sim.injected_faults() for sim in (x_sim, fb_sim, tg_sim)] == [{"status:503": 1}] * 3
    for sim in (x_sim, fb_sim, tg_sim):
        sim.clear_faults()
    assert (x_get(x_sim).status_code, fb_get(fb_sim).status_code, tg_get(tg_sim).status_code) == (
        200,
        200,
        200,
    )


def test_random_throttles_carry_each_platforms_headers(
    x_sim: XSimulator, fb_sim: FacebookSimulator, tg_sim: TelegramSimulator, clock: FrozenClock
) -> None:
    x_sim.set_throttle_rate(1.0, retry_after=30)
    fb_sim.set_throttle_rate(1.0, retry_after=90, limit=1)
    fb_sim.set_throttle_rate(1.0, code=4, limit=1)
    tg_sim.set_throttle_rate(1.0, retry_after=2.5)
    x = x_get(x_sim)
    assert x.status_code == 429 and x.headers["x-rate-limit-remaining"] == "0"
    assert int(x.headers["x-rate-limit-reset"]) == int(clock.now().timestamp()) + 30
    page = fb_get(fb_sim)
    assert (page.status_code, page.json()["error"]["code"]) == (400, 32)
    usage = json.loads(page.headers["x-business-use-case-usage"])["5000"][0]
    assert (usage["call_count"], usage["estimated_time_to_regain_access"]) == (100, 2)
    app = fb_get(fb_sim)
    assert (app.json()["error"]["code"], json.loads(app.headers["x-app-usage"])["call_count"]) == (4, 100)
    assert fb_get(fb_sim).status_code == 200  # both throttles were limited to one
    tg = tg_get(tg_sim)
    assert tg.status_code == 429 and tg.json()["parameters"] == {"retry_after": 3}


def test_dropped_connections_act_only_when_asked_to(x_sim: XSimulator) -> None:
    tweet = x_sim.post("200", f"@{BRAND_USERNAME} hello")
    post = {"text": "On it!", "reply": {"in_reply_to_tweet_id": tweet}}
    headers = {"Authorization": "OAuth x"}
    x_sim.set_drop_rate(1.0, limit=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{x_sim.base_url}/2/tweets", json=post, headers=headers, timeout=5)
    assert x_sim.brand_replies() == []
    x_sim.set_drop_rate(1.0, after_effect=True, limit=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{x_sim.base_url}/2/tweets", json=post, headers=headers, timeout=5)
    assert [r.in_reply_to_tweet_id for r in x_sim.brand_replies()] == [tweet]
    assert x_sim.injected_faults() == {"drop": 1, "drop:after_effect": 1}


def test_malformed_bodies_are_truncated_or_mis_shaped(
    tg_sim: TelegramSimulator, fb_sim: FacebookSimulator
) -> None:
    tg_sim.set_malformed_rate(1.0, paths=["^getUpdates$"], limit=1)
    tg_sim.set_malformed_rate(1.0, shape="shape", paths=["^getUpdates$"], limit=1)
    truncated = tg_get(tg_sim)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    assert tg_get(tg_sim).json() == {"ok": True, "result": 42}
    assert tg_get(tg_sim).json() == {"ok": True, "result": []}
    fb_sim.set_malformed_rate(1.0, shape="shape", paths=[r"^/5000/posts$"], methods=["GET"])
    assert fb_get(fb_sim).json()["data"] == 42
    with pytest.raises(ValueError, match="malformed bodies"):
        fb_sim.set_malformed_rate(0.5, shape="garbage")


def test_rates_are_seeded_and_filtered_by_method_and_path(x_sim: XSimulator) -> None:
    def run(seed: int) -> list[int]:
        x_sim.clear_faults()
        x_sim.fault_plan.seed(seed)
        x_sim.set_fault_rate(500, 0.5, methods=["GET"], paths=[r"/mentions$"])
        return [x_get(x_sim).status_code for _ in range(30)]

    first = run(5)
    assert first == run(5)
    assert 5 < first.count(500) < 25
    x_sim.clear_faults()
    x_sim.set_fault_rate(500, 1.0, methods=["POST"])
    assert x_get(x_sim).status_code == 200
    with pytest.raises(ValueError, match="between 0 and 1"):
        x_sim.set_fault_rate(500, 1.5)


def test_delays_trip_client_timeouts(tg_sim: TelegramSimulator) -> None:
    tg_sim.set_delay_rate(1.0, 2.0, limit=1)
    with pytest.raises(requests.Timeout):
        requests.post(f"{tg_sim.base_url}/bot{BOT_TOKEN}/getMe", timeout=0.2)
    assert tg_sim.injected_faults() == {"delay": 1}


def test_every_simulator_has_the_same_switches() -> None:
    names = {"set_fault_rate", "set_throttle_rate", "set_drop_rate", "set_malformed_rate", "set_delay_rate"}
    for cls in (XSimulator, FacebookSimulator, TelegramSimulator):
        assert issubclass(cls, LoopbackServer)
        assert all(getattr(cls, name) is getattr(LoopbackServer, name) for name in names)


# --- read retries -------------------------------------------------------------------------------


def test_x_reads_are_retried_after_5xx_and_writes_are_not(x_sim: XSimulator, clock: FrozenClock) -> None:
    client = make_x_client(
        x_sim.base_url, "bearer", "ck", "cs", f"{BRAND_ID}-at", "ats", timeout=5.0, read_retries=READ_RETRIES
    )
    listener = XMentionsListener(client, BRAND_ID, clock=clock)
    cursor = listener.fetch(None).cursor  # the first poll starts from now
    tweet = x_sim.post("200", f"@{BRAND_USERNAME} my order is late")
    x_sim.fail_next("GET", "/2/users/:id/mentions", 503, count=2)
    assert [m.external_id for m in listener.fetch(cursor).messages] == [tweet]
    x_sim.fail_next("GET", "/2/users/:id/mentions", 503, count=3)
    with pytest.raises(TransientPlatformError):
        listener.fetch(cursor)
    x_sim.fail_next("POST", "/2/tweets", 503, count=1)
    with pytest.raises(TransientPlatformError):
        XBot(client, BRAND_ID).send(_reply_action(tweet))
    posts = [r for r in x_sim.request_log() if r.method == "POST"]
    assert [r.status for r in posts] == [503]  # tried once; the outbox decides what happens next


def test_graph_reads_are_retried_after_transient_failures_and_writes_are_not(
    fb_sim: FacebookSimulator,
) -> None:
    pauses: list[float] = []
    graph = GraphClient(PAGE_TOKEN, graph_url=fb_sim.base_url, read_retries=2, pause=pauses.append)
    post = fb_sim.add_post("Spring sale")
    fb_sim.fail_next("GET", "/:id/posts", 500, times=2)
    assert [p["id"] for p in graph.request(graph.path("5000", "posts"))["data"]] == [post]
    assert len(pauses) == 2 and all(0.0 < p <= 0.2 for p in pauses)
    fb_sim.fail_next("GET", "/:id/posts", 500, times=3)
    with pytest.raises(TransientPlatformError):
        graph.request(graph.path("5000", "posts"))
    fb_sim.fail_next("POST", "/:id/comments", 500, times=1)
    with pytest.raises(TransientPlatformError):
        graph.request(graph.path(post, "comments"), post_args={"message": "hi"})
    assert [r.status for r in fb_sim.request_log() if r.method == "POST"] == [500]
    fb_sim.fail_next("GET", "/:id/posts", 400, times=1)
    with pytest.raises(PermanentPlatformError):  # not transient: never retried
        graph.request(graph.path("5000", "posts"))


def _reply_action(tweet_id: str) -> Any:
    from bots.base import OutboundAction, SendKind

    return OutboundAction("k", SendKind.PUBLIC_REPLY, Platform.X, tweet_id, tweet_id, "200", text="On it")


# --- the database going away --------------------------------------------------------------------


def test_polls_back_off_while_the_database_is_unavailable_and_lose_nothing(
    sqlite_db: Engine, x_sim: XSimulator, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = XMentionsListener(client_for(x_sim), BRAND_ID, clock=clock)
    poller = PollCoordinator(listener, sqlite_db, clock, timedelta(seconds=10), rng=random.Random(1))
    poller.poll_once()  # nothing there yet
    tweet = x_sim.post("200", f"@{BRAND_USERNAME} still waiting for my refund")
    real_store = polling.store_fetch

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError(
            "INSERT ...", {"text": "secret-ish user text"}, ConnectionRefusedError(111, "refused")
        )

    monkeypatch.setattr(polling, "store_fetch", unavailable)
    cursor = load_cursor(sqlite_db, listener.key)
    delays = [poller.poll_once() for _ in range(4)]
    assert all(
        d.error is not None and d.error.startswith("database unavailable: ConnectionRefusedError")
        for d in delays
    )
    assert all("user text" not in (d.error or "") for d in delays)
    assert delays[3].next_delay > delays[0].next_delay  # backing off
    assert load_cursor(sqlite_db, listener.key) == cursor
    monkeypatch.setattr(polling, "store_fetch", real_store)
    assert poller.poll_once().error is None
    with sqlite_db.connect() as conn:
        stored = conn.execute(select(t.messages.c.external_id)).scalars().all()
    assert stored == [tweet]
    assert poller.failures == 0


def test_a_delivery_the_database_missed_is_recorded_once_it_is_back(
    sqlite_db: Engine, x_sim: XSimulator, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bots.outbox as outbox

    item_id, tweet_id = enqueue(sqlite_db, x_sim, clock)
    dispatcher = OutboxDispatcher(
        sqlite_db, {Platform.X: XBot(client_for(x_sim), BRAND_ID)}, clock, sends_per_minute=lambda: 30
    )
    real_record = outbox._record_sent

    def unavailable(*args: Any) -> None:
        raise OperationalError("UPDATE outbox ...", {}, ConnectionRefusedError(111, "refused"))

    monkeypatch.setattr(outbox, "_record_sent", unavailable)
    with pytest.raises(OperationalError):
        dispatcher.dispatch_due()
    assert outbox_row(sqlite_db, item_id)["status"] == "sending"
    with pytest.raises(OperationalError):  # still down: nothing else is sent meanwhile
        dispatcher.dispatch_due()
    monkeypatch.setattr(outbox, "_record_sent", real_record)
    assert dispatcher.dispatch_due() == 0
    row = outbox_row(sqlite_db, item_id)
    assert row["status"] == "sent" and row["platform_ref"] == x_sim.brand_replies()[0].tweet_id
    assert [r.in_reply_to_tweet_id for r in x_sim.brand_replies()] == [tweet_id]


# --- refused credentials --------------------------------------------------------------------------


class _Refusing(XMentionsListener):
    refuse = True

    def fetch(self, cursor: str | None) -> Any:
        if self.refuse:
            raise AuthenticationFailed("X mentions failed: 401 Unauthorized")
        return super().fetch(cursor)


def test_refused_credentials_pause_that_channel_and_alert_the_team_once(
    sqlite_db: Engine, x_sim: XSimulator, clock: FrozenClock
) -> None:
    alerts = ChannelAlerts(sqlite_db, clock, "-100777")
    refusing = _Refusing(client_for(x_sim), BRAND_ID, clock=clock)
    poller = PollCoordinator(
        refusing, sqlite_db, clock, timedelta(seconds=10), on_auth_failed=alerts.auth_failed
    )
    outcomes = [poller.poll_once() for _ in range(3)]
    assert all(o.next_delay == polling.AUTH_RETRY for o in outcomes)
    # The outbox on the same platform refuses too: still one alert per platform and day.
    item_id, _ = enqueue(sqlite_db, x_sim, clock)
    x_sim.fail_next("POST", "/2/tweets", 401, count=1)
    dispatcher = OutboxDispatcher(
        sqlite_db,
        {Platform.X: XBot(client_for(x_sim), BRAND_ID)},
        clock,
        sends_per_minute=lambda: 30,
        on_auth_failed=alerts.auth_failed,
    )
    assert dispatcher.dispatch_due() == 0
    assert dispatcher.dispatch_due() == 0  # paused: not even tried
    assert outbox_row(sqlite_db, item_id)["status"] == "pending"
    with sqlite_db.connect() as conn:
        audits = conn.execute(
            select(t.audit_log.c.subject_id, t.audit_log.c.detail).where(
                t.audit_log.c.action == "channel.auth_failed"
            )
        ).all()
        queued = conn.execute(
            select(t.badge_alerts.c.chat_id, t.badge_alerts.c.badge, t.badge_alerts.c.text)
        ).all()
    assert [(a.subject_id, a.detail["where"]) for a in audits] == [("x", refusing.key), ("x", "outbox")]
    assert [(q.chat_id, q.badge) for q in queued] == [("-100777", alert_key("x"))]
    assert "credentials refused" in queued[0].text
    # Once credentials work again, a later refusal alerts again (audit; the team chat once a day).
    refusing.refuse = False
    assert poller.poll_once().error is None
    refusing.refuse = True
    poller.poll_once()
    with sqlite_db.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(t.audit_log).where(t.audit_log.c.action == "channel.auth_failed")
        ).scalar_one()
    assert count == 3


# --- refused credentials in a running service ------------------------------------------------------


@pytest.mark.slow
def test_a_running_service_pauses_the_refused_channel_alerts_the_team_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    x = XSimulator("1000", "acme")
    fb = FacebookSimulator("5000", "the-real-page-token", app_secret="app-secret", page_name="Acme")
    tg = TelegramSimulator(BOT_TOKEN, "acme_support_bot")
    with x, fb, tg:
        tg.add_group(-100999, "Acme team")
        tg.add_group(-100555, "Acme customers")
        tg.add_user(31, "Member", "member31")
        x.add_user("21", "customer21", "Customer")
        fb.add_user("41", "Commenter")
        fb.comment(fb.add_post("Spring sale"), "41", "where is my refund for order 12345?")
        config = tmp_path / "tactful.toml"
        config.write_text(
            f"""
[storage]
url = "sqlite:///{tmp_path / "tactful.db"}"
[web]
port = {free_port()}
dashboard = false
[processing]
workers = 0
interval_seconds = 0.2
send_interval_seconds = 0.2
[x]
enabled = true
user_id = "1000"
username = "acme"
api_base_url = "{x.base_url}"
poll_seconds = 0.3
[facebook]
enabled = true
page_id = "5000"
graph_url = "{fb.base_url}"
poll_seconds = 0.5
[telegram]
enabled = true
bot_username = "acme_support_bot"
api_base_url = "{tg.base_url}/bot"
poll_timeout_seconds = 1
team_chat_id = "-100999"
""",
            encoding="utf-8",
        )
        secrets = {
            **SECRET_ENV,
            "TACTFUL_FACEBOOK__PAGE_TOKEN": "a-revoked-page-token",
            "TACTFUL_FACEBOOK__APP_SECRET": "app-secret",
            "TACTFUL_FACEBOOK__VERIFY_TOKEN": "verify",
            "TACTFUL_TELEGRAM__BOT_TOKEN": BOT_TOKEN,
        }
        db = make_engine(f"sqlite:///{tmp_path / 'tactful.db'}")
        process = start_service(config, tmp_path / "service.log", secrets)
        try:
            wait_for(lambda: db_ready(db) and len(x.request_log()) > 0, 60, "the first X poll")
            mention = x.post("21", "@acme my order 12345 never arrived, where is my refund?")
            group = tg.user_says(-100555, 31, "my order 12345 never arrived, where is my refund?")
            wait_for(
                lambda: (
                    any(r.in_reply_to_tweet_id == mention for r in x.brand_replies())
                    and any(m.reply_to_message_id == group for m in tg.sent_messages(-100555))
                    and any("credentials refused" in m.text for m in tg.sent_messages(-100999))
                ),
                60,
                "X and Telegram answering and the team alerted",
            )
            assert process.poll() is None
        finally:
            process.terminate()
            process.wait(timeout=30)
        alerts = [m.text for m in tg.sent_messages(-100999) if "credentials refused" in m.text]
        with db.connect() as conn:
            refused = (
                conn.execute(
                    select(t.audit_log.c.subject_id).where(t.audit_log.c.action == "channel.auth_failed")
                )
                .scalars()
                .all()
            )
        db.dispose()
        assert len(alerts) == 1 and "Facebook" in alerts[0]
        assert set(refused) == {"facebook"}
        assert fb.page_comment_replies() == [] and fb.messenger_sends() == []
        assert {r.status for r in fb.request_log()} == {400}  # every call refused (code 190), none sent


def test_a_payload_that_comes_back_on_every_poll_is_quarantined_once(
    sqlite_db: Engine, clock: FrozenClock
) -> None:
    broken = QuarantinedPayload(
        "facebook:comments:5000", "comment 1_2: missing or invalid 'from'", '{"id": "1_2"}'
    )
    other = QuarantinedPayload("facebook:comments:5000", "comment 1_3: missing 'message'", '{"id": "1_3"}')
    elsewhere = QuarantinedPayload("x:mentions:1000", "tweet 9: no author", '{"id": "1_2"}')
    for batch in ([broken], [broken, broken, other], [elsewhere, broken]):
        store_fetch(sqlite_db, "facebook:comments:5000", [], None, batch, clock.now())
    with sqlite_db.connect() as conn:
        kept = conn.execute(
            select(t.quarantine.c.source, t.quarantine.c.reason).order_by(t.quarantine.c.id)
        ).all()
    assert [tuple(row) for row in kept] == [
        (broken.source, broken.reason),
        (other.source, other.reason),
        (elsewhere.source, elsewhere.reason),
    ]
