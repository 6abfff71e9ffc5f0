"""The Bot extension interface: one backend per platform, driven by outbox items."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tactful.domain import Platform
from tactful.errors import PermanentPlatformError


class SendKind(StrEnum):
    """What an outbox item asks a bot to do."""

    PUBLIC_REPLY = "public_reply"
    DIRECT_MESSAGE = "direct_message"
    PRIVATE_REPLY = "private_reply"
    HIDE = "hide"


@dataclass(frozen=True, slots=True)
class OutboundAction:
    """One side effect to perform, exactly as stored in the outbox.

    `fallback_text` is used by bots that cannot deliver a direct message (the user does not
    accept DMs, or never started the bot): they post it publicly in reply instead, with
    `private_link` as a link or button that opens the private channel (an X DM link, a
    Telegram ``t.me/<bot>?start=<token>`` deep link), and report `kind_used` accordingly.
    `source_created_at` is when the customer's message was written; platforms with a reply
    window (Messenger's 24 hours) refuse to send after it closes.
    """

    idempotency_key: str
    kind: SendKind
    platform: Platform
    thread_external_id: str
    target_external_id: str
    recipient_external_id: str
    text: str | None = None
    fallback_text: str | None = None
    private_link: str | None = None
    source_created_at: datetime | None = None


def required_text(action: OutboundAction) -> str:
    """Return the action's text, refusing (for good) an action that has none."""
    if not action.text:
        raise PermanentPlatformError(f"outbox item {action.idempotency_key} ({action.kind}) has no text")
    return action.text


@dataclass(frozen=True, slots=True)
class PrivateRoute:
    """How one platform takes a public conversation private, for one message.

    `kind` is the send that opens the private channel: a direct message (X, Telegram) or a
    private reply to a comment (Facebook). `link` opens the channel from a public reply when the
    direct message cannot be delivered (an X DM link, a Telegram ``t.me/<bot>?start=<token>``
    deep link); `token`, when set, is remembered so the private chat that the link opens joins
    the original thread.
    """

    kind: SendKind
    link: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform confirmed: its id for what we sent and how it was delivered."""

    platform_ref: str
    kind_used: SendKind
    detail: str = ""


class Bot(ABC):
    """Performs outbox actions on one platform (errbot-style: one interface, many backends).

    Contract:

    * `send(action)` performs the action once and returns the platform's id for it. It
      raises `tactful.errors.RateLimited` (with the reset time), `TransientPlatformError`
      (5xx, timeouts: the outbox retries with backoff), `RecipientUnreachable` or
      `PermanentPlatformError` (the outbox gives up and queues the item for a human),
      `AuthenticationFailed` (the channel is paused).
    * `find_sent(action)` is asked only after a crash left an item in "sending": it looks
      on the platform for what we may already have delivered for this action and returns
      its id, or ``None`` if nothing was delivered, so a restart never sends twice. Platforms
      with no way to look (Telegram) raise `tactful.errors.DeliveryUnknown`, and the item
      goes to a human instead of being sent again.
    * A send that failed with `TransientPlatformError` may still have been carried out (X
      may post a reply and answer 503). Where `finds_sent` is true, the outbox asks
      `find_sent` before it sends again; elsewhere it does so only when the error says
      `maybe_delivered` (a timeout), and a `DeliveryUnknown` answer hands the item to a human.
    * Bots never decide anything; the text and target come from the policy decision.
    """

    platform: Platform
    #: Whether `find_sent` can look on the platform (False where it raises DeliveryUnknown).
    finds_sent: bool = True

    @abstractmethod
    def send(self, action: OutboundAction) -> SendResult:
        """Perform the action on the platform and return its confirmation."""

    @abstractmethod
    def find_sent(self, action: OutboundAction) -> SendResult | None:
        """Return the delivery already made for this action, if any."""
