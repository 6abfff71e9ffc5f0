"""A synchronous facade over python-telegram-bot's async `Bot`, and the one place Telegram failures are mapped.

The listener and the bot run in tactful's worker threads, while PTB is asyncio-only. A
`TelegramClient` owns one private event loop in a daemon thread and one `telegram.Bot`
(initialised once, on first use); every call submits a coroutine to that loop and waits
for it. Updates are fetched raw (JSON dicts, not `telegram.Update` objects), so one
malformed update cannot break a batch and the same parser serves webhook payloads.

The bot token is part of every request URL (``<base_url><token>/<method>``). It never
appears in this module's exceptions or reprs, and a logging filter redacts it from the
``httpx`` and ``telegram.Bot`` loggers, which would otherwise print request URLs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, TelegramObject
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from tactful.clock import Clock, SystemClock
from tactful.errors import (
    AuthenticationFailed,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
    TransientPlatformError,
)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
TOKEN_RE = re.compile(r"^(?P<bot_id>[0-9]{1,20}):[A-Za-z0-9_-]{1,100}$")
REDACTED = "<redacted-token>"
_LOGGERS_SHOWING_URLS = ("httpx", "telegram.Bot")
_T = TypeVar("_T")

# python-telegram-bot's own RetryAfter constructor reads its deprecated int `retry_after` (v22.2)
# whenever Telegram throttles, which would print a library deprecation to an operator's log;
# `_retry_after_seconds` reads the value as either type.
warnings.filterwarnings(
    "ignore", r"Deprecated since version v22\.2: .* attribute `retry_after`", PTBDeprecationWarning
)


@dataclass(frozen=True, slots=True)
class TelegramTimeouts:
    """Per-request timeouts in seconds (the long poll adds its own wait to `read`)."""

    connect: float = 5.0
    read: float = 10.0
    write: float = 10.0
    pool: float = 5.0

    def __post_init__(self) -> None:
        if min(self.connect, self.read, self.write, self.pool) <= 0:
            raise ValueError("Telegram timeouts must be positive")

    @property
    def total(self) -> float:
        """Return the longest a single request can take, every phase included."""
        return self.connect + self.read + self.write + self.pool


@dataclass(frozen=True, slots=True)
class InlineButton:
    """One inline keyboard button: opens `url` or sends `callback_data` back to the bot."""

    text: str
    url: str | None = None
    callback_data: str | None = None

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("an inline button needs a label")
        if (self.url is None) == (self.callback_data is None):
            raise ValueError("an inline button has exactly one of url and callback_data")


class _TokenRedactor(logging.Filter):
    """Replaces known bot tokens in log records with a placeholder."""

    def __init__(self) -> None:
        super().__init__("tactful-telegram-token-redactor")
        self._tokens: Counter[str] = Counter()  # clients using each token
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        with self._lock:
            self._tokens[token] += 1

    def discard(self, token: str) -> None:
        with self._lock:
            self._tokens[token] -= 1
            if self._tokens[token] <= 0:
                del self._tokens[token]

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            tokens = list(self._tokens)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken record is logging's problem to report, not ours
        redacted = redact(message, tokens)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _TokenRedactor()
for _name in _LOGGERS_SHOWING_URLS:
    logging.getLogger(_name).addFilter(_REDACTOR)


def redact(text: str, secrets: Sequence[str]) -> str:
    """Return `text` with every secret replaced by a placeholder."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def bot_id_from_token(token: str) -> str:
    """Return the bot's numeric id, which Telegram puts before the colon of its token."""
    match = TOKEN_RE.match(token)
    if match is None:
        raise ValueError("a Telegram bot token looks like '<bot id>:<secret>' (value not shown)")
    return match["bot_id"]


class _RawBot(Bot):
    """A PTB Bot that can also return getUpdates results as raw JSON."""

    async def get_raw_updates(
        self,
        offset: int | None,
        limit: int,
        timeout: int,
        allowed_updates: Sequence[str],
        read_timeout: float,
    ) -> Any:
        """Call getUpdates and return the decoded ``result`` without building Update objects."""
        data: dict[str, Any] = {
            "offset": offset,
            "limit": limit,
            "timeout": timeout,
            "allowed_updates": list(allowed_updates),
        }
        return await self._post("getUpdates", data, read_timeout=read_timeout)


class TelegramClient:
    """Synchronous Bot API calls through PTB, with failures mapped to `tactful.errors`.

    Thread-safe: calls from several threads share the one event loop and `Bot`. Results
    are plain JSON dicts, as the Bot API documents them.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeouts: TelegramTimeouts | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.bot_id = bot_id_from_token(token)
        self._token = token
        self._timeouts = timeouts or TelegramTimeouts()
        self._clock: Clock = clock or SystemClock()
        self._closed = False
        self._close_lock = threading.Lock()
        _REDACTOR.add(token)
        t = self._timeouts
        self._bot = _RawBot(
            token,
            base_url=base_url,
            request=HTTPXRequest(
                connection_pool_size=16,
                connect_timeout=t.connect,
                read_timeout=t.read,
                write_timeout=t.write,
                pool_timeout=t.pool,
            ),
            get_updates_request=HTTPXRequest(
                connection_pool_size=1,
                connect_timeout=t.connect,
                read_timeout=t.read,
                write_timeout=t.write,
                pool_timeout=t.pool,
            ),
        )
        self._init_lock: asyncio.Lock | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"telegram-client-{self.bot_id}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"TelegramClient(bot_id={self.bot_id!r}, closed={self._closed})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- Bot API -------------------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        """Return the bot's own user object (checks the token)."""
        return _plain(self._call("getMe", lambda bot: bot.get_me()))

    def get_updates(
        self,
        offset: int | None,
        timeout: int = 0,
        allowed_updates: Sequence[str] = ("message", "callback_query"),
        limit: int = 100,
    ) -> list[Any]:
        """Long-poll for raw updates; `offset` confirms (and makes Telegram forget) every earlier update."""
        if timeout < 0 or not 1 <= limit <= 100:
            raise ValueError("timeout must be >= 0 and limit between 1 and 100")
        read_timeout = self._timeouts.read + timeout
        result = self._call(
            "getUpdates",
            lambda bot: bot.get_raw_updates(offset, limit, timeout, allowed_updates, read_timeout),
            extra_wait=timeout,
        )
        if not isinstance(result, list):
            raise TransientPlatformError(f"Telegram getUpdates returned {type(result).__name__}, not a list")
        return result

    def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        buttons: Sequence[Sequence[InlineButton]] | None = None,
        parse_mode: str | None = None,
    ) -> dict[str, Any]:
        """Send a text message (plain text unless `parse_mode` is given) and return it."""
        reply = ReplyParameters(reply_to_message_id) if reply_to_message_id is not None else None
        message = self._call(
            "sendMessage",
            lambda bot: bot.send_message(
                chat_id,
                text,
                reply_parameters=reply,
                message_thread_id=message_thread_id,
                reply_markup=_keyboard(buttons),
                parse_mode=parse_mode,
            ),
        )
        return _plain(message)

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """Delete a message (the bot must be allowed to: its own, private chats, or as a group admin)."""
        self._call("deleteMessage", lambda bot: bot.delete_message(chat_id, message_id))

    def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        buttons: Sequence[Sequence[InlineButton]] | None = None,
        parse_mode: str | None = None,
    ) -> dict[str, Any]:
        """Replace the text (and keyboard) of one of the bot's messages and return it."""
        message = self._call(
            "editMessageText",
            lambda bot: bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=_keyboard(buttons),
                parse_mode=parse_mode,
            ),
        )
        return _message_dict(message, "editMessageText")

    def edit_message_reply_markup(
        self, chat_id: int, message_id: int, buttons: Sequence[Sequence[InlineButton]] | None = None
    ) -> dict[str, Any]:
        """Replace (or with None remove) the inline keyboard of one of the bot's messages."""
        message = self._call(
            "editMessageReplyMarkup",
            lambda bot: bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=_keyboard(buttons)
            ),
        )
        return _message_dict(message, "editMessageReplyMarkup")

    def answer_callback_query(
        self, callback_query_id: str, text: str | None = None, *, show_alert: bool = False
    ) -> None:
        """Acknowledge a button press, optionally with a notification for the user."""
        self._call(
            "answerCallbackQuery",
            lambda bot: bot.answer_callback_query(callback_query_id, text=text, show_alert=show_alert),
        )

    def set_webhook(
        self,
        url: str,
        *,
        secret_token: str | None = None,
        allowed_updates: Sequence[str] | None = None,
        drop_pending_updates: bool = False,
    ) -> None:
        """Have Telegram POST updates to `url` (with the secret header) instead of answering getUpdates."""
        self._call(
            "setWebhook",
            lambda bot: bot.set_webhook(
                url,
                secret_token=secret_token,
                allowed_updates=list(allowed_updates) if allowed_updates is not None else None,
                drop_pending_updates=drop_pending_updates,
            ),
        )

    def delete_webhook(self, *, drop_pending_updates: bool = False) -> None:
        """Remove the webhook so getUpdates works again."""
        self._call("deleteWebhook", lambda bot: bot.delete_webhook(drop_pending_updates=drop_pending_updates))

    def get_webhook_info(self) -> dict[str, Any]:
        """Return the webhook status (url, pending_update_count, last error)."""
        return _plain(self._call("getWebhookInfo", lambda bot: bot.get_webhook_info()))

    def close(self) -> None:
        """Close the HTTP connections and stop the event loop; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            future = asyncio.run_coroutine_threadsafe(self._bot.shutdown(), self._loop)
            future.result(timeout=self._timeouts.total)
        except (TelegramError, TimeoutError, RuntimeError):
            pass  # best effort: the loop is stopped below either way
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()
            _REDACTOR.discard(self._token)

    # --- plumbing ------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        request: Callable[[_RawBot], Coroutine[Any, Any, _T]],
        *,
        extra_wait: float = 0.0,
    ) -> _T:
        """Run one Bot API call on the client's loop and map any PTB failure."""
        if self._closed:
            raise PermanentPlatformError(f"Telegram {operation}: the client is closed")
        future = asyncio.run_coroutine_threadsafe(self._initialised_call(request), self._loop)
        # PTB enforces each request's own timeouts; this outer bound also covers initialisation.
        deadline = 2 * self._timeouts.total + extra_wait
        try:
            return future.result(timeout=deadline)
        except TimeoutError:
            future.cancel()
            error: PlatformError = TransientPlatformError(
                f"Telegram {operation} did not finish within {deadline:g}s", maybe_delivered=True
            )
            cause: BaseException | None = None
        except TelegramError as exc:
            error = translate_error(exc, operation, clock=self._clock, secrets=(self._token,))
            cause = None if _mentions_secret(exc, self._token) else exc
        raise error from cause

    async def _initialised_call(self, request: Callable[[_RawBot], Coroutine[Any, Any, _T]]) -> _T:
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            await self._bot.initialize()
        return await request(self._bot)


def translate_error(
    exc: TelegramError, operation: str, *, clock: Clock | None = None, secrets: Sequence[str] = ()
) -> PlatformError:
    """Map a PTB exception to the matching `tactful.errors` type (messages are token-free)."""
    detail = redact(f"{type(exc).__name__}: {exc.message}", secrets)
    message = f"Telegram {operation} failed: {detail}"
    if isinstance(exc, RetryAfter):
        seconds = _retry_after_seconds(exc)
        return RateLimited(message, (clock or SystemClock()).now() + timedelta(seconds=seconds))
    if isinstance(exc, InvalidToken):
        return AuthenticationFailed(message)
    if isinstance(exc, Forbidden):
        return RecipientUnreachable(message)
    if isinstance(exc, ChatMigrated):
        return PermanentPlatformError(f"{message} (the group is now chat {exc.new_chat_id})")
    if isinstance(exc, BadRequest | Conflict | EndPointNotFound):
        return PermanentPlatformError(message)
    if isinstance(exc, NetworkError):  # includes TimedOut and 5xx answers
        # Timed out waiting for the answer: the request may have been carried out.
        return TransientPlatformError(message, maybe_delivered=isinstance(exc, TimedOut))
    # A bare TelegramError is an unreadable server answer (e.g. a body that is not JSON).
    return TransientPlatformError(message)


def _retry_after_seconds(exc: RetryAfter) -> float:
    """Return RetryAfter's wait in seconds, whichever type this PTB version reports it as."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _mentions_secret(exc: BaseException, secret: str) -> bool:
    """Tell whether the exception or anything it chains to mentions the secret."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if secret in str(current) or secret in repr(current.args):
            return True
        current = current.__cause__ or current.__context__
    return False


def _keyboard(buttons: Sequence[Sequence[InlineButton]] | None) -> InlineKeyboardMarkup | None:
    """Build PTB's inline keyboard from plain button rows."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.text, url=b.url, callback_data=b.callback_data) for b in row]
            for row in buttons
        ]
    )


def _message_dict(message: Any, operation: str) -> dict[str, Any]:
    """Edits return the Message for chat messages (True only for inline messages, which we never edit)."""
    if isinstance(message, bool):
        raise PermanentPlatformError(f"Telegram {operation} returned no message")
    return _plain(message)


def _plain(value: TelegramObject) -> dict[str, Any]:
    """Return a PTB object as plain JSON data (enums become strings, dates Unix timestamps)."""
    result: dict[str, Any] = json.loads(value.to_json())
    return result
