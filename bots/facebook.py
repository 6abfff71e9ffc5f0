"""The Facebook Page bot: comment replies, private replies, Messenger replies and hiding comments."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from bots.base import Bot, OutboundAction, SendKind, SendResult, required_text
from listeners.facebook import parse_graph_time
from listeners.facebook_client import GraphClient
from tactful.clock import Clock
from tactful.domain import Platform
from tactful.errors import PermanentPlatformError, RecipientUnreachable

MESSAGING_WINDOW = timedelta(hours=24)
_SPACE_RE = re.compile(r"\s+")


def comparable_text(text: str) -> str:
    """Normalise message text for matching what we sent with what Facebook shows."""
    return _SPACE_RE.sub(" ", text).strip()


class FacebookBot(Bot):
    """Performs outbox actions as a Facebook Page through the Graph API (page access token).

    * ``PUBLIC_REPLY``: ``POST /{comment-id}/comments`` (Facebook threads a reply to a reply
      under the top-level comment).
    * ``PRIVATE_REPLY``: Send API with ``recipient.comment_id`` (one per comment, within
      7 days of it).
    * ``DIRECT_MESSAGE``: Send API with ``recipient.id`` = the PSID and ``messaging_type``
      RESPONSE. Messenger's standard window closes 24 hours after the person's message
      (`action.source_created_at`); outside it the bot raises `RecipientUnreachable`
      without calling the API, and a person must answer.
    * ``HIDE``: ``POST /{comment-id}`` with ``is_hidden=true``.

    `find_sent` looks for the page's reply with the same text under the comment, or the
    page's Messenger message with the same text in the person's conversation since the
    source message; a hidden comment counts as done. Failures are raised as
    `tactful.errors` types by the `GraphClient`.
    """

    platform = Platform.FACEBOOK

    def __init__(
        self,
        graph: GraphClient,
        page_id: str,
        clock: Clock | None = None,
        *,
        lookback_pages: int = 3,
        messaging_window: timedelta = MESSAGING_WINDOW,
    ) -> None:
        self._graph = graph
        self.page_id = page_id
        self._clock: Clock = clock or graph.clock
        self._lookback_pages = lookback_pages
        self._window = messaging_window

    def send(self, action: OutboundAction) -> SendResult:
        """Perform the action once and return Facebook's id for it."""
        if action.platform is not Platform.FACEBOOK:
            raise PermanentPlatformError(f"FacebookBot cannot perform a {action.platform} action")
        if action.kind is SendKind.PUBLIC_REPLY:
            return self._public_reply(action)
        if action.kind is SendKind.PRIVATE_REPLY:
            return self._private_reply(action)
        if action.kind is SendKind.DIRECT_MESSAGE:
            return self._direct_message(action)
        if action.kind is SendKind.HIDE:
            return self._hide(action.target_external_id)
        raise PermanentPlatformError(f"Facebook has no {action.kind} action")

    def find_sent(self, action: OutboundAction) -> SendResult | None:
        """Look on Facebook for what this action may already have delivered."""
        if action.kind is SendKind.PUBLIC_REPLY:
            comment_id = self._find_reply(action.target_external_id, required_text(action))
            return (
                SendResult(comment_id, SendKind.PUBLIC_REPLY, "found under the comment")
                if comment_id
                else None
            )
        if action.kind in (SendKind.PRIVATE_REPLY, SendKind.DIRECT_MESSAGE):
            mid = self._find_message(
                action.recipient_external_id, required_text(action), action.source_created_at
            )
            return SendResult(mid, action.kind, "found in the Messenger conversation") if mid else None
        if action.kind is SendKind.HIDE:
            hidden = self._graph.get_object(action.target_external_id, fields="id,is_hidden")
            return (
                SendResult(action.target_external_id, SendKind.HIDE, "already hidden")
                if hidden.get("is_hidden") is True
                else None
            )
        return None

    # --- actions -------------------------------------------------------------------------

    def _public_reply(self, action: OutboundAction) -> SendResult:
        body = self._graph.put_object(action.target_external_id, "comments", message=required_text(action))
        return SendResult(_field(body, "id", "comment reply"), SendKind.PUBLIC_REPLY)

    def _private_reply(self, action: OutboundAction) -> SendResult:
        body = self._send_api({"comment_id": action.target_external_id}, required_text(action), None)
        return SendResult(_field(body, "message_id", "private reply"), SendKind.PRIVATE_REPLY)

    def _direct_message(self, action: OutboundAction) -> SendResult:
        text = required_text(action)
        source = action.source_created_at
        if source is not None and self._clock.now() - source > self._window:
            hours = int(self._window.total_seconds() // 3600)
            raise RecipientUnreachable(
                f"outbox item {action.idempotency_key}: the person wrote at {source.isoformat()}, "
                f"outside Messenger's {hours}-hour window; a person must answer"
            )
        body = self._send_api({"id": action.recipient_external_id}, text, "RESPONSE")
        return SendResult(_field(body, "message_id", "Messenger reply"), SendKind.DIRECT_MESSAGE)

    def _send_api(self, recipient: dict[str, str], text: str, messaging_type: str | None) -> dict[str, Any]:
        post_args = {"recipient": json.dumps(recipient), "message": json.dumps({"text": text})}
        if messaging_type is not None:
            post_args["messaging_type"] = messaging_type
        return self._graph.request(self._graph.path(self.page_id, "messages"), post_args=post_args)

    def _hide(self, comment_id: str) -> SendResult:
        body = self._graph.request(self._graph.path(comment_id), post_args={"is_hidden": "true"})
        if body.get("success") is not True:
            raise PermanentPlatformError(f"Facebook hide: comment {comment_id} was not hidden: {body!r}")
        return SendResult(comment_id, SendKind.HIDE)

    # --- reconciliation ------------------------------------------------------------------

    def _find_reply(self, target_id: str, text: str) -> str | None:
        """The page's comment with this text in the target comment's thread, if any."""
        target = self._graph.get_object(target_id, fields="id,parent{id}")
        parent = target.get("parent")
        thread_id = parent.get("id") if isinstance(parent, dict) and parent.get("id") else target_id
        wanted = comparable_text(text)
        pages = self._graph.iter_pages(
            str(thread_id),
            "comments",
            max_pages=self._lookback_pages,
            fields="id,message,from{id},created_time",
            order="reverse_chronological",
            limit=100,
        )
        for body in pages:
            for comment in _dicts(body.get("data")):
                author = comment.get("from")
                if (
                    isinstance(author, dict)
                    and author.get("id") == self.page_id
                    and comparable_text(str(comment.get("message", ""))) == wanted
                    and isinstance(comment.get("id"), str)
                ):
                    return str(comment["id"])
        return None

    def _find_message(self, psid: str, text: str, since: datetime | None) -> str | None:
        """The page's Messenger message with this text to this person since `since`, if any."""
        listing = self._graph.get_connections(
            self.page_id, "conversations", platform="messenger", user_id=psid, fields="id"
        )
        conversations = _dicts(listing.get("data"))
        if not conversations or not isinstance(conversations[0].get("id"), str):
            return None
        earliest = since.replace(microsecond=0) if since is not None else None
        wanted = comparable_text(text)
        pages = self._graph.iter_pages(
            str(conversations[0]["id"]),
            "messages",
            max_pages=self._lookback_pages,
            fields="id,message,from,created_time",
            limit=100,
        )
        for body in pages:
            for message in _dicts(body.get("data")):
                created = parse_graph_time(message.get("created_time"))
                if earliest is not None and created is not None and created < earliest:
                    return None  # newest first: everything further down predates the source message
                sender = message.get("from")
                if (
                    isinstance(sender, dict)
                    and sender.get("id") == self.page_id
                    and comparable_text(str(message.get("message", ""))) == wanted
                    and isinstance(message.get("id"), str)
                ):
                    return str(message["id"])
        return None


def _field(body: dict[str, Any], name: str, operation: str) -> str:
    """Return body[name] as a non-empty string or fail loudly."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise PermanentPlatformError(f"Facebook {operation}: response has no {name}: {body!r}")
    return value


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
