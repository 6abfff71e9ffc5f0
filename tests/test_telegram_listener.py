"""Telegram listener and client driven by real python-telegram-bot over real HTTP against TelegramSimulator."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, timedelta
from typing import Any

import pytest

from listeners.telegram import (
    CallbackPress,
    TelegramUpdatesListener,
    parse_callback_query,
    parse_update,
    webhook_secret_matches,
)
from listeners.telegram_client import InlineButton, TelegramClient, TelegramTimeouts, bot_id_from_token
from simulator.telegram import TelegramSimulator
from tactful.clock import FrozenClock
from tactful.domain import Channel, IncomingMessage, Platform, QuarantinedPayload
from tactful.errors import (
    AuthenticationFailed,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)
from tests.telegram_helpers import (  # noqa: F401  (fixtures)
    BOT_ID,
    BOT_USERNAME,
    START,
    TOKEN,
    WebhookReceiver,
    client_for,
    clock_fixture,
    load_fixture,
    play_script,
    receiver_fixture,
    tg_client_fixture,
    tg_sim_fixture,
)

# PTB's own RetryAfter constructor warns about its future timedelta type; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

GROUP = -1001234567890
ALICE, BOB = 501, 502
SECRET_PART = TOKEN.split(":", 1)[1]
CASES = load_fixture("updates")["cases"]


@pytest.fixture
def people(tg_sim: TelegramSimulator) -> TelegramSimulator:
    tg_sim.add_user(ALICE, "Alice", "alice", language_code="en")
    tg_sim.add_user(BOB, "Bob")
    tg_sim.add_group(GROUP, "Acme customers")
    return tg_sim


def _texts(messages: list[IncomingMessage]) -> list[str]:
    return [message.text for message in messages]


def _assert_token_free(error: BaseException) -> None:
    """The token must not appear in the error, its repr, or anything it chains to."""
    current: BaseException | None = error
    while current is not None:
        assert SECRET_PART not in str(current) and SECRET_PART not in repr(current)
        current = current.__cause__ or current.__context__


# --- parse_update ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_parse_update_fixture_cases(case: dict[str, Any]) -> None:
    result = parse_update(case["update"], BOT_USERNAME, source="telegram:webhook")
    if case["expect"] == "none":
        assert result is None
        return
    if case["expect"] == "quarantine":
        assert isinstance(result, QuarantinedPayload)
        assert (result.source, result.reason) == ("telegram:webhook", case["reason"])
        assert json.loads(result.payload) == case["update"]
        return
    assert isinstance(result, IncomingMessage)
    assert result.platform is Platform.TELEGRAM
    assert result.raw == case["update"]["message"]
    actual = {
        "channel": str(result.channel),
        "external_id": result.external_id,
        "thread_external_id": result.thread_external_id,
        "in_reply_to_external_id": result.in_reply_to_external_id,
        "text": result.text,
        "author_id": result.author.external_id,
        "username": result.author.username,
        "display_name": result.author.display_name,
        "is_bot": result.author.is_bot,
        "language_hint": result.language_hint,
        "is_private": result.is_private,
        "private_link_token": result.private_link_token,
        "created_at": result.created_at.isoformat(),
    }
    assert {name: actual[name] for name in case["fields"]} == case["fields"]


def test_parse_callback_query() -> None:
    [case] = [c for c in CASES if c["name"] == "callback query"]
    press = parse_callback_query(case["update"])
    assert press == CallbackPress(
        callback_query_id="4000000000000000001",
        user_id="9001",
        data="approve:42",
        chat_id="-1007777",
        message_external_id="-1007777:3",
        username="agent_smith",
    )
    assert isinstance(press, CallbackPress) and press.raw["chat_instance"] == "-123"
    assert parse_callback_query(CASES[0]["update"]) is None
    assert parse_callback_query("junk") is None
    broken = parse_callback_query({"update_id": 1, "callback_query": {"id": "7", "data": "x"}})
    assert isinstance(broken, QuarantinedPayload) and broken.reason == "callback_query 7: missing 'from.id'"
    assert isinstance(parse_callback_query({"update_id": 1, "callback_query": []}), QuarantinedPayload)


def test_webhook_secret_matches() -> None:
    assert webhook_secret_matches("s3cret", "s3cret")
    assert not webhook_secret_matches("s3cres", "s3cret")
    assert not webhook_secret_matches(None, "s3cret")


# --- the listener through PTB --------------------------------------------------------------


def test_updates_are_normalised_like_the_fixture(
    tg_sim: TelegramSimulator, tg_client: TelegramClient, clock: FrozenClock
) -> None:
    script = load_fixture("conversation_script")
    ids = play_script(tg_sim, clock, script)
    listener = TelegramUpdatesListener(tg_client, BOT_USERNAME)
    assert listener.key == f"telegram:updates:{BOT_ID}"
    assert listener.platform is Platform.TELEGRAM
    result = listener.fetch(None)
    assert result.quarantined == []
    assert result.cursor == str(len(script["events"]))
    assert len(result.messages) == len(script["expected"])
    for message, expected in zip(result.messages, script["expected"], strict=True):
        assert message.external_id == f"{expected['chat']}:{ids[expected['key']]}"
        assert message.channel is Channel(expected["channel"])
        assert message.thread_external_id == expected["thread"].format_map(ids)
        assert message.author.external_id == expected["author_id"]
        assert message.author.username == expected["username"]
        assert message.author.display_name == expected["display_name"]
        assert message.author.is_bot is expected["is_bot"]
        assert message.in_reply_to_external_id == (
            f"{expected['chat']}:{ids[expected['in_reply_to']]}" if expected["in_reply_to"] else None
        )
        assert message.language_hint == expected["language_hint"]
        assert message.is_private is expected["is_private"]
        assert message.private_link_token == expected["private_link_token"]
        assert message.created_at == START + timedelta(seconds=expected["seconds_after_start"])
        assert message.created_at.tzinfo is UTC
        if "text" in expected:
            assert message.text == expected["text"]
    [poll] = [entry for entry in tg_sim.request_log() if entry.api_method == "getUpdates"]
    assert json.loads(poll.params["allowed_updates"]) == ["message", "callback_query"]
    assert "offset" not in poll.params  # first run: whatever is pending
    assert poll.params["timeout"] == "0"


def test_restart_from_the_stored_cursor_neither_loses_nor_repeats(
    people: TelegramSimulator, clock: FrozenClock
) -> None:
    client = client_for(people, clock=clock)
    listener = TelegramUpdatesListener(client, BOT_USERNAME)
    people.user_says(GROUP, ALICE, "one")
    people.user_says(GROUP, BOB, "two")
    first = listener.fetch(None)
    assert _texts(first.messages) == ["one", "two"] and first.cursor == "2"
    # A crash before the cursor was committed: fetching with the old cursor repeats the batch.
    assert _texts(listener.fetch(None).messages) == ["one", "two"]
    people.user_says(GROUP, ALICE, "three")
    client.close()

    # "Restart": a new client and listener resume from the stored cursor.
    restarted = client_for(people, clock=clock)
    try:
        listener = TelegramUpdatesListener(restarted, BOT_USERNAME)
        people.user_says(GROUP, BOB, "four")
        second = listener.fetch(first.cursor)
        assert _texts(second.messages) == ["three", "four"] and second.cursor == "4"
        assert people.pending_update_ids() == [3, 4]  # not confirmed until the next poll
        idle = listener.fetch(second.cursor)
        assert idle.messages == [] and idle.cursor == "4"
        assert people.pending_update_ids() == []
        offsets = [e.params.get("offset") for e in people.request_log() if e.api_method == "getUpdates"]
        assert offsets == [None, None, "3", "5"]
    finally:
        restarted.close()


def test_one_page_per_fetch_so_nothing_is_confirmed_before_commit(
    people: TelegramSimulator, tg_client: TelegramClient
) -> None:
    for n in range(5):
        people.user_says(GROUP, ALICE, f"burst {n}")
    listener = TelegramUpdatesListener(tg_client, BOT_USERNAME, limit=2)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        result = listener.fetch(cursor)
        seen += _texts(result.messages)
        cursor = result.cursor
        assert len(people.pending_update_ids()) >= 5 - len(seen)
    assert seen == [f"burst {n}" for n in range(5)]
    assert cursor == "5"


def test_skipped_and_malformed_updates_still_advance_the_cursor(
    people: TelegramSimulator, tg_client: TelegramClient
) -> None:
    people.user_says(GROUP, ALICE, "fine")
    by_name = {case["name"]: case["update"] for case in CASES}
    people.add_raw_update(
        {"update_id": 2, **{k: v for k, v in by_name["edited message"].items() if k != "update_id"}}
    )
    people.add_raw_update({**by_name["date is not a timestamp"], "update_id": 3})
    people.add_raw_update(by_name["no update_id"])
    people.user_says(GROUP, BOB, "also fine")
    listener = TelegramUpdatesListener(tg_client, BOT_USERNAME)
    result = listener.fetch(None)
    assert _texts(result.messages) == ["fine", "also fine"]
    assert sorted(q.reason for q in result.quarantined) == [
        "missing or non-integer 'update_id'",
        "update 3: message 1: missing or invalid 'date' 'yesterday'",
    ]
    assert {q.source for q in result.quarantined} == {listener.key}
    assert result.cursor == "5"
    assert listener.fetch(result.cursor).messages == []


def test_long_poll_timeout_is_passed_and_returns_when_a_message_arrives(
    people: TelegramSimulator, tg_client: TelegramClient
) -> None:
    listener = TelegramUpdatesListener(tg_client, BOT_USERNAME, poll_timeout=5)
    results: list[Any] = []
    poller = threading.Thread(target=lambda: results.append(listener.fetch(None)))
    poller.start()
    time.sleep(0.05)
    people.user_says(GROUP, ALICE, "are you there?")
    poller.join(timeout=3)
    assert not poller.is_alive()
    assert _texts(results[0].messages) == ["are you there?"]
    [*_, poll] = [e for e in people.request_log() if e.api_method == "getUpdates"]
    assert poll.params["timeout"] == "5"


# --- failures ----------------------------------------------------------------------------


def test_429_raises_rate_limited_with_retry_after(
    people: TelegramSimulator, tg_client: TelegramClient, clock: FrozenClock
) -> None:
    people.fail_next("getUpdates", 429, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        TelegramUpdatesListener(tg_client, BOT_USERNAME).fetch(None)
    assert caught.value.retry_at == clock.now() + timedelta(seconds=30)
    assert caught.value.retry_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("status", "description"),
    [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable")],
)
def test_server_errors_are_transient(
    people: TelegramSimulator, tg_client: TelegramClient, status: int, description: str
) -> None:
    people.fail_next("getUpdates", status)
    with pytest.raises(TransientPlatformError, match=f"NetworkError: {description}"):
        TelegramUpdatesListener(tg_client, BOT_USERNAME).fetch(None)


def test_timeout_is_transient(people: TelegramSimulator) -> None:
    client = client_for(people, timeouts=TelegramTimeouts(connect=1, read=0.1, write=1, pool=1))
    try:
        client.get_me()  # initialise before slowing down
        people.set_latency(0.5)
        with pytest.raises(TransientPlatformError, match="TimedOut"):
            TelegramUpdatesListener(client, BOT_USERNAME).fetch(None)
    finally:
        client.close()


def test_connection_refused_is_transient(people: TelegramSimulator) -> None:
    client = client_for(people)
    people.stop()
    try:
        with pytest.raises(TransientPlatformError, match="NetworkError") as caught:
            TelegramUpdatesListener(client, BOT_USERNAME).fetch(None)
        _assert_token_free(caught.value)
    finally:
        client.close()


def test_wrong_token_is_authentication_failed_and_never_shows_the_token(
    people: TelegramSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "4242:AAH-wrong_secret-token"
    caplog.set_level(logging.DEBUG)
    client = client_for(people, token=wrong)
    try:
        with pytest.raises(AuthenticationFailed, match="rejected by the server") as caught:
            TelegramUpdatesListener(client, BOT_USERNAME).fetch(None)
        assert "wrong_secret" not in str(caught.value) and caught.value.__cause__ is None
        assert caught.value.__context__ is None
        assert "wrong_secret" not in repr(client)
    finally:
        client.close()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/bot<redacted-token>/getMe" in logged
    assert "wrong_secret" not in logged
    # A 401 on a later call (token revoked) maps the same way.
    with client_for(people) as good:
        good.get_me()
        people.fail_next("getUpdates", 401)
        with pytest.raises(AuthenticationFailed) as revoked:
            good.get_updates(offset=None)
        _assert_token_free(revoked.value)


def test_webhook_conflict_is_permanent(people: TelegramSimulator, tg_client: TelegramClient) -> None:
    tg_client.set_webhook("https://example.com/hook", secret_token="abc")
    with pytest.raises(PermanentPlatformError, match="webhook is active"):
        TelegramUpdatesListener(tg_client, BOT_USERNAME).fetch(None)
    tg_client.delete_webhook()
    assert TelegramUpdatesListener(tg_client, BOT_USERNAME).fetch(None).messages == []


def test_webhook_deliveries_carry_the_secret_and_parse_like_polled_updates(
    people: TelegramSimulator, tg_client: TelegramClient, receiver: WebhookReceiver
) -> None:
    tg_client.set_webhook(
        receiver.url, secret_token="hook_secret-1", allowed_updates=["message", "callback_query"]
    )
    info = tg_client.get_webhook_info()
    assert info["url"] == receiver.url and info["pending_update_count"] == 0
    people.user_starts_bot(ALICE, "tk_42")
    [(headers, body)] = receiver.received
    assert webhook_secret_matches(headers.get("x-telegram-bot-api-secret-token"), "hook_secret-1")
    assert headers["content-type"] == "application/json"
    message = parse_update(body, BOT_USERNAME, source="telegram:webhook")
    assert isinstance(message, IncomingMessage)
    assert (message.channel, message.private_link_token, message.external_id) == (
        Channel.DIRECT,
        "tk_42",
        f"{ALICE}:1",
    )
    assert people.pending_update_ids() == []


def test_client_lifecycle_and_token_checks(people: TelegramSimulator) -> None:
    client = client_for(people)
    assert client.bot_id == BOT_ID == bot_id_from_token(TOKEN)
    client.get_me()
    client.close()
    client.close()  # idempotent
    assert not client._thread.is_alive()
    with pytest.raises(PermanentPlatformError, match="closed"):
        client.get_me()
    with pytest.raises(ValueError) as bad:
        TelegramClient("no-colon-secret")
    assert "no-colon-secret" not in str(bad.value)
    with pytest.raises(ValueError):
        InlineButton("both", url="https://example.com", callback_data="x")
    with pytest.raises(ValueError):
        TelegramTimeouts(read=0)
    with pytest.raises(ValueError):
        TelegramUpdatesListener(client, BOT_USERNAME, limit=0)
    with pytest.raises(ValueError):
        TelegramUpdatesListener(client, BOT_USERNAME).fetch("not-a-number")


def test_a_client_is_shared_by_threads(people: TelegramSimulator, tg_client: TelegramClient) -> None:
    people.set_flood_limits(None)
    errors: list[PlatformError] = []

    def send(n: int) -> None:
        try:
            tg_client.send_message(GROUP, f"parallel {n}")
        except PlatformError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert errors == []
    assert sorted(m.text for m in people.sent_messages(GROUP)) == sorted(f"parallel {n}" for n in range(4))


def test_tokens_stay_redacted_while_any_client_uses_them(
    people: TelegramSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    first, second = client_for(people), client_for(people)
    first.close()
    second.get_me()
    second.close()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/bot<redacted-token>/getMe" in logged and SECRET_PART not in logged
