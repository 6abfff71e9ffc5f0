"""Working the queue in the dashboard: the list and its filters, the item page, and every action."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from markupsafe import escape
from pydantic import SecretStr
from sqlalchemy import Engine, select

from moderation.classifier import Moderator
from storage import tables as t
from storage.queue_views import QueueFilter, list_items, queue_counters
from tactful.clock import FrozenClock
from tactful.domain import Channel, Platform
from tactful.platforms import facebook_private_route, telegram_private_route, x_private_route
from tactful.processing import Processor
from tactful.settings import TelegramSettings, XSettings
from tests.dashboard_helpers import (
    CHEAP_HASHER,
    add,
    csrf,
    default_policy,
    logged_in,
    login,
    make_client,
    request_key,
)
from tests.factories import make_message
from tests.queue_helpers import audit_rows, open_item, store

ROUTES: dict[str, Any] = {
    "x": x_private_route(XSettings(user_id="1000")),
    "facebook": facebook_private_route(),
    "telegram": telegram_private_route(
        TelegramSettings(bot_username="acme_support_bot", bot_token=SecretStr("4242:test-token"))
    ),
}


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.users.HASHER", CHEAP_HASHER)


def outbox(db: Engine) -> list[dict[str, Any]]:
    o = t.outbox
    with db.connect() as conn:
        rows = conn.execute(
            select(
                o.c.kind,
                o.c.message_id,
                o.c.text,
                o.c.fallback_text,
                o.c.private_link,
                o.c.rule_id,
                o.c.policy_version,
                o.c.status,
                o.c.target_external_id,
                o.c.recipient_external_id,
            ).order_by(o.c.id)
        )
        return [dict(row._mapping) for row in rows]


def item_row(db: Engine, item_id: int) -> dict[str, Any]:
    r = t.review_items
    with db.connect() as conn:
        return dict(conn.execute(select(r).where(r.c.id == item_id)).one()._mapping)


def act(client: Any, item_id: int, action: str, **fields: str) -> Any:
    page = client.get(f"/queue/{item_id}").text
    return client.post(
        f"/queue/{item_id}/{action}", data={"csrf_token": csrf(page), **fields}, follow_redirects=False
    )


def one_item(
    db: Engine, clock: FrozenClock, text: str = "my order #4411 never arrived", **kwargs: Any
) -> int:
    ids = store(db, clock.now(), make_message("m1", text, **kwargs))
    return open_item(db, ids["m1"], clock.now())


# --- the list -----------------------------------------------------------------------------------


def test_the_queue_is_ordered_by_priority_then_due_time_then_age(db: Engine, clock: FrozenClock) -> None:
    ids = store(db, clock.now(), *(make_message(str(n), f"message {n}", thread=f"t{n}") for n in range(5)))
    items = {}
    for n in range(5):
        items[n] = open_item(
            db, ids[str(n)], clock.now() + timedelta(minutes=n), priority=80 if n < 4 else 50
        )
    due = {0: None, 1: clock.now() + timedelta(hours=2), 2: clock.now() + timedelta(minutes=10), 3: None}
    with db.begin() as conn:
        for n, at in due.items():
            conn.execute(t.review_items.update().where(t.review_items.c.id == items[n]).values(due_at=at))
    with db.connect() as conn:
        order = [row.id for row in list_items(conn, QueueFilter())]
        counters = queue_counters(conn, clock.now())
    assert order == [items[2], items[1], items[0], items[3], items[4]]
    assert (counters.open, counters.claimed, counters.due_soon) == (5, 0, 1)


def test_a_limited_page_holds_the_most_urgent_items_that_match_the_filter(
    db: Engine, clock: FrozenClock
) -> None:
    facebook = {"platform": Platform.FACEBOOK, "channel": Channel.COMMENT}
    messages = [
        make_message(str(n), f"message {n}", thread=f"t{n}", **(facebook if n % 2 else {})) for n in range(8)
    ]
    ids = store(db, clock.now(), *messages)
    items = {n: open_item(db, ids[str(n)], clock.now(), priority=10 * n) for n in range(8)}
    with db.begin() as conn:
        for n in range(8):
            conn.execute(
                t.verdicts.insert().values(
                    message_id=ids[str(n)],
                    category="complaint" if n in (1, 2, 4) else "question",
                    sentiment="negative",
                    sentiment_score=-0.5,
                    toxicity=0.0,
                    complaint=0.9,
                    language="en" if n != 2 else "fr",
                    confidence=0.9,
                    explanation="test",
                    keywords=[],
                    signals={},
                    model="test",
                    created_at=clock.now(),
                )
            )
    with db.connect() as conn:
        page = [row.id for row in list_items(conn, QueueFilter(), limit=3)]
        on_facebook = [row.id for row in list_items(conn, QueueFilter(platform="facebook"), limit=2)]
        complaints = list_items(conn, QueueFilter(category="complaint"), limit=2)
        english_complaints = [
            row.id for row in list_items(conn, QueueFilter(category="complaint", language="en"), limit=5)
        ]
    assert page == [items[7], items[6], items[5]]
    assert on_facebook == [items[7], items[5]]
    assert [(row.id, row.category, row.text) for row in complaints] == [
        (items[4], "complaint", "message 4"),
        (items[2], "complaint", "message 2"),
    ]
    assert english_complaints == [items[4], items[1]]


def test_filters_narrow_the_list_and_unknown_values_are_refused(db: Engine, clock: FrozenClock) -> None:
    ids = store(
        db,
        clock.now(),
        make_message("1", "on x", thread="a"),
        make_message("2", "on facebook", thread="b", platform=Platform.FACEBOOK, channel=Channel.COMMENT),
    )
    x_item = open_item(db, ids["1"], clock.now())
    fb_item = open_item(db, ids["2"], clock.now())
    client = logged_in(db, clock, "alice")
    act(client, fb_item, "claim")
    page = client.get("/queue?platform=facebook").text
    assert f'href="/queue/{fb_item}"' in page and f'href="/queue/{x_item}"' not in page
    mine = client.get("/queue?assignee=alice").text
    assert f'href="/queue/{fb_item}"' in mine and f'href="/queue/{x_item}"' not in mine
    nobody = client.get("/queue?assignee=-").text
    assert f'href="/queue/{x_item}"' in nobody and f'href="/queue/{fb_item}"' not in nobody
    for bad in ("platform=myspace", "status=deleted", "category=<b>", "language=xx", "assignee=mallory"):
        response = client.get(f"/queue?{bad}")
        assert response.status_code == 400
        assert "<b>" not in response.text
    assert client.get("/queue/live?platform=myspace").status_code == 400


def test_the_live_fragment_has_the_counters_and_the_rows(db: Engine, clock: FrozenClock) -> None:
    item = one_item(db, clock)
    with db.begin() as conn:
        conn.execute(t.review_items.update().values(due_at=clock.now() + timedelta(minutes=20)))
    client = logged_in(db, clock, "alice")
    live = client.get("/queue/live")
    assert live.status_code == 200 and "<html" not in live.text
    assert 'id="count-open">1<' in live.text and 'id="count-due">1<' in live.text
    assert f'href="/queue/{item}"' in live.text
    assert 'data-live-url="/queue/live"' in client.get("/queue").text


# --- the item page ------------------------------------------------------------------------------


def test_the_item_page_shows_the_thread_verdicts_decisions_sends_and_author_history(
    db: Engine, clock: FrozenClock
) -> None:
    processor = Processor(db, Moderator(), default_policy().current, clock)
    store(db, clock.now(), make_message("0", "love the new blender", thread="earlier"))
    store(
        db,
        clock.now(),
        make_message("1", "my order #4411 never arrived, I want a refund", thread="t1", minutes=1),
        make_message("2", "still nothing?? this is a scam", thread="t1", minutes=2),
    )
    processor.drain(50)
    r = t.review_items
    with db.connect() as conn:
        item = conn.execute(
            select(r.c.id).where(
                r.c.thread_id
                == select(t.threads.c.id).where(t.threads.c.external_id == "t1").scalar_subquery()
            )
        ).scalar()
    assert item is not None
    client = logged_in(db, clock, "alice")
    page = client.get(f"/queue/{item}").text
    assert page.index("my order #4411") < page.index("still nothing??")
    with db.connect() as conn:
        decisions = conn.execute(select(t.decisions.c.rule_id, t.decisions.c.policy_version)).all()
        verdicts = conn.execute(select(t.verdicts.c.category, t.verdicts.c.explanation)).all()
        sends = conn.execute(select(t.outbox.c.rule_id, t.outbox.c.status)).all()
    for rule_id, version in decisions:
        assert rule_id in page and version in page
    for category, _explanation in verdicts:
        assert category in page
    for rule_id, status in sends:
        assert rule_id in page and status in page
    assert "love the new blender" in page  # the author's message elsewhere
    assert "Troll verdicts" in page


def test_the_item_page_says_what_shadow_mode_would_have_sent(db: Engine, clock: FrozenClock) -> None:
    shadow = frozenset({("x", "mention")})
    processor = Processor(
        db, Moderator(), default_policy().current, clock, private_routes=ROUTES, shadow=shadow
    )
    store(db, clock.now(), make_message("1", "@acme my order never arrived and I want a refund <b>now</b>"))
    processor.drain(10)
    with db.connect() as conn:
        sends = conn.execute(select(t.outbox.c.kind, t.outbox.c.status, t.outbox.c.text)).all()
        item = conn.execute(select(t.review_items.c.id)).scalar_one()
    assert sends and {status for _kind, status, _text in sends} == {"shadow"}
    page = logged_in(db, clock, "alice").get(f"/queue/{item}").text
    shown = re.findall(r'<li class="send-shadow">(.*?)</li>', page, re.S)
    assert len(shown) == len(sends)
    for (kind, _status, text), row in zip(sends, shown, strict=True):
        words = " ".join(re.sub(r"<[^>]+>", "", row).split())
        assert words.startswith(f"shadow would have sent (shadow mode) {kind.replace('_', ' ')} by rule ")
        if text:
            assert f'<span class="text">{escape(text)}</span>' in row
    assert "<b>now</b>" not in page  # the customer's text stays text


def test_a_missing_item_is_404(db: Engine, clock: FrozenClock) -> None:
    client = logged_in(db, clock, "alice")
    assert client.get("/queue/999").status_code == 404
    assert act_without_page(client, 999, "claim").status_code == 404


def act_without_page(client: Any, item_id: int, action: str) -> Any:
    token = csrf(client.get("/queue").text)
    return client.post(f"/queue/{item_id}/{action}", data={"csrf_token": token}, follow_redirects=False)


# --- claiming -----------------------------------------------------------------------------------


def test_claiming_an_item_someone_holds_is_refused_with_their_name(db: Engine, clock: FrozenClock) -> None:
    item = one_item(db, clock)
    alice = logged_in(db, clock, "alice")
    bob = logged_in(db, clock, "bob")
    claimed = act(alice, item, "claim")
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/queue/{item}?done=claimed"
    refused = act(bob, item, "claim")
    assert refused.status_code == 409 and "claimed by alice" in refused.text
    assert item_row(db, item)["assignee"] == "alice"
    assert "alice" in bob.get("/queue").text  # the owner is visible in the list


def test_only_the_holder_or_a_manager_replies_hides_releases_or_resolves(
    db: Engine, clock: FrozenClock
) -> None:
    item = one_item(db, clock, platform=Platform.FACEBOOK, channel=Channel.COMMENT)
    alice = logged_in(db, clock, "alice")
    bob = logged_in(db, clock, "bob")
    maria = logged_in(db, clock, "maria", "manager")
    act(alice, item, "claim")
    page = bob.get(f"/queue/{item}").text
    assert "only they or a manager" in page and "/reply" not in page
    message_id = str(item_row(db, item)["message_id"])
    key = "k" * 20
    for action, fields in (
        ("reply", {"text": "hello", "request_key": key, "message_id": message_id}),
        ("hide", {"message_id": message_id}),
        ("release", {}),
        ("resolve", {"note": "done"}),
        ("assign", {"assignee": "bob"}),
    ):
        response = act(bob, item, action, **fields)
        assert response.status_code == 409, action
        assert "claimed by alice" in response.text
    assert outbox(db) == []
    assert (
        act(maria, item, "reply", text="We are on it", request_key=key, message_id=message_id).status_code
        == 303
    )
    assert act(maria, item, "assign", assignee="bob").status_code == 303
    assert item_row(db, item)["assignee"] == "bob"
    assert act(bob, item, "resolve", note="refund sent").status_code == 303
    assert item_row(db, item)["status"] == "resolved"


def test_assigning_to_someone_unknown_is_refused(db: Engine, clock: FrozenClock) -> None:
    item = one_item(db, clock)
    alice = logged_in(db, clock, "alice")
    response = act(alice, item, "assign", assignee="nobody")
    assert response.status_code == 400 and "no enabled user called nobody" in response.text


# --- sending ------------------------------------------------------------------------------------


def test_a_reply_submitted_twice_queues_one_outbox_row(db: Engine, clock: FrozenClock) -> None:
    ids = store(
        db,
        clock.now(),
        make_message("1", "my order never arrived", thread="t1"),
        make_message("2", "hello??", thread="t1", minutes=1),
    )
    item = open_item(db, ids["1"], clock.now())
    alice = logged_in(db, clock, "alice")
    page = alice.get(f"/queue/{item}").text
    form = {
        "csrf_token": csrf(page),
        "request_key": request_key(page),
        "message_id": str(ids["2"]),
        "text": "  Sorry about that, Alice: a new one ships today.  ",
    }
    first = alice.post(f"/queue/{item}/reply", data=form, follow_redirects=False)
    second = alice.post(f"/queue/{item}/reply", data=form, follow_redirects=False)
    assert first.headers["location"].endswith("done=reply")
    assert second.headers["location"].endswith("done=reply-again")
    assert outbox(db) == [
        {
            "kind": "public_reply",
            "message_id": ids["2"],
            "text": "Sorry about that, Alice: a new one ships today.",
            "fallback_text": None,
            "private_link": None,
            "rule_id": "human",
            "policy_version": "human:alice",
            "status": "pending",
            "target_external_id": "2",
            "recipient_external_id": "100",
        }
    ]
    with db.connect() as conn:
        assert conn.execute(select(t.threads.c.acknowledged)).scalar_one() is True
    [entry] = audit_rows(db, "queue.reply")
    assert entry["actor"] == "alice" and entry["detail"]["message_id"] == ids["2"]
    again = alice.get(f"/queue/{item}").text
    assert request_key(again) != form["request_key"]  # a new form sends a new reply
    assert "human:alice" in again and "pending" in again


def test_a_reply_in_a_private_chat_is_a_direct_message(db: Engine, clock: FrozenClock) -> None:
    item = one_item(
        db, clock, "where is my refund", platform=Platform.TELEGRAM, channel=Channel.DIRECT, is_private=True
    )
    alice = logged_in(db, clock, "alice")
    page = alice.get(f"/queue/{item}").text
    assert "Direct message" in page and "/private" not in page  # already private
    assert act(alice, item, "reply", text="On it", request_key=request_key(page)).status_code == 303
    assert [row["kind"] for row in outbox(db)] == ["direct_message"]


def test_a_blank_or_too_long_reply_is_refused_and_kept_in_the_form(db: Engine, clock: FrozenClock) -> None:
    item = one_item(db, clock)
    alice = logged_in(db, clock, "alice")
    key = "r" * 20
    assert act(alice, item, "reply", text="   ", request_key=key).status_code == 400
    long = "x" * 281
    response = act(alice, item, "reply", text=long, request_key=key)
    assert response.status_code == 400 and "at most 280 on x" in response.text and long in response.text
    assert act(alice, item, "reply", text="hi", request_key="short").status_code == 400
    assert outbox(db) == []


@pytest.mark.parametrize(
    ("platform", "channel", "kind", "link"),
    [
        (Platform.FACEBOOK, Channel.COMMENT, "private_reply", None),
        (Platform.X, Channel.MENTION, "direct_message", "https://x.com/messages/compose?recipient_id=1000"),
        (Platform.TELEGRAM, Channel.GROUP, "direct_message", "https://t.me/acme_support_bot?start=t"),
    ],
)
def test_moving_to_private_uses_the_platforms_private_route(
    db: Engine, clock: FrozenClock, platform: Platform, channel: Channel, kind: str, link: str | None
) -> None:
    item = one_item(db, clock, "this is outrageous", platform=platform, channel=channel)
    alice = logged_in(db, clock, "alice", private_routes=ROUTES)
    page = alice.get(f"/queue/{item}").text
    assert "Move to private" in page
    response = alice.post(
        f"/queue/{item}/private",
        data={
            "csrf_token": csrf(page),
            "request_key": request_key(page[page.index("/private") :]),
            "text": "Let's sort this out privately.",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    [row] = outbox(db)
    assert row["kind"] == kind and row["text"] == "Let's sort this out privately."
    assert row["rule_id"] == "human" and row["policy_version"] == "human:alice"
    if link is None:
        assert row["private_link"] is None and row["fallback_text"] is None
    else:
        assert row["private_link"].startswith(link)
        assert row["fallback_text"]
        if platform is Platform.X:
            assert row["private_link"] in row["fallback_text"]  # X shows the link in the text
    with db.connect() as conn:
        assert conn.execute(select(t.threads.c.moved_private)).scalar_one() is True
        tokens = conn.execute(select(t.private_links.c.token)).scalars().all()
    assert len(tokens) == (1 if platform is Platform.TELEGRAM else 0)


def test_moving_to_private_without_a_route_is_refused(db: Engine, clock: FrozenClock) -> None:
    item = one_item(db, clock, "this is outrageous")
    alice = logged_in(db, clock, "alice")  # no private routes configured
    assert "Move to private" not in alice.get(f"/queue/{item}").text
    response = act(alice, item, "private", text="private please", request_key="p" * 20)
    assert response.status_code == 400 and "no private channel" in response.text
    assert outbox(db) == []


def test_hiding_works_where_the_platform_can_and_never_on_x(db: Engine, clock: FrozenClock) -> None:
    ids = store(
        db,
        clock.now(),
        make_message("x1", "you are all idiots", thread="a"),
        make_message(
            "f1", "you are all idiots", thread="b", platform=Platform.FACEBOOK, channel=Channel.COMMENT
        ),
    )
    x_item = open_item(db, ids["x1"], clock.now())
    fb_item = open_item(db, ids["f1"], clock.now())
    alice = logged_in(db, clock, "alice")
    assert "/hide" not in alice.get(f"/queue/{x_item}").text
    refused = act(alice, x_item, "hide", message_id=str(ids["x1"]))
    assert refused.status_code == 400 and "cannot be hidden" in refused.text
    assert act(alice, fb_item, "hide", message_id=str(ids["f1"])).headers["location"].endswith("done=hide")
    assert (
        act(alice, fb_item, "hide", message_id=str(ids["f1"])).headers["location"].endswith("done=hide-again")
    )
    assert [(row["kind"], row["target_external_id"]) for row in outbox(db)] == [("hide", "f1")]
    wrong = act(alice, fb_item, "hide", message_id=str(ids["x1"]))  # not this item's conversation
    assert wrong.status_code == 400


# --- labels, resolving, reopening ---------------------------------------------------------------


def test_labels_resolve_and_reopen_are_audited_with_the_user(db: Engine, clock: FrozenClock) -> None:
    item = one_item(db, clock)
    alice = logged_in(db, clock, "alice")
    message_id = str(item_row(db, item)["message_id"])
    assert act(alice, item, "label", label="troll", message_id=message_id).status_code == 303
    assert act(alice, item, "label", label="not_complaint", message_id=message_id).status_code == 303
    assert act(alice, item, "label", label="positive", message_id=message_id).status_code == 400
    with db.connect() as conn:
        labels = dict(conn.execute(select(t.human_labels.c.task, t.human_labels.c.label)).all())
    assert labels == {"offensive": "offensive", "complaint": "not_complaint"}
    assert act(alice, item, "resolve", note="sorted").status_code == 303
    assert act(alice, item, "resolve").status_code == 409
    assert act(alice, item, "reopen").status_code == 303
    assert item_row(db, item)["status"] == "open"
    actions = [(row["actor"], row["action"]) for row in audit_rows(db) if row["action"] != "auth.login"]
    assert actions == [
        ("test", "user.add"),
        ("alice", "label.set"),
        ("alice", "label.set"),
        ("alice", "queue.resolve"),
        ("alice", "queue.reopen"),
    ]
    page = alice.get(f"/queue/{item}").text
    assert "queue.resolve" in page and "offensive" in page


def test_logging_in_from_an_item_link_comes_back_to_it(db: Engine, clock: FrozenClock) -> None:
    item = one_item(db, clock)
    add(db, clock, "alice")
    client = make_client(db, clock)
    redirect = client.get(f"/queue/{item}", follow_redirects=False).headers["location"]
    assert redirect == f"/login?next=%2Fqueue%2F{item}"
    response = login(client, "alice", next_path=f"/queue/{item}")
    assert response.headers["location"] == f"/queue/{item}"
