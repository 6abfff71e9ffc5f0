"""X listeners: the brand's mentions timeline and a recent-search query, normalised to IncomingMessage.

Both poll with ``since_id`` = the newest tweet id already seen (the cursor). The first run
(no cursor) takes one page of recent tweets; later runs follow every page so a burst is
fetched completely. Pages come newest first, so a failure on a later page raises and the
whole fetch is repeated rather than returning a partial result that would leave a gap.
"""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy

from listeners.base import FetchResult, Listener
from listeners.x_client import call_x, rate_limit_status, response_json
from tactful.clock import Clock
from tactful.domain import Author, Channel, IncomingMessage, Platform, QuarantinedPayload
from tactful.errors import TransientPlatformError
from tactful.payload_fields import (
    AUTHOR_ID_MAX,
    DISPLAY_NAME_MAX,
    USERNAME_MAX,
    brief,
    is_digits,
    language_tag,
    name,
    plausible,
    storable_text,
)

TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "in_reply_to_user_id",
    "lang",
    "referenced_tweets",
]
EXPANSIONS = ["author_id", "referenced_tweets.id", "in_reply_to_user_id"]
USER_FIELDS = ["name", "username"]
MAX_PAGE_SIZE = 100
MAX_ID_DIGITS = 20
"""X ids are unsigned 64-bit numbers: at most 20 digits."""


class XTweetListener(Listener):
    """Shared polling, paging and normalisation for X tweet timelines."""

    platform = Platform.X
    channel: Channel

    def __init__(self, client: tweepy.Client, *, page_size: int = MAX_PAGE_SIZE, clock: Clock | None = None):
        if not 10 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError("page_size must be between 10 and 100")
        self._client = client
        self._page_size = page_size
        self._clock = clock

    @abstractmethod
    def _request_page(self, since_id: str | None, page_token: str | None) -> requests.Response:
        """Request one page newer than `since_id`, continuing from `page_token`."""

    def fetch(self, cursor: str | None) -> FetchResult:
        """Return tweets newer than `cursor` (a tweet id), oldest first, and the newest id seen."""
        messages: list[IncomingMessage] = []
        quarantined: list[QuarantinedPayload] = []
        newest = cursor
        page_token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            response = self._request_page(cursor, page_token)
            body = response_json(response, self.key)
            page_messages, page_quarantined, page_newest = self._normalise_page(body)
            messages.extend(page_messages)
            quarantined.extend(page_quarantined)
            newest = _max_id(newest, page_newest)
            if cursor is None:
                break
            meta = body.get("meta")
            next_token = meta.get("next_token") if isinstance(meta, dict) else None
            if not isinstance(next_token, str) or not next_token:
                break
            if next_token in seen_tokens:
                raise TransientPlatformError(f"X {self.key}: pagination token {next_token!r} repeated")
            seen_tokens.add(next_token)
            page_token = next_token
        messages.sort(key=lambda message: int(message.external_id))
        return FetchResult(
            messages=messages,
            cursor=newest,
            quarantined=quarantined,
            rate_limit=rate_limit_status(response),
        )

    def _normalise_page(
        self, body: dict[str, Any]
    ) -> tuple[list[IncomingMessage], list[QuarantinedPayload], str | None]:
        """Normalise one response page; returns messages, rejects and the newest id on it."""
        data = body.get("data") or []
        includes = body.get("includes")
        listed = includes.get("users") if isinstance(includes, dict) else None
        users: dict[str, dict[str, Any]] = {}
        for user in listed if isinstance(listed, list) else []:
            if isinstance(user, dict) and is_digits(user.get("id"), AUTHOR_ID_MAX):
                users[user["id"]] = user
        messages: list[IncomingMessage] = []
        quarantined: list[QuarantinedPayload] = []
        newest: str | None = None
        meta = body.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("newest_id"), str):
            newest = _max_id(newest, meta["newest_id"])
        if not isinstance(data, list):
            quarantined.append(self._quarantine(data, "response 'data' is not a list"))
            return messages, quarantined, newest
        for item in data:
            result = normalise_tweet(item, users, self.channel)
            if isinstance(result, str):
                quarantined.append(self._quarantine(item, result))
                if isinstance(item, dict):
                    newest = _max_id(newest, item.get("id"))
            else:
                messages.append(result)
                newest = _max_id(newest, result.external_id)
        return messages, quarantined, newest

    def _quarantine(self, item: Any, reason: str) -> QuarantinedPayload:
        try:
            payload = json.dumps(item, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError):
            payload = repr(item)
        return QuarantinedPayload(source=self.key, reason=reason, payload=payload)

    def _common_params(self, since_id: str | None) -> dict[str, Any]:
        return {
            "since_id": since_id,
            "max_results": self._page_size,
            "tweet_fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user_fields": USER_FIELDS,
        }


class XMentionsListener(XTweetListener):
    """Tweets that @mention (or reply to) the brand account."""

    channel = Channel.MENTION

    def __init__(
        self,
        client: tweepy.Client,
        brand_user_id: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(client, page_size=page_size, clock=clock)
        self.brand_user_id = brand_user_id
        self.key = f"x:mentions:{brand_user_id}"

    def _request_page(self, since_id: str | None, page_token: str | None) -> requests.Response:
        return call_x(
            "mentions",
            self._client.get_users_mentions,
            self.brand_user_id,
            pagination_token=page_token,
            clock=self._clock,
            **self._common_params(since_id),
        )


class XSearchListener(XTweetListener):
    """Tweets matching a recent-search query (e.g. the brand name without the @)."""

    channel = Channel.SEARCH

    def __init__(
        self,
        client: tweepy.Client,
        query: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        clock: Clock | None = None,
    ) -> None:
        if not query.strip():
            raise ValueError("X search query must not be empty")
        super().__init__(client, page_size=page_size, clock=clock)
        self.query = query
        self.key = f"x:search:{search_key_hash(query)}"

    def _request_page(self, since_id: str | None, page_token: str | None) -> requests.Response:
        return call_x(
            "search",
            self._client.search_recent_tweets,
            self.query,
            next_token=page_token,
            clock=self._clock,
            **self._common_params(since_id),
        )


def search_key_hash(query: str) -> str:
    """Return a short stable hash of a search query, for listener keys."""
    return hashlib.sha256(query.strip().encode("utf-8")).hexdigest()[:12]


def normalise_tweet(tweet: Any, users: dict[str, dict[str, Any]], channel: Channel) -> IncomingMessage | str:
    """Turn one v2 tweet object into an IncomingMessage, or return why it cannot be."""
    if not isinstance(tweet, dict):
        return f"tweet is a {type(tweet).__name__}, not a JSON object"
    tweet_id = tweet.get("id")
    if not is_digits(tweet_id, MAX_ID_DIGITS):
        return "missing or non-numeric 'id'" if tweet_id is None else f"invalid 'id' {brief(tweet_id)}"
    text = tweet.get("text")
    if not isinstance(text, str):
        return (
            f"tweet {tweet_id}: missing 'text'"
            if text is None
            else f"tweet {tweet_id}: 'text' is not a string"
        )
    author_id = tweet.get("author_id")
    if not isinstance(author_id, str) or not author_id:
        return f"tweet {tweet_id}: missing 'author_id'"
    if not is_digits(author_id, MAX_ID_DIGITS):
        return f"tweet {tweet_id}: invalid 'author_id' {brief(author_id)}"
    created_at = plausible(_parse_time(tweet.get("created_at")))
    if created_at is None:
        return f"tweet {tweet_id}: missing or invalid 'created_at' {brief(tweet.get('created_at'))}"
    in_reply_to = None
    refs = tweet.get("referenced_tweets")
    if isinstance(refs, list):
        for ref in refs:
            if (
                isinstance(ref, dict)
                and ref.get("type") == "replied_to"
                and is_digits(ref.get("id"), MAX_ID_DIGITS)
            ):
                in_reply_to = ref["id"]
                break
    conversation_id = tweet.get("conversation_id")
    user = users.get(author_id, {})
    return IncomingMessage(
        platform=Platform.X,
        channel=channel,
        external_id=tweet_id,
        thread_external_id=conversation_id if is_digits(conversation_id, MAX_ID_DIGITS) else tweet_id,
        author=Author(
            platform=Platform.X,
            external_id=author_id,
            username=name(user.get("username"), USERNAME_MAX),
            display_name=name(user.get("name"), DISPLAY_NAME_MAX),
        ),
        text=storable_text(text),
        created_at=created_at,
        in_reply_to_external_id=in_reply_to,
        language_hint=language_tag(tweet.get("lang")),
        raw=tweet,
    )


def _parse_time(value: Any) -> datetime | None:
    """Parse X's ISO-8601 timestamps (2026-01-05T09:00:00.000Z) into aware UTC datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # Converting a time at the edge of the calendar (0001-01-01T00:00+05:00) overflows.
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _max_id(current: str | None, candidate: Any) -> str | None:
    """Return the numerically larger of two tweet ids (ignoring non-numeric candidates)."""
    if not is_digits(candidate, MAX_ID_DIGITS):
        return current
    if current is None or int(candidate) > int(current):
        return candidate
    return current
