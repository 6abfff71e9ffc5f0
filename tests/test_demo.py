"""`tactful demo`: the packaged scripts, the Telegram player's deep-link reflex, and the whole run end to end."""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from typing import Any

import pytest
import requests

from simulator.facebook_script import load_facebook_script, parse_facebook_script
from simulator.script import Played, load_script
from simulator.telegram import SentMessage, TelegramSimulator
from simulator.telegram_script import (
    TelegramPlayer,
    deep_link_token,
    load_telegram_script,
    parse_telegram_script,
    prepare_telegram,
)
from tactful.demo import run_demo, run_demo_result

BOT = "acme_support_bot"
TOKEN = "4242:AAH-test_secret-token"


def facebook_data(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "page": {"id": "5000", "name": "Acme"},
        "users": [{"id": "5001", "name": "Ann"}, {"id": "5002", "name": "Bo"}],
        "posts": [{"key": "a", "text": "A"}, {"key": "b", "text": "B"}],
        "events": events,
    }


def telegram_data(events: list[dict[str, Any]], **user: Any) -> dict[str, Any]:
    return {
        "bot": {"username": BOT, "name": "Acme Support"},
        "deep_links": {"open_after": 0, "write_after": 0},
        "users": [{"id": 501, "first_name": "Kevin", **user}, {"id": 502, "first_name": "Anna"}],
        "groups": [{"key": "owners", "id": -100123, "title": "Owners"}],
        "events": events,
    }


def test_the_packaged_scripts_are_moderate_and_spread_over_forty_seconds() -> None:
    fb, tg = load_facebook_script(), load_telegram_script()
    for events in (fb.events, tg.events):
        assert 15 <= len(events) <= 25
        assert events[-1].at <= 40 and events == sorted(events, key=lambda e: e.at)
    assert {e.post for e in fb.events} >= {"airpure", "delivery", "sale"}
    assert sum(e.is_messenger for e in fb.events) >= 3
    assert any(e.start for e in tg.events) and any(e.group is None and not e.start for e in tg.events)
    assert all(g.id < 0 for g in tg.groups)
    x_texts = {e.text for e in load_script().events}
    assert not x_texts & ({e.text for e in fb.events} | {e.text or "" for e in tg.events})


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"at": 1, "user": "9999", "post": "a", "text": "hi"}, "unknown user"),
        ({"at": 1, "user": "5001", "post": "zzz", "text": "hi"}, "unknown post"),
        ({"at": 1, "user": "5001", "text": "hi"}, "exactly one of"),
        ({"at": 1, "user": "5001", "post": "a", "messenger": True, "text": "hi"}, "exactly one of"),
        ({"at": 1, "user": "5001", "messenger": True, "label": "x", "text": "hi"}, "no label"),
        ({"at": 1, "user": "5001", "post": "a", "reply_to": "later", "text": "hi"}, "reply_to"),
        ({"at": 1, "user": "5001", "post": "a", "text": "  "}, "empty text"),
    ],
)
def test_facebook_script_references_are_checked(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_facebook_script(facebook_data([event]))


def test_a_facebook_reply_must_stay_on_its_post() -> None:
    events = [
        {"at": 1, "user": "5001", "post": "a", "label": "c", "text": "first"},
        {"at": 2, "user": "5002", "post": "b", "reply_to": "c", "text": "reply elsewhere"},
    ]
    with pytest.raises(ValueError, match="no earlier comment on post 'b'"):
        parse_facebook_script(facebook_data(events))


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"at": 1, "user": 999, "text": "hi"}, "unknown user"),
        ({"at": 1, "user": 501, "group": "nope", "text": "hi"}, "unknown group"),
        ({"at": 1, "user": 501, "start": True, "text": "hi"}, "start event"),
        ({"at": 1, "user": 501, "group": "owners"}, "non-empty 'text'"),
        ({"at": 1, "user": 501, "group": "owners", "reply_to": "x", "text": "hi"}, "reply_to"),
    ],
)
def test_telegram_script_references_are_checked(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_telegram_script(telegram_data([event]))


def test_a_telegram_reply_must_stay_in_its_chat() -> None:
    events = [
        {"at": 1, "user": 501, "group": "owners", "label": "q", "text": "in the group"},
        {"at": 2, "user": 502, "reply_to": "q", "text": "privately"},
    ]
    with pytest.raises(ValueError, match="same chat"):
        parse_telegram_script(telegram_data(events))


def sent(text: str, markup: dict[str, Any] | None = None) -> SentMessage:
    from datetime import UTC, datetime

    return SentMessage(-100123, 9, text, 3, markup, None, None, datetime(2026, 1, 5, tzinfo=UTC), False)


def test_deep_link_tokens_come_from_the_button_or_the_text_and_only_for_our_bot() -> None:
    button = {"inline_keyboard": [[{"text": "Continue", "url": f"https://t.me/{BOT}?start=tok_1-A"}]]}
    assert deep_link_token(sent("Let's talk in private", button), BOT) == "tok_1-A"
    assert deep_link_token(sent(f"Write to us: https://t.me/{BOT}?start=abc123"), "@" + BOT) == "abc123"
    assert deep_link_token(sent("https://t.me/other_bot?start=abc123"), BOT) is None
    assert deep_link_token(sent("Thanks, we're on it"), BOT) is None


def test_the_player_follows_a_deep_link_addressed_to_its_message_and_explains_privately() -> None:
    script = parse_telegram_script(
        telegram_data(
            [
                {"at": 0, "user": 501, "group": "owners", "text": "WHERE IS MY REFUND???"},
                {"at": 0, "user": 502, "group": "owners", "text": "me too"},
            ],
            after_deep_link="It's about order #77120.",
        )
    )
    sim = TelegramSimulator(TOKEN, BOT, flood_limits=None)
    sim.start()
    stop, played = threading.Event(), Played()
    prepare_telegram(sim, script)
    player = threading.Thread(target=TelegramPlayer(sim, script, 1.0, stop, played).run, daemon=True)
    player.start()
    try:
        wait_for(lambda: played.posts == 2)
        markup = {"inline_keyboard": [[{"text": "Continue", "url": f"https://t.me/{BOT}?start=tok123"}]]}
        bot_says(sim, {"chat_id": -100123, "text": f"Anna: https://t.me/{BOT}", "reply_to_message_id": 2})
        bot_says(sim, {"chat_id": -100123, "text": "Not this one", "reply_to_message_id": 1})
        bot_says(
            sim,
            {
                "chat_id": -100123,
                "text": "Private?",
                "reply_to_message_id": 1,
                "reply_markup": json.dumps(markup),
            },
        )
        wait_for(lambda: played.posts == 4)
        updates = requests.post(f"{sim.base_url}/bot{TOKEN}/getUpdates", timeout=5).json()["result"]
    finally:
        stop.set()
        player.join(timeout=5)
        sim.stop()
    private = [(u["message"]["chat"]["id"], u["message"]["text"]) for u in updates[2:]]
    assert private == [(501, "/start tok123"), (501, "It's about order #77120.")]
    assert played.deep_links_opened == 1


def bot_says(sim: TelegramSimulator, body: dict[str, Any]) -> None:
    """Send a message as the bot, through the simulated Bot API."""
    response = requests.post(f"{sim.base_url}/bot{TOKEN}/sendMessage", data=body, timeout=5)
    assert response.status_code == 200, response.text


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_demo_runs_all_three_platforms_at_once() -> None:
    out = io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    result = run_demo_result(duration=18, speed=4, out=out)
    text = out.getvalue()

    scripted = {
        "x": len(load_script().events),
        "facebook": len(load_facebook_script().events),
        "telegram": len(load_telegram_script().events),
    }
    for platform, count in scripted.items():
        assert result.posted[platform] >= count, (platform, text)
        assert result.stored[platform] == result.posted[platform], (platform, text)
        assert f"[message] {platform} " in text
    assert result.x.sent > 0 and result.facebook.sent > 0 and result.telegram.sent > 0
    assert result.facebook.comment_replies > 0 and result.facebook.messenger_messages > 0
    assert result.facebook.private_replies >= 1, text  # the heated comment thread moved to Messenger
    assert result.facebook.webhooks_delivered >= scripted["facebook"]
    assert result.telegram.group_messages > 0 and result.telegram.private_messages > 0
    assert result.telegram.deep_links >= 1, text  # the heated group thread got a deep link...
    assert result.telegram.deep_links_opened >= 1  # ...the customer opened it...
    assert result.private_links_used >= 1 and result.telegram.private_chats_joined >= 1  # ...and it joined
    assert "rule private-chat-opened" in text
    assert sum(result.queue_open.values()) > 0
    assert "=== summary ===" in text and "review queue:" in text
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers


def test_run_demo_keeps_its_cli_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[float | None, float, bool]] = []

    def fake(duration: float | None, speed: float = 1.0, keep: bool = False, out: Any = None) -> None:
        calls.append((duration, speed, keep))

    monkeypatch.setattr("tactful.demo.run_demo_result", fake)
    assert run_demo(duration=3, speed=2, keep=True) == 0
    assert calls == [(3, 2, True)]
