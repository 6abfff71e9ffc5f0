"""Facebook Page listeners: webhook parsing and polling catch-up, normalised to IncomingMessage.

Webhooks are the live path; the two polling listeners catch up after downtime. Both paths
produce identical ids so the store dedupes them (unique on platform + external id):

* a comment is ``external_id`` = comment id, ``thread_external_id`` = the top-level comment
  it belongs to (itself when it is top-level: every customer who comments on a post starts a
  conversation of their own; Facebook attaches replies to replies to the top-level comment),
  ``in_reply_to_external_id`` = the parent comment (None for top-level comments);
* a Messenger message is ``external_id`` = mid, ``thread_external_id`` = ``psid:<PSID>``
  (webhooks carry only the sender's page-scoped id, never the conversation id).

Polling cursors are the unix second of the newest item seen, plus the ids already seen
at that second (``1767603600|id1,id2``), so the inclusive ``since`` never repeats them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from listeners.base import FetchResult, Listener
from listeners.facebook_client import GraphClient
from tactful.clock import Clock
from tactful.domain import Author, Channel, IncomingMessage, Platform, QuarantinedPayload
from tactful.payload_fields import (
    AUTHOR_ID_MAX,
    DISPLAY_NAME_MAX,
    THREAD_ID_MAX,
    brief,
    is_token,
    name,
    plausible,
    storable_text,
    utc_from_timestamp,
)

log = logging.getLogger(__name__)

COMMENT_FIELDS = "id,message,from{id,name},created_time,parent{id}"
MESSAGE_FIELDS = "id,message,from,to,created_time"
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 250

_Outcome = IncomingMessage | str | None
"""A normalised message, the reason a payload is unreadable, or None for events we ignore."""


def messenger_thread_id(psid: str) -> str:
    """Return the thread id of the page's Messenger conversation with this person."""
    return f"psid:{psid}"


# --- normalisation ----------------------------------------------------------------------


def normalise_comment(comment: Any, post_id: str) -> _Outcome:
    """Turn a Graph API comment object (from ``/{post}/comments``) into an IncomingMessage."""
    if not isinstance(comment, dict):
        return f"comment is a {type(comment).__name__}, not a JSON object"
    comment_id = comment.get("id")
    if not _is_id(comment_id):
        return "comment: missing or invalid 'id'"
    parent = comment.get("parent")
    parent_id = parent.get("id") if isinstance(parent, dict) else None
    return _comment_message(
        str(comment_id),
        post_id,
        parent_id,
        comment.get("from"),
        comment.get("message"),
        comment.get("created_time"),
        comment,
        has_attachment=False,
    )


def normalise_feed_change(value: Any) -> _Outcome:
    """Turn a ``feed`` webhook change value into an IncomingMessage (None unless a comment was added)."""
    if not isinstance(value, dict):
        return f"feed change value is a {type(value).__name__}, not a JSON object"
    if value.get("item") != "comment" or value.get("verb") != "add":
        return None
    comment_id = value.get("comment_id")
    if not _is_id(comment_id):
        return "feed comment: missing or invalid 'comment_id'"
    post_id = value.get("post_id")
    if not _is_id(post_id):
        return f"comment {comment_id}: missing or invalid 'post_id'"
    return _comment_message(
        str(comment_id),
        str(post_id),
        value.get("parent_id"),
        value.get("from"),
        value.get("message"),
        value.get("created_time"),
        value,
        has_attachment=any(key in value for key in ("photo", "photos", "video")),
    )


def _comment_message(
    comment_id: str,
    post_id: str,
    parent_id: Any,
    author: Any,
    text: Any,
    created: Any,
    raw: dict[str, Any],
    *,
    has_attachment: bool,
) -> _Outcome:
    if not isinstance(author, dict) or not _is_author_id(author.get("id")):
        return f"comment {comment_id}: missing or invalid 'from'"
    if text is None:
        return None if has_attachment else f"comment {comment_id}: missing 'message'"
    if not isinstance(text, str):
        return f"comment {comment_id}: 'message' is not a string"
    if not text.strip():
        return None  # a photo or sticker only: nothing to read
    created_at = parse_graph_time(created)
    if created_at is None:
        return f"comment {comment_id}: missing or invalid 'created_time' {brief(created)}"
    in_reply_to = parent_id if _is_id(parent_id) and parent_id != post_id else None
    return IncomingMessage(
        platform=Platform.FACEBOOK,
        channel=Channel.COMMENT,
        external_id=comment_id,
        thread_external_id=in_reply_to or comment_id,
        author=Author(
            platform=Platform.FACEBOOK,
            external_id=str(author["id"]),
            display_name=name(author.get("name"), DISPLAY_NAME_MAX),
        ),
        text=storable_text(text),
        created_at=created_at,
        in_reply_to_external_id=in_reply_to,
        raw=raw,
    )


def normalise_conversation_message(message: Any, page_id: str) -> _Outcome:
    """Turn a Graph API conversation message into an IncomingMessage (None for the page's own)."""
    if not isinstance(message, dict):
        return f"message is a {type(message).__name__}, not a JSON object"
    mid = message.get("id")
    if not _is_id(mid):
        return "message: missing or invalid 'id'"
    sender = message.get("from")
    if not isinstance(sender, dict) or not _is_author_id(sender.get("id")):
        return f"message {mid}: missing or invalid 'from'"
    if sender["id"] == page_id:
        return None
    return _direct_message(
        str(mid),
        str(sender["id"]),
        sender.get("name"),
        message.get("message"),
        parse_graph_time(message.get("created_time")),
        message.get("created_time"),
        message,
    )


def normalise_messaging_event(event: Any, page_id: str) -> _Outcome:
    """Turn a ``messaging`` webhook event into an IncomingMessage.

    Echoes of the page's own messages, deliveries, reads, postbacks and reactions, and
    messages without text (attachments, stickers) are ignored.
    """
    if not isinstance(event, dict):
        return f"messaging event is a {type(event).__name__}, not a JSON object"
    message = event.get("message")
    if message is None:
        return None
    if not isinstance(message, dict):
        return "messaging event: 'message' is not a JSON object"
    if message.get("is_echo"):
        return None
    mid = message.get("mid")
    if not _is_id(mid):
        return "messaging event: missing or invalid 'message.mid'"
    sender = event.get("sender")
    if not isinstance(sender, dict) or not _is_author_id(sender.get("id")):
        return f"message {mid}: missing or invalid 'sender.id'"
    recipient = event.get("recipient")
    recipient_id = recipient.get("id") if isinstance(recipient, dict) else None
    if recipient_id != page_id:
        return f"message {mid}: recipient {brief(recipient_id)} is not page {page_id}"
    if sender["id"] == page_id:
        return None
    if message.get("text") is None:
        return None
    timestamp = event.get("timestamp")
    created_at = _from_millis(timestamp)
    return _direct_message(
        str(mid), str(sender["id"]), None, message.get("text"), created_at, timestamp, event
    )


def _direct_message(
    mid: str,
    sender_id: str,
    sender_name: Any,
    text: Any,
    created_at: datetime | None,
    created_raw: Any,
    raw: dict[str, Any],
) -> _Outcome:
    if text is None:
        return f"message {mid}: missing 'message'"
    if not isinstance(text, str):
        return f"message {mid}: the text is not a string"
    if not text.strip():
        return None  # attachments only
    if created_at is None:
        return f"message {mid}: missing or invalid time {brief(created_raw)}"
    return IncomingMessage(
        platform=Platform.FACEBOOK,
        channel=Channel.DIRECT,
        external_id=mid,
        thread_external_id=messenger_thread_id(sender_id),
        author=Author(
            platform=Platform.FACEBOOK,
            external_id=sender_id,
            display_name=name(sender_name, DISPLAY_NAME_MAX),
        ),
        text=storable_text(text),
        created_at=created_at,
        is_private=True,
        raw=raw,
    )


# --- webhooks ---------------------------------------------------------------------------


def parse_webhook(
    payload: dict[str, Any], page_id: str
) -> tuple[list[IncomingMessage], list[QuarantinedPayload]]:
    """Normalise a Page webhook body: added comments and Messenger text messages.

    Edits, removals, reactions, echoes, deliveries and reads are skipped; anything
    malformed (or addressed to another page) is quarantined with a reason, never raised.
    """
    source = f"facebook:webhook:{page_id}"
    messages: list[IncomingMessage] = []
    quarantined: list[QuarantinedPayload] = []

    def reject(item: Any, reason: str) -> None:
        quarantined.append(QuarantinedPayload(source=source, reason=reason, payload=_dump(item)))

    def collect(item: Any, outcome: _Outcome) -> None:
        if isinstance(outcome, IncomingMessage):
            messages.append(outcome)
        elif isinstance(outcome, str):
            reject(item, outcome)

    if not isinstance(payload, dict):
        reject(payload, f"webhook body is a {type(payload).__name__}, not a JSON object")
        return messages, quarantined
    if payload.get("object") != "page":
        reject(payload, f"webhook object is {brief(payload.get('object'))}, not 'page'")
        return messages, quarantined
    entries = payload.get("entry")
    if not isinstance(entries, list):
        reject(payload, "webhook 'entry' is not a list")
        return messages, quarantined
    for entry in entries:
        if not isinstance(entry, dict):
            reject(entry, f"entry is a {type(entry).__name__}, not a JSON object")
            continue
        if str(entry.get("id")) != page_id:
            reject(entry, f"entry for page {brief(entry.get('id'))}, not {page_id}")
            continue
        changes, events = entry.get("changes"), entry.get("messaging")
        if changes is None and events is None:
            if "standby" not in entry:
                reject(entry, "entry has neither 'changes' nor 'messaging'")
            continue
        if changes is not None and not isinstance(changes, list):
            reject(entry, "entry 'changes' is not a list")
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict):
                reject(change, f"change is a {type(change).__name__}, not a JSON object")
            elif change.get("field") == "feed":
                collect(change, normalise_feed_change(change.get("value")))
        if events is not None and not isinstance(events, list):
            reject(entry, "entry 'messaging' is not a list")
        for event in events if isinstance(events, list) else []:
            collect(event, normalise_messaging_event(event, page_id))
    messages.sort(key=lambda m: (m.created_at, m.external_id))
    return messages, quarantined


# --- polling ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeCursor:
    """How far a polling listener has read: a whole second and the ids already seen at it."""

    time: datetime
    ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: str | None) -> TimeCursor | None:
        """Read ``<unix seconds>[|id,id]`` (or an ISO-8601 time); raises ValueError if unreadable."""
        if raw is None:
            return None
        moment_text, _, ids_text = raw.partition("|")
        moment_text = moment_text.strip()
        if moment_text.isdigit():
            moment = datetime.fromtimestamp(int(moment_text), UTC)
        else:
            parsed = datetime.fromisoformat(moment_text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError(f"cursor time {moment_text!r} has no timezone")
            moment = parsed.astimezone(UTC)
        ids = frozenset(part for part in ids_text.split(",") if part)
        return cls(_whole_second(moment), ids)

    def encode(self) -> str:
        """Write the cursor; the id list is dropped if it would not fit the cursor column."""
        seconds = str(int(self.time.timestamp()))
        full = seconds + ("|" + ",".join(sorted(self.ids)) if self.ids else "")
        return full if len(full) <= MAX_CURSOR_LENGTH else seconds

    def covers(self, item_id: str, moment: datetime) -> bool:
        """Whether an item at `moment` was already read."""
        second = _whole_second(moment)
        return second < self.time or (second == self.time and item_id in self.ids)

    def advance(self, item_id: str, moment: datetime) -> TimeCursor:
        """Return the cursor after also reading this item."""
        second = _whole_second(moment)
        if second > self.time:
            return TimeCursor(second, frozenset({item_id}))
        if second == self.time:
            return TimeCursor(self.time, self.ids | {item_id})
        return self

    @property
    def since(self) -> int:
        """The unix second to pass as the Graph ``since`` parameter."""
        return int(self.time.timestamp())


class _FacebookListener(Listener):
    """Shared cursor handling and quarantine for the Facebook polling listeners."""

    platform = Platform.FACEBOOK

    def __init__(self, graph: GraphClient, page_id: str, page_size: int, clock: Clock | None) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self._graph = graph
        self.page_id = page_id
        self._page_size = page_size
        self._clock: Clock = clock or graph.clock

    def _read_cursor(self, cursor: str | None) -> TimeCursor | None:
        try:
            return TimeCursor.parse(cursor)
        except ValueError:
            log.warning(
                "%s: ignoring unreadable cursor %r; starting again from recent history", self.key, cursor
            )
            return None

    def _quarantine(self, item: Any, reason: str) -> QuarantinedPayload:
        return QuarantinedPayload(source=self.key, reason=reason, payload=_dump(item))

    def _items(self, body: dict[str, Any], quarantined: list[QuarantinedPayload]) -> list[Any]:
        """The ``data`` list of a Graph list answer (an unreadable one is quarantined, not raised)."""
        data = body.get("data")
        if isinstance(data, list):
            return data
        quarantined.append(self._quarantine(body, "response 'data' is not a list"))
        return []

    def _result(
        self,
        messages: list[IncomingMessage],
        quarantined: list[QuarantinedPayload],
        newest: TimeCursor | None,
    ) -> FetchResult:
        if newest is None:  # first run and nothing at all: start from now
            newest = TimeCursor(_whole_second(self._clock.now()))
        messages.sort(key=lambda m: (m.created_at, m.external_id))
        return FetchResult(
            messages=messages,
            cursor=newest.encode(),
            quarantined=quarantined,
            rate_limit=self._graph.rate_limit_status(),
        )


class FacebookCommentsListener(_FacebookListener):
    """Comments (and replies) on the page's recent posts, for catch-up after downtime.

    Each fetch lists the posts created within `post_window` (every page of them), skips
    posts whose ``updated_time`` (which Facebook bumps on every new comment) predates the
    cursor, and reads each remaining post's comments with ``filter=stream`` (replies
    included) and ``since`` = the cursor's second, following every page. The first run
    (no cursor) reads one page of posts and one page of newest comments on each. Comments
    written by the page itself are returned too, so the core sees that the brand answered.
    A failure on any page raises and the whole fetch is repeated later.
    """

    def __init__(
        self,
        graph: GraphClient,
        page_id: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        post_window: timedelta = timedelta(days=28),
        clock: Clock | None = None,
    ) -> None:
        super().__init__(graph, page_id, page_size, clock)
        self.post_window = post_window
        self.key = f"facebook:comments:{page_id}"

    def fetch(self, cursor: str | None) -> FetchResult:
        """Return comments newer than `cursor`, oldest first, and the cursor covering them."""
        position = self._read_cursor(cursor)
        messages: list[IncomingMessage] = []
        quarantined: list[QuarantinedPayload] = []
        newest = position
        for post_id in self._post_ids(position, quarantined):
            params: dict[str, Any] = {
                "fields": COMMENT_FIELDS,
                "filter": "stream",
                "limit": self._page_size,
                "order": "chronological" if position else "reverse_chronological",
            }
            if position is not None:
                params["since"] = position.since
            pages = self._graph.iter_pages(post_id, "comments", max_pages=None if position else 1, **params)
            for body in pages:
                for item in self._items(body, quarantined):
                    moment = parse_graph_time(item.get("created_time")) if isinstance(item, dict) else None
                    item_id = item.get("id") if isinstance(item, dict) else None
                    if (
                        position is not None
                        and moment
                        and _is_id(item_id)
                        and position.covers(item_id, moment)
                    ):
                        continue
                    outcome = normalise_comment(item, post_id)
                    if isinstance(outcome, IncomingMessage):
                        messages.append(outcome)
                    elif isinstance(outcome, str):
                        quarantined.append(self._quarantine(item, outcome))
                    if moment is not None and _is_id(item_id):
                        newest = _advance(newest, str(item_id), moment)
        return self._result(messages, quarantined, newest)

    def _post_ids(self, position: TimeCursor | None, quarantined: list[QuarantinedPayload]) -> list[str]:
        """The posts whose comments may have changed since `position`."""
        params: dict[str, Any] = {"fields": "id,created_time,updated_time", "limit": self._page_size}
        if position is not None:
            params["since"] = int((self._clock.now() - self.post_window).timestamp())
        post_ids: list[str] = []
        pages = self._graph.iter_pages(self.page_id, "posts", max_pages=None if position else 1, **params)
        for body in pages:
            for post in self._items(body, quarantined):
                if not isinstance(post, dict) or not _is_id(post.get("id")):
                    continue
                updated = parse_graph_time(post.get("updated_time"))
                if position is not None and updated is not None and _whole_second(updated) < position.time:
                    continue
                post_ids.append(str(post["id"]))
        return post_ids


class FacebookConversationsListener(_FacebookListener):
    """Messenger messages people sent the page, for catch-up after downtime.

    Each fetch walks the page's Messenger conversations newest-updated first and stops at
    the first one not updated since the cursor; in each, it reads messages newest first
    until it reaches the cursor. The page's own messages are skipped (webhook echoes are
    too). The first run (no cursor) reads one page of conversations and one page of
    messages in each. A failure on any page raises and the whole fetch is repeated later.
    """

    def __init__(
        self,
        graph: GraphClient,
        page_id: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(graph, page_id, page_size, clock)
        self.key = f"facebook:conversations:{page_id}"

    def fetch(self, cursor: str | None) -> FetchResult:
        """Return Messenger messages newer than `cursor`, oldest first, and the cursor covering them."""
        position = self._read_cursor(cursor)
        messages: list[IncomingMessage] = []
        quarantined: list[QuarantinedPayload] = []
        newest = position
        pages = self._graph.iter_pages(
            self.page_id,
            "conversations",
            max_pages=None if position else 1,
            platform="messenger",
            fields="id,updated_time",
            limit=self._page_size,
        )
        for body in pages:
            reached_cursor = False
            for conversation in self._items(body, quarantined):
                conversation_id = conversation.get("id") if isinstance(conversation, dict) else None
                if not _is_id(conversation_id):
                    quarantined.append(
                        self._quarantine(conversation, "conversation: missing or invalid 'id'")
                    )
                    continue
                updated = parse_graph_time(conversation.get("updated_time"))
                if position is not None and updated is not None and _whole_second(updated) < position.time:
                    reached_cursor = True
                    break
                newest = self._read_conversation(
                    str(conversation_id), position, newest, messages, quarantined
                )
            if reached_cursor:
                break
        return self._result(messages, quarantined, newest)

    def _read_conversation(
        self,
        conversation_id: str,
        position: TimeCursor | None,
        newest: TimeCursor | None,
        messages: list[IncomingMessage],
        quarantined: list[QuarantinedPayload],
    ) -> TimeCursor | None:
        pages = self._graph.iter_pages(
            conversation_id,
            "messages",
            max_pages=None if position else 1,
            fields=MESSAGE_FIELDS,
            limit=self._page_size,
        )
        for body in pages:
            for item in self._items(body, quarantined):
                moment = parse_graph_time(item.get("created_time")) if isinstance(item, dict) else None
                item_id = item.get("id") if isinstance(item, dict) else None
                if position is not None and moment is not None and _whole_second(moment) < position.time:
                    return newest  # newest first: everything further down was read before
                if position is not None and moment and _is_id(item_id) and position.covers(item_id, moment):
                    continue
                outcome = normalise_conversation_message(item, self.page_id)
                if isinstance(outcome, IncomingMessage):
                    messages.append(outcome)
                elif isinstance(outcome, str):
                    quarantined.append(self._quarantine(item, outcome))
                if moment is not None and _is_id(item_id):
                    newest = _advance(newest, str(item_id), moment)
        return newest


# --- helpers ----------------------------------------------------------------------------


def parse_graph_time(value: Any) -> datetime | None:
    """Parse a Graph time (``2026-01-05T09:00:00+0000``) or unix seconds into aware UTC."""
    if not isinstance(value, str):
        return utc_from_timestamp(value)
    text = value.strip()
    if text.isascii() and text.isdigit():
        return utc_from_timestamp(int(text)) if len(text) <= 12 else None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        # Converting a time at the edge of the calendar (0001-01-01T00:00+05:00) overflows.
        return plausible(parsed.astimezone(UTC)) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _from_millis(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return utc_from_timestamp(value / 1000)
    except OverflowError:  # an integer too large for a float
        return None


def _whole_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _advance(cursor: TimeCursor | None, item_id: str, moment: datetime) -> TimeCursor:
    if cursor is None:
        return TimeCursor(_whole_second(moment), frozenset({item_id}))
    return cursor.advance(item_id, moment)


def _is_id(value: Any) -> TypeGuard[str]:
    """A comment, post, conversation or message id: printable, no spaces, fits a thread id."""
    return is_token(value, THREAD_ID_MAX)


def _is_author_id(value: Any) -> TypeGuard[str]:
    """A person's (page-scoped) id: printable, no spaces, fits an author id."""
    return is_token(value, AUTHOR_ID_MAX)


def _dump(item: Any) -> str:
    try:
        return json.dumps(item, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(item)
