"""Builds each enabled platform's listeners, bot and private-channel route from settings."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from bots.base import Bot, PrivateRoute, SendKind
from listeners.base import Listener
from tactful.clock import Clock, SystemClock
from tactful.domain import Channel, IncomingMessage, Platform
from tactful.errors import ConfigurationError
from tactful.settings import FacebookSettings, Settings, TelegramSettings, XSettings, _Section
from tactful.web.receivers import FacebookWebhook, TelegramWebhook

PrivateRouter = Callable[[IncomingMessage], PrivateRoute | None]

#: The pause between two Telegram long polls. A long poll itself waits (up to
#: `poll_timeout_seconds`) until an update arrives, so a short pause costs nothing while idle;
#: under load every update would otherwise wait for it. Error backoff doubles from it.
LONG_POLL_PAUSE_SECONDS = 0.1

#: How often an X or Graph read that failed transiently is tried again at once: one poll may make
#: many requests (pages of mentions, one per Page post), and one failed request in many would
#: otherwise throw the whole poll away.
READ_RETRIES = 2

#: The longest a Messenger sender-name look-up may take: it runs while Meta waits for the
#: webhook's answer.
PROFILE_TIMEOUT_SECONDS = 3.0


@dataclass(slots=True)
class PlatformParts:
    """Everything tactful runs for one platform account."""

    platform: Platform
    account_id: str
    account_username: str
    poll_seconds: float
    listeners: list[Listener] = field(default_factory=list)
    bot: Bot | None = None
    private_route: PrivateRouter | None = None
    webhook: FacebookWebhook | TelegramWebhook | None = None  # when it listens by webhook
    on_start: list[Callable[[], None]] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)


def _required_secret(section: _Section, platform: str, name: str) -> str:
    value = section.secret(name)
    if not value:
        env = f"TACTFUL_{platform.upper()}__{name.upper()}"
        raise ConfigurationError(
            f"[{platform}] is enabled but {name} is missing: set {env} or {platform}.{name}_file"
        )
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
        bearer_token=_required_secret(settings, "x", "bearer_token"),
        consumer_key=_required_secret(settings, "x", "consumer_key"),
        consumer_secret=_required_secret(settings, "x", "consumer_secret"),
        access_token=_required_secret(settings, "x", "access_token"),
        access_token_secret=_required_secret(settings, "x", "access_token_secret"),
        timeout=settings.timeout_seconds,
        read_retries=READ_RETRIES,
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
        private_route=x_private_route(settings),
    )


def x_private_route(settings: XSettings) -> PrivateRouter:
    """On X a heated thread moves to a DM; the public fallback carries the brand's DM link."""
    from bots.x import x_dm_link

    route = PrivateRoute(SendKind.DIRECT_MESSAGE, link=x_dm_link(settings.user_id))
    return lambda _message: route


def build_facebook(settings: FacebookSettings, clock: Clock | None = None) -> PlatformParts:
    """Build the Facebook page's catch-up listeners and bot (facebook-sdk's GraphAPI)."""
    from bots.facebook import FacebookBot
    from listeners.facebook import FacebookCommentsListener, FacebookConversationsListener
    from listeners.facebook_client import GraphClient
    from listeners.facebook_profiles import MessengerProfiles

    if not settings.page_id:
        raise ConfigurationError("[facebook] is enabled but page_id is empty: set facebook.page_id")
    clock = clock or SystemClock()
    graph = GraphClient(
        _required_secret(settings, "facebook", "page_token"),
        graph_url=settings.graph_url,
        api_version=settings.api_version,
        timeout=settings.timeout_seconds,
        clock=clock,
        read_retries=READ_RETRIES,
    )
    # Sender names for Messenger webhooks: looked up while Meta waits for the answer, so quickly
    # and once (no retries); a sender left unnamed is still stored.
    profiles = GraphClient(
        _required_secret(settings, "facebook", "page_token"),
        graph_url=settings.graph_url,
        api_version=settings.api_version,
        timeout=min(settings.timeout_seconds, PROFILE_TIMEOUT_SECONDS),
        clock=clock,
    )
    webhook = FacebookWebhook(
        page_id=settings.page_id,
        app_secret=_required_secret(settings, "facebook", "app_secret"),
        verify_token=_required_secret(settings, "facebook", "verify_token"),
        sender_names=MessengerProfiles(profiles, clock),
    )
    return PlatformParts(
        platform=Platform.FACEBOOK,
        account_id=settings.page_id,
        account_username=settings.page_name,
        poll_seconds=settings.poll_seconds,
        listeners=[
            FacebookCommentsListener(graph, settings.page_id, clock=clock),
            FacebookConversationsListener(graph, settings.page_id, clock=clock),
        ],
        bot=FacebookBot(graph, settings.page_id, clock),
        private_route=facebook_private_route(),
        webhook=webhook,
    )


def facebook_private_route() -> PrivateRouter:
    """On Facebook a comment thread moves to Messenger with a private reply; Messenger is private already."""
    route = PrivateRoute(SendKind.PRIVATE_REPLY)
    return lambda message: route if message.channel == Channel.COMMENT else None


def build_telegram(settings: TelegramSettings, clock: Clock | None = None) -> PlatformParts:
    """Build the Telegram updates listener (long polling unless webhook mode) and bot (python-telegram-bot)."""
    from bots.telegram import TelegramBot
    from listeners.telegram import TelegramUpdatesListener
    from listeners.telegram_client import TelegramClient, TelegramTimeouts

    if not settings.bot_username:
        raise ConfigurationError(
            "[telegram] is enabled but bot_username is empty: set telegram.bot_username (for deep links)"
        )
    clock = clock or SystemClock()
    client = TelegramClient(
        _required_secret(settings, "telegram", "bot_token"),
        base_url=settings.api_base_url,
        timeouts=TelegramTimeouts(
            connect=settings.timeout_seconds,
            read=settings.timeout_seconds,  # get_updates adds the long-poll timeout itself
            write=settings.timeout_seconds,
            pool=settings.timeout_seconds,
        ),
        clock=clock,
    )
    listeners: list[Listener] = []
    webhook: TelegramWebhook | None = None
    staff_chats = (str(int(settings.team_chat_id)),) if settings.team_chat_id else ()
    if settings.mode == "webhook":
        secret = _required_secret(settings, "telegram", "webhook_secret")
        if not settings.webhook_url:
            raise ConfigurationError("[telegram] mode is webhook but webhook_url is empty")
        webhook = TelegramWebhook(
            bot_id=client.bot_id, bot_username=settings.bot_username, secret=secret, staff_chats=staff_chats
        )

        def start() -> None:
            client.set_webhook(
                settings.webhook_url, secret_token=secret, allowed_updates=["message", "callback_query"]
            )

    else:
        listeners.append(
            TelegramUpdatesListener(
                client,
                settings.bot_username,
                poll_timeout=settings.poll_timeout_seconds,
                staff_chats=staff_chats,
            )
        )

        def start() -> None:
            client.delete_webhook()  # getUpdates answers 409 while a webhook is set

    return PlatformParts(
        platform=Platform.TELEGRAM,
        account_id=client.bot_id,
        account_username=settings.bot_username,
        poll_seconds=LONG_POLL_PAUSE_SECONDS if settings.poll_timeout_seconds else 2.0,
        listeners=listeners,
        bot=TelegramBot(client, settings.bot_username, clock),
        private_route=telegram_private_route(settings),
        webhook=webhook,
        on_start=[start],
        closers=[client.close],
    )


def telegram_private_route(settings: TelegramSettings) -> PrivateRouter:
    """On Telegram a group thread moves to a private chat, opened by a deep link the bot cannot skip.

    The link's token is an HMAC of the thread under the bot token, so it cannot be guessed and is
    the same however often the decision is made.
    """
    from bots.telegram import deep_link

    key = _required_secret(settings, "telegram", "bot_token").encode("utf-8")
    username = settings.bot_username

    def route(message: IncomingMessage) -> PrivateRoute | None:
        if message.is_private:
            return None
        digest = hmac.new(key, f"thread:{message.thread_external_id}".encode(), hashlib.sha256).hexdigest()
        token = f"t{digest[:24]}"
        return PrivateRoute(SendKind.DIRECT_MESSAGE, link=deep_link(username, token), token=token)

    return route


def build_platforms(settings: Settings, clock: Clock | None = None) -> list[PlatformParts]:
    """Build every enabled platform; a misconfigured one is a ConfigurationError naming the key."""
    parts: list[PlatformParts] = []
    if settings.x.enabled:
        parts.append(build_x(settings.x))
    if settings.facebook.enabled:
        parts.append(build_facebook(settings.facebook, clock))
    if settings.telegram.enabled:
        parts.append(build_telegram(settings.telegram, clock))
    return parts


def private_routes(settings: Settings) -> dict[Platform, PrivateRouter]:
    """Build each enabled platform's private-channel route without creating API clients."""
    routes: dict[Platform, PrivateRouter] = {}
    if settings.x.enabled:
        routes[Platform.X] = x_private_route(settings.x)
    if settings.facebook.enabled:
        routes[Platform.FACEBOOK] = facebook_private_route()
    if settings.telegram.enabled:
        routes[Platform.TELEGRAM] = telegram_private_route(settings.telegram)
    return routes
