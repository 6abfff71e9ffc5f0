"""`tactful demo`: the real service against the X, Facebook and Telegram simulators, with scripted customer traffic."""

from __future__ import annotations

import logging
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from pydantic import SecretStr

from bots.outbox import SentEvent
from listeners.base import FetchResult, Listener
from simulator.facebook import FacebookSimulator
from simulator.facebook_script import FacebookScript, load_facebook_script, play_facebook, prepare_facebook
from simulator.script import Played, TrafficScript, load_script, play_x
from simulator.telegram import TelegramSimulator
from simulator.telegram_script import TelegramPlayer, TelegramScript, load_telegram_script, prepare_telegram
from simulator.x import XSimulator
from storage.ingest import IngestStats
from tactful.demo_summary import DemoResult, DemoSources, collect_result, print_summary
from tactful.processing import ProcessedMessage
from tactful.service import Observers, Service, ServiceRunner, build_service
from tactful.settings import (
    FacebookSettings,
    ProcessingSettings,
    Settings,
    StorageSettings,
    TelegramSettings,
    WebSettings,
    XSettings,
)

# Demo-only credentials, shared by the simulators and the service; nothing real is ever used.
DEMO_SECRET = "demo-only-not-a-real-secret"  # noqa: S105
FACEBOOK_PAGE_TOKEN = "demo-only-page-token"  # noqa: S105
FACEBOOK_APP_SECRET = "demo-only-app-secret"  # noqa: S105
FACEBOOK_VERIFY_TOKEN = "demo-only-verify-token"  # noqa: S105
TELEGRAM_BOT_TOKEN = "7000000001:demo-only-not-a-real-bot-token"  # noqa: S105
FACEBOOK_POLL_SECONDS = 5.0
DEMO_USER = "demo"


def _short(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class DemoPrinter:
    """Prints what happens as it happens, and keeps the tallies for the summary."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.categories: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()

    def print_line(self, line: str) -> None:
        """Print one line whole, even when several threads report at once."""
        with self.lock:
            print(line, file=self.out, flush=True)

    def polled(self, listener: Listener, result: FetchResult, stats: IngestStats) -> None:
        """Report newly stored messages (and, for catch-up polls, what webhooks had already stored)."""
        if stats.stored or stats.duplicates:
            known = f", {stats.duplicates} already stored" if stats.duplicates else ""
            self.print_line(f"[in]      {listener.key}: {stats.stored} new message(s){known}")

    def processed(self, item: ProcessedMessage) -> None:
        """Report a verdict and the decision taken."""
        v, d, m = item.verdict, item.decision, item.message
        self.categories[v.category.value] += 1
        kinds = [type(a).__name__ for a in d.actions]
        self.actions.update(kinds)
        who = (
            f"@{m.author.username}"
            if m.author.username
            else m.author.display_name or f"#{m.author.external_id}"
        )
        self.print_line(
            f"[message] {m.platform.value} {m.channel.value} {who}: {_short(m.text)}\n"
            f"          verdict {v.category.value} ({v.language}, sentiment {v.sentiment_score:+.2f}, "
            f"toxicity {v.toxicity:.2f}, heat {item.heat:.2f}) — {_short(v.explanation, 100)}\n"
            f"          rule {d.rule_id} -> {', '.join(kinds) or 'nothing'}"
        )

    def sent_event(self, event: SentEvent) -> None:
        """Report a delivery confirmed by the platform."""
        entry, result = event.entry, event.result
        how = f" ({result.detail})" if result.detail else ""
        # A private message that could not be delivered went out as the public invitation instead.
        fell_back = result.kind_used.value != entry.kind and entry.fallback_text
        text = entry.fallback_text if fell_back else entry.text
        self.print_line(
            f"[sent]    {entry.platform} {result.kind_used.value} for {entry.target_external_id} "
            f"(rule {entry.rule_id}){how}: {_short(text or '', 100)}"
        )


class _WebhookLines(logging.Handler):
    """Shows what the webhook endpoint stored as `[in]` lines (webhook deliveries have no poll observer)."""

    def __init__(self, printer: DemoPrinter) -> None:
        super().__init__(logging.INFO)
        self._printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        """Print one webhook log record in the demo's format."""
        tag = "[in]     " if record.levelno < logging.WARNING else "[warning]"
        self._printer.print_line(f"{tag} {record.getMessage()}")


@contextmanager
def _demo_logging(printer: DemoPrinter) -> Iterator[None]:
    """Silence per-request HTTP client logs and print webhook deliveries in the demo's own format."""
    httpx, hooks = logging.getLogger("httpx"), logging.getLogger("tactful.web.webhooks")
    saved = (httpx.level, hooks.level, hooks.propagate)
    handler = _WebhookLines(printer)
    httpx.setLevel(logging.WARNING)
    hooks.setLevel(logging.INFO)
    hooks.addHandler(handler)
    hooks.propagate = False
    try:
        yield
    finally:
        hooks.removeHandler(handler)
        httpx.setLevel(saved[0])
        hooks.setLevel(saved[1])
        hooks.propagate = saved[2]


@dataclass(frozen=True, slots=True)
class DemoScripts:
    """The packaged traffic for the three platforms."""

    x: TrafficScript
    facebook: FacebookScript
    telegram: TelegramScript

    @classmethod
    def load(cls) -> DemoScripts:
        """Load the packaged demo scripts."""
        return cls(load_script(), load_facebook_script(), load_telegram_script())


@dataclass(frozen=True, slots=True)
class DemoSimulators:
    """The three simulators, each on its own loopback port."""

    x: XSimulator
    facebook: FacebookSimulator
    telegram: TelegramSimulator

    @classmethod
    def create(cls, scripts: DemoScripts) -> DemoSimulators:
        """Build (not start) the simulators for the scripts' brand accounts."""
        return cls(
            XSimulator(brand_user_id=scripts.x.brand_user_id, brand_username=scripts.x.brand_username),
            FacebookSimulator(
                scripts.facebook.page_id,
                FACEBOOK_PAGE_TOKEN,
                app_secret=FACEBOOK_APP_SECRET,
                page_name=scripts.facebook.page_name,
            ),
            TelegramSimulator(
                TELEGRAM_BOT_TOKEN, scripts.telegram.bot_username, bot_first_name=scripts.telegram.bot_name
            ),
        )

    def start(self) -> None:
        """Start serving all three."""
        self.x.start()
        self.facebook.start()
        self.telegram.start()

    def stop(self) -> None:
        """Stop all three (releasing any Telegram long poll)."""
        for sim in (self.telegram, self.facebook, self.x):
            sim.stop()


def demo_settings(workdir: Path, sims: DemoSimulators, scripts: DemoScripts) -> Settings:
    """Settings for a demo run: SQLite in `workdir`, every platform pointed at its simulator, fast polling.

    The web server (Facebook webhooks and the dashboard, with a session secret made for this
    run) takes any free port; processing runs in this process so every verdict can be printed live.
    """
    secret = SecretStr(DEMO_SECRET)
    x, fb, tg = scripts.x, scripts.facebook, scripts.telegram
    return Settings(
        storage=StorageSettings(url=f"sqlite:///{workdir / 'tactful.db'}"),
        web=WebSettings(
            host="127.0.0.1",
            port=0,
            secure_cookies=False,
            session_secret=SecretStr(secrets.token_urlsafe(32)),  # ephemeral: this run's sessions only
        ),
        processing=ProcessingSettings(interval_seconds=0.5, send_interval_seconds=0.5, workers=0),
        x=XSettings(
            enabled=True,
            user_id=x.brand_user_id,
            username=x.brand_username,
            search_query=f"{x.brand_username} -from:{x.brand_username} -is:retweet",
            api_base_url=sims.x.base_url,
            poll_seconds=2.0,
            bearer_token=secret,
            consumer_key=secret,
            consumer_secret=secret,
            access_token=secret,
            access_token_secret=secret,
        ),
        facebook=FacebookSettings(
            enabled=True,
            page_id=fb.page_id,
            page_name=fb.page_name,
            graph_url=sims.facebook.base_url,
            poll_seconds=FACEBOOK_POLL_SECONDS,
            timeout_seconds=5,
            page_token=SecretStr(FACEBOOK_PAGE_TOKEN),
            app_secret=SecretStr(FACEBOOK_APP_SECRET),
            verify_token=SecretStr(FACEBOOK_VERIFY_TOKEN),
        ),
        telegram=TelegramSettings(
            enabled=True,
            bot_username=tg.bot_username,
            api_base_url=sims.telegram.base_url + "/bot",
            mode="polling",
            poll_timeout_seconds=1,
            timeout_seconds=5,
            bot_token=SecretStr(TELEGRAM_BOT_TOKEN),
        ),
    )


def _players(
    sims: DemoSimulators, scripts: DemoScripts, post_ids: dict[str, str], speed: float, stop: threading.Event
) -> tuple[dict[str, Played], list[threading.Thread]]:
    """One thread per platform posting its script (the Telegram one also follows the bot's deep links)."""
    played = {name: Played() for name in ("x", "facebook", "telegram")}
    targets: dict[str, Callable[[], None]] = {
        "x": lambda: play_x(sims.x, scripts.x, speed, stop, played["x"]),
        "facebook": lambda: play_facebook(
            sims.facebook, scripts.facebook, post_ids, speed, stop, played["facebook"]
        ),
        "telegram": TelegramPlayer(sims.telegram, scripts.telegram, speed, stop, played["telegram"]).run,
    }
    threads = [
        threading.Thread(target=run, name=f"demo-{name}", daemon=True) for name, run in targets.items()
    ]
    return played, threads


def demo_login(service: Service) -> tuple[str, str]:
    """Create this run's dashboard admin, "demo", with a random password; return (name, password)."""
    from storage.users import add_user

    password = secrets.token_urlsafe(12)
    add_user(service.db, DEMO_USER, "admin", password, "tactful demo", service.clock.now())
    return DEMO_USER, password


def _intro(
    out: TextIO, sims: DemoSimulators, scripts: DemoScripts, webhook_url: str, workdir: Path, dashboard: str
) -> None:
    fb, tg = scripts.facebook, scripts.telegram
    print(f"tactful demo: the whole service against three simulated platforms; data in {workdir}", file=out)
    print(
        f"  X         {sims.x.base_url}  {len(scripts.x.events)} scripted posts mentioning @{scripts.x.brand_username}",
        file=out,
    )
    print(
        f"  Facebook  {sims.facebook.base_url}  {len(fb.events)} comments and Messenger messages for the page "
        f"{fb.page_name!r}, delivered as signed webhooks to {webhook_url} "
        f"(catch-up polling every {FACEBOOK_POLL_SECONDS:g} s)",
        file=out,
    )
    print(
        f"  Telegram  {sims.telegram.base_url}  {len(tg.events)} messages for @{tg.bot_username} in "
        f"{len(tg.groups)} group(s) and private chats (long polling)",
        file=out,
    )
    print(f"  Dashboard {dashboard}", file=out)
    print("Ctrl-C stops", file=out, flush=True)


def run_demo(duration: float | None, speed: float = 1.0, keep: bool = False, out: TextIO = sys.stdout) -> int:
    """Run the demo until `duration` seconds pass (or Ctrl-C), then print a summary."""
    run_demo_result(duration, speed=speed, keep=keep, out=out)
    return 0


def run_demo_result(
    duration: float | None, speed: float = 1.0, keep: bool = False, out: TextIO = sys.stdout
) -> DemoResult:
    """Run the demo like `run_demo` and return the figures its summary printed."""
    printer = DemoPrinter(out)
    with _demo_logging(printer):
        return _run(duration, speed, keep, printer)


def _run(duration: float | None, speed: float, keep: bool, printer: DemoPrinter) -> DemoResult:
    out = printer.out
    scripts = DemoScripts.load()
    workdir = Path(tempfile.mkdtemp(prefix="tactful-demo-"))
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sims = DemoSimulators.create(scripts)
    runner: ServiceRunner | None = None
    threads: list[threading.Thread] = []
    played: dict[str, Played] = {}
    try:
        sims.start()
        prepare_telegram(sims.telegram, scripts.telegram)
        post_ids = prepare_facebook(sims.facebook, scripts.facebook)
        for user in scripts.x.users:
            sims.x.add_user(user.id, user.username, user.name, accepts_dms=user.accepts_dms)
        service = build_service(
            demo_settings(workdir, sims, scripts),
            observers=Observers(polled=printer.polled, processed=printer.processed, sent=printer.sent_event),
        )
        runner = ServiceRunner(service)
        runner.start()
        if runner.web is None:  # pragma: no cover - Facebook is enabled, so the web server runs
            raise RuntimeError("the webhook server did not start")
        webhook_url = f"http://127.0.0.1:{runner.web.port}/webhooks/facebook"
        sims.facebook.auto_webhook_url = webhook_url
        name, password = demo_login(service)
        dashboard = (
            f"http://127.0.0.1:{runner.web.port}/queue  log in as {name} / {password} (admin, this run only)"
        )
        _intro(out, sims, scripts, webhook_url, workdir, dashboard)
        played, threads = _players(sims, scripts, post_ids, speed, stop)
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + duration if duration is not None else None
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            stop.wait(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        sims.facebook.auto_webhook_url = None
        if runner is not None:
            runner.stop()
        result = None
        if runner is not None and played:
            sources = DemoSources(sims.x, sims.facebook, sims.telegram, played)
            result = collect_result(
                runner.service.settings.storage.url, sources, printer.categories, printer.actions
            )
            print_summary(result, out)
        sims.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert result is not None  # reached only when the run started; otherwise the error propagated
    return result
