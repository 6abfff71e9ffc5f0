"""The Telegram listener: Bot API updates (long polling, or webhook payloads) normalised to IncomingMessage.

`parse_update` turns one raw update dict into an `IncomingMessage`, a `QuarantinedPayload`
or ``None`` (not a customer message), so the long-polling listener here and a webhook
endpoint share one parser. Message ids are only unique per chat, so external ids are
``"<chat_id>:<message_id>"``; a chat (or a forum topic, ``"<chat_id>:<thread_id>"``) is the
thread.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Collection
from typing import Any

from listeners.base import FetchResult, Listener
from listeners.telegram_client import TelegramClient
from tactful.domain import Author, CallbackPress, Channel, IncomingMessage, Platform, QuarantinedPayload
from tactful.payload_fields import (
    DISPLAY_NAME_MAX,
    USERNAME_MAX,
    brief,
    name,
    storable_text,
    utc_from_timestamp,
)

START_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What Telegram accepts as a ``/start`` deep-link payload."""

ALLOWED_UPDATES = ("message", "callback_query")
MAX_ID = 2**53
"""Telegram ids have at most 52 significant bits; anything larger is not from Telegram."""
CALLBACK_ID_MAX = 64
GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})
_START_RE = re.compile(r"^/start(?:@(?P<bot>\w+))?(?:\s+(?P<payload>\S+))?\s*$")
_NOT_CUSTOMER_UPDATES = frozenset(
    {
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "business_connection",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


def parse_update(
    update: Any, bot_username: str, *, source: str = "telegram", staff_chats: Collection[str] = ()
) -> IncomingMessage | QuarantinedPayload | None:
    """Normalise one raw Bot API update; None when it is not a customer's text message.

    Messages in `staff_chats` (the team chat) are the team's, never customers': None.
    """
    if not isinstance(update, dict):
        return _quarantine(source, update, f"update is a {type(update).__name__}, not a JSON object")
    if not _is_int(update.get("update_id")):
        return _quarantine(source, update, "missing or non-integer 'update_id'")
    message = update.get("message")
    if message is None:
        if any(kind in update for kind in _NOT_CUSTOMER_UPDATES):
            return None
        return _quarantine(source, update, f"update {update['update_id']}: no known update type")
    result = _normalise_message(message, bot_username, staff_chats)
    if isinstance(result, str):
        return _quarantine(source, update, f"update {update['update_id']}: {result}")
    return result


def parse_callback_query(
    update: Any, *, source: str = "telegram"
) -> CallbackPress | QuarantinedPayload | None:
    """Extract a button press from a raw update; None when the update is something else."""
    if not isinstance(update, dict) or "callback_query" not in update:
        return None
    query = update["callback_query"]
    if not isinstance(query, dict):
        return _quarantine(source, update, "'callback_query' is not a JSON object")
    sender = query.get("from")
    if not isinstance(query.get("id"), str) or not query["id"] or len(query["id"]) > CALLBACK_ID_MAX:
        return _quarantine(source, update, "callback_query: missing or invalid 'id'")
    if not isinstance(sender, dict) or not _is_int(sender.get("id")):
        return _quarantine(source, update, f"callback_query {query['id']}: missing 'from.id'")
    data = query.get("data")
    chat_id: str | None = None
    message_ref: str | None = None
    message = query.get("message")
    if isinstance(message, dict):
        chat = message.get("chat")
        if isinstance(chat, dict) and _is_int(chat.get("id")):
            chat_id = str(chat["id"])
            if _is_int(message.get("message_id")):
                message_ref = f"{chat_id}:{message['message_id']}"
    return CallbackPress(
        callback_query_id=query["id"],
        user_id=str(sender["id"]),
        data=storable_text(data) if isinstance(data, str) else None,
        chat_id=chat_id,
        message_external_id=message_ref,
        username=name(sender.get("username"), USERNAME_MAX),
        raw=query,
    )


def webhook_secret_matches(received: str | None, expected: str) -> bool:
    """Check the ``X-Telegram-Bot-Api-Secret-Token`` header in constant time."""
    return received is not None and hmac.compare_digest(received.encode("utf-8"), expected.encode("utf-8"))


class TelegramUpdatesListener(Listener):
    """Long-polls one bot's updates (getUpdates) and normalises its customers' messages.

    The cursor is the last ``update_id`` seen, as a string. Each `fetch` makes exactly one
    getUpdates call with ``offset = cursor + 1``: that confirms, and makes Telegram forget,
    only updates the caller already committed with that cursor, so a crash before commit
    gets the same updates again, and a restart from the stored cursor neither loses nor
    repeats any. (Following up with a second call inside one fetch would confirm updates
    not yet committed, so a burst is read one page, up to `limit`, per poll.) The first run
    (cursor ``None``) takes whatever Telegram still holds. Inline-button presses (callback
    queries) come back as `FetchResult.presses`, stored with the cursor for the team chat;
    other updates that are not customer messages (edits, service messages, anything said in
    `staff_chats`, the team chat) are skipped but
    still advance the cursor; malformed ones are quarantined. Fails with the
    `tactful.errors` types mapped by `TelegramClient`; a webhook set on the bot makes every
    poll a `PermanentPlatformError` (409 Conflict) until it is deleted.
    """

    platform = Platform.TELEGRAM

    def __init__(
        self,
        client: TelegramClient,
        bot_username: str,
        *,
        poll_timeout: int = 0,
        limit: int = 100,
        staff_chats: Collection[str] = (),
    ) -> None:
        if poll_timeout < 0 or not 1 <= limit <= 100:
            raise ValueError("poll_timeout must be >= 0 and limit between 1 and 100")
        self._client = client
        self.bot_username = bot_username
        self._poll_timeout = poll_timeout
        self._limit = limit
        self._staff_chats = frozenset(staff_chats)
        self.key = f"telegram:updates:{client.bot_id}"

    def fetch(self, cursor: str | None) -> FetchResult:
        """Return the customer messages in updates after `cursor` and the last update id seen."""
        last_seen = _parse_cursor(cursor)
        updates = self._client.get_updates(
            offset=last_seen + 1 if last_seen is not None else None,
            timeout=self._poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            limit=self._limit,
        )
        messages: list[IncomingMessage] = []
        quarantined: list[QuarantinedPayload] = []
        presses: list[CallbackPress] = []
        newest = last_seen
        for update in updates:
            if isinstance(update, dict) and _is_int(update.get("update_id")):
                if last_seen is not None and update["update_id"] <= last_seen:
                    continue  # already committed; Telegram should not have sent it again
                newest = update["update_id"] if newest is None else max(newest, update["update_id"])
            result: IncomingMessage | CallbackPress | QuarantinedPayload | None
            result = parse_update(update, self.bot_username, source=self.key, staff_chats=self._staff_chats)
            if result is None:
                result = parse_callback_query(update, source=self.key)
            if isinstance(result, IncomingMessage):
                messages.append(result)
            elif isinstance(result, CallbackPress):
                presses.append(result)
            elif isinstance(result, QuarantinedPayload):
                quarantined.append(result)
        return FetchResult(
            messages=messages,
            cursor=str(newest) if newest is not None else cursor,
            quarantined=quarantined,
            presses=presses,
        )


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not re.fullmatch(r"[0-9]{1,20}", cursor):
        raise ValueError(f"a Telegram cursor is an update id, got {cursor!r}")
    return int(cursor)


def _normalise_message(
    message: Any, bot_username: str, staff_chats: Collection[str] = ()
) -> IncomingMessage | str | None:
    """Turn one Message object into an IncomingMessage, None (not for us) or the reason it is malformed."""
    if not isinstance(message, dict):
        return "'message' is not a JSON object"
    message_id = message.get("message_id")
    if not _is_int(message_id):
        return "message has no integer 'message_id'"
    chat = message.get("chat")
    if not isinstance(chat, dict) or not _is_int(chat.get("id")):
        return f"message {message_id}: missing 'chat.id'"
    chat_id: int = chat["id"]
    if str(chat_id) in staff_chats:
        return None  # the team talking among themselves (or to the bot), not a customer
    chat_type = chat.get("type")
    if chat_type == "private":
        channel = Channel.DIRECT
    elif isinstance(chat_type, str) and chat_type in GROUP_CHAT_TYPES:
        channel = Channel.GROUP
    elif chat_type == "channel":
        return None
    else:
        return f"message {message_id}: unknown chat type {brief(chat_type)}"
    date: Any = message.get("date")
    created_at = utc_from_timestamp(date) if _is_int(date) else None
    if created_at is None:
        return f"message {message_id}: missing or invalid 'date' {brief(date)}"
    text = message.get("text", message.get("caption"))
    if text is not None and not isinstance(text, str):
        return f"message {message_id}: 'text' is not a string"
    sender = message.get("from")
    if sender is None:
        # Anonymous group admins and linked channels post as the chat itself: staff, not customers.
        return None if "sender_chat" in message else f"message {message_id}: missing 'from'"
    if not isinstance(sender, dict) or not _is_int(sender.get("id")):
        return f"message {message_id}: 'from' has no integer 'id'"
    if sender.get("is_bot") is True and _same_username(sender.get("username"), bot_username):
        return None  # our own message
    if not text:
        return None  # service messages, stickers, photos without caption: nothing to read
    reply_ref = _reply_ref(message, chat_id)
    thread = _thread_of(message, chat_id, message_id, channel, reply_ref)
    return IncomingMessage(
        platform=Platform.TELEGRAM,
        channel=channel,
        external_id=f"{chat_id}:{message_id}",
        thread_external_id=thread,
        author=Author(
            platform=Platform.TELEGRAM,
            external_id=str(sender["id"]),
            username=name(sender.get("username"), USERNAME_MAX),
            display_name=_display_name(sender),
            is_bot=sender.get("is_bot") is True,
        ),
        text=storable_text(text),
        created_at=created_at,
        in_reply_to_external_id=reply_ref,
        # No language hint: a sender's `language_code` is the language of their Telegram app, not of
        # the message (an English complaint from a phone set to Polish is still English).
        language_hint=None,
        is_private=channel is Channel.DIRECT,
        private_link_token=_start_token(text, bot_username) if channel is Channel.DIRECT else None,
        raw=message,
    )


def _thread_of(
    message: dict[str, Any], chat_id: int, message_id: object, channel: Channel, reply_ref: str | None
) -> str:
    """The conversation a message belongs to.

    A private chat is one conversation (``"<user>"``); a forum topic is one (``"<chat>:<topic>"``);
    in any other group each reply chain is one (``"<chat>/<root>"``): a message that replies to
    nothing starts a chain, a reply names the message it answers and the store moves it into that
    message's conversation when it knows it (Telegram shows only one level of reply).
    """
    if channel is Channel.DIRECT:
        return str(chat_id)
    if message.get("is_topic_message") is True and _is_int(message.get("message_thread_id")):
        return f"{chat_id}:{message['message_thread_id']}"
    root = reply_ref.split(":", 1)[1] if reply_ref is not None else str(message_id)
    return f"{chat_id}/{root}"


def _reply_ref(message: dict[str, Any], chat_id: int) -> str | None:
    """The replied-to message, ignoring the implicit reply to a forum topic's creation message."""
    parent = message.get("reply_to_message")
    if not isinstance(parent, dict) or not _is_int(parent.get("message_id")):
        return None
    if "forum_topic_created" in parent:
        return None
    return f"{chat_id}:{parent['message_id']}"


def _start_token(text: str, bot_username: str) -> str | None:
    """The payload of ``/start <token>`` (or ``/start@<bot> <token>``) when it is a valid deep-link token."""
    match = _START_RE.match(text.strip())
    if match is None or not match["payload"]:
        return None
    if match["bot"] is not None and not _same_username(match["bot"], bot_username):
        return None
    return match["payload"] if START_TOKEN_RE.match(match["payload"]) else None


def _display_name(sender: dict[str, Any]) -> str | None:
    parts = [
        part for part in (sender.get("first_name"), sender.get("last_name")) if isinstance(part, str) and part
    ]
    return name(" ".join(parts), DISPLAY_NAME_MAX)


def _same_username(candidate: Any, bot_username: str) -> bool:
    return isinstance(candidate, str) and candidate.lstrip("@").lower() == bot_username.lstrip("@").lower()


def _is_int(value: Any) -> bool:
    """An integer as Telegram sends ids and dates (not a bool, within 53 bits)."""
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_ID < value < MAX_ID


def _quarantine(source: str, payload: Any, reason: str) -> QuarantinedPayload:
    try:
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(payload)
    return QuarantinedPayload(source=source, reason=reason, payload=text)
