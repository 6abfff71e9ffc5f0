"""The team chat's parts: button data, the rendered post, the announcement rule, and where presses arrive."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from bots.telegram import TelegramBot
from listeners.telegram import TelegramUpdatesListener
from listeners.telegram_client import InlineButton, TelegramClient
from simulator.telegram import TelegramSimulator
from storage import tables as t
from storage.queue_actions import claim_item
from storage.team_chat import AnnounceRule, ItemCard, item_cards, queue_announcements
from tactful.clock import FrozenClock
from tactful.errors import ConfigurationError
from tactful.settings import Settings, TelegramSettings, WebSettings
from tactful.team_chat import (
    ButtonAction,
    ButtonCommand,
    button_data,
    card_state,
    parse_button_data,
    render_card,
    telegram_accepts_url,
)
from tactful.web.app import create_app
from tactful.web.receivers import TelegramWebhook
from tests.factories import make_message
from tests.queue_helpers import open_item, store
from tests.telegram_helpers import BOT_USERNAME, client_for, tg_client_fixture, tg_sim_fixture

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["tg_client_fixture", "tg_sim_fixture"]

RULE = AnnounceRule(min_priority=80, max_age=timedelta(hours=24), due_within=timedelta(minutes=30))
EVIL = "<script>alert(1)</script> & <b>bold</b>"


def card(**changes: object) -> ItemCard:
    values: dict[str, object] = {
        "item_id": 12,
        "priority": 85,
        "platform": "telegram",
        "status": "open",
        "assignee": None,
        "resolved_by": None,
        "reason": "complaint: solve it",
        "due_at": None,
        "category": "complaint",
        "heat": 0.4321,
        "author_username": "dana",
        "author_display_name": "Dana Scully",
        "text": "My order arrived broken",
        "troll_label": None,
        "troll_actor": None,
    }
    values.update(changes)
    return ItemCard(**values)  # type: ignore[arg-type]


# --- button data -------------------------------------------------------------------------


def test_button_data_round_trips_and_is_validated_strictly() -> None:
    for action in ButtonAction:
        data = button_data(action, 123456)
        assert len(data.encode()) <= 64
        assert parse_button_data(data) == ButtonCommand(action, 123456)
    for bad in (
        None,
        "",
        "tc:claim:",
        "tc:claim:0",
        "tc:claim:012",
        "tc:claim:-1",
        "tc:claim:1 ",
        "tc:claim:1\n",
        " tc:claim:1",
        "tc:CLAIM:1",
        "tc:delete:1",
        "tc:claim:1:2",
        "tc:claim:\uff11\uff12",  # full-width digits
        "tc:claim:" + "9" * 19,
        "x" * 65,
    ):
        assert parse_button_data(bad) is None, bad
    with pytest.raises(ValueError):
        button_data(ButtonAction.CLAIM, 0)


# --- the post ----------------------------------------------------------------------------


def test_the_post_escapes_everything_customers_wrote() -> None:
    post = render_card(
        card(text=EVIL, author_display_name=EVIL, author_username="x<y", reason="angry: <hot>"),
        "https://tactful.example.com",
    )
    assert "<script>" not in post.text and "<b>bold</b>" not in post.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in post.text
    assert "@x&lt;y" in post.text and "angry: &lt;hot&gt;" in post.text
    assert post.text.startswith("<b>Priority 85</b> · telegram · complaint · heat 0.43")


def test_the_post_shows_a_preview_of_the_message_on_one_line() -> None:
    text = "line one\n\n  line two " + "x" * 500
    post = render_card(card(text=text), None)
    preview = post.text.split("<i>", 1)[1].split("</i>", 1)[0]
    assert preview.startswith("line one line two xxx") and preview.endswith("…")
    assert len(preview) == 200


def test_buttons_follow_the_item_state() -> None:
    url = "https://tactful.example.com/"

    def labels(**changes: object) -> list[list[str]]:
        return [[b.text for b in row] for row in render_card(card(**changes), url).buttons]

    assert labels() == [["Claim", "Troll", "Resolve"], ["Open in dashboard"]]
    assert labels(status="claimed", assignee="alice") == [["Troll", "Resolve"], ["Open in dashboard"]]
    assert labels(troll_label="offensive", troll_actor="bob") == [["Claim", "Resolve"], ["Open in dashboard"]]
    assert labels(status="resolved", resolved_by="alice") == [["Open in dashboard"]]
    link = render_card(card(), url).buttons[-1][0]
    assert link.url == "https://tactful.example.com/queue/12" and link.data is None


def test_a_dashboard_telegram_cannot_link_to_goes_into_the_text() -> None:
    post = render_card(card(), "http://127.0.0.1:8080")
    assert [[b.text for b in row] for row in post.buttons] == [["Claim", "Troll", "Resolve"]]
    assert "Dashboard: http://127.0.0.1:8080/queue/12" in post.text
    assert [[b.text for b in row] for row in render_card(card(), None).buttons] == [
        ["Claim", "Troll", "Resolve"]
    ]


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://tactful.example.com/queue/1", True),
        ("http://10.0.0.5:8080/queue/1", True),
        ("http://localhost:8080/queue/1", False),
        ("http://app.localhost/queue/1", False),
        ("http://127.0.0.1:8080/queue/1", False),
        ("http://[::1]:8080/queue/1", False),
        ("http://intranet/queue/1", False),
        ("ftp://files.example.com/x", False),
        ("javascript:alert(1)", False),
    ],
)
def test_which_dashboard_links_telegram_accepts(url: str, accepted: bool) -> None:
    assert telegram_accepts_url(url) is accepted


def test_the_state_changes_with_what_the_post_shows() -> None:
    base = card_state(card())
    assert card_state(card()) == base
    assert card_state(card(text="something else")) == base  # the text never changes the state
    for change in (
        {"status": "claimed", "assignee": "alice"},
        {"troll_label": "offensive", "troll_actor": "bob"},
        {"priority": 90},
        {"due_at": datetime(2026, 1, 5, 10, tzinfo=UTC)},
    ):
        assert card_state(card(**change)) != base, change


# --- which items are announced ---------------------------------------------------------------


def test_the_announcement_rule(db: Engine, clock: FrozenClock) -> None:
    now = clock.now()
    ids = store(db, now, *(make_message(str(n), thread=f"t{n}", author_id=str(100 + n)) for n in range(7)))
    high = open_item(db, ids["0"], now, priority=85)
    threshold = open_item(db, ids["1"], now, priority=80)
    low = open_item(db, ids["2"], now, priority=79)
    old = open_item(db, ids["3"], now - timedelta(hours=30), priority=95)
    due_soon = open_item(db, ids["4"], now, priority=10)
    due_later = open_item(db, ids["5"], now, priority=10)
    claimed = open_item(db, ids["6"], now, priority=99)
    claim_item(db, claimed, "alice", now)
    r = t.review_items
    with db.begin() as conn:
        conn.execute(update(r).where(r.c.id == old).values(created_at=now - timedelta(hours=30)))
        conn.execute(update(r).where(r.c.id == due_soon).values(due_at=now + timedelta(minutes=30)))
        conn.execute(update(r).where(r.c.id == due_later).values(due_at=now + timedelta(minutes=31)))
        assert queue_announcements(conn, "-100", RULE, now) == 3
        assert queue_announcements(conn, "-100", RULE, now) == 0  # never twice
        assert queue_announcements(conn, "-200", RULE, now) == 3  # another chat has its own posts
        rows = conn.execute(
            select(t.team_chat_posts.c.item_id, t.team_chat_posts.c.rule, t.team_chat_posts.c.status).where(
                t.team_chat_posts.c.chat_id == "-100"
            )
        ).all()
    assert sorted(rows) == sorted(
        [(high, "priority", "pending"), (threshold, "priority", "pending"), (due_soon, "due", "pending")]
    )
    assert low not in {row.item_id for row in rows}
    with db.begin() as conn:
        conn.execute(update(r).where(r.c.id == old).values(due_at=now - timedelta(minutes=5)))
        assert queue_announcements(conn, "-100", RULE, now) == 1  # overdue, however old the item
        conn.execute(update(r).where(r.c.id == low).values(due_at=now - timedelta(hours=25)))
        assert queue_announcements(conn, "-100", RULE, now) == 0  # overdue for longer than max_age: backlog
        cards = item_cards(conn, [high, 999_999])
    assert list(cards) == [high] and cards[high].priority == 85 and cards[high].troll_label is None


# --- where presses arrive -------------------------------------------------------------------


def callback_update(update_id: int, query_id: str, data: str) -> dict[str, object]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "from": {"id": 9001, "is_bot": False, "first_name": "Alice"},
            "message": {"message_id": 5, "chat": {"id": -100, "type": "supergroup"}, "date": 1},
            "chat_instance": "1",
            "data": data,
        },
    }


def test_the_webhook_stores_a_press_once_and_never_as_a_message(
    sqlite_db: Engine, clock: FrozenClock
) -> None:
    hook = TelegramWebhook(bot_id="4242", bot_username=BOT_USERNAME, secret="s3cret-token")
    client = TestClient(create_app(sqlite_db, clock, telegram=hook))
    headers = {"x-telegram-bot-api-secret-token": "s3cret-token"}
    for update_id in (1, 1, 2):  # a retried delivery and a replay under a new update id
        response = client.post(
            "/webhooks/telegram", json=callback_update(update_id, "q1", "tc:claim:1"), headers=headers
        )
        assert response.status_code == 200
    refused = client.post("/webhooks/telegram", json=callback_update(3, "q2", "tc:claim:1"))
    assert refused.status_code == 403
    with sqlite_db.connect() as conn:
        presses = conn.execute(
            select(
                t.team_chat_presses.c.callback_query_id,
                t.team_chat_presses.c.telegram_user_id,
                t.team_chat_presses.c.chat_id,
                t.team_chat_presses.c.message_ref,
                t.team_chat_presses.c.data,
                t.team_chat_presses.c.status,
            )
        ).all()
        assert conn.execute(select(t.messages.c.id)).all() == []
    assert [tuple(p) for p in presses] == [("q1", 9001, "-100", "-100:5", "tc:claim:1", "pending")]


def test_the_listener_returns_presses_with_the_cursor(
    tg_sim: TelegramSimulator, tg_client: TelegramClient
) -> None:
    tg_sim.add_group(-100, "Team")
    tg_sim.add_user(9001, "Alice")
    message = tg_client.send_message(
        -100, "item", buttons=[[InlineButton("Claim", callback_data="tc:claim:1")]]
    )
    query_id = tg_sim.press_button(-100, message["message_id"], 9001, "tc:claim:1")
    result = TelegramUpdatesListener(tg_client, BOT_USERNAME).fetch(None)
    assert result.messages == [] and result.quarantined == []
    assert [(p.callback_query_id, p.user_id, p.chat_id, p.data) for p in result.presses] == [
        (query_id, "9001", "-100", "tc:claim:1")
    ]
    assert result.presses[0].message_external_id == f"-100:{message['message_id']}"
    assert result.cursor is not None


# --- the bot ------------------------------------------------------------------------------


@pytest.fixture
def team_bot(tg_sim: TelegramSimulator, clock: FrozenClock) -> Iterator[TelegramBot]:
    client = client_for(tg_sim, clock=clock)
    try:
        yield TelegramBot(client, BOT_USERNAME, clock)
    finally:
        client.close()


def test_the_bot_posts_edits_and_answers(
    tg_sim: TelegramSimulator, team_bot: TelegramBot, clock: FrozenClock
) -> None:
    tg_sim.add_group(-100, "Team")
    tg_sim.add_user(9001, "Alice")
    buttons = [[InlineButton("Claim", callback_data="tc:claim:1")]]
    ref = team_bot.post_message(-100, "<b>new</b> item", buttons, html=True)
    [sent] = tg_sim.sent_messages(-100)
    assert ref == f"-100:{sent.message_id}" and sent.parse_mode == "HTML"
    clock.advance(2)
    assert team_bot.edit_message(ref, "<b>claimed</b>", [], html=True) == "edited"
    assert tg_sim.sent_messages(-100)[0].reply_markup is None  # no buttons left
    clock.advance(2)
    assert team_bot.edit_message(ref, "<b>claimed</b>", [], html=True) == "unchanged"
    clock.advance(2)
    assert team_bot.edit_message("-100:9999", "x", [], html=True) == "gone"
    clock.advance(2)
    tg_sim.add_user(9002, "Bob")
    ref2 = team_bot.post_message(-100, "another", buttons, html=False)
    query = tg_sim.press_button(-100, int(ref2.split(":")[1]), 9002, "tc:claim:1")
    team_bot.answer_press(query, "x" * 300)
    assert [(a.callback_query_id, a.text) for a in tg_sim.callback_answers()] == [(query, "x" * 200)]


# --- settings -------------------------------------------------------------------------------


def test_settings_check_the_team_chat_id_and_the_public_url() -> None:
    assert (
        WebSettings(public_url="https://tactful.example.com/").dashboard_url()
        == "https://tactful.example.com"
    )
    assert WebSettings(host="0.0.0.0", port=9000).dashboard_url() == "http://0.0.0.0:9000"
    for bad in ("javascript:alert(1)", "tactful.example.com", "https://x.example.com/a b"):
        with pytest.raises(ValueError):
            WebSettings(public_url=bad)
    for bad_id in ("@team", "-100 1", "team"):
        with pytest.raises(ValueError):
            TelegramSettings(team_chat_id=bad_id)
    assert TelegramSettings(team_chat_id="-1001234567890").team_chat_id == "-1001234567890"


def test_no_team_chat_without_a_chat_id_or_a_bot_that_can_post(sqlite_db: Engine, clock: FrozenClock) -> None:
    from tactful.team_chat_stage import build_team_chat

    assert build_team_chat(Settings(), sqlite_db, clock, {}) is None
    settings = Settings(telegram=TelegramSettings(enabled=True, team_chat_id="-100"))
    with pytest.raises(ConfigurationError):
        build_team_chat(settings, sqlite_db, clock, {})
