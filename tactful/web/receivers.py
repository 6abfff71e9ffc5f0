"""What each webhook endpoint needs to authenticate and file deliveries (no SDK or web imports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class SenderNames(Protocol):
    """Finds the names of senders a webhook delivery identifies only by id (Messenger)."""

    def names(self, sender_ids: Sequence[str]) -> dict[str, str]:
        """Return the display names found for these ids; ids it could not name are left out."""
        ...


@dataclass(frozen=True, slots=True)
class FacebookWebhook:
    """What the Facebook endpoint needs: the page, the two secrets that authenticate Meta, and
    where to find the names of Messenger senders (webhooks carry only their ids)."""

    page_id: str
    app_secret: str = field(repr=False)  # secrets never appear in a repr or log line
    verify_token: str = field(repr=False)
    sender_names: SenderNames | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class TelegramWebhook:
    """What the Telegram endpoint needs: the bot's name and the secret token set with setWebhook.

    `staff_chats` are chats whose messages are the team's (the team chat), never stored as customers'.
    """

    bot_id: str
    bot_username: str
    secret: str = field(repr=False)
    staff_chats: tuple[str, ...] = ()
