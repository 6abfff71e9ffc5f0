"""What each webhook endpoint needs to authenticate and file deliveries (no SDK or web imports)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FacebookWebhook:
    """What the Facebook endpoint needs: the page and the two secrets that authenticate Meta."""

    page_id: str
    app_secret: str = field(repr=False)  # secrets never appear in a repr or log line
    verify_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TelegramWebhook:
    """What the Telegram endpoint needs: the bot's name and the secret token set with setWebhook.

    `staff_chats` are chats whose messages are the team's (the team chat), never stored as customers'.
    """

    bot_id: str
    bot_username: str
    secret: str = field(repr=False)
    staff_chats: tuple[str, ...] = ()
