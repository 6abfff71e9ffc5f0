"""The Telegram team chat end to end: the service, the Telegram simulator and a frozen clock.

A high-priority complaint is announced once in the team chat with Claim, Troll, Resolve and Open
buttons; presses by linked users act through the queue actions, presses by anyone else change
nothing but an audit row, and a crash never posts twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from bots.team_chat import TeamChatSender
from simulator.telegram import SentMessage, TelegramSimulator
from storage import tables as t
from storage.queue_actions import claim_item
from storage.users import add_user, link_telegram, set_disabled
from tactful.clock import FrozenClock
from tactful.service import Service, ServiceRunner, build_service
from tactful.settings import (
    ProcessingSettings,
    Settings,
    StorageSettings,
    TeamChatSettings,
    TelegramSettings,
    WebSettings,
)
from tactful.team_chat import NOT_LINKED
from tests.dashboard_helpers import CHEAP_HASHER, PASSWORD

TOKEN = "4242:AAH-test_secret-token"
BOT_USERNAME = "acme_support_bot"
GROUP = -1001234567890  # where customers write
TEAM = -1009876543210  # the team chat
CUSTOMER = 501
ALICE_TG, BOB_TG, MALLORY_TG, CAROL_TG = 9001, 9002, 9003, 9004
PUBLIC_URL = "https://tactful.example.com"
COMPLAINT = "My order #4411 arrived broken and I want a refund, nobody answers my emails"


@dataclass
class Env:
    tmp_path: Path
    clock: FrozenClock
    tg: TelegramSimulator
    settings: Settings
    service: Service

    def settle(self, rounds: int = 3) -> None:
        """Run the whole pipeline a few times, letting time pass for Telegram's flood limits."""
        for _ in range(rounds):
            self.service.step()
            self.clock.advance(5)

    def restart(self) -> Service:
        """Build a fresh service on the same database (as after a crash) and recover it."""
        self.service.close()
        self.service = build_service(self.settings, clock=self.clock)
        assert self.service.team_chat is not None
        self.service.team_chat.recover()
        return self.service

    def posts(self) -> list[SentMessage]:
        return self.tg.sent_messages(TEAM)

    def post(self) -> SentMessage:
        posts = self.posts()
        assert len(posts) == 1, posts
        return posts[0]

    def item(self) -> Any:
        with self.service.db.connect() as conn:
            rows = conn.execute(select(t.review_items)).all()
        assert len(rows) == 1, rows
        return rows[0]

    def audit(self) -> list[tuple[str, str, str]]:
        with self.service.db.connect() as conn:
            rows = conn.execute(
                select(t.audit_log.c.actor, t.audit_log.c.action, t.audit_log.c.subject_id).order_by(
                    t.audit_log.c.id
                )
            ).all()
        return [tuple(row) for row in rows]

    def labels(self) -> list[tuple[str, str, str]]:
        with self.service.db.connect() as conn:
            rows = conn.execute(
                select(t.human_labels.c.task, t.human_labels.c.label, t.human_labels.c.actor)
            ).all()
        return [tuple(row) for row in rows]

    def press(self, user: int, action: str, item_id: int) -> str:
        return self.tg.press_button(TEAM, self.post().message_id, user, f"tc:{action}:{item_id}")

    def answers(self) -> list[str | None]:
        return [answer.text for answer in self.tg.callback_answers()]

    def raw_update(self, body: dict[str, Any]) -> None:
        """Queue an update Telegram could send, with the next update id (served verbatim)."""
        update_id = self.tg._next_update_id  # what add_raw_update will use
        assert self.tg.add_raw_update({"update_id": update_id, **body}) == update_id


def team_settings(tmp_path: Path, tg: TelegramSimulator, **team_chat: Any) -> Settings:
    return Settings(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'tactful.db'}"),
        processing=ProcessingSettings(workers=0),
        web=WebSettings(public_url=PUBLIC_URL),
        team_chat=TeamChatSettings(**team_chat),
        telegram=TelegramSettings(
            enabled=True,
            bot_username=BOT_USERNAME,
            api_base_url=tg.base_url + "/bot",
            team_chat_id=str(TEAM),
            poll_timeout_seconds=0,
            timeout_seconds=5,
            bot_token=SecretStr(TOKEN),
        ),
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr("storage.users.HASHER", CHEAP_HASHER)
    clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    tg = TelegramSimulator(TOKEN, BOT_USERNAME, clock)
    tg.start()
    tg.add_group(GROUP, "Acme customers")
    tg.add_group(TEAM, "Acme support team")
    tg.add_user(CUSTOMER, "Dana", username="dana")
    for user_id, name in ((ALICE_TG, "Alice"), (BOB_TG, "Bob"), (MALLORY_TG, "Mallory"), (CAROL_TG, "Carol")):
        tg.add_user(user_id, name, username=name.lower())
    settings = team_settings(tmp_path, tg)
    service = build_service(settings, clock=clock)
    service.start_platforms()
    now = clock.now()
    for name, role, tg_id in (
        ("alice", "agent", ALICE_TG),
        ("bob", "agent", BOB_TG),
        ("carol", "manager", CAROL_TG),
    ):
        add_user(service.db, name, role, PASSWORD, "test", now)
        link_telegram(service.db, name, tg_id, "test", now)
    env = Env(tmp_path, clock, tg, settings, service)
    try:
        yield env
    finally:
        env.service.close()
        tg.stop()


def complaint_posted(env: Env) -> int:
    """A customer complains in the group; return the review item id once its team-chat post is out."""
    env.tg.user_says(GROUP, CUSTOMER, COMPLAINT)
    env.settle()
    item = env.item()
    assert item.priority >= 80 and item.status == "open"
    env.post()
    return int(item.id)


def callback_rows(message: SentMessage) -> list[list[dict[str, Any]]]:
    assert message.reply_markup is not None
    rows: list[list[dict[str, Any]]] = message.reply_markup["inline_keyboard"]
    return rows


def button_labels(message: SentMessage) -> list[str]:
    if message.reply_markup is None:
        return []
    return [button["text"] for row in callback_rows(message) for button in row]


def test_a_high_priority_item_is_posted_once_with_four_buttons(env: Env) -> None:
    item_id = complaint_posted(env)
    post = env.post()
    assert post.parse_mode == "HTML"
    assert f"Review item #{item_id}" in post.text
    assert "refund" in post.text and "Priority" in post.text and "telegram" in post.text
    assert "Status: open" in post.text
    actions, links = callback_rows(post)
    assert [(b["text"], b["callback_data"]) for b in actions] == [
        ("Claim", f"tc:claim:{item_id}"),
        ("Troll", f"tc:troll:{item_id}"),
        ("Resolve", f"tc:resolve:{item_id}"),
    ]
    assert links == [{"text": "Open in dashboard", "url": f"{PUBLIC_URL}/queue/{item_id}"}]
    env.settle(5)
    assert len(env.posts()) == 1  # later passes never announce it again


def test_claim_troll_and_resolve_by_a_linked_agent(env: Env) -> None:
    item_id = complaint_posted(env)

    env.press(ALICE_TG, "claim", item_id)
    env.settle()
    item = env.item()
    assert (item.status, item.assignee) == ("claimed", "alice")
    assert env.answers() == ["claimed by alice"]
    post = env.post()
    assert post.edited and "Status: claimed by alice" in post.text
    assert button_labels(post) == ["Troll", "Resolve", "Open in dashboard"]

    env.press(ALICE_TG, "troll", item_id)
    env.settle()
    assert env.labels() == [("offensive", "offensive", "alice")]
    assert [(actor, action) for actor, action, _ in env.audit() if action == "label.set"] == [
        ("alice", "label.set")
    ]
    assert env.answers()[-1] == "marked troll by alice"
    assert "Marked a troll by alice" in env.post().text
    assert button_labels(env.post()) == ["Resolve", "Open in dashboard"]

    env.press(ALICE_TG, "resolve", item_id)
    env.settle()
    item = env.item()
    assert (item.status, item.resolved_by) == ("resolved", "alice")
    assert env.answers()[-1] == "resolved by alice"
    assert "Status: resolved by alice" in env.post().text
    assert button_labels(env.post()) == ["Open in dashboard"]
    actions = [(actor, action) for actor, action, _ in env.audit() if action.startswith("queue.")]
    assert actions == [("alice", "queue.claim"), ("alice", "queue.resolve")]


def test_an_unlinked_telegram_user_is_refused_and_changes_nothing(env: Env) -> None:
    item_id = complaint_posted(env)
    before_item, before_audit, before_post = env.item(), env.audit(), env.post()

    for action in ("claim", "troll", "resolve"):
        env.press(MALLORY_TG, action, item_id)
    env.settle()

    assert env.answers() == [NOT_LINKED] * 3
    after = env.item()
    assert (after.status, after.assignee, after.resolved_at) == (
        before_item.status,
        before_item.assignee,
        before_item.resolved_at,
    )
    assert env.labels() == []
    new_audit = env.audit()[len(before_audit) :]
    assert new_audit == [(f"telegram:{MALLORY_TG}", "team_chat.refused", str(item_id))] * 3
    assert env.post().text == before_post.text and not env.post().edited


def test_a_disabled_user_is_refused(env: Env) -> None:
    item_id = complaint_posted(env)
    set_disabled(env.service.db, "bob", True, "test", env.clock.now())
    env.press(BOB_TG, "claim", item_id)
    env.settle()
    assert env.item().status == "open"
    assert env.answers() == ["refused: your tactful account is disabled"]
    assert env.audit()[-1] == (f"telegram:{BOB_TG}", "team_chat.refused", str(item_id))


def test_an_item_someone_else_claimed_is_refused_naming_the_holder_but_a_manager_may(env: Env) -> None:
    item_id = complaint_posted(env)
    env.press(ALICE_TG, "claim", item_id)
    env.settle()

    env.press(BOB_TG, "resolve", item_id)
    env.settle()
    assert env.item().status == "claimed"
    answer = env.answers()[-1]
    assert answer is not None and answer.startswith("refused:") and "claimed by alice" in answer

    env.press(CAROL_TG, "resolve", item_id)  # a manager may act on anyone's item, as in the dashboard
    env.settle()
    assert (env.item().status, env.item().resolved_by) == ("resolved", "carol")


def test_a_replayed_callback_applies_once(env: Env) -> None:
    item_id = complaint_posted(env)
    env.press(ALICE_TG, "troll", item_id)
    env.settle()
    with env.service.db.connect() as conn:
        press_id, ref = conn.execute(
            select(t.team_chat_presses.c.callback_query_id, t.team_chat_presses.c.message_ref)
        ).one()
    chat, message = ref.split(":")
    payload = {
        "callback_query": {
            "id": press_id,
            "from": {"id": ALICE_TG, "is_bot": False, "first_name": "Alice"},
            "message": {
                "message_id": int(message),
                "chat": {"id": int(chat), "type": "supergroup"},
                "date": 1,
            },
            "chat_instance": "1",
            "data": f"tc:troll:{item_id}",
        }
    }
    for _ in range(2):
        env.raw_update(payload)  # Telegram delivering the same press again
    env.settle()
    assert env.answers() == ["marked troll by alice"]
    assert [action for actor, action, _ in env.audit() if actor == "alice"] == ["label.set"]
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_presses.c.status)).scalars().all() == ["done"]
        assert conn.execute(select(t.messages.c.id)).scalars().all() == [env.item().message_id]


def test_presses_in_other_chats_are_ignored(env: Env) -> None:
    item_id = complaint_posted(env)
    env.raw_update(
        {
            "callback_query": {
                "id": "777",
                "from": {"id": ALICE_TG, "is_bot": False, "first_name": "Alice"},
                "message": {"message_id": 1, "chat": {"id": GROUP, "type": "supergroup"}, "date": 1},
                "chat_instance": "2",
                "data": f"tc:claim:{item_id}",
            }
        }
    )
    env.settle()
    assert env.item().status == "open"
    assert env.answers() == []
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_presses.c.status)).scalars().all() == ["ignored"]


def test_a_press_that_names_another_item_than_its_message_is_refused(env: Env) -> None:
    item_id = complaint_posted(env)
    post = env.post()
    env.raw_update(
        {
            "callback_query": {
                "id": "778",
                "from": {"id": ALICE_TG, "is_bot": False, "first_name": "Alice"},
                "message": {"message_id": post.message_id + 100, "chat": {"id": TEAM, "type": "supergroup"}},
                "chat_instance": "3",
                "data": f"tc:claim:{item_id}",
            }
        }
    )
    env.settle()
    assert env.item().status == "open"
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_presses.c.outcome)).scalars().all() == ["refused"]


def test_a_dashboard_action_updates_the_post(env: Env) -> None:
    item_id = complaint_posted(env)
    claim_item(env.service.db, item_id, "bob", env.clock.now())  # what the dashboard's Claim does
    env.settle()
    assert "Status: claimed by bob" in env.post().text


def test_a_restart_never_posts_an_item_twice(env: Env) -> None:
    complaint_posted(env)
    env.restart()
    env.settle(4)
    assert len(env.posts()) == 1


class Crash(BaseException):
    """The process dies right after Telegram accepted the post, before it was recorded."""


class CrashingSender:
    def __init__(self, inner: TeamChatSender) -> None:
        self.inner = inner

    def post_message(self, chat_id: int, text: str, buttons: Any, *, html: bool) -> str:
        self.inner.post_message(chat_id, text, buttons, html=html)
        raise Crash

    def edit_message(self, ref: str, text: str, buttons: Any, *, html: bool) -> Any:
        return self.inner.edit_message(ref, text, buttons, html=html)

    def answer_press(self, callback_query_id: str, text: str | None) -> None:
        self.inner.answer_press(callback_query_id, text)


def test_a_crash_mid_post_never_posts_again_and_a_press_recovers_the_post(env: Env) -> None:
    stage = env.service.team_chat
    assert stage is not None
    stage.dispatcher._sender = CrashingSender(stage.dispatcher._sender)  # type: ignore[assignment]
    env.tg.user_says(GROUP, CUSTOMER, COMPLAINT)
    with pytest.raises(Crash):
        env.settle()
    assert len(env.posts()) == 1
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_posts.c.status)).scalars().all() == ["sending"]

    env.restart()
    env.settle(4)
    assert len(env.posts()) == 1  # unknown whether it arrived, so it is not posted again
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_posts.c.status)).scalars().all() == ["unknown"]

    # The post was in the chat after all: a press on it acts, and the post is tracked again.
    item_id = int(env.item().id)
    env.press(ALICE_TG, "claim", item_id)
    env.settle()
    assert env.item().assignee == "alice"
    assert "Status: claimed by alice" in env.post().text
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_posts.c.status)).scalars().all() == ["posted"]


def test_an_item_due_soon_is_announced_whatever_its_priority(env: Env) -> None:
    env.tg.user_says(GROUP, CUSTOMER, "Hi, can you tell me your opening hours on Sunday?")
    env.settle()
    item = env.item()
    assert item.priority < 80
    assert env.posts() == []
    with env.service.db.begin() as conn:
        conn.execute(
            update(t.review_items)
            .where(t.review_items.c.id == item.id)
            .values(due_at=env.clock.now() + timedelta(hours=2))
        )
    env.settle()
    assert env.posts() == []  # not within 30 minutes yet
    env.clock.advance(timedelta(minutes=95))
    env.settle()
    assert "Due: 2026-01-05 11:00 UTC" in env.post().text
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_posts.c.rule)).scalars().all() == ["due"]


def test_what_the_team_says_in_the_team_chat_is_never_a_customer_message(env: Env) -> None:
    env.tg.user_says(TEAM, ALICE_TG, "I was charged twice, this is a disgrace!!! (quoting a customer)")
    env.settle()
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.messages.c.id)).all() == []
    assert env.posts() == []


def test_the_runner_recovers_and_schedules_the_team_chat(env: Env) -> None:
    complaint_posted(env)
    with env.service.db.begin() as conn:
        conn.execute(update(t.team_chat_posts).values(status="sending"))
    env.service.close()
    settings = env.settings.model_copy(update={"web": WebSettings(dashboard=False)})
    env.service = build_service(settings, clock=env.clock)
    runner = ServiceRunner(env.service)
    runner.start()
    try:
        job = runner.scheduler.get_job("team_chat")
        assert job is not None
    finally:
        runner.stop()
    with env.service.db.connect() as conn:
        assert conn.execute(select(t.team_chat_posts.c.status)).scalars().all() == ["unknown"]
