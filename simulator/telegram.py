"""A fake Telegram Bot API over real HTTP, so python-telegram-bot's `Bot` runs against it unmodified.

Requests go to ``/bot<token>/<method>`` with parameters in the query string, a form body
(what PTB sends: every non-string value JSON-encoded) or a JSON body. Answers are
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}``, with the descriptions the real API uses. State is scripted
through the Python API (`add_user`, `add_group`, `user_says`, `user_starts_bot`,
`press_button`) and inspected afterwards (`sent_messages`, `deleted_messages`,
`request_log`). Faults: `fail_next`, `set_latency`, the random switches every simulator has
(`set_fault_rate`, `set_throttle_rate`, ...; their path patterns match the Bot API method name,
and a random 429 carries ``parameters.retry_after``), and the flood limits Telegram documents
(about one message per second per chat, 20 per minute per group, 30 per second overall),
counted for sendMessage on the injected clock.

The bot sees every group message (as an admin or with privacy mode off). Webhook deliveries
are made synchronously by the scripting call that created the update; updates a receiver
refused stay pending and are retried, in order, by the next scripted update or `flush_webhook`.
"""

from __future__ import annotations

import copy
import http
import json
import math
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator.faults import InjectedFault
from simulator.http import LoopbackServer, SimRequest, SimResponse, json_response
from tactful.clock import Clock, SystemClock

TOKEN_RE = re.compile(r"^(?P<bot_id>[0-9]{1,20}):[A-Za-z0-9_-]{1,100}$")
START_PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PATH_RE = re.compile(r"^/bot(?P<token>[^/]*)/(?P<method>[A-Za-z]+)$")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MESSAGE_MAX_LENGTH = 4096
CALLBACK_DATA_MAX_BYTES = 64
DELETE_WINDOW = timedelta(hours=48)
DEFAULT_ALLOWED_UPDATES = frozenset({"message", "edited_message", "callback_query"})
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header name)
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # webhooks ignore *_proxy env vars
_OTHER_BUTTON_KINDS = (
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "callback_game",
    "pay",
    "copy_text",
)

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Telegram's documented send limits: per chat per second, per group per minute, overall per second."""

    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    overall_per_second: int = 30


DOCUMENTED_FLOOD_LIMITS = FloodLimits()


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot sent, as it currently stands (after any edits)."""

    chat_id: int
    message_id: int
    text: str
    reply_to_message_id: int | None
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    message_thread_id: int | None
    date: datetime
    edited: bool


@dataclass(frozen=True, slots=True)
class DeletedMessage:
    """A message the bot deleted."""

    chat_id: int
    message_id: int
    from_id: int
    text: str
    deleted_at: datetime


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """The bot's answer to a button press."""

    callback_query_id: str
    text: str | None
    show_alert: bool


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook."""

    update_id: int
    url: str
    status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the simulator answered (the token is never recorded)."""

    http_method: str
    api_method: str
    params: dict[str, Any]
    status: int
    content_type: str


@dataclass(slots=True)
class _User:
    id: int
    first_name: str
    username: str | None
    last_name: str | None
    language_code: str | None
    is_bot: bool
    started: bool = False
    blocked: bool = False


@dataclass(slots=True)
class _Chat:
    id: int
    type: str
    title: str | None = None
    bot_is_admin: bool = True
    is_forum: bool = False
    next_message_id: int = 1


@dataclass(slots=True)
class _Message:
    chat_id: int
    message_id: int
    from_id: int
    text: str
    date: datetime
    reply_to: int | None = None
    thread_id: int | None = None
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] | None = None
    edit_date: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(slots=True)
class _Update:
    update_id: int
    payload: dict[str, Any]


@dataclass(slots=True)
class _CallbackQuery:
    id: str
    answered: bool = False


@dataclass(slots=True)
class _Webhook:
    url: str
    secret_token: str | None
    last_error_date: datetime | None = None
    last_error_message: str | None = None


@dataclass(slots=True)
class _Fault:
    method: str
    status: int
    description: str
    remaining: int
    retry_after: int | None


@dataclass(slots=True)
class _SendWindows:
    overall: deque[datetime] = field(default_factory=deque)
    per_chat: dict[int, deque[datetime]] = field(default_factory=dict)


class _ApiError(Exception):
    """Raised inside handlers to answer with an ``ok: false`` body."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def error_body(status: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    """Build the Bot API's error object."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


def _bad_request(detail: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {detail}")


_Handler = Callable[[dict[str, Any]], Any]


class TelegramSimulator(LoopbackServer):
    """The Telegram Bot API for one bot, over real HTTP on 127.0.0.1.

    `token` must look like a real one (``<bot id>:<secret>``); requests carrying any other
    token get 401 Unauthorized (404 Not Found when it is not even shaped like a token).
    """

    def __init__(
        self,
        token: str,
        bot_username: str,
        clock: Clock | None = None,
        *,
        bot_first_name: str = "Support Bot",
        flood_limits: FloodLimits | None = DOCUMENTED_FLOOD_LIMITS,
        first_update_id: int = 1,
        webhook_timeout: float = 2.0,
    ) -> None:
        super().__init__()
        match = TOKEN_RE.match(token)
        if match is None:
            raise ValueError("token must look like '<bot id>:<secret>'")
        self._token = token
        self.bot_id = int(match["bot_id"])
        self.bot_username = bot_username
        self._bot_first_name = bot_first_name
        self._clock: Clock = clock or SystemClock()
        self._flood_limits = flood_limits
        self._webhook_timeout = webhook_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._delivery_lock = threading.Lock()
        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[tuple[int, int], _Message] = {}
        self._updates: list[_Update] = []
        self._next_update_id = first_update_id
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._callback_answers: list[CallbackAnswer] = []
        self._deletions: list[DeletedMessage] = []
        self._next_callback = 1
        self._webhook: _Webhook | None = None
        self._deliveries: list[WebhookDelivery] = []
        self._faults: list[_Fault] = []
        self._latency = 0.0
        self._windows = _SendWindows()
        self._poll_generation = 0
        self._log: list[LoggedRequest] = []
        self._methods: dict[str, _Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "answercallbackquery": self._answer_callback_query,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "deletemessage": self._delete_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
        }

    def __repr__(self) -> str:
        return f"TelegramSimulator(bot_id={self.bot_id}, bot_username={self.bot_username!r})"

    def stop(self) -> None:
        """Stop serving, releasing any long poll in progress."""
        self.stopping.set()
        with self._changed:
            self._changed.notify_all()
        super().stop()

    # --- scripting -----------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = None,
        is_bot: bool = False,
    ) -> None:
        """Create (or replace) a Telegram user; they have not started the bot yet."""
        if user_id <= 0:
            raise ValueError(f"user ids are positive, got {user_id}")
        with self._lock:
            self._users[user_id] = _User(user_id, first_name, username, last_name, language_code, is_bot)

    def add_group(
        self,
        chat_id: int,
        title: str,
        type: str = "supergroup",
        *,
        bot_is_admin: bool = True,
        is_forum: bool = False,
    ) -> None:
        """Create a group or supergroup the bot is a member (by default an admin) of."""
        if type not in ("group", "supergroup"):
            raise ValueError(f"group type must be 'group' or 'supergroup', got {type!r}")
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, got {chat_id}")
        if is_forum and type != "supergroup":
            raise ValueError("only supergroups can be forums")
        with self._lock:
            self._chats[chat_id] = _Chat(chat_id, type, title, bot_is_admin, is_forum)

    def user_says(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        reply_to: int | None = None,
        *,
        topic_id: int | None = None,
    ) -> int:
        """Have a user write in a group (or, with chat_id == user_id, to the bot privately); returns the message id."""
        with self._lock:
            user = self._require_user(user_id)
            chat = self._script_chat(chat_id, user)
            if chat.type == "private":
                user.started = True
            message = self._store_user_message(chat, user, text, reply_to, topic_id, None)
            self._enqueue("message", {"message": self._message_view(message)})
        self.flush_webhook()
        return message.message_id

    def user_starts_bot(self, user_id: int, payload: str | None = None) -> int:
        """Have a user open the bot (``/start`` or ``/start <payload>`` from a deep link); returns the message id."""
        if payload is not None and not START_PAYLOAD_RE.match(payload):
            raise ValueError("a start payload is 1-64 characters of A-Z, a-z, 0-9, _ and -")
        text = "/start" if payload is None else f"/start {payload}"
        with self._lock:
            user = self._require_user(user_id)
            chat = self._script_chat(user_id, user)
            user.started = True
            user.blocked = False
            entities = [{"type": "bot_command", "offset": 0, "length": len("/start")}]
            message = self._store_user_message(chat, user, text, None, None, entities)
            self._enqueue("message", {"message": self._message_view(message)})
        self.flush_webhook()
        return message.message_id

    def user_blocks_bot(self, user_id: int) -> None:
        """Have a user block the bot: private sends to them fail with 403 until they /start again."""
        with self._lock:
            self._require_user(user_id).blocked = True

    def press_button(self, chat_id: int, message_id: int, user_id: int, data: str) -> str:
        """Have a user press an inline callback button of a bot message; returns the callback query id."""
        with self._lock:
            user = self._require_user(user_id)
            message = self._messages.get((chat_id, message_id))
            if message is None or message.deleted_at is not None or message.from_id != self.bot_id:
                raise ValueError(f"no bot message {message_id} in chat {chat_id}")
            buttons = (message.reply_markup or {}).get("inline_keyboard") or []
            if not any(button.get("callback_data") == data for row in buttons for button in row):
                raise ValueError(f"message {message_id} has no button with callback_data {data!r}")
            query_id = str(4_000_000_000_000_000 + self._next_callback)
            self._next_callback += 1
            self._callbacks[query_id] = _CallbackQuery(query_id)
            self._enqueue(
                "callback_query",
                {
                    "callback_query": {
                        "id": query_id,
                        "from": self._user_view(user),
                        "message": self._message_view(message),
                        "chat_instance": str(abs(chat_id) * 7919 + self.bot_id),
                        "data": data,
                    }
                },
            )
        self.flush_webhook()
        return query_id

    def add_raw_update(self, payload: dict[str, Any]) -> int:
        """Queue a verbatim (possibly malformed) update; returns the position used for offsets.

        The payload is served exactly as given, even without an ``update_id``.
        """
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append(_Update(update_id, copy.deepcopy(payload)))
            self._changed.notify_all()
        self.flush_webhook()
        return update_id

    # --- fault injection -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` calls of Bot API `method` ("*" for any) with an error.

        `retry_after` adds ``parameters.retry_after``; a 429 always carries it (default 1 s),
        as Telegram's do.
        """
        if status == 429:
            retry_after = retry_after or 1
            default = f"Too Many Requests: retry after {retry_after}"
        else:
            try:
                default = http.HTTPStatus(status).phrase
            except ValueError:
                default = f"Error {status}"
        with self._lock:
            self._faults.append(_Fault(method.lower(), status, description or default, times, retry_after))

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by `seconds` (to trigger client timeouts)."""
        with self._lock:
            self._latency = max(0.0, seconds)

    def set_flood_limits(self, limits: FloodLimits | None) -> None:
        """Replace the flood limits (None disables them) and forget past sends."""
        with self._lock:
            self._flood_limits = limits
            self._windows = _SendWindows()

    # --- inspection ----------------------------------------------------------------------

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """Return the bot's live (not deleted) messages, oldest first, optionally in one chat."""
        with self._lock:
            return [
                SentMessage(
                    chat_id=m.chat_id,
                    message_id=m.message_id,
                    text=m.text,
                    reply_to_message_id=m.reply_to,
                    reply_markup=copy.deepcopy(m.reply_markup),
                    parse_mode=m.parse_mode,
                    message_thread_id=m.thread_id,
                    date=m.date,
                    edited=m.edit_date is not None,
                )
                for m in self._messages.values()
                if m.from_id == self.bot_id
                and m.deleted_at is None
                and (chat_id is None or m.chat_id == chat_id)
            ]

    def deleted_messages(self) -> list[DeletedMessage]:
        """Return every message the bot deleted, in deletion order."""
        with self._lock:
            return list(self._deletions)

    def callback_answers(self) -> list[CallbackAnswer]:
        """Return every answerCallbackQuery the bot made."""
        with self._lock:
            return list(self._callback_answers)

    def pending_update_ids(self) -> list[int]:
        """Return the ids of updates not yet confirmed (getUpdates) or delivered (webhook)."""
        with self._lock:
            return [u.update_id for u in self._updates]

    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Return every webhook delivery attempt, oldest first."""
        with self._lock:
            return list(self._deliveries)

    def request_log(self) -> list[LoggedRequest]:
        """Return every request answered so far, oldest first."""
        with self._lock:
            return list(self._log)

    # --- webhook delivery ----------------------------------------------------------------

    def flush_webhook(self) -> int:
        """POST pending updates to the webhook, in order, until one is refused; returns how many were delivered."""
        delivered = 0
        with self._delivery_lock:
            while True:
                with self._lock:
                    hook = self._webhook
                    if hook is None or not self._updates:
                        return delivered
                    update = self._updates[0]
                    body = json.dumps(update.payload).encode("utf-8")
                status, error = self._post_to_webhook(hook, body)
                with self._lock:
                    self._deliveries.append(WebhookDelivery(update.update_id, hook.url, status, error))
                    if error is not None:
                        hook.last_error_date = self._clock.now()
                        hook.last_error_message = error
                        return delivered
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                delivered += 1

    def _post_to_webhook(self, hook: _Webhook, body: bytes) -> tuple[int | None, str | None]:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token is not None:
            headers[SECRET_TOKEN_HEADER] = hook.secret_token
        request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with _DIRECT.open(request, timeout=self._webhook_timeout) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, f"Wrong response from the webhook: {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return None, f"Connection failed: {reason}"

    # --- random faults ---------------------------------------------------------------------

    def fault_target(self, request: SimRequest) -> str:
        """Random faults match the Bot API method name (``sendMessage``, ``getUpdates``)."""
        path = _PATH_RE.match(request.path)
        return path["method"] if path else request.path

    def error_answer(self, request: SimRequest, status: int) -> SimResponse:
        """``{"ok": false, "error_code", "description"}`` as the Bot API answers."""
        try:
            description = http.HTTPStatus(status).phrase
        except ValueError:
            description = f"Error {status}"
        return json_response(status, error_body(status, description))

    def throttle_answer(self, request: SimRequest, fault: InjectedFault) -> SimResponse:
        """429 "Too Many Requests: retry after N" with ``parameters.retry_after`` (whole seconds)."""
        seconds = max(1, math.ceil(fault.retry_after))
        return json_response(429, error_body(429, f"Too Many Requests: retry after {seconds}", seconds))

    def malformed_answer(self, request: SimRequest, fault: InjectedFault) -> SimResponse:
        """Truncated JSON, or ``{"ok": true, "result": 42}`` (a result of the wrong type)."""
        if fault.shape == "truncated":
            return SimResponse(
                200, b'{"ok": true, "result": [{"update_id": ', {"content-type": "application/json"}
            )
        return json_response(200, {"ok": True, "result": 42})

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one Bot API request: auth, faults, flood limits, then the method."""
        with self._lock:
            latency = self._latency
        if latency:
            self.stopping.wait(latency)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        path = _PATH_RE.match(request.path)
        api_method = path["method"] if path else ""
        params: dict[str, Any] = {}
        with self._changed:
            try:
                if path is None:
                    raise _ApiError(404, "Not Found")
                if path["token"] != self._token:
                    # Telegram answers 404 to tokens that are not even shaped like one.
                    if TOKEN_RE.match(path["token"]) is None:
                        raise _ApiError(404, "Not Found")
                    raise _ApiError(401, "Unauthorized")
                params = _decode_params(request, content_type)
                handler = self._methods.get(api_method.lower())
                if handler is None:
                    raise _ApiError(404, "Not Found")
                self._raise_fault(api_method)
                result = handler(params)
                response = json_response(200, {"ok": True, "result": result})
            except _ApiError as exc:
                response = json_response(exc.status, error_body(exc.status, exc.description, exc.retry_after))
            self._log.append(LoggedRequest(request.method, api_method, params, response.status, content_type))
            return response

    def _raise_fault(self, api_method: str) -> None:
        for fault in self._faults:
            if fault.method in ("*", api_method.lower()):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise _ApiError(fault.status, fault.description, fault.retry_after)

    # --- methods (called with the lock held) ---------------------------------------------

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self._bot_first_name,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._check_polling_allowed()
        offset = _int_param(params, "offset")
        limit = min(100, max(1, _int_param(params, "limit") or 100))
        timeout = max(0.0, _float_param(params, "timeout") or 0.0)
        allowed = _json_param(params, "allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
                raise _bad_request("allowed_updates must be an array of strings")
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._changed.notify_all()
        deadline = time.monotonic() + timeout
        while not self._updates and not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._changed.wait(remaining)
            if self._poll_generation != generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            self._check_polling_allowed()
        return [copy.deepcopy(update.payload) for update in self._updates[:limit]]

    def _check_polling_allowed(self) -> None:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    def _confirm(self, offset: int | None) -> None:
        """Forget updates older than `offset` (negative: keep only the last -offset updates)."""
        if offset is None:
            return
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u.update_id >= offset]

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params)
        text = _str_param(params, "text")
        if not text or not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MESSAGE_MAX_LENGTH:
            raise _bad_request("message is too long")
        reply_to = self._reply_target(chat, params)
        markup = _markup_param(params)
        thread_id = _int_param(params, "message_thread_id")
        if thread_id is None and reply_to is not None:
            thread_id = self._messages[(chat.id, reply_to)].thread_id
        self._account_flood(chat)
        message = _Message(
            chat_id=chat.id,
            message_id=self._next_message_id(chat),
            from_id=self.bot_id,
            text=text,
            date=self._clock.now(),
            reply_to=reply_to,
            thread_id=thread_id,
            reply_markup=markup,
            parse_mode=_str_param(params, "parse_mode"),
        )
        self._messages[(chat.id, message.message_id)] = message
        return self._message_view(message)

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = _str_param(params, "callback_query_id")
        query = self._callbacks.get(query_id or "")
        if query is None or query.answered:
            raise _bad_request(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
        text = _str_param(params, "text")
        if text is not None and len(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        self._callback_answers.append(CallbackAnswer(query.id, text, _bool_param(params, "show_alert")))
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = _str_param(params, "url")
        if url is None:
            raise _bad_request('parameter "url" is required')
        if _bool_param(params, "drop_pending_updates"):
            self._updates.clear()
        if url == "":
            self._webhook = None
            return True
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = _str_param(params, "secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.match(secret):
            raise _bad_request("secret token contains unallowed characters")
        allowed = _json_param(params, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or DEFAULT_ALLOWED_UPDATES
        self._webhook = _Webhook(url, secret)
        self._changed.notify_all()  # a long poll in progress now conflicts
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if _bool_param(params, "drop_pending_updates"):
            self._updates.clear()
        self._webhook = None
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if hook is not None:
            info["max_connections"] = 40
            info["allowed_updates"] = sorted(self._allowed_updates)
            if hook.last_error_date is not None:
                info["last_error_date"] = int(hook.last_error_date.timestamp())
                info["last_error_message"] = hook.last_error_message
        return info

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params)
        message = self._live_message(chat, params, "message to delete not found")
        now = self._clock.now()
        if now - message.date > DELETE_WINDOW:
            raise _bad_request("message can't be deleted")
        if chat.type != "private" and message.from_id != self.bot_id and not chat.bot_is_admin:
            raise _bad_request("message can't be deleted")
        message.deleted_at = now
        self._deletions.append(
            DeletedMessage(chat.id, message.message_id, message.from_id, message.text, now)
        )
        return True

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        text = _str_param(params, "text")
        if not text or not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MESSAGE_MAX_LENGTH:
            raise _bad_request("message is too long")
        markup = _markup_param(params)
        if text == message.text and markup == message.reply_markup:
            raise _ApiError(400, _NOT_MODIFIED)
        message.text, message.reply_markup = text, markup
        message.parse_mode = _str_param(params, "parse_mode")
        message.edit_date = self._clock.now()
        return self._message_view(message)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        markup = _markup_param(params)
        if markup == message.reply_markup:
            raise _ApiError(400, _NOT_MODIFIED)
        message.reply_markup = markup
        message.edit_date = self._clock.now()
        return self._message_view(message)

    # --- helpers (called with the lock held) ---------------------------------------------

    def _target_chat(self, params: dict[str, Any]) -> _Chat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad_request("chat_id is empty")
        chat_id = _int_param(params, "chat_id")
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            user = self._users.get(chat_id) if chat_id is not None else None
            if user is None:
                raise _bad_request("chat not found")
            raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        if chat.type == "private":
            user = self._users[chat.id]
            if user.blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if not user.started:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    def _reply_target(self, chat: _Chat, params: dict[str, Any]) -> int | None:
        reply = _json_param(params, "reply_parameters")
        allow_without = _bool_param(params, "allow_sending_without_reply")
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
                raise _bad_request("can't parse reply parameters JSON object")
            if reply.get("chat_id") not in (None, chat.id, str(chat.id)):
                raise _bad_request("message to be replied not found")
            target: int | None = reply["message_id"]
            allow_without = allow_without or bool(reply.get("allow_sending_without_reply"))
        else:
            target = _int_param(params, "reply_to_message_id")
        if target is None:
            return None
        message = self._messages.get((chat.id, target))
        if message is None or message.deleted_at is not None:
            if allow_without:
                return None
            raise _bad_request("message to be replied not found")
        return target

    def _live_message(self, chat: _Chat, params: dict[str, Any], missing: str) -> _Message:
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = self._messages.get((chat.id, message_id))
        if message is None or message.deleted_at is not None:
            raise _bad_request(missing)
        return message

    def _editable(self, params: dict[str, Any]) -> _Message:
        if params.get("inline_message_id") is not None:
            raise _bad_request("inline messages are not supported by this simulator")
        message = self._live_message(self._target_chat(params), params, "message to edit not found")
        if message.from_id != self.bot_id:
            raise _bad_request("message can't be edited")
        return message

    def _account_flood(self, chat: _Chat) -> None:
        """Count one send against the flood limits, or raise 429 with the seconds to wait."""
        limits = self._flood_limits
        if limits is None:
            return
        now = self._clock.now()
        overall = self._windows.overall
        in_chat = self._windows.per_chat.setdefault(chat.id, deque())
        _trim(overall, now - timedelta(seconds=1))
        _trim(in_chat, now - timedelta(minutes=1))
        waits: list[timedelta] = []
        if len(overall) >= limits.overall_per_second:
            waits.append(overall[-limits.overall_per_second] + timedelta(seconds=1) - now)
        last_second = [moment for moment in in_chat if moment > now - timedelta(seconds=1)]
        if len(last_second) >= limits.per_chat_per_second:
            waits.append(last_second[-limits.per_chat_per_second] + timedelta(seconds=1) - now)
        if chat.type != "private" and len(in_chat) >= limits.per_group_per_minute:
            waits.append(in_chat[-limits.per_group_per_minute] + timedelta(minutes=1) - now)
        if waits:
            seconds = max(1, math.ceil(max(waits).total_seconds()))
            raise _ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        overall.append(now)
        in_chat.append(now)

    def _enqueue(self, kind: str, body: dict[str, Any]) -> None:
        if kind not in self._allowed_updates:
            return
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append(_Update(update_id, {"update_id": update_id, **body}))
        self._changed.notify_all()

    def _store_user_message(
        self,
        chat: _Chat,
        user: _User,
        text: str,
        reply_to: int | None,
        topic_id: int | None,
        entities: list[dict[str, Any]] | None,
    ) -> _Message:
        if reply_to is not None:
            parent = self._messages.get((chat.id, reply_to))
            if parent is None or parent.deleted_at is not None:
                raise ValueError(f"no message {reply_to} in chat {chat.id}")
            topic_id = topic_id if topic_id is not None else parent.thread_id
        if topic_id is not None and not chat.is_forum:
            raise ValueError(f"chat {chat.id} is not a forum; it has no topics")
        if entities is None and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        message = _Message(
            chat_id=chat.id,
            message_id=self._next_message_id(chat),
            from_id=user.id,
            text=text,
            date=self._clock.now(),
            reply_to=reply_to,
            thread_id=topic_id,
            entities=entities,
        )
        self._messages[(chat.id, message.message_id)] = message
        return message

    def _script_chat(self, chat_id: int, user: _User) -> _Chat:
        if chat_id == user.id:
            return self._chats.setdefault(chat_id, _Chat(chat_id, "private"))
        chat = self._chats.get(chat_id)
        if chat is None or chat.type == "private":
            raise ValueError(
                f"unknown group {chat_id}; add_group() it first (private chats use the user's id)"
            )
        return chat

    def _next_message_id(self, chat: _Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _require_user(self, user_id: int) -> _User:
        user = self._users.get(user_id)
        if user is None:
            raise ValueError(f"unknown user {user_id}; add_user() it first")
        return user

    # --- views ---------------------------------------------------------------------------

    def _bot_view(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self._bot_first_name,
            "username": self.bot_username,
        }

    @staticmethod
    def _user_view(user: _User) -> dict[str, Any]:
        view: dict[str, Any] = {"id": user.id, "is_bot": user.is_bot, "first_name": user.first_name}
        if user.last_name:
            view["last_name"] = user.last_name
        if user.username:
            view["username"] = user.username
        if user.language_code:
            view["language_code"] = user.language_code
        return view

    def _chat_view(self, chat: _Chat) -> dict[str, Any]:
        if chat.type == "private":
            user = self._users[chat.id]
            view: dict[str, Any] = {"id": chat.id, "type": "private", "first_name": user.first_name}
            if user.last_name:
                view["last_name"] = user.last_name
            if user.username:
                view["username"] = user.username
            return view
        view = {"id": chat.id, "type": chat.type, "title": chat.title}
        if chat.is_forum:
            view["is_forum"] = True
        return view

    def _message_view(self, message: _Message, nested: bool = True) -> dict[str, Any]:
        sender = (
            self._bot_view()
            if message.from_id == self.bot_id
            else self._user_view(self._users[message.from_id])
        )
        view: dict[str, Any] = {
            "message_id": message.message_id,
            "from": sender,
            "chat": self._chat_view(self._chats[message.chat_id]),
            "date": int(message.date.timestamp()),
        }
        if message.thread_id is not None:
            view["message_thread_id"] = message.thread_id
            view["is_topic_message"] = True
        if message.edit_date is not None:
            view["edit_date"] = int(message.edit_date.timestamp())
        view["text"] = message.text
        if message.entities:
            view["entities"] = copy.deepcopy(message.entities)
        if nested and message.reply_to is not None:
            parent = self._messages.get((message.chat_id, message.reply_to))
            if parent is not None and parent.deleted_at is None:
                view["reply_to_message"] = self._message_view(parent, nested=False)
        if message.reply_markup is not None:
            view["reply_markup"] = copy.deepcopy(message.reply_markup)
        return view


# --- parameter decoding ------------------------------------------------------------------


def _decode_params(request: SimRequest, content_type: str) -> dict[str, Any]:
    """Merge query-string and body parameters (form or JSON) into one dict."""
    params: dict[str, Any] = {name: values[-1] for name, values in request.query.items() if values}
    if not request.body:
        return params
    if content_type == "application/json":
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad_request("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise _bad_request("can't parse JSON object")
        params.update(body)
    elif content_type in ("application/x-www-form-urlencoded", ""):
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise _bad_request("request body is not UTF-8") from exc
        params.update({name: values[-1] for name, values in form.items() if values})
    else:
        raise _bad_request(f"unsupported content type {content_type!r}")
    return params


def _str_param(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool | dict | list):
        raise _bad_request(f'parameter "{name}" must be a string')
    return str(value)


def _int_param(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad_request(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value.strip()):
        return int(value)
    raise _bad_request(f"invalid {name} specified")


def _float_param(params: dict[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise _bad_request(f"invalid {name} specified") from exc


def _bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "1")


def _json_param(params: dict[str, Any], name: str) -> Any:
    """Return a structured parameter, decoding it when it arrived as a JSON string (form bodies)."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise _bad_request(f"can't parse {name} JSON object") from exc


def _markup_param(params: dict[str, Any]) -> dict[str, Any] | None:
    """Validate reply_markup; inline keyboards are checked button by button."""
    markup = _json_param(params, "reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    return markup


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
            raise _bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )
        url, data = button.get("url"), button.get("callback_data")
        if url is not None:
            parts = urlsplit(str(url))
            if parts.scheme not in ("http", "https", "tg") or not (parts.netloc or parts.scheme == "tg"):
                raise _bad_request("BUTTON_URL_INVALID")
        if data is not None and not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES:
            raise _bad_request("BUTTON_DATA_INVALID")
        if url is None and data is None and not _other_button_kind(button):
            raise _bad_request(
                "can't parse inline keyboard button: InlineKeyboardButton must have exactly one optional field"
            )


def _other_button_kind(button: dict[str, Any]) -> bool:
    return any(kind in button for kind in _OTHER_BUTTON_KINDS)


def _trim(window: deque[datetime], oldest: datetime) -> None:
    while window and window[0] <= oldest:
        window.popleft()
