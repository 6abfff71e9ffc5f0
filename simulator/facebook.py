"""A fake Facebook Graph API (Page posts, comments, Messenger) over real HTTP for facebook-sdk.

Shapes follow Meta's Graph API reference: versioned paths (``/v21.0/...``), list bodies
``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}``, error bodies
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``, the Send API
(``POST /{page-id}/messages``) with the 24-hour standard messaging window and one private
reply per comment, and the ``X-App-Usage`` / ``X-Business-Use-Case-Usage`` headers. State is
scripted through the Python API (`add_user`, `add_post`, `comment`, `message_page`) and
inspected afterwards (`page_comment_replies`, `private_replies`, `messenger_sends`,
`hidden_comment_ids`, `request_log`). Faults come from `fail_next`, `set_latency` and
`set_rate_limit`, and at random rates from the switches every simulator has (`set_fault_rate`,
`set_throttle_rate`, ...; path patterns match the unversioned path; a random throttle is Graph's
code 32 with ``X-Business-Use-Case-Usage`` unless another `code` is given). Webhook bodies are built, signed and delivered like Meta's.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlencode

import requests

from simulator.faults import InjectedFault
from simulator.http import LoopbackServer, SimRequest, SimResponse, json_response
from tactful.clock import Clock, SystemClock

MESSAGING_WINDOW = timedelta(hours=24)
PRIVATE_REPLY_WINDOW = timedelta(days=7)
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_MESSAGE_LENGTH = 2000
_VERSIONED_PATH_RE = re.compile(r"^/(?P<version>v\d{1,2}\.\d{1,2})(?P<rest>/.*)?$")
_NUMERIC_RE = re.compile(r"^[0-9]{1,20}$")
_FIRST_OBJECT_NUMBER = 100000000000000


class RateLimitScope(StrEnum):
    """Which Meta throttle a quota models; decides the error code and usage header."""

    APP = "app"  # code 4, X-App-Usage
    USER = "user"  # code 17, X-App-Usage
    PAGE = "page"  # code 32, X-Business-Use-Case-Usage (type pages)
    CUSTOM = "custom"  # code 613, X-Business-Use-Case-Usage (type pages)
    PAGES_BUC = "pages_buc"  # code 80001, X-Business-Use-Case-Usage (type pages)
    MESSENGER_BUC = "messenger_buc"  # code 80006, X-Business-Use-Case-Usage (type messenger)


_SCOPE_ERRORS: dict[RateLimitScope, tuple[int, str]] = {
    RateLimitScope.APP: (4, "(#4) Application request limit reached"),
    RateLimitScope.USER: (17, "(#17) User request limit reached"),
    RateLimitScope.PAGE: (32, "(#32) Page request limit reached"),
    RateLimitScope.CUSTOM: (613, "(#613) Calls to this api have exceeded the rate limit."),
    RateLimitScope.PAGES_BUC: (
        80001,
        "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
    ),
    RateLimitScope.MESSENGER_BUC: (
        80006,
        "(#80006) There have been too many messenger api calls to this Page account. "
        "Wait a bit and try again.",
    ),
}
_APP_HEADER_SCOPES = frozenset({RateLimitScope.APP, RateLimitScope.USER})

_KNOWN_ERRORS: dict[int, str] = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    10: "(#10) Application does not have permission for this action",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    368: "The action attempted has been deemed abusive or is otherwise disallowed",
    551: "(#551) This person isn't available right now.",
    10900: "(#10900) Activity already replied to",
    10903: "(#10903) This user can't reply to this activity",
    **{code: message for code, message in _SCOPE_ERRORS.values()},
}


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """A quota: at most `limit` calls per fixed window for matching requests.

    `path` is a template matched against the whole unversioned path, with ``:name`` for one
    segment and a trailing ``*`` for any rest (``/:id/messages``); None matches every path.
    """

    scope: RateLimitScope
    limit: int
    window_seconds: int
    method: str | None = None
    path: str | None = None


DEFAULT_RATE_LIMITS: tuple[RateLimitRule, ...] = (RateLimitRule(RateLimitScope.PAGES_BUC, 4800, 24 * 3600),)
"""Pages BUC accounting (4800 calls per 24 h per engaged user): usage headers on every answer."""


@dataclass(frozen=True, slots=True)
class PageCommentReply:
    """A comment the page published through the API."""

    comment_id: str
    target_id: str
    parent_comment_id: str | None
    post_id: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PrivateReply:
    """A Messenger message the page sent in private reply to a comment."""

    message_id: str
    comment_id: str
    recipient_id: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MessengerSend:
    """A Messenger message the page sent to a person (Send API, recipient.id)."""

    message_id: str
    recipient_id: str
    conversation_id: str
    messaging_type: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the simulator answered; the access token itself is never kept."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    token_source: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One webhook POST the simulator made (status 0: the receiver could not be reached)."""

    url: str
    payload: dict[str, Any]
    status: int


@dataclass(slots=True)
class _Post:
    seq: int
    id: str
    text: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class _Comment:
    seq: int
    id: str
    post_id: str
    parent_id: str | None
    author_id: str | None
    text: str
    created_at: datetime
    hidden: bool = False
    private_replied: bool = False
    raw: dict[str, Any] | None = None


@dataclass(slots=True)
class _Message:
    seq: int
    mid: str
    conversation_id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: datetime
    raw: dict[str, Any] | None = None


@dataclass(slots=True)
class _Conversation:
    seq: int
    id: str
    user_id: str
    updated_at: datetime
    last_user_message_at: datetime | None = None


@dataclass(slots=True)
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    subcode: int | None
    message: str | None
    remaining: int
    regain_minutes: int | None


@dataclass(slots=True)
class _Bucket:
    window_start: datetime
    used: int = 0


class _GraphError(Exception):
    """Raised inside handlers to answer with a Graph error body."""

    def __init__(self, response: SimResponse) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What a handler needs: the request, its merged parameters and the unversioned path parts."""

    request: SimRequest
    params: dict[str, Any]
    parts: list[str]


_Handler = Callable[[_Ctx], SimResponse]


def graph_time(moment: datetime) -> str:
    """Format a datetime the way the Graph API does: 2026-01-05T09:00:00+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def sign(body: bytes, app_secret: str) -> str:
    """Return the X-Hub-Signature-256 value Meta sends with a webhook body."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _template_regex(template: str) -> re.Pattern[str]:
    """Compile a path template (``/:id/messages``, ``/:id/*``) into a full-match regex."""
    rest = template.endswith("*")
    parts = ["[^/]+" if part.startswith(":") else re.escape(part) for part in template.rstrip("*").split("/")]
    return re.compile("^" + "/".join(parts) + (".*" if rest else "") + "$")


def parse_fields(raw: str | None) -> dict[str, Any]:
    """Parse a Graph ``fields`` selection (``id,from{id,name}``) into name -> nested selection or None."""
    if raw is None or not raw.strip():
        return {}
    selection, pos = _parse_field_list(raw, 0)
    if pos != len(raw):
        raise ValueError(f"unexpected {raw[pos]!r} at position {pos}")
    return selection


def _parse_field_list(raw: str, pos: int) -> tuple[dict[str, Any], int]:
    selection: dict[str, Any] = {}
    while pos < len(raw) and raw[pos] != "}":
        match = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*").match(raw, pos)
        if match is None:
            raise ValueError(f"expected a field name at position {pos}")
        name, pos = match.group(1), match.end()
        nested: dict[str, Any] | None = None
        if pos < len(raw) and raw[pos] == "{":
            nested, pos = _parse_field_list(raw, pos + 1)
            if pos >= len(raw) or raw[pos] != "}":
                raise ValueError("missing closing brace")
            pos += 1
        selection[name] = nested
        if pos < len(raw) and raw[pos] == ",":
            pos += 1
    return selection, pos


def graph_error(
    status: int,
    message: str,
    code: int,
    *,
    subcode: int | None = None,
    type_: str = "OAuthException",
    trace: str = "AsimulatorTrace",
    headers: dict[str, str] | None = None,
    transient: bool = False,
) -> SimResponse:
    """Build a Graph API error response body."""
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    error["fbtrace_id"] = trace
    return json_response(status, {"error": error}, headers)


class FacebookSimulator(LoopbackServer):
    """A thread-safe fake Graph API for one Facebook Page that facebook-sdk 3.1 talks to over HTTP.

    Every request must carry the page access token (``access_token`` query parameter or form
    field, or ``Authorization: Bearer``); comments and messages created through the API are
    the page's. Times come from the injected clock.
    """

    def __init__(
        self,
        page_id: str,
        page_token: str,
        clock: Clock | None = None,
        *,
        app_secret: str,
        page_name: str = "Brand",
        rate_limits: Sequence[RateLimitRule] = DEFAULT_RATE_LIMITS,
        auto_webhook_url: str | None = None,
    ) -> None:
        if not _NUMERIC_RE.match(page_id):
            raise ValueError(f"page id must be numeric, got {page_id!r}")
        super().__init__()
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self.page_id = page_id
        self.page_name = page_name
        self._page_token = page_token
        self._app_secret = app_secret
        self.auto_webhook_url = auto_webhook_url
        self._users: dict[str, str] = {}
        self._blocked: set[str] = set()
        self._posts: dict[str, _Post] = {}
        self._comments: dict[str, _Comment] = {}
        self._messages: dict[str, _Message] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._conversation_by_user: dict[str, str] = {}
        self._seq = 0
        self._traces = 0
        self._replies: list[PageCommentReply] = []
        self._private: list[PrivateReply] = []
        self._sends: list[MessengerSend] = []
        self._log: list[LoggedRequest] = []
        self._deliveries: list[WebhookDelivery] = []
        self._pending_webhooks: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._latency = 0.0
        self._rules: list[RateLimitRule] = list(rate_limits)
        self._buckets: dict[int, _Bucket] = {}

    def __repr__(self) -> str:
        return f"FacebookSimulator(page_id={self.page_id!r})"

    # --- scripting -----------------------------------------------------------------------

    def add_user(self, user_id: str, name: str) -> None:
        """Create (or rename) a person; their id is both their comment author id and PSID."""
        if not _NUMERIC_RE.match(user_id) or user_id == self.page_id:
            raise ValueError(f"user id must be numeric and not the page id, got {user_id!r}")
        with self._lock:
            self._users[user_id] = name

    def set_messaging_blocked(self, user_id: str, blocked: bool = True) -> None:
        """Make the Send API answer (#551) "This person isn't available right now" for this user."""
        with self._lock:
            self._require_user(user_id)
            if blocked:
                self._blocked.add(user_id)
            else:
                self._blocked.discard(user_id)

    def add_post(self, text: str, created_at: datetime | None = None) -> str:
        """Publish a post on the page and return its id (``{page_id}_{n}``)."""
        with self._lock:
            moment = created_at or self._clock.now()
            seq = self._next_seq()
            post = _Post(seq, f"{self.page_id}_{self._object_number(seq)}", text, moment, moment)
            self._posts[post.id] = post
            return post.id

    def comment(
        self,
        post_id: str,
        user_id: str,
        text: str,
        parent_comment_id: str | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Have a person comment on a post (or reply to a comment) and return the comment id.

        Like Facebook, a reply to a reply joins the top-level comment's thread.
        """
        with self._lock:
            self._require_user(user_id)
            comment = self._store_comment(post_id, user_id, text, parent_comment_id, created_at)
            payload = self._comment_webhook(comment) if self.auto_webhook_url else None
        if payload is not None:
            self._deliver(payload)
        return comment.id

    def add_raw_comment(
        self, post_id: str, payload: dict[str, Any], created_at: datetime | None = None
    ) -> str:
        """Store a verbatim (possibly malformed) comment body that comment listings return as-is."""
        with self._lock:
            post = self._require_post(post_id)
            moment = created_at or self._clock.now()
            seq = self._next_seq()
            comment_id = f"{post.id.split('_', 1)[1]}_{self._object_number(seq)}"
            self._comments[comment_id] = _Comment(
                seq, comment_id, post.id, None, None, "", moment, raw=copy.deepcopy(payload)
            )
            post.updated_at = max(post.updated_at, moment)
            return comment_id

    def message_page(self, user_id: str, text: str, created_at: datetime | None = None) -> str:
        """Have a person send the page a Messenger message; returns its mid."""
        with self._lock:
            self._require_user(user_id)
            message = self._store_message(user_id, user_id, self.page_id, text, created_at)
            payload = self._message_webhook(message) if self.auto_webhook_url else None
        if payload is not None:
            self._deliver(payload)
        return message.mid

    def add_raw_message(
        self, user_id: str, payload: dict[str, Any], created_at: datetime | None = None
    ) -> str:
        """Store a verbatim (possibly malformed) message body in the person's conversation."""
        with self._lock:
            self._require_user(user_id)
            message = self._store_message(user_id, user_id, self.page_id, "", created_at)
            message.raw = copy.deepcopy(payload)
            return message.mid

    # --- fault injection -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        code: int | None = None,
        times: int = 1,
        *,
        subcode: int | None = None,
        message: str | None = None,
        regain_minutes: int | None = None,
    ) -> None:
        """Answer the next `times` requests matching method and unversioned path with an error.

        `method` "*" matches any; `path_pattern` is a template (``/:id/comments``,
        ``/:id/*``). `code` defaults to 2 (retry later) for 5xx and 100 otherwise. Throttling
        codes carry usage headers; `regain_minutes` sets ``estimated_time_to_regain_access``.
        """
        chosen = code if code is not None else (2 if status >= 500 else 100)
        with self._lock:
            self._faults.append(
                _Fault(
                    method.upper(),
                    _template_regex(path_pattern),
                    status,
                    chosen,
                    subcode,
                    message,
                    times,
                    regain_minutes,
                )
            )

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by `seconds` (to trigger client timeouts)."""
        with self._lock:
            self._latency = max(0.0, seconds)

    def set_rate_limit(
        self,
        scope: RateLimitScope | str,
        limit: int,
        window_seconds: int,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Replace every quota with this one, its accounting starting from zero."""
        rule = RateLimitRule(RateLimitScope(scope), limit, window_seconds, method and method.upper(), path)
        with self._lock:
            self._rules = [rule]
            self._buckets.clear()

    # --- inspection ----------------------------------------------------------------------

    def page_comment_replies(self) -> list[PageCommentReply]:
        """Return every comment the page published through the API, oldest first."""
        with self._lock:
            return list(self._replies)

    def private_replies(self) -> list[PrivateReply]:
        """Return every private reply the page sent, oldest first."""
        with self._lock:
            return list(self._private)

    def messenger_sends(self) -> list[MessengerSend]:
        """Return every Messenger message the page sent to a PSID, oldest first."""
        with self._lock:
            return list(self._sends)

    def hidden_comment_ids(self) -> set[str]:
        """Return the ids of comments currently hidden."""
        with self._lock:
            return {c.id for c in self._comments.values() if c.hidden}

    def conversation_id_for(self, user_id: str) -> str | None:
        """Return the page's Messenger conversation id with a person, if any."""
        with self._lock:
            return self._conversation_by_user.get(user_id)

    def request_log(self) -> list[LoggedRequest]:
        """Return every request answered so far, oldest first."""
        with self._lock:
            return list(self._log)

    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Return every webhook delivery attempted so far, oldest first."""
        with self._lock:
            return list(self._deliveries)

    # --- webhooks ------------------------------------------------------------------------

    def webhook_payload_for_comment(self, comment_id: str) -> dict[str, Any]:
        """Build the ``feed`` webhook body Meta sends when this comment is added."""
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or comment.raw is not None:
                raise ValueError(f"unknown comment {comment_id!r}")
            return self._comment_webhook(comment)

    def webhook_payload_for_message(self, mid: str) -> dict[str, Any]:
        """Build the ``messages`` webhook body Meta sends when a person messages the page."""
        with self._lock:
            message = self._messages.get(mid)
            if message is None or message.raw is not None:
                raise ValueError(f"unknown message {mid!r}")
            return self._message_webhook(message)

    @staticmethod
    def sign(body: bytes, app_secret: str) -> str:
        """Return the ``sha256=<hex>`` signature Meta puts in X-Hub-Signature-256."""
        return sign(body, app_secret)

    def send_webhook(self, url: str, payload: dict[str, Any], timeout: float = 5.0) -> int:
        """POST a webhook body signed with the app secret, as Meta does; returns the HTTP status."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        response = requests.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(body, self._app_secret),
                "User-Agent": "facebookexternalua",
            },
            timeout=timeout,
        )
        with self._lock:
            self._deliveries.append(WebhookDelivery(url, copy.deepcopy(payload), response.status_code))
        return response.status_code

    def _deliver(self, payload: dict[str, Any]) -> None:
        """Deliver to `auto_webhook_url` (call without the lock held); failures are recorded."""
        url = self.auto_webhook_url
        if url is None:
            return
        try:
            self.send_webhook(url, payload)
        except requests.RequestException:
            with self._lock:
                self._deliveries.append(WebhookDelivery(url, copy.deepcopy(payload), 0))

    def _comment_webhook(self, comment: _Comment) -> dict[str, Any]:
        author_id = comment.author_id or self.page_id
        value: dict[str, Any] = {
            "from": {"id": author_id, "name": self._name_of(author_id)},
            "post": {"status_type": "mobile_status_update", "is_published": True, "id": comment.post_id},
            "message": comment.text,
            "post_id": comment.post_id,
            "comment_id": comment.id,
            "created_time": int(comment.created_at.timestamp()),
            "item": "comment",
            "parent_id": comment.parent_id or comment.post_id,
            "verb": "add",
        }
        return self._entry({"changes": [{"field": "feed", "value": value}]})

    def _message_webhook(self, message: _Message) -> dict[str, Any]:
        body: dict[str, Any] = {"mid": message.mid, "text": message.text}
        if message.sender_id == self.page_id:  # the page's own message comes back as an echo
            body = {"mid": message.mid, "is_echo": True, "app_id": 1, "text": message.text}
        event = {
            "sender": {"id": message.sender_id},
            "recipient": {"id": message.recipient_id},
            "timestamp": int(message.created_at.timestamp() * 1000),
            "message": body,
        }
        return self._entry({"messaging": [event]})

    def _entry(self, body: dict[str, Any]) -> dict[str, Any]:
        now_ms = int(self._clock.now().timestamp() * 1000)
        return {"object": "page", "entry": [{"id": self.page_id, "time": now_ms, **body}]}

    # --- random faults ---------------------------------------------------------------------

    def fault_target(self, request: SimRequest) -> str:
        """Random faults match the unversioned path (``/5000/messages``)."""
        match = _VERSIONED_PATH_RE.match(request.path)
        return (match["rest"] or "/") if match else request.path

    def error_answer(self, request: SimRequest, status: int) -> SimResponse:
        """Graph's transient error (code 2, ``is_transient``) for 5xx; code 1 otherwise."""
        with self._lock:
            if status >= 500:
                return self._error(status, _KNOWN_ERRORS[2], 2, transient=True)
            return self._error(status, _KNOWN_ERRORS[1], 1)

    def throttle_answer(self, request: SimRequest, fault: InjectedFault) -> SimResponse:
        """Graph's throttle: HTTP 400 with code 4/17 (``X-App-Usage`` at 100%) or 32 and other
        page codes (``X-Business-Use-Case-Usage`` with ``estimated_time_to_regain_access``)."""
        code = fault.code if fault.code is not None else _SCOPE_ERRORS[RateLimitScope.PAGE][0]
        scope = next((s for s, (c, _) in _SCOPE_ERRORS.items() if c == code), None)
        if scope is None:
            raise ValueError(f"Graph code {code} is not a throttling code")
        regain = max(1, math.ceil(fault.retry_after / 60))
        with self._lock:
            headers = self._usage_headers({scope: (100, regain)})
            return self._error(400, _SCOPE_ERRORS[scope][1], code, headers=headers)

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        """Route one request through version, auth, faults, quotas and the endpoint handler."""
        with self._lock:
            latency = self._latency
        if latency:
            self.stopping.wait(latency)
        with self._lock:
            self._pending_webhooks.clear()
            token_source: str | None = None
            try:
                params = _request_params(request)
                token, token_source = _access_token(request, params)
                response = self._answer(request, params, token)
            except _GraphError as exc:
                response = exc.response
            response.headers.setdefault("facebook-api-version", _version_of(request.path) or "v21.0")
            self._log.append(
                LoggedRequest(
                    method=request.method,
                    path=request.path,
                    query={k: v[0] for k, v in request.query.items() if v and k != "access_token"},
                    status=response.status,
                    token_source=token_source,
                    body=request.body,
                )
            )
            pending, self._pending_webhooks = self._pending_webhooks, []
        for payload in pending:
            self._deliver(payload)
        return response

    def _answer(self, request: SimRequest, params: dict[str, Any], token: str | None) -> SimResponse:
        match = _VERSIONED_PATH_RE.match(request.path)
        if match is None:
            return self._error(400, f"Unknown path components: {request.path}", 2500)
        if token is None:
            return self._error(400, "An access token is required to request this resource.", 104)
        if not hmac.compare_digest(token.encode("utf-8"), self._page_token.encode("utf-8")):
            return self._error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        path = match["rest"] or "/"
        parts = [part for part in path.split("/") if part]
        handler = self._route(request.method, parts)
        fault = self._take_fault(request.method, path)
        if fault is not None:
            return self._fault_response(fault)
        throttled, usage_headers = self._account(request.method, path)
        if throttled is not None:
            return throttled
        try:
            response = handler(_Ctx(request, params, parts))
        except _GraphError as exc:
            response = exc.response
        response.headers.update(usage_headers)
        return response

    def _route(self, method: str, parts: list[str]) -> _Handler:
        if not parts:
            raise self._raise(400, "Unsupported get request.", 100)
        if len(parts) > 2:
            raise self._raise(400, f"Unknown path components: /{'/'.join(parts[2:])}", 2500)
        node = parts[0]
        if len(parts) == 1:
            if method == "GET":
                return self._get_object
            if method == "POST":
                return self._update_object
        else:
            edge = parts[1]
            routes: dict[tuple[str, str, str], _Handler] = {
                ("GET", "page", "posts"): self._get_posts,
                ("GET", "page", "feed"): self._get_posts,
                ("GET", "page", "conversations"): self._get_conversations,
                ("POST", "page", "messages"): self._send_message,
                ("GET", "post", "comments"): self._get_comments,
                ("GET", "comment", "comments"): self._get_comments,
                ("POST", "post", "comments"): self._create_comment,
                ("POST", "comment", "comments"): self._create_comment,
                ("GET", "conversation", "messages"): self._get_messages,
            }
            kind = self._kind_of(node)
            handler = routes.get((method, kind, edge))
            if handler is not None:
                return handler
            if kind != "unknown":
                raise self._raise(
                    400,
                    f"(#100) Tried accessing nonexisting field ({edge}) on node type ({kind.title()})",
                    100,
                )
        raise self._unsupported(method, node)

    def _kind_of(self, node: str) -> str:
        if node in (self.page_id, "me"):
            return "page"
        if node in self._posts:
            return "post"
        if node in self._comments:
            return "comment"
        if node in self._conversations:
            return "conversation"
        if node in self._messages:
            return "message"
        if node in self._users:
            return "user"
        return "unknown"

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.pattern.match(path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: _Fault) -> SimResponse:
        headers: dict[str, str] = {}
        scope = next((s for s, (code, _) in _SCOPE_ERRORS.items() if code == fault.code), None)
        if scope is not None:
            headers = self._usage_headers({scope: (100, fault.regain_minutes or 0)})
        message = fault.message or _KNOWN_ERRORS.get(fault.code, f"(#{fault.code}) Injected failure")
        return self._error(
            fault.status,
            message,
            fault.code,
            subcode=fault.subcode,
            headers=headers,
            transient=fault.status >= 500,
        )

    def _account(self, method: str, path: str) -> tuple[SimResponse | None, dict[str, str]]:
        now = self._clock.now()
        usage: dict[RateLimitScope, tuple[int, int]] = {}
        throttled: RateLimitRule | None = None
        for index, rule in enumerate(self._rules):
            if rule.method not in (None, method):
                continue
            if rule.path is not None and not _template_regex(rule.path).match(path):
                continue
            bucket = self._buckets.get(index)
            if bucket is None or now >= bucket.window_start + timedelta(seconds=rule.window_seconds):
                bucket = self._buckets[index] = _Bucket(window_start=now)
            if bucket.used >= rule.limit:
                throttled = throttled or rule
            else:
                bucket.used += 1
            percent = min(100, math.ceil(bucket.used * 100 / max(rule.limit, 1)))
            reset = bucket.window_start + timedelta(seconds=rule.window_seconds)
            regain = math.ceil((reset - now).total_seconds() / 60) if bucket.used >= rule.limit else 0
            previous = usage.get(rule.scope, (0, 0))
            usage[rule.scope] = (max(previous[0], percent), max(previous[1], regain))
        headers = self._usage_headers(usage)
        if throttled is None:
            return None, headers
        code, message = _SCOPE_ERRORS[throttled.scope]
        return self._error(400, message, code, headers=headers), headers

    def _usage_headers(self, usage: dict[RateLimitScope, tuple[int, int]]) -> dict[str, str]:
        headers: dict[str, str] = {}
        app = [percent for scope, (percent, _) in usage.items() if scope in _APP_HEADER_SCOPES]
        if app:
            pct = max(app)
            headers["x-app-usage"] = json.dumps({"call_count": pct, "total_cputime": pct, "total_time": pct})
        buc: list[dict[str, Any]] = []
        for scope, (percent, regain) in usage.items():
            if scope in _APP_HEADER_SCOPES:
                continue
            kind = "messenger" if scope is RateLimitScope.MESSENGER_BUC else "pages"
            buc.append(
                {
                    "type": kind,
                    "call_count": percent,
                    "total_cputime": percent,
                    "total_time": percent,
                    "estimated_time_to_regain_access": regain,
                }
            )
        if buc:
            headers["x-business-use-case-usage"] = json.dumps({self.page_id: buc})
        return headers

    # --- endpoint handlers ---------------------------------------------------------------

    def _get_object(self, ctx: _Ctx) -> SimResponse:
        node = ctx.parts[0]
        fields = self._fields(ctx)
        kind = self._kind_of(node)
        if kind == "page":
            view = {"id": self.page_id}
            if not fields or "name" in fields:
                view["name"] = self.page_name
            return json_response(200, view)
        if kind == "post":
            return json_response(200, self._post_view(self._posts[node], fields))
        if kind == "comment":
            return json_response(200, self._comment_view(self._comments[node], fields))
        if kind == "conversation":
            return json_response(200, self._conversation_view(self._conversations[node], fields))
        if kind == "message":
            return json_response(200, self._message_view(self._messages[node], fields))
        if kind == "user":
            return json_response(200, _select(self._profile(node), fields))
        raise self._unsupported("GET", node)

    def _update_object(self, ctx: _Ctx) -> SimResponse:
        node = ctx.parts[0]
        comment = self._comments.get(node)
        if comment is None or comment.raw is not None:
            raise self._unsupported("POST", node)
        hidden = ctx.params.get("is_hidden")
        if hidden not in ("true", "false", True, False):
            raise self._raise(400, "(#100) The parameter is_hidden must be a boolean", 100)
        comment.hidden = hidden in ("true", True)
        return json_response(200, {"success": True})

    def _get_posts(self, ctx: _Ctx) -> SimResponse:
        fields = self._fields(ctx)
        since, until = _time_param(ctx, "since"), _time_param(ctx, "until")
        posts = sorted(self._posts.values(), key=lambda p: (p.created_at, p.seq), reverse=True)
        posts = [
            p
            for p in posts
            if (since is None or p.created_at >= since) and (until is None or p.created_at <= until)
        ]
        return self._paged(ctx, posts, lambda p: p.seq, lambda p: self._post_view(p, fields))

    def _get_comments(self, ctx: _Ctx) -> SimResponse:
        node = ctx.parts[0]
        fields = self._fields(ctx)
        order = ctx.params.get("order", "chronological")
        if order not in ("chronological", "reverse_chronological"):
            raise self._raise(400, "(#100) order must be one of chronological, reverse_chronological", 100)
        stream = ctx.params.get("filter", "toplevel") == "stream"
        if node in self._posts:
            candidates = [
                c for c in self._comments.values() if c.post_id == node and (stream or c.parent_id is None)
            ]
        else:
            candidates = [c for c in self._comments.values() if c.parent_id == node]
        since, until = _time_param(ctx, "since"), _time_param(ctx, "until")
        items = sorted(
            (
                c
                for c in candidates
                if (since is None or c.created_at >= since) and (until is None or c.created_at <= until)
            ),
            key=lambda c: (c.created_at, c.seq),
            reverse=order == "reverse_chronological",
        )
        return self._paged(ctx, items, lambda c: c.seq, lambda c: self._comment_view(c, fields))

    def _get_conversations(self, ctx: _Ctx) -> SimResponse:
        platform = ctx.params.get("platform", "messenger")
        if platform not in ("messenger", "instagram"):
            raise self._raise(400, "(#100) platform must be one of messenger, instagram", 100)
        fields = self._fields(ctx)
        user_id = ctx.params.get("user_id")
        conversations = [] if platform != "messenger" else list(self._conversations.values())
        if user_id is not None:
            conversations = [c for c in conversations if c.user_id == user_id]
        conversations.sort(key=lambda c: (c.updated_at, c.seq), reverse=True)
        return self._paged(ctx, conversations, lambda c: c.seq, lambda c: self._conversation_view(c, fields))

    def _get_messages(self, ctx: _Ctx) -> SimResponse:
        conversation_id = ctx.parts[0]
        fields = self._fields(ctx)
        items = sorted(
            (m for m in self._messages.values() if m.conversation_id == conversation_id),
            key=lambda m: (m.created_at, m.seq),
            reverse=True,
        )
        return self._paged(ctx, items, lambda m: m.seq, lambda m: self._message_view(m, fields))

    def _create_comment(self, ctx: _Ctx) -> SimResponse:
        target = ctx.parts[0]
        text = ctx.params.get("message")
        if not isinstance(text, str) or not text.strip():
            raise self._raise(400, "(#100) Missing message or attachment", 100)
        if target in self._posts:
            post_id, parent_id = target, None
        else:
            parent = self._comments[target]
            if parent.raw is not None:
                raise self._unsupported("POST", target)
            post_id, parent_id = parent.post_id, parent.parent_id or parent.id
        comment = self._store_comment(post_id, None, text, parent_id, None)
        self._replies.append(
            PageCommentReply(comment.id, target, comment.parent_id, post_id, text, comment.created_at)
        )
        if self.auto_webhook_url:
            self._pending_webhooks.append(self._comment_webhook(comment))
        return json_response(200, {"id": comment.id})

    def _send_message(self, ctx: _Ctx) -> SimResponse:
        recipient = _json_param(ctx.params.get("recipient"))
        message = _json_param(ctx.params.get("message"))
        if not isinstance(recipient, dict) or not recipient:
            raise self._raise(400, "(#100) param recipient must be non-empty.", 100)
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise self._raise(400, "(#100) param message must be non-empty.", 100, subcode=2018034)
        if len(text) > MAX_MESSAGE_LENGTH:
            raise self._raise(
                400,
                f"(#100) Length of param message[text] must be less than or equal to {MAX_MESSAGE_LENGTH}",
                100,
            )
        if "comment_id" in recipient:
            return self._private_reply(str(recipient["comment_id"]), text)
        user_id = recipient.get("id")
        messaging_type = ctx.params.get("messaging_type")
        if messaging_type not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            raise self._raise(
                400, "(#100) Param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG", 100
            )
        if not isinstance(user_id, str) or user_id not in self._users:
            raise self._raise(400, "(#100) No matching user found", 100, subcode=2018001)
        if user_id in self._blocked:
            raise self._raise(400, _KNOWN_ERRORS[551], 551, subcode=1545041)
        conversation = self._conversations.get(self._conversation_by_user.get(user_id, ""))
        last = conversation.last_user_message_at if conversation else None
        if messaging_type != "MESSAGE_TAG" and (last is None or self._clock.now() - last > MESSAGING_WINDOW):
            raise self._raise(
                400, "(#10) This message is sent outside of allowed window.", 10, subcode=2018278
            )
        sent = self._store_message(user_id, self.page_id, user_id, text, None)
        self._sends.append(
            MessengerSend(sent.mid, user_id, sent.conversation_id, messaging_type, text, sent.created_at)
        )
        return json_response(200, {"recipient_id": user_id, "message_id": sent.mid})

    def _private_reply(self, comment_id: str, text: str) -> SimResponse:
        comment = self._comments.get(comment_id)
        if comment is None or comment.raw is not None:
            raise self._unsupported("POST", comment_id)
        if comment.author_id is None:
            raise self._raise(
                400, "(#10903) Cannot send private reply message to another facebook page", 10903
            )
        if comment.private_replied:
            raise self._raise(400, _KNOWN_ERRORS[10900], 10900)
        if self._clock.now() - comment.created_at > PRIVATE_REPLY_WINDOW:
            raise self._raise(400, _KNOWN_ERRORS[10903], 10903)
        if comment.author_id in self._blocked:
            raise self._raise(400, _KNOWN_ERRORS[551], 551, subcode=1545041)
        comment.private_replied = True
        sent = self._store_message(comment.author_id, self.page_id, comment.author_id, text, None)
        self._private.append(PrivateReply(sent.mid, comment.id, comment.author_id, text, sent.created_at))
        return json_response(200, {"recipient_id": comment.author_id, "message_id": sent.mid})

    # --- views and paging ----------------------------------------------------------------

    def _fields(self, ctx: _Ctx) -> dict[str, Any]:
        try:
            return parse_fields(ctx.params.get("fields"))
        except ValueError as exc:
            raise self._raise(400, f"Syntax error in fields: {exc}", 2500) from exc

    def _paged(
        self,
        ctx: _Ctx,
        items: list[Any],
        key: Callable[[Any], int],
        view: Callable[[Any], dict[str, Any]],
    ) -> SimResponse:
        limit_raw = ctx.params.get("limit", str(DEFAULT_LIMIT))
        if not str(limit_raw).isdigit() or not 1 <= int(limit_raw) <= MAX_LIMIT:
            raise self._raise(400, f"(#100) limit must be an integer between 1 and {MAX_LIMIT}", 100)
        limit = int(limit_raw)
        after = ctx.params.get("after")
        start = 0
        if after:
            position = _decode_cursor(str(after))
            keys = [key(item) for item in items]
            if position is None or position not in keys:
                raise self._raise(400, "(#100) The after cursor is not valid", 100)
            start = keys.index(position) + 1
        page = items[start : start + limit]
        body: dict[str, Any] = {"data": [view(item) for item in page]}
        if page:
            paging: dict[str, Any] = {
                "cursors": {"before": _encode_cursor(key(page[0])), "after": _encode_cursor(key(page[-1]))}
            }
            if start + limit < len(items):
                query = {k: v[0] for k, v in ctx.request.query.items() if v}
                query["limit"] = str(limit)
                query["after"] = paging["cursors"]["after"]
                paging["next"] = f"{self.base_url}{ctx.request.path}?{urlencode(query)}"
            body["paging"] = paging
        return json_response(200, body)

    def _post_view(self, post: _Post, fields: dict[str, Any]) -> dict[str, Any]:
        wanted = fields or {"message": None, "created_time": None}
        view: dict[str, Any] = {"id": post.id}
        if "message" in wanted:
            view["message"] = post.text
        if "created_time" in wanted:
            view["created_time"] = graph_time(post.created_at)
        if "updated_time" in wanted:
            view["updated_time"] = graph_time(post.updated_at)
        if "from" in wanted:
            view["from"] = _select({"id": self.page_id, "name": self.page_name}, wanted["from"])
        return view

    def _comment_view(self, comment: _Comment, fields: dict[str, Any]) -> dict[str, Any]:
        if comment.raw is not None:
            return copy.deepcopy(comment.raw)
        wanted = fields or {"created_time": None, "from": None, "message": None}
        view: dict[str, Any] = {"id": comment.id}
        author_id = comment.author_id or self.page_id
        if "message" in wanted:
            view["message"] = comment.text
        if "created_time" in wanted:
            view["created_time"] = graph_time(comment.created_at)
        if "from" in wanted:
            view["from"] = _select({"id": author_id, "name": self._name_of(author_id)}, wanted["from"])
        if "parent" in wanted and comment.parent_id is not None:
            parent = self._comments[comment.parent_id]
            view["parent"] = self._comment_view(parent, wanted["parent"] or {"id": None})
        if "is_hidden" in wanted:
            view["is_hidden"] = comment.hidden
        if "can_reply_privately" in wanted:
            view["can_reply_privately"] = (
                comment.author_id is not None
                and not comment.private_replied
                and self._clock.now() - comment.created_at <= PRIVATE_REPLY_WINDOW
            )
        if "can_comment" in wanted:
            view["can_comment"] = comment.parent_id is None
        return view

    def _conversation_view(self, conversation: _Conversation, fields: dict[str, Any]) -> dict[str, Any]:
        wanted = fields or {"updated_time": None}
        view: dict[str, Any] = {"id": conversation.id}
        if "updated_time" in wanted:
            view["updated_time"] = graph_time(conversation.updated_at)
        if "participants" in wanted:
            view["participants"] = {
                "data": [self._participant(conversation.user_id), self._participant(self.page_id)]
            }
        if "message_count" in wanted:
            view["message_count"] = sum(
                1 for m in self._messages.values() if m.conversation_id == conversation.id
            )
        if "can_reply" in wanted:
            last = conversation.last_user_message_at
            view["can_reply"] = last is not None and self._clock.now() - last <= MESSAGING_WINDOW
        return view

    def _message_view(self, message: _Message, fields: dict[str, Any]) -> dict[str, Any]:
        if message.raw is not None:
            return copy.deepcopy(message.raw)
        wanted = fields or {"created_time": None}
        view: dict[str, Any] = {"id": message.mid}
        if "message" in wanted:
            view["message"] = message.text
        if "from" in wanted:
            view["from"] = _select(self._participant(message.sender_id), wanted["from"])
        if "to" in wanted:
            view["to"] = {"data": [_select(self._participant(message.recipient_id), wanted["to"])]}
        if "created_time" in wanted:
            view["created_time"] = graph_time(message.created_at)
        return view

    def _participant(self, party_id: str) -> dict[str, Any]:
        return {"name": self._name_of(party_id), "email": f"{party_id}@facebook.com", "id": party_id}

    def _profile(self, user_id: str) -> dict[str, Any]:
        """A person as the User Profile API shows them to the page (by their page-scoped id)."""
        first, _, last = self._users[user_id].partition(" ")
        return {"first_name": first, "last_name": last, "id": user_id}

    def _name_of(self, party_id: str) -> str:
        return self.page_name if party_id == self.page_id else self._users.get(party_id, "Facebook user")

    # --- errors --------------------------------------------------------------------------

    def _error(
        self,
        status: int,
        message: str,
        code: int,
        *,
        subcode: int | None = None,
        headers: dict[str, str] | None = None,
        transient: bool = False,
    ) -> SimResponse:
        self._traces += 1
        digest = hashlib.sha256(f"trace:{self._traces}".encode()).digest()[:8]
        trace = "A" + base64.b64encode(digest).decode()[:10]
        type_ = "GraphMethodException" if (code, subcode) == (100, 33) else "OAuthException"
        return graph_error(
            status,
            message,
            code,
            subcode=subcode,
            type_=type_,
            trace=trace,
            headers=headers,
            transient=transient,
        )

    def _raise(self, status: int, message: str, code: int, *, subcode: int | None = None) -> _GraphError:
        return _GraphError(self._error(status, message, code, subcode=subcode))

    def _unsupported(self, method: str, node: str) -> _GraphError:
        verb = "get" if method == "GET" else "post"
        return self._raise(
            400,
            f"Unsupported {verb} request. Object with ID '{node}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            100,
            subcode=33,
        )

    # --- state helpers (call with the lock held) -----------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @staticmethod
    def _object_number(seq: int) -> int:
        return _FIRST_OBJECT_NUMBER + seq

    def _store_comment(
        self,
        post_id: str,
        author_id: str | None,
        text: str,
        parent_comment_id: str | None,
        created_at: datetime | None,
    ) -> _Comment:
        post = self._require_post(post_id)
        parent_id: str | None = None
        if parent_comment_id is not None:
            parent = self._comments.get(parent_comment_id)
            if parent is None or parent.post_id != post.id or parent.raw is not None:
                raise ValueError(f"unknown comment {parent_comment_id!r} on post {post_id!r}")
            parent_id = parent.parent_id or parent.id
        moment = created_at or self._clock.now()
        seq = self._next_seq()
        comment_id = f"{post.id.split('_', 1)[1]}_{self._object_number(seq)}"
        comment = _Comment(seq, comment_id, post.id, parent_id, author_id, text, moment)
        self._comments[comment_id] = comment
        post.updated_at = max(post.updated_at, moment)
        return comment

    def _store_message(
        self, user_id: str, sender_id: str, recipient_id: str, text: str, created_at: datetime | None
    ) -> _Message:
        moment = created_at or self._clock.now()
        conversation = self._conversations.get(self._conversation_by_user.get(user_id, ""))
        if conversation is None:
            seq = self._next_seq()
            conversation = _Conversation(seq, f"t_{self._object_number(seq)}", user_id, moment)
            self._conversations[conversation.id] = conversation
            self._conversation_by_user[user_id] = conversation.id
        seq = self._next_seq()
        digest = hashlib.sha256(f"{self.page_id}:{seq}".encode()).digest()[:24]
        mid = "m_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
        message = _Message(seq, mid, conversation.id, sender_id, recipient_id, text, moment)
        self._messages[mid] = message
        conversation.updated_at = max(conversation.updated_at, moment)
        if sender_id == user_id:
            last = conversation.last_user_message_at
            conversation.last_user_message_at = moment if last is None else max(last, moment)
        return message

    def _require_user(self, user_id: str) -> None:
        if user_id not in self._users:
            raise ValueError(f"unknown user {user_id!r}; add_user() it first")

    def _require_post(self, post_id: str) -> _Post:
        post = self._posts.get(post_id)
        if post is None:
            raise ValueError(f"unknown post {post_id!r}")
        return post


def _select(view: dict[str, Any], subfields: dict[str, Any] | None) -> dict[str, Any]:
    """Keep only the requested subfields of a nested object (all of them when none are named)."""
    if not subfields:
        return view
    return {name: value for name, value in view.items() if name in subfields or name == "id"}


def _version_of(path: str) -> str | None:
    match = _VERSIONED_PATH_RE.match(path)
    return match["version"] if match else None


def _request_params(request: SimRequest) -> dict[str, Any]:
    """Merge query parameters with a form-encoded or JSON body, as the Graph API does."""
    params: dict[str, Any] = {name: values[0] for name, values in request.query.items() if values}
    if not request.body:
        return params
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _GraphError(graph_error(400, f"(#100) Request body is not valid JSON: {exc}", 100)) from exc
        if not isinstance(body, dict):
            raise _GraphError(graph_error(400, "(#100) Request body must be a JSON object", 100))
        params.update(body)
    else:
        form = parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        params.update({name: values[0] for name, values in form.items() if values})
    return params


def _access_token(request: SimRequest, params: dict[str, Any]) -> tuple[str | None, str | None]:
    """Return the access token and where it came from (header, query or form)."""
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() in ("bearer", "oauth") and credentials.strip():
        return credentials.strip(), "header"
    if request.param("access_token"):
        return request.param("access_token"), "query"
    token = params.get("access_token")
    if isinstance(token, str) and token:
        return token, "form"
    return None, None


def _json_param(value: Any) -> Any:
    """Decode a parameter that may be a JSON-encoded string (form bodies) or already an object."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _time_param(ctx: _Ctx, name: str) -> datetime | None:
    """Parse a since/until parameter: unix seconds or an ISO-8601 time."""
    raw = ctx.params.get(name)
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise _GraphError(graph_error(400, f"(#100) The parameter {name} is not a valid time", 100)) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "pos" and number.isdigit() else None
