"""Platform-neutral failures that adapters raise so the coordinator and outbox can react uniformly."""

from __future__ import annotations

from datetime import datetime


class TactfulError(Exception):
    """Base of every error tactful raises on purpose."""


class PlatformError(TactfulError):
    """A platform API call failed."""


class RateLimited(PlatformError):
    """The platform throttled us; do not call again before `retry_at` (UTC)."""

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class TransientPlatformError(PlatformError):
    """A 5xx, timeout or connection failure: retry later with backoff.

    `maybe_delivered` says the request may have taken effect although no answer came back
    (a timeout after it was sent): the outbox then looks for the delivery before a resend.
    """

    def __init__(self, message: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class AuthenticationFailed(PlatformError):
    """Credentials were refused: pause the channel and alert a human."""


class RecipientUnreachable(PlatformError):
    """The platform refuses this send for good (DMs closed, window expired, user blocked the bot)."""


class DeliveryUnknown(PlatformError):
    """After a crash, the platform offers no way to tell whether a send was delivered.

    Raised by `Bot.find_sent` on platforms without a history lookup (Telegram); the outbox
    then hands the item to a human instead of risking a second send.
    """


class PermanentPlatformError(PlatformError):
    """Any other refusal that retrying will not fix (bad request, deleted target)."""


class ConfigurationError(TactfulError):
    """Settings or a policy file are invalid; the message names the file and field."""
