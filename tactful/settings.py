"""Settings from `tactful.toml`, overridable by `TACTFUL_<SECTION>__<KEY>` environment variables.

Secrets (tokens, app secrets) are accepted only from the environment or from `<name>_file`
paths; they are held as `SecretStr`, so they never appear in a repr or a log line.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tactful.domain import Platform
from tactful.errors import ConfigurationError

CONFIG_ENV = "TACTFUL_CONFIG"
DEFAULT_CONFIG_NAME = "tactful.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def secret(self, name: str) -> str | None:
        """Return a secret's plain value from the env-provided field or its `<name>_file` path."""
        value = getattr(self, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            return value.get_secret_value()
        path = getattr(self, f"{name}_file", None)
        if path:
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(f"cannot read {name}_file {path}: {exc.strerror}") from exc
        return None


class StorageSettings(_Section):
    """Where tactful keeps its state."""

    url: str = "sqlite:///./tactful.db"


class PolicySettings(_Section):
    """Which conduct policy drives decisions (default: the shipped `policies/default.yaml`).

    `path` may list several files: they are layered in order, later ones overriding earlier ones
    (see docs/policy.md, "Layering"). Every `reload_seconds` the running service looks at them
    and puts changes that pass `tactful policy check` in force (0: never; restart to change).
    """

    path: Path | list[Path] | None = None
    reload_seconds: float = Field(default=2.0, ge=0)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class WebSettings(_Section):
    """Dashboard and webhook endpoint address, and the dashboard's sessions.

    `secure_cookies` unset means: Secure cookies unless `host` is a loopback address
    (127.0.0.1, localhost, ::1), where plain HTTP is the usual way in. `public_url` is the
    dashboard's address as people open it (behind a proxy, e.g. ``https://tactful.example.com``),
    used in links the team chat posts; empty means ``http://<host>:<port>``.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    dashboard: bool = True
    secure_cookies: bool | None = None
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    session_secret: SecretStr | None = None
    session_secret_file: Path | None = None
    public_url: str = Field(default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")

    def cookies_secure(self) -> bool:
        """Whether session cookies carry the Secure flag (HTTPS only)."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.host.strip().lower() not in LOOPBACK_HOSTS

    def dashboard_url(self) -> str:
        """The dashboard's address as people reach it: `public_url`, else ``http://<host>:<port>``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host.strip()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        return f"http://{host}:{self.port}"


class ProcessingSettings(_Section):
    """How the moderation/decision and outbox stages run.

    `workers` is the number of processing processes (about one per core); each owns a share of
    the threads. 0 processes in the service process itself (small deployments, tests).
    Several `tactful run` processes may share one PostgreSQL database (docs/deploy.md): the
    threads fall into `partitions` fixed partitions (``thread id % partitions``; the same number in
    every process), each held by one worker at a time through a lease, and each listener is polled
    by one process at a time. A lease not renewed for `lease_seconds` (a listener's: at least three
    poll intervals) is taken over by another process, which is how long the work of a killed
    process waits.
    `shadow` lists the channels in dry-run mode, as `platform` (all its channels) or
    `platform:channel` (`x`, `facebook:direct`, `telegram:group`): their messages are decided and
    recorded as always, but what the policy would send or hide is only recorded (outbox status
    `shadow`), never sent.
    `interval_seconds` is how long an idle worker waits before looking for new messages again and
    `send_interval_seconds` how often the outbox is checked: together with the platform's own
    delivery they bound how fast a message is acknowledged (0.25 each keeps the 99th percentile
    under a second at 50 messages/s; `python -m bench --only latency`).
    """

    batch_size: int = Field(default=500, ge=1, le=20000)
    interval_seconds: float = Field(default=0.25, gt=0)
    send_interval_seconds: float = Field(default=0.25, gt=0)
    max_send_attempts: int = Field(default=6, ge=1)
    workers: int = Field(default=2, ge=0, le=64)
    claim_lease_seconds: float = Field(default=60.0, gt=0)
    partitions: int = Field(default=16, ge=1, le=1024)
    lease_seconds: float = Field(default=30.0, ge=1)
    shadow: list[str] = Field(default_factory=list)

    @field_validator("shadow")
    @classmethod
    def _known_channels(cls, entries: list[str]) -> list[str]:
        from policies.schema import PLATFORM_CHANNELS

        known = {
            platform.value: {c.value for c in channels} for platform, channels in PLATFORM_CHANNELS.items()
        }
        for entry in entries:
            platform, _, channel = entry.strip().lower().partition(":")
            if platform not in known:
                raise ValueError(
                    f"shadow entry {entry!r}: unknown platform (one of {', '.join(sorted(known))})"
                )
            if channel and channel not in known[platform]:
                channels = ", ".join(sorted(known[platform]))
                raise ValueError(f"shadow entry {entry!r}: {platform} has no {channel} channel ({channels})")
        return [entry.strip().lower() for entry in entries]

    def shadow_channels(self) -> frozenset[tuple[str, str]]:
        """Return the (platform, channel) pairs in shadow mode, `platform` entries expanded."""
        from policies.schema import PLATFORM_CHANNELS

        pairs: set[tuple[str, str]] = set()
        for entry in self.shadow:
            platform, _, channel = entry.partition(":")
            channels = [channel] if channel else [c.value for c in PLATFORM_CHANNELS[Platform(platform)]]
            pairs.update((platform, name) for name in channels)
        return frozenset(pairs)


class ModerationSettings(_Section):
    """Which models classify messages: the default ones, or those `tactful train` wrote to `model_dir`."""

    model_dir: Path | None = None


class XSettings(_Section):
    """The X (Twitter) account tactful watches and answers for."""

    enabled: bool = False
    user_id: str = ""
    username: str = ""
    search_query: str = ""
    api_base_url: str = "https://api.twitter.com"
    poll_seconds: float = Field(default=60.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    consumer_key: SecretStr | None = None
    consumer_key_file: Path | None = None
    consumer_secret: SecretStr | None = None
    consumer_secret_file: Path | None = None
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    access_token_secret: SecretStr | None = None
    access_token_secret_file: Path | None = None


class FacebookSettings(_Section):
    """The Facebook page tactful watches (comments and Messenger) and answers for."""

    enabled: bool = False
    page_id: str = ""
    page_name: str = ""
    graph_url: str = "https://graph.facebook.com"
    api_version: str = Field(default="v21.0", pattern=r"^v\d{1,2}\.\d$")
    poll_seconds: float = Field(default=300.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    page_token: SecretStr | None = None
    page_token_file: Path | None = None
    app_secret: SecretStr | None = None
    app_secret_file: Path | None = None
    verify_token: SecretStr | None = None
    verify_token_file: Path | None = None


class TelegramSettings(_Section):
    """The Telegram bot tactful speaks through in the brand's groups and private chats."""

    enabled: bool = False
    bot_username: str = ""
    api_base_url: str = "https://api.telegram.org/bot"
    team_chat_id: str = Field(default="", pattern=r"^(-?[0-9]{1,20})?$")
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    poll_timeout_seconds: int = Field(default=20, ge=0, le=50)
    timeout_seconds: float = Field(default=10.0, gt=0)
    bot_token: SecretStr | None = None
    bot_token_file: Path | None = None
    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None


class TeamChatSettings(_Section):
    """Which review items are announced in the Telegram team chat (`[telegram] team_chat_id`).

    An open item is announced once when its priority is at least `min_priority` and it is at most
    `max_age_hours` old, or when its due time is within `due_within_minutes` (or passed less than
    `max_age_hours` ago: turning the team chat on does not replay an old backlog).
    `interval_seconds` is how often announcements, button presses and message updates run.
    """

    min_priority: int = Field(default=80, ge=0)
    max_age_hours: float = Field(default=24.0, gt=0)
    due_within_minutes: float = Field(default=30.0, ge=0)
    interval_seconds: float = Field(default=1.0, gt=0)


class StatsSettings(_Section):
    """Response-time metrics (docs/stats.md) and the Messenger badge alerts in the team chat.

    `badge_counts_automated`: count automation's replies toward the Messenger badge (Meta counts
    replies sent through the API but not instant replies; off by default, the safer reading).
    `badge_alerts`: post an alert in the team chat when the badge is at risk or lost, at most
    once per Page, level and UTC day; `badge_check_minutes`: how often the badge is checked.
    """

    badge_counts_automated: bool = False
    badge_alerts: bool = True
    badge_check_minutes: float = Field(default=5.0, gt=0)


SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "x": ("bearer_token", "consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    "facebook": ("page_token", "app_secret", "verify_token"),
    "telegram": ("bot_token", "webhook_secret"),
    "web": ("session_secret",),
}


class Settings(BaseSettings):
    """All of tactful's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="TACTFUL_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    storage: StorageSettings = StorageSettings()
    policy: PolicySettings = PolicySettings()
    web: WebSettings = WebSettings()
    processing: ProcessingSettings = ProcessingSettings()
    moderation: ModerationSettings = ModerationSettings()
    x: XSettings = XSettings()
    facebook: FacebookSettings = FacebookSettings()
    telegram: TelegramSettings = TelegramSettings()
    team_chat: TeamChatSettings = TeamChatSettings()
    stats: StatsSettings = StatsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment wins over the file (passed as init values), as documented."""
        return (env_settings, init_settings)


def _check_no_secrets_in_file(data: dict[str, Any], path: Path) -> None:
    for section, keys in SECRET_KEYS.items():
        table = data.get(section) or {}
        for key in keys:
            if key in table:
                env = f"TACTFUL_{section.upper()}__{key.upper()}"
                raise ConfigurationError(
                    f"{path}: [{section}] {key}: secrets are not read from the config file; "
                    f"set {env} or {key}_file = <path>"
                )


def resolve_config_path(explicit: str | Path | None) -> Path | None:
    """Return the config file to read: `--config`, then `$TACTFUL_CONFIG`, then ./tactful.toml if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.exists() else None


def _beside(config: Path, path: Path) -> Path:
    """Resolve a relative path against the config file's directory."""
    return path if path.is_absolute() else (config.parent / path).resolve()


def load_settings(config: str | Path | None = None) -> Settings:
    """Load settings from the TOML file (if any) and the environment, with clear errors."""
    path = resolve_config_path(config)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: invalid TOML: {exc}") from exc
        _check_no_secrets_in_file(data, path)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        where = str(path) if path else "environment"
        raise ConfigurationError(f"{where}: invalid settings: {problems}") from exc
    policy_path = settings.policy.path
    if path is not None and isinstance(policy_path, Path):
        settings.policy.path = _beside(path, policy_path)
    elif path is not None and isinstance(policy_path, list):
        settings.policy.path = [_beside(path, item) for item in policy_path]
    model_dir = settings.moderation.model_dir
    if model_dir is not None and path is not None and not model_dir.is_absolute():
        settings.moderation.model_dir = (path.parent / model_dir).resolve()
    if path is not None:
        for section_name, keys in SECRET_KEYS.items():
            section = getattr(settings, section_name)
            for key in keys:
                secret_file = getattr(section, f"{key}_file", None)
                if secret_file is not None and not secret_file.is_absolute():
                    setattr(section, f"{key}_file", (path.parent / secret_file).resolve())
    return settings
