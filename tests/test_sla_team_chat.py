"""SLA reminders and escalations in the Telegram team chat: the service, the simulator and a frozen clock.

The default policy gives a Telegram complaint 30 minutes and reminds 10 minutes ahead: the team
chat hears "due in" once before the due time and "overdue by" once after it, unless a person
answered the item first. A promise whose conversation has no waiting item is alerted on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from storage import tables as t
from storage.queue_actions import reply_to_item
from tests.test_team_chat import COMPLAINT, CUSTOMER, GROUP, PUBLIC_URL, Env, complaint_posted, env

__all__ = ["env"]  # the fixture, shared with the team chat's own tests


def alert_rows(env: Env) -> list[tuple[str, str, str]]:
    s = t.sla_alerts
    with env.service.db.connect() as conn:
        return [
            tuple(row) for row in conn.execute(select(s.c.subject, s.c.kind, s.c.status).order_by(s.c.id))
        ]


def test_a_reminder_before_the_due_time_and_one_escalation_after(env: Env) -> None:
    item_id = complaint_posted(env)
    due = env.item().due_at
    assert due == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # 30 minutes for a complaint, in business hours
    env.clock.set(due - timedelta(minutes=11))
    env.settle()
    assert len(env.posts()) == 1  # only the announcement so far
    env.clock.set(due - timedelta(minutes=9))
    env.settle()
    reminder = env.posts()[1]
    assert reminder.text.startswith(f"⏰ <b>Review item #{item_id} due in 9 min</b>")
    assert "Due: 2026-01-05 09:30 UTC" in reminder.text and "Dana" in reminder.text
    assert reminder.reply_markup == {
        "inline_keyboard": [[{"text": "Open in dashboard", "url": f"{PUBLIC_URL}/queue/{item_id}"}]]
    }
    env.settle(4)
    assert len(env.posts()) == 2  # reminded once
    env.clock.set(due + timedelta(minutes=2))
    env.settle(4)
    posts = env.posts()
    assert len(posts) == 3
    assert posts[2].text.startswith(f"🚨 <b>Review item #{item_id} overdue by 2 min</b>")
    assert alert_rows(env) == [("item", "reminder", "posted"), ("item", "escalation", "posted")]


def test_an_answered_item_is_neither_reminded_nor_escalated(env: Env) -> None:
    item_id = complaint_posted(env)
    reply_to_item(
        env.service.db,
        item_id,
        "So sorry, a refund is on its way.",
        "alice",
        env.clock.now(),
        request_key="r" * 16,
    )
    env.clock.advance(timedelta(minutes=45))
    env.settle()
    assert len(env.posts()) == 1
    assert alert_rows(env) == []


def test_a_promise_without_a_waiting_item_is_alerted_on_its_own(env: Env) -> None:
    env.clock.set(datetime(2026, 1, 4, 20, 0, tzinfo=UTC))  # Sunday evening: nobody is in
    env.tg.user_says(GROUP, CUSTOMER, COMPLAINT)
    env.settle()
    with env.service.db.begin() as conn:  # as if the rule had acknowledged without queueing
        conn.execute(update(t.review_items).values(status="resolved"))
        (promised_at,) = conn.execute(select(t.promises.c.promised_at)).scalars().all()
    assert promised_at == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    before = len(env.posts())
    env.clock.set(promised_at - timedelta(minutes=5))
    env.settle()
    reminder = env.posts()[before]
    assert reminder.text.startswith("⏰ <b>A promised reply due in 4 min</b>")
    assert "would answer by 2026-01-05 08:30 UTC" in reminder.text and "Dana" in reminder.text
    env.clock.set(promised_at + timedelta(minutes=1))
    env.settle()
    assert env.posts()[before + 1].text.startswith("🚨 <b>A promised reply overdue by")
    assert alert_rows(env) == [("promise", "reminder", "posted"), ("promise", "escalation", "posted")]
    with env.service.db.connect() as conn:  # the service's sweep recorded it broken
        assert conn.execute(select(t.promises.c.status)).scalars().all() == ["broken"]
    env.settle(3)
    assert len(env.posts()) == before + 2


def test_an_alert_left_mid_send_by_a_crash_is_never_sent_again(env: Env) -> None:
    complaint_posted(env)
    env.clock.set(env.item().due_at - timedelta(minutes=5))
    with env.service.db.begin() as conn:
        conn.execute(
            t.sla_alerts.insert().values(
                subject="item",
                subject_id=env.item().id,
                kind="reminder",
                chat_id=str(env.service.team_chat.chat_id if env.service.team_chat else ""),
                deadline=env.item().due_at,
                status="sending",
                attempts=1,
                next_attempt_at=env.clock.now(),
                created_at=env.clock.now(),
            )
        )
    env.restart()
    env.settle()
    assert len(env.posts()) == 1
    assert alert_rows(env) == [("item", "reminder", "unknown")]
