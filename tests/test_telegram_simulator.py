"""TelegramSimulator: Bot API shapes, long polling, flood limits, faults and webhooks over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from listeners.telegram_client import InlineButton, TelegramClient
from simulator.telegram import FloodLimits, TelegramSimulator
from tactful.clock import FrozenClock
from tactful.errors import PermanentPlatformError
from tests.telegram_helpers import (  # noqa: F401  (fixtures)
    BOT_ID,
    BOT_USERNAME,
    TOKEN,
    WebhookReceiver,
    clock_fixture,
    receiver_fixture,
    tg_client_fixture,
    tg_sim_fixture,
)

GROUP = -1001234567890
ALICE, BOB = 501, 502


@pytest.fixture
def people(tg_sim: TelegramSimulator) -> TelegramSimulator:
    tg_sim.add_user(ALICE, "Alice", "alice", language_code="en")
    tg_sim.add_user(BOB, "Bob")
    tg_sim.add_group(GROUP, "Acme customers")
    return tg_sim


_HTTP = httpx.Client(timeout=5)  # one client: building one per call costs ~20 ms


def _call(sim: TelegramSimulator, method: str, token: str = TOKEN, **params: Any) -> httpx.Response:
    """POST a Bot API call as a JSON body."""
    return _HTTP.post(f"{sim.base_url}/bot{token}/{method}", json=params)


def _ok(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and body["ok"] is True, body
    return body["result"]


def _error(response: httpx.Response) -> tuple[int, str, dict[str, Any] | None]:
    body = response.json()
    assert body["ok"] is False and body["error_code"] == response.status_code
    return response.status_code, body["description"], body.get("parameters")


def test_tokens_and_unknown_methods(tg_sim: TelegramSimulator) -> None:
    assert _error(_call(tg_sim, "getMe", token="4242:wrong")) == (401, "Unauthorized", None)
    assert _error(_call(tg_sim, "getMe", token="not-a-token")) == (404, "Not Found", None)
    assert _error(_call(tg_sim, "teleport")) == (404, "Not Found", None)
    assert _error(_HTTP.get(tg_sim.base_url + "/elsewhere"))[0] == 404
    assert "secret" not in repr(tg_sim)
    with pytest.raises(ValueError):
        TelegramSimulator("nonsense", BOT_USERNAME)
    # The token never reaches the request log.
    assert all("AAH" not in json.dumps(entry.params) for entry in tg_sim.request_log())


def test_get_me_through_ptb_and_every_body_encoding(
    tg_sim: TelegramSimulator, tg_client: TelegramClient
) -> None:
    assert tg_client.get_me() == {
        "id": 4242,
        "is_bot": True,
        "first_name": "Acme Support",
        "username": BOT_USERNAME,
        "can_join_groups": True,
        "can_read_all_group_messages": True,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }
    url = f"{tg_sim.base_url}/bot{TOKEN}/getUpdates"
    assert _ok(_HTTP.get(url, params={"timeout": "0"})) == []
    assert _ok(_HTTP.post(url, data={"timeout": "0", "allowed_updates": '["message"]'})) == []
    assert _ok(_HTTP.post(url, json={"timeout": 0, "allowed_updates": ["message"]})) == []
    bad = _HTTP.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert _error(bad) == (400, "Bad Request: can't parse JSON object", None)
    # The client initialises once (getMe), then calls getMe; then the three encodings above.
    assert [entry.api_method for entry in tg_sim.request_log()] == ["getMe", "getMe"] + ["getUpdates"] * 4


def test_user_messages_become_updates_and_offset_confirms_them(
    people: TelegramSimulator, clock: FrozenClock
) -> None:
    first = people.user_says(GROUP, ALICE, "hello")
    clock.advance(5)
    second = people.user_says(GROUP, BOB, "me too", reply_to=first)
    updates = _ok(_call(people, "getUpdates"))
    assert [u["update_id"] for u in updates] == [1, 2]
    message = updates[1]["message"]
    assert message["message_id"] == second == 2
    assert message["chat"] == {"id": GROUP, "type": "supergroup", "title": "Acme customers"}
    assert message["from"] == {"id": BOB, "is_bot": False, "first_name": "Bob"}
    assert message["date"] == int(clock.now().timestamp())
    assert message["reply_to_message"]["message_id"] == first
    assert "reply_to_message" not in message["reply_to_message"]
    # Without an offset nothing is confirmed; offset = last + 1 forgets everything before it.
    assert len(_ok(_call(people, "getUpdates"))) == 2
    assert [u["update_id"] for u in _ok(_call(people, "getUpdates", offset=2))] == [2]
    assert _ok(_call(people, "getUpdates", offset=1)) == _ok(_call(people, "getUpdates", offset=2))
    third = people.user_says(ALICE, ALICE, "privately")
    assert third == 1  # message ids are per chat
    assert [u["update_id"] for u in _ok(_call(people, "getUpdates", offset=3, limit=1))] == [3]
    assert _ok(_call(people, "getUpdates", offset=4)) == []
    assert people.pending_update_ids() == []


def test_negative_offset_keeps_only_the_latest_updates(people: TelegramSimulator) -> None:
    for n in range(4):
        people.user_says(GROUP, ALICE, f"message {n}")
    assert [u["update_id"] for u in _ok(_call(people, "getUpdates", offset=-2))] == [3, 4]
    assert people.pending_update_ids() == [3, 4]


def test_long_poll_returns_as_soon_as_an_update_arrives(people: TelegramSimulator) -> None:
    result: list[Any] = []
    poller = threading.Thread(target=lambda: result.append(_ok(_call(people, "getUpdates", timeout=5))))
    started = time.monotonic()
    poller.start()
    time.sleep(0.05)
    people.user_says(GROUP, ALICE, "wake up")
    poller.join(timeout=5)
    assert time.monotonic() - started < 2
    assert [u["message"]["text"] for u in result[0]] == ["wake up"]


def test_long_poll_waits_for_its_timeout_and_is_released_by_stop(people: TelegramSimulator) -> None:
    started = time.monotonic()
    assert _ok(_call(people, "getUpdates", timeout=0.2)) == []
    assert 0.15 < time.monotonic() - started < 2
    answers: list[int] = []

    def poll() -> None:
        try:
            answers.append(_call(people, "getUpdates", timeout=30).status_code)
        except httpx.HTTPError:
            answers.append(-1)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.05)
    started = time.monotonic()
    people.stop()
    poller.join(timeout=5)
    assert not poller.is_alive() and time.monotonic() - started < 2


def test_a_second_poller_terminates_the_first_with_409(people: TelegramSimulator) -> None:
    answers: list[httpx.Response] = []
    first = threading.Thread(target=lambda: answers.append(_call(people, "getUpdates", timeout=5)))
    first.start()
    time.sleep(0.05)
    assert _ok(_call(people, "getUpdates")) == []
    first.join(timeout=5)
    status, description, _ = _error(answers[0])
    assert status == 409 and description.startswith("Conflict: terminated by other getUpdates request")


def test_allowed_updates_filters_new_updates(people: TelegramSimulator, tg_client: TelegramClient) -> None:
    sent = tg_client.send_message(GROUP, "Rate us", buttons=[[InlineButton("Good", callback_data="good")]])
    assert _ok(_call(people, "getUpdates", allowed_updates=["message"])) == []
    people.press_button(GROUP, sent["message_id"], ALICE, "good")
    people.user_says(GROUP, ALICE, "text")
    kinds = [set(u) - {"update_id"} for u in _ok(_call(people, "getUpdates"))]
    assert kinds == [{"message"}]
    _ok(_call(people, "getUpdates", allowed_updates=[]))  # an empty list means "the defaults"
    query_id = people.press_button(GROUP, sent["message_id"], BOB, "good")
    [*_, last] = _ok(_call(people, "getUpdates"))
    assert last["callback_query"]["id"] == query_id
    assert last["callback_query"]["data"] == "good"
    assert last["callback_query"]["from"]["id"] == BOB
    assert last["callback_query"]["message"]["message_id"] == sent["message_id"]
    with pytest.raises(ValueError, match="no button"):
        people.press_button(GROUP, sent["message_id"], BOB, "bad")
    with pytest.raises(ValueError, match="no bot message"):
        people.press_button(GROUP, 999, BOB, "good")


def test_send_message_with_reply_keyboard_and_parse_mode(
    people: TelegramSimulator, tg_client: TelegramClient, clock: FrozenClock
) -> None:
    target = people.user_says(GROUP, ALICE, "where is my parcel?")
    buttons = [
        [InlineButton("Track", url="https://example.com/track?id=1")],
        [InlineButton("Resolved", callback_data="resolved:1"), InlineButton("Agent", callback_data="agent")],
    ]
    sent = tg_client.send_message(
        GROUP, "<b>On it</b>", reply_to_message_id=target, buttons=buttons, parse_mode="HTML"
    )
    assert sent["chat"]["id"] == GROUP and sent["from"]["username"] == BOT_USERNAME
    assert sent["reply_to_message"]["message_id"] == target
    [message] = people.sent_messages(GROUP)
    assert (message.message_id, message.text, message.reply_to_message_id, message.parse_mode) == (
        sent["message_id"],
        "<b>On it</b>",
        target,
        "HTML",
    )
    assert message.reply_markup == {
        "inline_keyboard": [
            [{"text": "Track", "url": "https://example.com/track?id=1"}],
            [
                {"text": "Resolved", "callback_data": "resolved:1"},
                {"text": "Agent", "callback_data": "agent"},
            ],
        ]
    }
    assert people.sent_messages(ALICE) == []
    # PTB posts form bodies, with structured values JSON-encoded.
    [*_, send] = people.request_log()
    assert send.content_type == "application/x-www-form-urlencoded"
    assert json.loads(send.params["reply_parameters"]) == {"message_id": target}
    # The legacy reply_to_message_id parameter works as well.
    clock.advance(1)
    legacy = _ok(_call(people, "sendMessage", chat_id=GROUP, text="legacy", reply_to_message_id=target))
    assert legacy["reply_to_message"]["message_id"] == target


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"text": "x"}, "Bad Request: chat_id is empty"),
        ({"chat_id": -1000, "text": "x"}, "Bad Request: chat not found"),
        ({"chat_id": GROUP, "text": "  "}, "Bad Request: message text is empty"),
        ({"chat_id": GROUP, "text": "x" * 4097}, "Bad Request: message is too long"),
        (
            {"chat_id": GROUP, "text": "x", "reply_parameters": {"message_id": 99}},
            "Bad Request: message to be replied not found",
        ),
        (
            {
                "chat_id": GROUP,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "go", "url": "javascript:alert(1)"}]]},
            },
            "Bad Request: BUTTON_URL_INVALID",
        ),
        (
            {
                "chat_id": GROUP,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "go", "callback_data": "d" * 65}]]},
            },
            "Bad Request: BUTTON_DATA_INVALID",
        ),
    ],
)
def test_send_message_validation(people: TelegramSimulator, params: dict[str, Any], description: str) -> None:
    assert _error(_call(people, "sendMessage", **params)) == (400, description, None)
    assert people.sent_messages() == []


def test_reply_without_target_is_allowed_when_asked(people: TelegramSimulator) -> None:
    params: dict[str, Any] = {
        "chat_id": GROUP,
        "text": "x",
        "reply_parameters": {"message_id": 99, "allow_sending_without_reply": True},
    }
    assert "reply_to_message" not in _ok(_call(people, "sendMessage", **params))


def test_private_chats_need_the_user_to_start_the_bot(people: TelegramSimulator, clock: FrozenClock) -> None:
    cant = (403, "Forbidden: bot can't initiate conversation with a user", None)
    assert _error(_call(people, "sendMessage", chat_id=ALICE, text="hi")) == cant
    assert _error(_call(people, "sendMessage", chat_id=999, text="hi")) == (
        400,
        "Bad Request: chat not found",
        None,
    )
    people.user_starts_bot(ALICE, "tok_1")
    [update] = _ok(_call(people, "getUpdates"))
    assert update["message"]["text"] == "/start tok_1"
    assert update["message"]["chat"] == {
        "id": ALICE,
        "type": "private",
        "first_name": "Alice",
        "username": "alice",
    }
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert _ok(_call(people, "sendMessage", chat_id=ALICE, text="hi"))["chat"]["id"] == ALICE
    people.user_blocks_bot(ALICE)
    clock.advance(2)
    assert _error(_call(people, "sendMessage", chat_id=ALICE, text="hi")) == (
        403,
        "Forbidden: bot was blocked by the user",
        None,
    )
    # Writing to the bot first also opens the chat.
    people.user_says(BOB, BOB, "hello bot")
    assert _ok(_call(people, "sendMessage", chat_id=BOB, text="hello Bob"))["chat"]["type"] == "private"
    with pytest.raises(ValueError):
        people.user_starts_bot(ALICE, "has spaces")
    with pytest.raises(ValueError):
        people.user_says(-5, ALICE, "unknown group")


def _flood(sim: TelegramSimulator, chat_id: int) -> tuple[int, str, dict[str, Any] | None]:
    return _error(_call(sim, "sendMessage", chat_id=chat_id, text="again"))


def test_flood_limits_per_chat_per_group_and_overall(people: TelegramSimulator, clock: FrozenClock) -> None:
    people.user_starts_bot(ALICE)
    _ok(_call(people, "sendMessage", chat_id=ALICE, text="one"))
    assert _flood(people, ALICE) == (429, "Too Many Requests: retry after 1", {"retry_after": 1})
    clock.advance(1)
    _ok(_call(people, "sendMessage", chat_id=ALICE, text="two"))
    for _ in range(20):
        clock.advance(1)
        _ok(_call(people, "sendMessage", chat_id=GROUP, text="group"))
    # 20 messages in the group at t=1..20 s: the first leaves the one-minute window at t=61 s.
    assert _flood(people, GROUP) == (429, "Too Many Requests: retry after 41", {"retry_after": 41})
    clock.advance(40)
    assert _flood(people, GROUP)[2] == {"retry_after": 1}
    clock.advance(1)
    _ok(_call(people, "sendMessage", chat_id=GROUP, text="group again"))

    people.set_flood_limits(
        FloodLimits(per_chat_per_second=100, per_group_per_minute=100, overall_per_second=3)
    )
    for _ in range(3):
        _ok(_call(people, "sendMessage", chat_id=GROUP, text="burst"))
    assert _flood(people, GROUP)[0] == 429
    people.set_flood_limits(None)
    for _ in range(50):
        _ok(_call(people, "sendMessage", chat_id=GROUP, text="unlimited"))


def test_fail_next_and_latency(people: TelegramSimulator) -> None:
    people.fail_next("sendMessage", 429, retry_after=7, times=2)
    people.fail_next("*", 502)
    expected = (429, "Too Many Requests: retry after 7", {"retry_after": 7})
    assert _flood(people, GROUP) == expected
    assert _flood(people, GROUP) == expected
    assert _error(_call(people, "getMe")) == (502, "Bad Gateway", None)
    people.fail_next("getme", 500, "Internal Server Error: restarting")
    assert _error(_call(people, "getMe")) == (500, "Internal Server Error: restarting", None)
    assert _ok(_call(people, "getMe"))["id"] == int(BOT_ID)
    people.set_latency(0.2)
    started = time.monotonic()
    _ok(_call(people, "getMe"))
    assert time.monotonic() - started >= 0.2
    assert [entry.status for entry in people.request_log()] == [429, 429, 502, 500, 200, 200]


def test_delete_message_rules(
    people: TelegramSimulator, clock: FrozenClock, tg_client: TelegramClient
) -> None:
    rude = people.user_says(GROUP, ALICE, "you are all idiots")
    assert _ok(_call(people, "deleteMessage", chat_id=GROUP, message_id=rude)) is True
    assert _error(_call(people, "deleteMessage", chat_id=GROUP, message_id=rude)) == (
        400,
        "Bad Request: message to delete not found",
        None,
    )
    [gone] = people.deleted_messages()
    assert (gone.chat_id, gone.message_id, gone.from_id, gone.text) == (
        GROUP,
        rude,
        ALICE,
        "you are all idiots",
    )
    people.add_group(-42, "Not admin here", "group", bot_is_admin=False)
    other = people.user_says(-42, ALICE, "rude")
    assert _error(_call(people, "deleteMessage", chat_id=-42, message_id=other)) == (
        400,
        "Bad Request: message can't be deleted",
        None,
    )
    ours = tg_client.send_message(-42, "our own message")
    assert _ok(_call(people, "deleteMessage", chat_id=-42, message_id=ours["message_id"])) is True
    old = people.user_says(GROUP, BOB, "old news")
    clock.advance(48 * 3600 + 1)
    assert _error(_call(people, "deleteMessage", chat_id=GROUP, message_id=old))[1] == (
        "Bad Request: message can't be deleted"
    )


def test_edits_and_callback_answers(
    people: TelegramSimulator, tg_client: TelegramClient, clock: FrozenClock
) -> None:
    sent = tg_client.send_message(GROUP, "Approve?", buttons=[[InlineButton("Yes", callback_data="yes")]])
    message_id = sent["message_id"]
    query = people.press_button(GROUP, message_id, BOB, "yes")
    tg_client.answer_callback_query(query, "Approved")
    with pytest.raises(PermanentPlatformError, match=r"(?i)query is too old"):
        tg_client.answer_callback_query(query)
    assert [(a.callback_query_id, a.text, a.show_alert) for a in people.callback_answers()] == [
        (query, "Approved", False)
    ]
    clock.advance(1)
    edited = tg_client.edit_message_text(GROUP, message_id, "Approved by Bob")
    assert edited["text"] == "Approved by Bob" and "reply_markup" not in edited
    assert edited["edit_date"] == int(clock.now().timestamp())
    with pytest.raises(PermanentPlatformError, match=r"(?i)message is not modified"):
        tg_client.edit_message_text(GROUP, message_id, "Approved by Bob")
    markup = tg_client.edit_message_reply_markup(
        GROUP, message_id, [[InlineButton("Undo", callback_data="undo")]]
    )
    assert markup["reply_markup"] == {"inline_keyboard": [[{"text": "Undo", "callback_data": "undo"}]]}
    [current] = people.sent_messages(GROUP)
    assert current.edited and current.text == "Approved by Bob"
    theirs = people.user_says(GROUP, ALICE, "hi")
    with pytest.raises(PermanentPlatformError, match=r"(?i)message can't be edited"):
        tg_client.edit_message_text(GROUP, theirs, "hacked")


def test_webhook_mode(
    people: TelegramSimulator, receiver: WebhookReceiver, tg_client: TelegramClient
) -> None:
    people.user_says(GROUP, ALICE, "before the webhook")
    tg_client.set_webhook(receiver.url, secret_token="s3cret_Token")
    conflict = _error(_call(people, "getUpdates"))
    assert conflict[0] == 409 and "webhook is active" in conflict[1]
    assert tg_client.get_webhook_info()["pending_update_count"] == 1
    people.user_says(GROUP, BOB, "after the webhook")
    assert [body["message"]["text"] for _, body in receiver.received] == [
        "before the webhook",
        "after the webhook",
    ]
    assert {headers["x-telegram-bot-api-secret-token"] for headers, _ in receiver.received} == {
        "s3cret_Token"
    }
    assert [body["update_id"] for _, body in receiver.received] == [1, 2]
    # A refusing receiver keeps updates pending, in order, with the error in getWebhookInfo.
    receiver.status = 500
    people.user_says(GROUP, ALICE, "third")
    info = tg_client.get_webhook_info()
    assert info["url"] == receiver.url and info["pending_update_count"] == 1
    assert info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    receiver.status = 200
    assert people.flush_webhook() == 1
    assert [body["message"]["text"] for _, body in receiver.received][-1] == "third"
    assert [d.status for d in people.webhook_deliveries()] == [200, 200, 500, 200]
    tg_client.delete_webhook()
    people.user_says(GROUP, ALICE, "polling again")
    assert [u["message"]["text"] for u in _ok(_call(people, "getUpdates"))] == ["polling again"]
    assert _error(_call(people, "setWebhook", url="ftp://example.com"))[0] == 400
    assert _error(_call(people, "setWebhook", url=receiver.url, secret_token="bad token!"))[0] == 400


def test_setting_a_webhook_ends_a_long_poll_with_409(people: TelegramSimulator) -> None:
    answers: list[httpx.Response] = []
    poller = threading.Thread(target=lambda: answers.append(_call(people, "getUpdates", timeout=5)))
    poller.start()
    time.sleep(0.05)
    _ok(_call(people, "setWebhook", url="https://example.com/hook", drop_pending_updates=True))
    poller.join(timeout=5)
    assert answers[0].status_code == 409
    assert _ok(_call(people, "setWebhook", url="")) is True  # an empty URL removes the webhook
    assert _ok(_call(people, "getWebhookInfo"))["url"] == ""
