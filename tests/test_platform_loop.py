"""Facebook and Telegram through the whole service: webhooks checked and deduplicated, private channels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import func, select

from simulator.facebook import FacebookSimulator, sign
from simulator.telegram import TelegramSimulator
from storage import tables as t
from tactful.clock import FrozenClock
from tactful.service import Service, build_service
from tactful.settings import (
    FacebookSettings,
    ProcessingSettings,
    Settings,
    StorageSettings,
    TelegramSettings,
    WebSettings,
)
from tactful.web.app import WebServer

PAGE_ID = "1000"
PAGE_TOKEN = "page-token-for-tests"
APP_SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"
BOT_TOKEN = "4242:AAH-test_secret-token"
BOT_USERNAME = "acme_support_bot"
TG_SECRET = "telegram-webhook-secret"
GROUP = -1001234567890

HEATED = [
    "I was charged twice for the same vacuum and nobody answers my emails. Really disappointed.",
    "STILL no answer. Two charges of $349 on my card. This is ridiculous!!!",
    "same thing happened to me last month, took weeks to get a refund. Terrible.",
    "WHERE IS MY MONEY??? I want a refund TODAY or I'm calling my bank. Worst company ever!!!",
    "this is how you treat customers? Disgraceful. Never buying from you again!!!",
]
COMPLAINT = "My order #4411 arrived broken and I want a refund, nobody answers my emails"


@dataclass
class Running:
    service: Service
    web: WebServer
    fb: FacebookSimulator
    tg: TelegramSimulator
    clock: FrozenClock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web.port}"

    def count(self, table: Any) -> int:
        with self.service.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def settle(self) -> None:
        """Poll, process and dispatch a few times, letting time pass for flood limits and backoff."""
        for _ in range(4):
            self.service.step()
            self.clock.advance(10)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    fb = FacebookSimulator(PAGE_ID, PAGE_TOKEN, clock, app_secret=APP_SECRET, page_name="Acme")
    tg = TelegramSimulator(BOT_TOKEN, BOT_USERNAME, clock)
    fb.start()
    tg.start()
    settings = Settings(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'tactful.db'}"),
        processing=ProcessingSettings(workers=0),
        web=WebSettings(dashboard=False),  # the webhooks alone (the dashboard has its own tests)
        facebook=FacebookSettings(
            enabled=True,
            page_id=PAGE_ID,
            page_name="Acme",
            graph_url=fb.base_url,
            timeout_seconds=5,
            page_token=SecretStr(PAGE_TOKEN),
            app_secret=SecretStr(APP_SECRET),
            verify_token=SecretStr(VERIFY_TOKEN),
        ),
        telegram=TelegramSettings(
            enabled=True,
            bot_username=BOT_USERNAME,
            api_base_url=tg.base_url + "/bot",
            poll_timeout_seconds=0,
            timeout_seconds=5,
            bot_token=SecretStr(BOT_TOKEN),
        ),
    )
    service = build_service(settings, clock=clock)
    service.start_platforms()
    app = service.web_app()
    assert app is not None
    web = WebServer(app, "127.0.0.1", 0)
    web.start()
    try:
        yield Running(service, web, fb, tg, clock)
    finally:
        web.stop()
        service.close()
        fb.stop()
        tg.stop()


def post_facebook(running: Running, payload: dict[str, Any], signature: str | None) -> int:
    body = json.dumps(payload).encode("utf-8")
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    return requests.post(
        running.url + "/webhooks/facebook", data=body, headers=headers, timeout=5
    ).status_code


def telegram_update(update_id: int, message_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": {"id": user_id, "is_bot": False, "first_name": "Alice", "username": "alice"},
            "chat": {"id": GROUP, "title": "Acme customers", "type": "supergroup"},
            "date": 1767603600,
            "text": text,
        },
    }


def test_facebook_subscription_handshake_needs_the_verify_token(running: Running) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    good = requests.get(running.url + "/webhooks/facebook", params=params, timeout=5)
    bad = requests.get(
        running.url + "/webhooks/facebook", params={**params, "hub.verify_token": "guess"}, timeout=5
    )
    assert (good.status_code, good.text) == (200, "1158201444")
    assert bad.status_code == 403


def test_facebook_webhook_with_a_bad_signature_is_refused_and_replays_count_once(running: Running) -> None:
    running.fb.add_user("2001", "Alice Martin")
    post = running.fb.add_post("Our new vacuum is here")
    comment = running.fb.comment(post, "2001", COMPLAINT)
    payload = running.fb.webhook_payload_for_comment(comment)
    body = json.dumps(payload).encode("utf-8")

    assert post_facebook(running, payload, None) == 403
    assert post_facebook(running, payload, sign(body, "not-the-app-secret")) == 403
    assert post_facebook(running, payload, "sha1=" + sign(body, APP_SECRET)[7:]) == 403
    assert running.count(t.messages) == 0
    assert running.count(t.quarantine) == 0

    for _ in range(3):
        assert post_facebook(running, payload, sign(body, APP_SECRET)) == 200
    assert running.count(t.messages) == 1
    running.settle()
    running.settle()
    replies = [r for r in running.fb.page_comment_replies() if r.target_id == comment]
    assert len(replies) == 1
    with running.service.db.connect() as conn:
        stored = conn.execute(select(t.messages.c.external_id).order_by(t.messages.c.id)).scalars().all()
    # The customer's comment once; then our own reply, read back by the catch-up poll (never answered).
    assert stored == [comment, replies[0].comment_id]
    with running.service.db.connect() as conn:
        sent = conn.execute(select(t.outbox.c.kind, t.outbox.c.status, t.outbox.c.rule_id)).all()
    assert [(kind, status) for kind, status, _ in sent] == [("public_reply", "sent")]


def test_telegram_webhook_with_a_wrong_secret_is_refused_and_replays_count_once(
    running: Running, tmp_path: Path
) -> None:
    from tactful.web.app import create_app
    from tactful.web.webhooks import TelegramWebhook

    app = create_app(
        running.service.db,
        running.service.clock,
        telegram=TelegramWebhook(bot_id="4242", bot_username=BOT_USERNAME, secret=TG_SECRET),
    )
    web = WebServer(app, "127.0.0.1", 0)
    web.start()
    try:
        url = f"http://127.0.0.1:{web.port}/webhooks/telegram"
        running.tg.add_group(GROUP, "Acme customers")
        running.tg.add_user(501, "Alice", username="alice")
        message_id = running.tg.user_says(GROUP, 501, COMPLAINT)  # what Telegram would deliver
        update = telegram_update(7001, message_id, 501, COMPLAINT)
        for headers in ({}, {"x-telegram-bot-api-secret-token": "wrong"}):
            assert requests.post(url, json=update, headers=headers, timeout=5).status_code == 403
        assert running.count(t.messages) == 0
        good = {"x-telegram-bot-api-secret-token": TG_SECRET}
        for _ in range(3):
            assert requests.post(url, json=update, headers=good, timeout=5).status_code == 200
        assert requests.post(url, data=b"{not json", headers=good, timeout=5).status_code == 200
    finally:
        web.stop()
    assert running.count(t.messages) == 1
    assert running.count(t.quarantine) == 1
    running.settle()
    with running.service.db.connect() as conn:
        sends = conn.execute(select(t.outbox.c.kind).where(t.outbox.c.status == "sent")).scalars().all()
    assert sends == ["public_reply"]
    replies = [m for m in running.tg.sent_messages(GROUP) if m.reply_to_message_id == message_id]
    assert len(replies) == 1


def test_a_heated_facebook_thread_moves_to_a_private_reply(running: Running) -> None:
    for user, name in (("2004", "Dan Rant"), ("2011", "Eve Stone"), ("2015", "Fay Diaz")):
        running.fb.add_user(user, name)
    post = running.fb.add_post("Black Friday deals are live")
    authors = ["2004", "2004", "2011", "2004", "2015"]
    first = running.fb.comment(post, authors[0], HEATED[0])
    comments = [first] + [
        running.fb.comment(post, author, text, parent_comment_id=first)
        for author, text in zip(authors[1:], HEATED[1:], strict=True)
    ]
    for comment in comments:
        payload = running.fb.webhook_payload_for_comment(comment)
        assert post_facebook(running, payload, sign(json.dumps(payload).encode(), APP_SECRET)) == 200
    running.settle()
    private = running.fb.private_replies()
    assert len(private) == 1
    assert private[0].comment_id in comments
    with running.service.db.connect() as conn:
        moved = conn.execute(select(t.threads.c.moved_private, t.threads.c.heat)).all()
    assert moved[0][0] is True and moved[0][1] >= 0.6


def test_a_heated_telegram_group_gets_a_deep_link_and_the_private_chat_joins_the_thread(
    running: Running,
) -> None:
    tg = running.tg
    tg.add_group(GROUP, "Acme customers")
    for user, name in ((501, "dan"), (502, "eve"), (503, "fay")):
        tg.add_user(user, name.title(), username=name)
    authors = [501, 501, 502, 501, 503]
    previous: int | None = None
    for author, text in zip(authors, HEATED, strict=True):
        # A reply chain; Telegram names only the message answered, the store follows the chain.
        previous = tg.user_says(GROUP, author, text, reply_to=previous)
    running.settle()

    invitations = [
        m for m in tg.sent_messages(GROUP) if m.reply_markup and "inline_keyboard" in m.reply_markup
    ]
    assert len(invitations) == 1, tg.sent_messages(GROUP)
    button = invitations[0].reply_markup["inline_keyboard"][0][0]  # type: ignore[index]
    assert button["url"].startswith(f"https://t.me/{BOT_USERNAME}?start=")
    token = button["url"].split("start=", 1)[1]

    tg.user_starts_bot(invitations_recipient(running), token)
    running.settle()
    with running.service.db.connect() as conn:
        link = conn.execute(
            select(
                t.private_links.c.thread_id, t.private_links.c.private_thread_id, t.private_links.c.used_at
            )
        ).one()
        linked = conn.execute(
            select(t.threads.c.linked_thread_id).where(t.threads.c.id == link.private_thread_id)
        ).scalar_one()
        items = conn.execute(
            select(t.review_items.c.thread_id, t.review_items.c.reason, t.review_items.c.message_count)
        ).all()
        decision = conn.execute(
            select(t.decisions.c.rule_id).order_by(t.decisions.c.id.desc()).limit(1)
        ).scalar_one()
    assert link.used_at is not None and linked == link.thread_id
    assert decision == "private-chat-opened"
    assert [item.thread_id for item in items] == [link.thread_id]
    assert "private chat" in items[0].reason


def invitations_recipient(running: Running) -> int:
    """The customer the move to private was addressed to (the author of the heated message)."""
    with running.service.db.connect() as conn:
        recipient = conn.execute(
            select(t.outbox.c.recipient_external_id).where(t.outbox.c.idempotency_key.like("%:private"))
        ).scalar_one()
    return int(recipient)


def test_webhook_secrets_never_appear_in_a_repr(running: Running) -> None:
    text = repr(running.service.platforms)
    for secret in (APP_SECRET, VERIFY_TOKEN, PAGE_TOKEN, BOT_TOKEN):
        assert secret not in text
