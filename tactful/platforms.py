"""Builds each enabled platform's listeners, bot and private-channel link from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bots.base import Bot
from listeners.base import Listener
from tactful.domain import IncomingMessage, Platform
from tactful.errors import ConfigurationError
from tactful.settings import Settings, XSettings

PrivateLink = Callable[[IncomingMessage], str | None]


@dataclass(slots=True)
class PlatformParts:
    """Everything tactful runs for one platform account."""

    platform: Platform
    account_id: str
    account_username: str
    poll_seconds: float
    listeners: list[Listener] = field(default_factory=list)
    bot: Bot | None = None
    private_link: PrivateLink | None = None


def _required_secret(section: XSettings, name: str, env: str) -> str:
    value = section.secret(name)
    if not value:
        raise ConfigurationError(f"[x] is enabled but {name} is missing: set {env} or x.{name}_file")
    return value


def build_x(settings: XSettings) -> PlatformParts:
    """Build the X listeners and bot (tweepy) for the configured brand account."""
    from bots.x import XBot
    from listeners.x import XMentionsListener, XSearchListener
    from listeners.x_client import make_x_client

    if not settings.user_id:
        raise ConfigurationError(
            "[x] is enabled but user_id is empty: set x.user_id to the brand account's id"
        )
    client = make_x_client(
        api_base_url=settings.api_base_url,
        bearer_token=_required_secret(settings, "bearer_token", "TACTFUL_X__BEARER_TOKEN"),
        consumer_key=_required_secret(settings, "consumer_key", "TACTFUL_X__CONSUMER_KEY"),
        consumer_secret=_required_secret(settings, "consumer_secret", "TACTFUL_X__CONSUMER_SECRET"),
        access_token=_required_secret(settings, "access_token", "TACTFUL_X__ACCESS_TOKEN"),
        access_token_secret=_required_secret(
            settings, "access_token_secret", "TACTFUL_X__ACCESS_TOKEN_SECRET"
        ),
        timeout=settings.timeout_seconds,
    )
    listeners: list[Listener] = [XMentionsListener(client, settings.user_id)]
    if settings.search_query:
        listeners.append(XSearchListener(client, settings.search_query))
    return PlatformParts(
        platform=Platform.X,
        account_id=settings.user_id,
        account_username=settings.username,
        poll_seconds=settings.poll_seconds,
        listeners=listeners,
        bot=XBot(client, settings.user_id),
        private_link=x_private_link(settings),
    )


def x_private_link(settings: XSettings) -> PrivateLink:
    """Return the X private-channel link maker: the brand's DM deep link."""
    from bots.x import x_dm_link

    link = x_dm_link(settings.user_id)
    return lambda _message: link


def private_links(settings: Settings) -> dict[Platform, PrivateLink]:
    """Build each enabled platform's private-channel link maker without creating API clients."""
    links: dict[Platform, PrivateLink] = {}
    if settings.x.enabled:
        links[Platform.X] = x_private_link(settings.x)
    return links


def build_platforms(settings: Settings) -> list[PlatformParts]:
    """Build every enabled platform; a misconfigured one is a ConfigurationError naming the key."""
    parts: list[PlatformParts] = []
    if settings.x.enabled:
        parts.append(build_x(settings.x))
    return parts
