"""A reply joins the conversation of the message it answers, when the store knows that message."""

from __future__ import annotations

from sqlalchemy import Engine, select

from storage import tables as t
from storage.ingest import store_fetch
from tactful.clock import FrozenClock
from tactful.domain import Channel, IncomingMessage, Platform
from tests.factories import make_message

GROUP = "-100777"


def thread_of(db: Engine, external_id: str) -> str:
    with db.connect() as conn:
        return str(
            conn.execute(
                select(t.threads.c.external_id)
                .join(t.messages, t.messages.c.thread_id == t.threads.c.id)
                .where(t.messages.c.external_id == external_id)
            ).scalar_one()
        )


def group_message(number: int, reply_to: int | None = None, minutes: float = 0) -> IncomingMessage:
    return make_message(
        f"{GROUP}:{number}",
        platform=Platform.TELEGRAM,
        channel=Channel.GROUP,
        author_id=str(500 + number),
        thread=f"{GROUP}/{reply_to if reply_to is not None else number}",
        in_reply_to=f"{GROUP}:{reply_to}" if reply_to is not None else None,
        minutes=minutes,
    )


def test_a_chain_inside_one_fetch_is_one_conversation(db: Engine, clock: FrozenClock) -> None:
    batch = [
        group_message(1),
        group_message(2, reply_to=1, minutes=1),
        group_message(3, reply_to=2, minutes=2),
    ]
    store_fetch(db, "telegram:updates:1", list(reversed(batch)), "3", [], clock.now())
    assert {thread_of(db, f"{GROUP}:{n}") for n in (1, 2, 3)} == {f"{GROUP}/1"}


def test_a_reply_in_a_later_fetch_joins_the_stored_conversation(db: Engine, clock: FrozenClock) -> None:
    store_fetch(db, "k", [group_message(1), group_message(2, reply_to=1, minutes=1)], "2", [], clock.now())
    store_fetch(db, "k", [group_message(3, reply_to=2, minutes=2)], "3", [], clock.now())
    assert thread_of(db, f"{GROUP}:3") == f"{GROUP}/1"
    with db.connect() as conn:
        assert conn.execute(select(t.threads.c.external_id)).scalars().all() == [f"{GROUP}/1"]


def test_an_answer_to_our_own_message_joins_the_conversation_we_answered(
    db: Engine, clock: FrozenClock
) -> None:
    store_fetch(db, "k", [group_message(1)], "1", [], clock.now())
    with db.begin() as conn:
        message = conn.execute(select(t.messages.c.id, t.messages.c.thread_id, t.messages.c.author_id)).one()
        conn.execute(
            t.outbox.insert().values(
                idempotency_key="m1:ack",
                message_id=message.id,
                thread_id=message.thread_id,
                author_id=message.author_id,
                platform="telegram",
                kind="public_reply",
                thread_external_id=f"{GROUP}/1",
                target_external_id=f"{GROUP}:1",
                recipient_external_id="501",
                rule_id="complaint",
                policy_version="v1",
                status="sent",
                platform_ref=f"{GROUP}:2",
                next_attempt_at=clock.now(),
                created_at=clock.now(),
            )
        )
    store_fetch(db, "k", [group_message(3, reply_to=2, minutes=3)], "3", [], clock.now())
    assert thread_of(db, f"{GROUP}:3") == f"{GROUP}/1"


def test_a_reply_to_an_unknown_message_keeps_the_adapters_conversation(
    db: Engine, clock: FrozenClock
) -> None:
    store_fetch(db, "k", [group_message(9, reply_to=4)], "9", [], clock.now())
    assert thread_of(db, f"{GROUP}:9") == f"{GROUP}/4"


def test_x_conversations_are_left_as_the_platform_names_them(db: Engine, clock: FrozenClock) -> None:
    root = make_message("100", thread="100")
    reply = make_message("101", thread="100", in_reply_to="100", minutes=1)
    store_fetch(db, "x", [root, reply], "101", [], clock.now())
    assert thread_of(db, "101") == "100"
