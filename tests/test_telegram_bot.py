"""TelegramBot driven by real python-telegram-bot over real HTTP against TelegramSimulator."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bots.base import OutboundAction, SendKind, SendResult
from bots.telegram import FloodPacer, PacingLimits, TelegramBot, deep_link, new_start_token
from listeners.telegram import START_TOKEN_RE, TelegramUpdatesListener
from listeners.telegram_client import TelegramClient, TelegramTimeouts
from simulator.telegram import TelegramSimulator
from tactful.clock import FrozenClock
from tactful.domain import Platform
from tactful.errors import (
    AuthenticationFailed,
    DeliveryUnknown,
    PermanentPlatformError,
    RateLimited,
    RecipientUnreachable,
    TransientPlatformError,
)
from tests.telegram_helpers import (  # noqa: F401  (fixtures)
    BOT_USERNAME,
    client_for,
    clock_fixture,
    tg_client_fixture,
    tg_sim_fixture,
)

# PTB's own RetryAfter constructor warns about its future timedelta type; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

GROUP, FORUM = -1001234567890, -1009876543210
ALICE, BOB = 501, 502


@pytest.fixture
def people(tg_sim: TelegramSimulator) -> TelegramSimulator:
    tg_sim.add_user(ALICE, "Alice", "alice")
    tg_sim.add_user(BOB, "Bob")
    tg_sim.add_group(GROUP, "Acme customers")
    tg_sim.add_group(FORUM, "Acme help desk", is_forum=True)
    return tg_sim


@pytest.fixture
def bot(tg_client: TelegramClient, clock: FrozenClock) -> TelegramBot:
    return TelegramBot(tg_client, BOT_USERNAME, clock)


def _action(
    kind: SendKind,
    target: str,
    recipient: int | str = ALICE,
    text: str | None = "hello",
    *,
    thread: str | None = None,
    fallback: str | None = None,
    link: str | None = None,
) -> OutboundAction:
    return OutboundAction(
        idempotency_key=f"{kind}-{target}",
        kind=kind,
        platform=Platform.TELEGRAM,
        thread_external_id=thread if thread is not None else target.rsplit(":", 1)[0],
        target_external_id=target,
        recipient_external_id=str(recipient),
        text=text,
        fallback_text=fallback,
        private_link=link,
    )


def test_public_reply_answers_the_message_in_its_chat(people: TelegramSimulator, bot: TelegramBot) -> None:
    target = people.user_says(GROUP, ALICE, "my parcel is lost")
    result = bot.send(_action(SendKind.PUBLIC_REPLY, f"{GROUP}:{target}", text="Sorry Alice, on it."))
    [sent] = people.sent_messages(GROUP)
    assert result == SendResult(f"{GROUP}:{sent.message_id}", SendKind.PUBLIC_REPLY)
    assert (sent.text, sent.reply_to_message_id, sent.parse_mode, sent.reply_markup) == (
        "Sorry Alice, on it.",
        target,
        None,
        None,
    )


def test_public_reply_in_a_forum_topic_stays_in_the_topic(
    people: TelegramSimulator, bot: TelegramBot
) -> None:
    target = people.user_says(FORUM, BOB, "where is my order?", topic_id=5)
    bot.send(_action(SendKind.PUBLIC_REPLY, f"{FORUM}:{target}", thread=f"{FORUM}:5", text="Checking"))
    [sent] = people.sent_messages(FORUM)
    assert (sent.reply_to_message_id, sent.message_thread_id) == (target, 5)


def test_direct_message_to_a_user_who_started_the_bot(people: TelegramSimulator, bot: TelegramBot) -> None:
    target = people.user_says(GROUP, ALICE, "I was charged twice")
    people.user_starts_bot(ALICE)
    result = bot.send(_action(SendKind.DIRECT_MESSAGE, f"{GROUP}:{target}", text="Which card?"))
    [sent] = people.sent_messages(ALICE)
    assert result == SendResult(f"{ALICE}:{sent.message_id}", SendKind.DIRECT_MESSAGE)
    assert sent.text == "Which card?"
    assert people.sent_messages(GROUP) == []


def test_user_who_never_started_the_bot_gets_a_deep_link_button_in_the_group(
    people: TelegramSimulator, bot: TelegramBot, tg_client: TelegramClient
) -> None:
    target = people.user_says(GROUP, ALICE, "I was charged twice")
    token = new_start_token()
    link = deep_link(BOT_USERNAME, token)
    action = _action(
        SendKind.DIRECT_MESSAGE,
        f"{GROUP}:{target}",
        text="Which card was charged?",
        fallback="Let's sort this out privately, tap below.",
        link=link,
    )
    result = bot.send(action)
    assert result.kind_used is SendKind.PUBLIC_REPLY
    assert "never started the bot" in result.detail
    assert people.sent_messages(ALICE) == []
    [reply] = people.sent_messages(GROUP)
    assert result.platform_ref == f"{GROUP}:{reply.message_id}"
    assert (reply.text, reply.reply_to_message_id) == ("Let's sort this out privately, tap below.", target)
    assert reply.reply_markup == {
        "inline_keyboard": [
            [{"text": "Continue in a private chat", "url": f"https://t.me/{BOT_USERNAME}?start={token}"}]
        ]
    }
    # Alice taps the button: Telegram sends "/start <token>", which joins the private chat to the thread.
    people.user_starts_bot(ALICE, token)
    result_dm = TelegramUpdatesListener(tg_client, BOT_USERNAME).fetch(None)
    [*_, start] = result_dm.messages
    assert (start.is_private, start.private_link_token) == (True, token)


def test_unreachable_users_without_a_usable_fallback(
    people: TelegramSimulator, bot: TelegramBot, clock: FrozenClock
) -> None:
    target = people.user_says(GROUP, ALICE, "hi")
    with pytest.raises(RecipientUnreachable, match="can't initiate conversation"):
        bot.send(_action(SendKind.DIRECT_MESSAGE, f"{GROUP}:{target}", fallback="tap below"))  # no link
    people.user_starts_bot(BOB)
    people.user_blocks_bot(BOB)
    clock.advance(1)
    with pytest.raises(RecipientUnreachable, match="blocked by the user"):
        bot.send(
            _action(
                SendKind.DIRECT_MESSAGE,
                f"{GROUP}:{target}",
                BOB,
                fallback="tap",
                link=deep_link(BOT_USERNAME, "t1"),
            )
        )
    assert people.sent_messages() == []


def test_hide_deletes_the_message_and_is_idempotent(people: TelegramSimulator, bot: TelegramBot) -> None:
    rude = people.user_says(GROUP, BOB, "you are all idiots")
    action = _action(SendKind.HIDE, f"{GROUP}:{rude}", BOB, None)
    assert bot.send(action) == SendResult(f"{GROUP}:{rude}", SendKind.HIDE)
    assert [(d.chat_id, d.message_id) for d in people.deleted_messages()] == [(GROUP, rude)]
    assert bot.find_sent(action) is None
    assert bot.send(action) == SendResult(f"{GROUP}:{rude}", SendKind.HIDE, "message was already gone")
    people.add_group(-42, "Bot is not admin", "group", bot_is_admin=False)
    other = people.user_says(-42, BOB, "rude")
    with pytest.raises(PermanentPlatformError, match=r"(?i)message can't be deleted"):
        bot.send(_action(SendKind.HIDE, f"-42:{other}", BOB, None))


def test_find_sent_cannot_know_for_messages(people: TelegramSimulator, bot: TelegramBot) -> None:
    target = people.user_says(GROUP, ALICE, "hi")
    for kind in (SendKind.PUBLIC_REPLY, SendKind.DIRECT_MESSAGE):
        with pytest.raises(DeliveryUnknown, match="cannot list sent messages"):
            bot.find_sent(_action(kind, f"{GROUP}:{target}"))


def test_invalid_actions_are_permanent(people: TelegramSimulator, bot: TelegramBot) -> None:
    target = f"{GROUP}:{people.user_says(GROUP, ALICE, 'hi')}"
    with pytest.raises(PermanentPlatformError, match="Telegram has no"):
        bot.send(_action(SendKind.PRIVATE_REPLY, target))
    with pytest.raises(PermanentPlatformError, match="no text"):
        bot.send(_action(SendKind.PUBLIC_REPLY, target, text=None))
    with pytest.raises(PermanentPlatformError, match="not a Telegram message reference"):
        bot.send(_action(SendKind.PUBLIC_REPLY, "12345", thread="12345"))
    with pytest.raises(PermanentPlatformError, match="is not in thread"):
        bot.send(_action(SendKind.PUBLIC_REPLY, target, thread="-99"))
    with pytest.raises(PermanentPlatformError, match="positive integers"):
        bot.send(_action(SendKind.DIRECT_MESSAGE, target, recipient="alice"))
    x_action = OutboundAction("k", SendKind.PUBLIC_REPLY, Platform.X, "1", "1", "2", "hi")
    with pytest.raises(PermanentPlatformError, match="cannot perform"):
        bot.send(x_action)
    with pytest.raises(PermanentPlatformError, match=r"(?i)message to be replied not found"):
        bot.send(_action(SendKind.PUBLIC_REPLY, f"{GROUP}:999"))
    assert people.sent_messages() == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientPlatformError),
        (502, TransientPlatformError),
        (401, AuthenticationFailed),
        (400, PermanentPlatformError),
        (403, RecipientUnreachable),
    ],
)
def test_send_failures_are_mapped(
    people: TelegramSimulator, bot: TelegramBot, status: int, error: type[Exception]
) -> None:
    target = people.user_says(GROUP, ALICE, "hi")
    people.fail_next("sendMessage", status)
    with pytest.raises(error):
        bot.send(_action(SendKind.PUBLIC_REPLY, f"{GROUP}:{target}"))
    assert people.sent_messages() == []


def test_send_timeout_is_transient(people: TelegramSimulator, clock: FrozenClock) -> None:
    target = people.user_says(GROUP, ALICE, "hi")
    with client_for(people, timeouts=TelegramTimeouts(connect=1, read=0.1, write=1, pool=1)) as client:
        client.get_me()
        people.set_latency(0.5)
        with pytest.raises(TransientPlatformError, match="TimedOut"):
            TelegramBot(client, BOT_USERNAME, clock).send(_action(SendKind.PUBLIC_REPLY, f"{GROUP}:{target}"))


def test_429_carries_retry_after_and_pauses_that_chat(
    people: TelegramSimulator, bot: TelegramBot, clock: FrozenClock
) -> None:
    target = f"{GROUP}:{people.user_says(GROUP, ALICE, 'hi')}"
    people.user_starts_bot(BOB)
    people.fail_next("sendMessage", 429, retry_after=12)
    with pytest.raises(RateLimited) as caught:
        bot.send(_action(SendKind.PUBLIC_REPLY, target))
    assert caught.value.retry_at == clock.now() + timedelta(seconds=12)
    calls = len(people.request_log())
    clock.advance(5)
    with pytest.raises(RateLimited) as paused:
        bot.send(_action(SendKind.PUBLIC_REPLY, target))
    assert paused.value.retry_at == caught.value.retry_at
    assert len(people.request_log()) == calls  # refused client-side, no request made
    bot.send(_action(SendKind.DIRECT_MESSAGE, target, BOB))  # other chats are not paused
    clock.advance(7)
    assert bot.send(_action(SendKind.PUBLIC_REPLY, target)).kind_used is SendKind.PUBLIC_REPLY


def test_client_side_pacing_keeps_under_the_flood_limits(
    people: TelegramSimulator, bot: TelegramBot, clock: FrozenClock
) -> None:
    target = f"{GROUP}:{people.user_says(GROUP, ALICE, 'hi')}"
    bot.send(_action(SendKind.PUBLIC_REPLY, target))
    calls = len(people.request_log())
    with pytest.raises(RateLimited) as caught:
        bot.send(_action(SendKind.PUBLIC_REPLY, target))
    assert caught.value.retry_at == clock.now() + timedelta(seconds=1)
    assert len(people.request_log()) == calls
    for _ in range(19):
        clock.advance(1)
        bot.send(_action(SendKind.PUBLIC_REPLY, target))
    clock.advance(1)
    with pytest.raises(RateLimited) as group_cap:
        bot.send(_action(SendKind.PUBLIC_REPLY, target))
    assert group_cap.value.retry_at == clock.now() + timedelta(seconds=40)
    assert len(people.sent_messages(GROUP)) == 20
    assert not any(entry.status == 429 for entry in people.request_log())


def test_server_flood_limits_surface_as_rate_limited(
    people: TelegramSimulator, tg_client: TelegramClient, clock: FrozenClock
) -> None:
    target = f"{GROUP}:{people.user_says(GROUP, ALICE, 'hi')}"
    # Two bot instances sharing the account: each paces itself, Telegram counts both.
    first = TelegramBot(tg_client, BOT_USERNAME, clock)
    second = TelegramBot(tg_client, BOT_USERNAME, clock)
    first.send(_action(SendKind.PUBLIC_REPLY, target))
    with pytest.raises(RateLimited, match="Flood control") as caught:
        second.send(_action(SendKind.PUBLIC_REPLY, target))
    assert caught.value.retry_at == clock.now() + timedelta(seconds=1)


def test_flood_pacer_overall_limit(clock: FrozenClock) -> None:
    pacer = FloodPacer(
        clock, PacingLimits(per_chat_per_second=1, per_group_per_minute=20, overall_per_second=3)
    )
    for chat in (1, 2, 3):
        pacer.reserve(chat)
    with pytest.raises(RateLimited) as caught:
        pacer.reserve(4)
    assert caught.value.retry_at == clock.now() + timedelta(seconds=1)
    clock.advance(1)
    pacer.reserve(4)
    pacer.block(5, clock.now() + timedelta(seconds=30))
    with pytest.raises(RateLimited):
        pacer.reserve(5)
    clock.advance(30)
    pacer.reserve(5)


def test_deep_links() -> None:
    assert deep_link("@acme_support_bot", "tk_Abc-123") == "https://t.me/acme_support_bot?start=tk_Abc-123"
    for token in ("", "x" * 65, "has space", "a+b", "é"):
        with pytest.raises(ValueError):
            deep_link(BOT_USERNAME, token)
    for name in ("acme", "acme_support", "1acme_bot", "a" * 40 + "bot"):
        with pytest.raises(ValueError):
            deep_link(name, "token")
    tokens = {new_start_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(START_TOKEN_RE.match(token) and re.fullmatch(r"[A-Za-z0-9_-]{22}", token) for token in tokens)
