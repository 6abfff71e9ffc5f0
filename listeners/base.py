"""The Listener extension interface: one adapter per platform source."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from tactful.domain import CallbackPress, IncomingMessage, Platform, QuarantinedPayload


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """What the platform said about our remaining quota (from its rate-limit headers)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One poll's outcome: the messages, the cursor that covers them, and anything unparseable.

    `presses` are inline-button presses under the bot's own messages (the Telegram team chat);
    they are stored with the cursor, never as customer messages.
    """

    messages: list[IncomingMessage]
    cursor: str | None
    quarantined: list[QuarantinedPayload] = field(default_factory=list)
    rate_limit: RateLimitStatus | None = None
    presses: list[CallbackPress] = field(default_factory=list)


class Listener(ABC):
    """Pulls new messages from one platform source (an account's mentions, a search, a page).

    Implementations live in `listeners/<platform>.py` and are the only modules that import
    the platform SDK. Contract:

    * `key` is stable and unique (e.g. ``"x:mentions:1234"``); it names the stored cursor.
    * `fetch(cursor)` returns every message newer than `cursor` (``None`` means first run:
      start from "now", fetching at most one page of recent history), plus the cursor that
      covers them. The caller stores messages and cursor in one transaction, so a crash
      between fetch and commit simply repeats the fetch; duplicates are removed by the
      store's unique key (platform, external id).
    * Payload items that cannot be normalised go to `FetchResult.quarantined` with a reason;
      they never abort the fetch.
    * Failures are raised as `tactful.errors` types: `RateLimited` (with the reset time),
      `TransientPlatformError` (5xx, timeouts, connection errors), `AuthenticationFailed`.
      The polling coordinator owns retries, backoff and logging; adapters never sleep.
    """

    key: str
    platform: Platform

    @abstractmethod
    def fetch(self, cursor: str | None) -> FetchResult:
        """Return messages newer than `cursor` and the cursor covering them."""
