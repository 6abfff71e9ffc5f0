"""What the dashboard needs to run: the session secret, cookie policy, the policy in force, private routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from storage.queue_actions import PrivateRouter
from tactful.errors import ConfigurationError
from tactful.policy_source import ActivePolicy
from tactful.settings import Settings

SECRET_MIN = 32


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """The dashboard's configuration.

    `session_secret` keys the session ids stored in the database and the CSRF tokens; changing
    it logs everyone out. `private_routes` maps a platform name to its private-channel route
    (`tactful.platforms.private_routes`), for "move to private". `policy` returns the policy in
    force, for the managers' policy page.
    """

    session_secret: str = field(repr=False)
    secure_cookies: bool = True
    session_lifetime: timedelta = timedelta(hours=12)
    policy: Callable[[], ActivePolicy] | None = None
    private_routes: Mapping[str, PrivateRouter] = field(default_factory=dict)
    login_max_failures: int = 5
    login_window: timedelta = timedelta(minutes=15)
    poll_seconds: float = 5.0
    badge_counts_automated: bool = False  # `[stats] badge_counts_automated`, for the stats page

    def __post_init__(self) -> None:
        if len(self.session_secret) < SECRET_MIN:
            raise ConfigurationError(f"[web] session_secret must be at least {SECRET_MIN} characters")


def dashboard_config(
    settings: Settings,
    policy: Callable[[], ActivePolicy] | None = None,
    private_routes: Mapping[str, PrivateRouter] | None = None,
) -> DashboardConfig:
    """Build the dashboard's configuration from settings; a missing or short session secret is refused."""
    web = settings.web
    secret = web.secret("session_secret")
    if not secret:
        raise ConfigurationError(
            "[web] dashboard is enabled but session_secret is missing: set TACTFUL_WEB__SESSION_SECRET "
            f"or web.session_secret_file (at least {SECRET_MIN} random characters, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or set [web] dashboard = false"
        )
    if len(secret) < SECRET_MIN:
        raise ConfigurationError(
            f"[web] session_secret is {len(secret)} characters; use at least {SECRET_MIN} random ones"
        )
    return DashboardConfig(
        session_secret=secret,
        secure_cookies=web.cookies_secure(),
        session_lifetime=timedelta(hours=web.session_hours),
        policy=policy,
        private_routes=dict(private_routes or {}),
        badge_counts_automated=settings.stats.badge_counts_automated,
    )
