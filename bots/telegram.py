"""The Telegram bot: replies in groups, private messages (with a deep-link fallback) and deleting abuse."""

from __future__ import annotations

import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bots.base import Bot, OutboundAction, SendKind, SendResult, required_text
from listeners.telegram import START_TOKEN_RE
from listeners.telegram_client import InlineButton, TelegramClient
from tactful.clock import Clock, SystemClock
from tactful.domain import Platform
from tactful.errors import DeliveryUnknown, PermanentPlatformError, RateLimited, RecipientUnreachable

BOT_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,29}[Bb][Oo][Tt]$")
_MESSAGE_REF_RE = re.compile(r"^(?P<chat>-?[0-9]{1,20}):(?P<message>[0-9]{1,20})$")
_THREAD_REF_RE = re.compile(r"^(?P<chat>-?[0-9]{1,20})(?::(?P<topic>[0-9]{1,20})|/[0-9]{1,20})?$")
# Matched case-insensitively: PTB strips "Bad Request: " and re-capitalises descriptions.
_CANT_INITIATE = "can't initiate conversation"
_ALREADY_DELETED = "message to delete not found"
_NOT_MODIFIED = "message is not modified"
_EDIT_GONE = "message to edit not found"

EditResult = Literal["edited", "unchanged", "gone"]


def deep_link(bot_username: str, token: str) -> str:
    """Return the ``https://t.me/<bot>?start=<token>`` link that opens a private chat with the bot."""
    name = bot_username.lstrip("@")
    if not BOT_USERNAME_RE.match(name):
        raise ValueError(f"{bot_username!r} is not a bot username (5-32 letters, digits, _; ends in 'bot')")
    if not START_TOKEN_RE.match(token):
        raise ValueError("a start token is 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return f"https://t.me/{name}?start={token}"


def new_start_token() -> str:
    """Return a fresh unguessable deep-link token (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class PacingLimits:
    """Client-side send limits, matching Telegram's documented flood limits."""

    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    overall_per_second: int = 30


class FloodPacer:
    """Keeps sends under Telegram's flood limits on an injected clock; never sleeps.

    `reserve(chat_id)` records a send or raises `RateLimited` with the moment it would be
    allowed. Group chats are recognised by their negative ids.
    """

    def __init__(self, clock: Clock, limits: PacingLimits | None = None) -> None:
        self._clock = clock
        self._limits = limits or PacingLimits()
        self._overall: deque[datetime] = deque()
        self._per_chat: dict[int, deque[datetime]] = {}
        self._blocked_until: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def reserve(self, chat_id: int) -> None:
        """Count one send to `chat_id` now, or raise RateLimited if it must wait."""
        now = self._clock.now()
        limits = self._limits
        with self._lock:
            self._forget_before(now)
            chat = self._per_chat.get(chat_id, deque())
            candidates = [now, self._blocked_until.get(chat_id, now)]
            if len(self._overall) >= limits.overall_per_second:
                candidates.append(self._overall[-limits.overall_per_second] + timedelta(seconds=1))
            recent = [moment for moment in chat if moment > now - timedelta(seconds=1)]
            if len(recent) >= limits.per_chat_per_second:
                candidates.append(recent[-limits.per_chat_per_second] + timedelta(seconds=1))
            if chat_id < 0 and len(chat) >= limits.per_group_per_minute:
                candidates.append(chat[-limits.per_group_per_minute] + timedelta(minutes=1))
            retry_at = max(candidates)
            if retry_at > now:
                raise RateLimited(
                    f"Telegram flood limit: chat {chat_id} must wait until {retry_at}", retry_at
                )
            self._overall.append(now)
            chat.append(now)
            self._per_chat[chat_id] = chat

    def block(self, chat_id: int, until: datetime) -> None:
        """Refuse sends to `chat_id` until `until` (after Telegram answered 429)."""
        with self._lock:
            self._blocked_until[chat_id] = max(until, self._blocked_until.get(chat_id, until))

    def _forget_before(self, now: datetime) -> None:
        while self._overall and self._overall[0] <= now - timedelta(seconds=1):
            self._overall.popleft()
        for chat_id in list(self._per_chat):
            window = self._per_chat[chat_id]
            while window and window[0] <= now - timedelta(minutes=1):
                window.popleft()
            if not window:
                del self._per_chat[chat_id]
        for chat_id in [c for c, until in self._blocked_until.items() if until <= now]:
            del self._blocked_until[chat_id]


class TelegramBot(Bot):
    """Performs outbox actions through the Telegram Bot API (python-telegram-bot).

    * ``PUBLIC_REPLY``: a message in the chat of ``thread_external_id`` (``"<chat>"``,
      ``"<chat>:<topic>"`` or a reply chain ``"<chat>/<root>"``) replying to ``target_external_id`` (``"<chat>:<message>"``).
    * ``DIRECT_MESSAGE``: a message in the private chat with ``recipient_external_id`` (a
      user id). Bots may only write to users who started them; when Telegram answers 403
      "can't initiate conversation" and the action has ``fallback_text`` and
      ``private_link`` (a `deep_link`), the bot replies in the group instead with that text
      and a URL button opening the private chat, and reports ``PUBLIC_REPLY``.
    * ``HIDE``: deletes the target message (the bot must be a group admin); a message that
      is already gone counts as hidden.

    Sends are paced client-side by a `FloodPacer` (raising `RateLimited` instead of
    sleeping); a 429 from Telegram raises `RateLimited` and blocks that chat until the
    retry time. Platform refs are ``"<chat>:<message>"``. `find_sent` raises
    `DeliveryUnknown` for messages: the Bot API cannot list what a bot sent.
    """

    finds_sent = False  # the Bot API cannot list what a bot sent

    platform = Platform.TELEGRAM

    def __init__(
        self,
        client: TelegramClient,
        bot_username: str,
        clock: Clock | None = None,
        *,
        link_button_text: str = "Continue in a private chat",
        pacing: PacingLimits | None = None,
    ) -> None:
        self._client = client
        self.bot_username = bot_username
        self._clock: Clock = clock or SystemClock()
        self._link_button_text = link_button_text
        self._pacer = FloodPacer(self._clock, pacing)

    def send(self, action: OutboundAction) -> SendResult:
        """Perform the action once and return Telegram's reference for it."""
        if action.platform is not Platform.TELEGRAM:
            raise PermanentPlatformError(f"TelegramBot cannot perform a {action.platform} action")
        if action.kind is SendKind.PUBLIC_REPLY:
            return SendResult(self._reply(action, required_text(action)), SendKind.PUBLIC_REPLY)
        if action.kind is SendKind.DIRECT_MESSAGE:
            return self._direct_message(action)
        if action.kind is SendKind.HIDE:
            return self._hide(action)
        raise PermanentPlatformError(f"Telegram has no {action.kind}; use a public reply or a direct message")

    def find_sent(self, action: OutboundAction) -> SendResult | None:
        """Deleting again is harmless (None); for messages, raise DeliveryUnknown."""
        if action.kind is SendKind.HIDE:
            return None
        raise DeliveryUnknown(
            f"outbox item {action.idempotency_key}: the Telegram Bot API cannot list sent messages"
        )

    # --- the team chat (bots/team_chat.py) ----------------------------------------------

    def post_message(self, chat_id: int, text: str, buttons: list[list[InlineButton]], *, html: bool) -> str:
        """Send a message with an inline keyboard to a chat (the team chat); return its ``"<chat>:<message>"``."""
        return self._send(chat_id, text, buttons=buttons or None, parse_mode="HTML" if html else None)

    def edit_message(
        self, ref: str, text: str, buttons: list[list[InlineButton]], *, html: bool
    ) -> EditResult:
        """Rewrite one of the bot's messages and its keyboard (none when `buttons` is empty).

        Returns ``edited``, ``unchanged`` (it already said that) or ``gone`` (deleted from the chat).
        """
        chat_id, message_id = _message_ref(ref)
        self._pacer.reserve(chat_id)
        try:
            self._client.edit_message_text(
                chat_id, message_id, text, buttons=buttons or None, parse_mode="HTML" if html else None
            )
        except RateLimited as exc:
            self._pacer.block(chat_id, exc.retry_at)
            raise
        except PermanentPlatformError as exc:
            detail = str(exc).lower()
            if _NOT_MODIFIED in detail:
                return "unchanged"
            if _EDIT_GONE in detail:
                return "gone"
            raise
        return "edited"

    def answer_press(self, callback_query_id: str, text: str | None) -> None:
        """Answer a button press (stops the client's spinner), with a short notice for the presser."""
        self._client.answer_callback_query(callback_query_id, text[:200] if text else None)

    # --- actions -------------------------------------------------------------------------

    def _reply(
        self, action: OutboundAction, text: str, buttons: list[list[InlineButton]] | None = None
    ) -> str:
        chat_id, message_id = _message_ref(action.target_external_id)
        thread_chat, topic = _thread_ref(action.thread_external_id)
        if thread_chat != chat_id:
            raise PermanentPlatformError(
                f"outbox item {action.idempotency_key}: target {action.target_external_id} "
                f"is not in thread {action.thread_external_id}"
            )
        return self._send(chat_id, text, reply_to=message_id, topic=topic, buttons=buttons)

    def _direct_message(self, action: OutboundAction) -> SendResult:
        recipient = action.recipient_external_id
        if not recipient.isdigit():
            raise PermanentPlatformError(f"Telegram user ids are positive integers, got {recipient!r}")
        try:
            ref = self._send(int(recipient), required_text(action))
        except RecipientUnreachable as exc:
            if _CANT_INITIATE not in str(exc).lower() or not action.fallback_text or not action.private_link:
                raise
            button = InlineButton(self._link_button_text, url=action.private_link)
            ref = self._reply(action, action.fallback_text, [[button]])
            return SendResult(
                ref, SendKind.PUBLIC_REPLY, "user never started the bot; replied in the chat with a deep link"
            )
        return SendResult(ref, SendKind.DIRECT_MESSAGE)

    def _hide(self, action: OutboundAction) -> SendResult:
        chat_id, message_id = _message_ref(action.target_external_id)
        try:
            self._client.delete_message(chat_id, message_id)
        except PermanentPlatformError as exc:
            if _ALREADY_DELETED not in str(exc).lower():
                raise
            return SendResult(action.target_external_id, SendKind.HIDE, "message was already gone")
        return SendResult(action.target_external_id, SendKind.HIDE)

    def _send(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        topic: int | None = None,
        buttons: list[list[InlineButton]] | None = None,
        parse_mode: str | None = None,
    ) -> str:
        self._pacer.reserve(chat_id)
        try:
            message = self._client.send_message(
                chat_id,
                text,
                reply_to_message_id=reply_to,
                message_thread_id=topic,
                buttons=buttons,
                parse_mode=parse_mode,
            )
        except RateLimited as exc:
            self._pacer.block(chat_id, exc.retry_at)
            raise
        return _sent_ref(message, chat_id)


def _message_ref(ref: str) -> tuple[int, int]:
    """Split ``"<chat>:<message>"``."""
    match = _MESSAGE_REF_RE.match(ref)
    if match is None:
        raise PermanentPlatformError(f"{ref!r} is not a Telegram message reference '<chat>:<message>'")
    return int(match["chat"]), int(match["message"])


def _thread_ref(ref: str) -> tuple[int, int | None]:
    """Split ``"<chat>"``, ``"<chat>:<topic>"`` or ``"<chat>/<root message>"`` into chat and topic."""
    match = _THREAD_REF_RE.match(ref)
    if match is None:
        raise PermanentPlatformError(f"{ref!r} is not a Telegram thread reference '<chat>[:<topic>|/<root>]'")
    return int(match["chat"]), int(match["topic"]) if match["topic"] else None


def _sent_ref(message: dict[str, Any], chat_id: int) -> str:
    """Build ``"<chat>:<message>"`` for what Telegram says it sent."""
    message_id = message.get("message_id")
    if not isinstance(message_id, int):
        raise PermanentPlatformError(f"Telegram sendMessage returned no message_id: {message!r}")
    return f"{chat_id}:{message_id}"
