"""Platform-neutral value types shared by every package: the normalised message at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    """A social platform tactful listens to and acts on."""

    X = "x"
    FACEBOOK = "facebook"
    TELEGRAM = "telegram"


class Channel(StrEnum):
    """Where on a platform a message arrived; decides which replies are possible."""

    MENTION = "mention"  # X: the brand account was @mentioned
    SEARCH = "search"  # X: matched the brand keyword search
    DIRECT = "direct"  # a private conversation (X DM, Messenger, Telegram private chat)
    COMMENT = "comment"  # Facebook page comment
    GROUP = "group"  # Telegram group or supergroup


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a message, as the platform identifies them."""

    platform: Platform
    external_id: str
    username: str | None = None
    display_name: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message normalised from any platform payload.

    `thread_external_id` groups a conversation (X conversation_id, Facebook top-level comment
    or Messenger thread, Telegram private chat, forum topic or reply chain); the store moves a
    reply into the conversation of the message it answers when it knows that message. `raw`
    keeps the original payload for audit.
    `private_link_token` is set when the customer opened a private channel through a link
    we gave them (Telegram ``/start <token>``), so the private chat joins the original thread.
    """

    platform: Platform
    channel: Channel
    external_id: str
    thread_external_id: str
    author: Author
    text: str
    created_at: datetime
    in_reply_to_external_id: str | None = None
    language_hint: str | None = None
    is_private: bool = False
    private_link_token: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class QuarantinedPayload:
    """A payload that could not be normalised, kept with the reason instead of being dropped."""

    source: str
    reason: str
    payload: str


@dataclass(frozen=True, slots=True)
class CallbackPress:
    """Someone pressed an inline button under one of the bot's messages (a Telegram callback query).

    `message_external_id` is the pressed message as ``"<chat>:<message>"``; `data` is the button's
    callback data, untrusted until validated by whoever acts on it.
    """

    callback_query_id: str
    user_id: str
    data: str | None
    chat_id: str | None
    message_external_id: str | None
    username: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
