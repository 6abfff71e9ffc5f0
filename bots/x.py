"""The X bot: public replies, direct messages (with a public fallback) and hiding replies."""

from __future__ import annotations

import re
from typing import Any

import tweepy

from bots.base import Bot, OutboundAction, SendKind, SendResult, required_text
from listeners.x_client import call_x, response_json
from tactful.clock import Clock
from tactful.domain import Platform
from tactful.errors import PermanentPlatformError, RecipientUnreachable

_LEADING_MENTIONS_RE = re.compile(r"^(?:@\w{1,15}\s+)+")
_URL_RE = re.compile(r"https?://\S+")
_SPACE_RE = re.compile(r"\s+")


def x_dm_link(brand_user_id: str) -> str:
    """Return the public deep link that opens a DM composer to the brand."""
    return f"https://x.com/messages/compose?recipient_id={brand_user_id}"


def comparable_text(text: str) -> str:
    """Normalise tweet text for matching what we sent with what X shows.

    X prefixes replies with @handles and rewrites links to t.co, so both are neutralised.
    """
    text = _LEADING_MENTIONS_RE.sub("", text.strip())
    text = _URL_RE.sub("<url>", text)
    return _SPACE_RE.sub(" ", text).strip()


class XBot(Bot):
    """Performs outbox actions on X as the brand account (OAuth 1.0a user context)."""

    platform = Platform.X

    def __init__(
        self,
        client: tweepy.Client,
        brand_user_id: str,
        *,
        lookback_pages: int = 3,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self.brand_user_id = brand_user_id
        self._lookback_pages = lookback_pages
        self._clock = clock

    def send(self, action: OutboundAction) -> SendResult:
        """Perform the action once and return X's id for it."""
        if action.platform is not Platform.X:
            raise PermanentPlatformError(f"XBot cannot perform a {action.platform} action")
        if action.kind is SendKind.PUBLIC_REPLY:
            return SendResult(
                self._reply(action.target_external_id, required_text(action)), SendKind.PUBLIC_REPLY
            )
        if action.kind is SendKind.DIRECT_MESSAGE:
            return self._direct_message(action)
        if action.kind is SendKind.HIDE:
            return self._hide(action.target_external_id)
        raise PermanentPlatformError(f"X has no {action.kind}; use a public reply or a direct message")

    def find_sent(self, action: OutboundAction) -> SendResult | None:
        """Look on X for what this action may already have delivered."""
        if action.kind is SendKind.PUBLIC_REPLY:
            tweet_id = self._find_reply(action.target_external_id, required_text(action))
            return SendResult(tweet_id, SendKind.PUBLIC_REPLY, "found on timeline") if tweet_id else None
        if action.kind is SendKind.DIRECT_MESSAGE:
            event_id = self._find_dm(action.recipient_external_id, required_text(action))
            if event_id is not None:
                return SendResult(event_id, SendKind.DIRECT_MESSAGE, "found in DM conversation")
            if action.fallback_text:
                tweet_id = self._find_reply(action.target_external_id, action.fallback_text)
                if tweet_id is not None:
                    return SendResult(tweet_id, SendKind.PUBLIC_REPLY, "found public fallback on timeline")
            return None
        # Hiding is idempotent, so "not found" safely lets the outbox hide again.
        return None

    # --- actions -------------------------------------------------------------------------

    def _reply(self, target_id: str, text: str) -> str:
        response = call_x(
            "reply",
            self._client.create_tweet,
            text=text,
            in_reply_to_tweet_id=target_id,
            user_auth=True,
            clock=self._clock,
        )
        return _data_field(response_json(response, "reply"), "id", "reply")

    def _direct_message(self, action: OutboundAction) -> SendResult:
        text = required_text(action)
        try:
            response = call_x(
                "direct message",
                self._client.create_direct_message,
                participant_id=action.recipient_external_id,
                text=text,
                user_auth=True,
                clock=self._clock,
                forbidden=RecipientUnreachable,
            )
        except RecipientUnreachable:
            if not action.fallback_text:
                raise
            tweet_id = self._reply(action.target_external_id, action.fallback_text)
            return SendResult(
                tweet_id, SendKind.PUBLIC_REPLY, "recipient does not accept DMs; replied publicly"
            )
        event_id = _data_field(response_json(response, "direct message"), "dm_event_id", "direct message")
        return SendResult(event_id, SendKind.DIRECT_MESSAGE)

    def _hide(self, target_id: str) -> SendResult:
        response = call_x("hide reply", self._client.hide_reply, target_id, user_auth=True, clock=self._clock)
        data = response_json(response, "hide reply").get("data")
        if not isinstance(data, dict) or data.get("hidden") is not True:
            raise PermanentPlatformError(f"X hide reply: tweet {target_id} was not hidden: {data!r}")
        return SendResult(target_id, SendKind.HIDE)

    # --- reconciliation ------------------------------------------------------------------

    def _find_reply(self, target_id: str, text: str) -> str | None:
        wanted = comparable_text(text)
        page_token: str | None = None
        for _ in range(self._lookback_pages):
            response = call_x(
                "brand timeline",
                self._client.get_users_tweets,
                self.brand_user_id,
                max_results=100,
                pagination_token=page_token,
                tweet_fields=["referenced_tweets", "conversation_id", "created_at"],
                clock=self._clock,
            )
            body = response_json(response, "brand timeline")
            for tweet in _list(body.get("data")):
                if _replies_to(tweet, target_id) and comparable_text(str(tweet.get("text", ""))) == wanted:
                    return str(tweet["id"])
            page_token = _next_token(body)
            if page_token is None:
                break
        return None

    def _find_dm(self, recipient_id: str, text: str) -> str | None:
        wanted = comparable_text(text)
        page_token: str | None = None
        for _ in range(self._lookback_pages):
            response = call_x(
                "DM conversation",
                self._client.get_direct_message_events,
                participant_id=recipient_id,
                max_results=100,
                pagination_token=page_token,
                event_types=["MessageCreate"],
                dm_event_fields=["id", "sender_id", "text", "created_at", "dm_conversation_id"],
                user_auth=True,
                clock=self._clock,
            )
            body = response_json(response, "DM conversation")
            for event in _list(body.get("data")):
                if (
                    event.get("sender_id") == self.brand_user_id
                    and comparable_text(str(event.get("text", ""))) == wanted
                    and isinstance(event.get("id"), str)
                ):
                    return str(event["id"])
            page_token = _next_token(body)
            if page_token is None:
                break
        return None


def _data_field(body: dict[str, Any], name: str, operation: str) -> str:
    """Return body['data'][name] as a string or fail loudly."""
    data = body.get("data")
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise PermanentPlatformError(f"X {operation}: response has no data.{name}: {body!r}")
    return value


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _replies_to(tweet: dict[str, Any], target_id: str) -> bool:
    return any(
        ref.get("type") == "replied_to" and ref.get("id") == target_id
        for ref in _list(tweet.get("referenced_tweets"))
    ) and isinstance(tweet.get("id"), str)


def _next_token(body: dict[str, Any]) -> str | None:
    meta = body.get("meta")
    token = meta.get("next_token") if isinstance(meta, dict) else None
    return token if isinstance(token, str) and token else None
