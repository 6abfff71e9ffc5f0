"""Helpers for the browser tests: the service on the X and Telegram simulators, headless Chromium, screenshots.

Chromium is Debian's (`/usr/bin/chromium`, installed by `.ci/run`), driven by the `playwright`
package; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from simulator.telegram import TelegramSimulator
from simulator.x import XSimulator
from storage import tables as t
from storage.users import add_user
from tactful.clock import FrozenClock
from tactful.service import Service, build_service
from tactful.settings import (
    ProcessingSettings,
    Settings,
    StorageSettings,
    TelegramSettings,
    WebSettings,
    XSettings,
)
from tactful.web.app import WebServer

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("TACTFUL_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Screenshots land here, one directory per test (CI keeps the workspace; git ignores it).
ARTIFACTS = Path(os.environ.get("TACTFUL_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "dashboard"

BRAND_ID, BRAND = "1000", "acme"
BOT_TOKEN = "7000000002:browser-test-only-bot-token"  # the simulator's, not a real one
BOT_USERNAME = "acme_browser_bot"
GROUP = -1009876543210
PASSWORD = "browser-test-password"
_FAKE = SecretStr("browser-test-only-not-a-secret")


@dataclass
class Stack:
    """The service with its dashboard on a real port, its simulators, and a clock the test moves."""

    service: Service
    web: WebServer
    x: XSimulator
    tg: TelegramSimulator
    clock: FrozenClock

    @property
    def url(self) -> str:
        """The dashboard's base URL."""
        return f"http://127.0.0.1:{self.web.port}"

    def settle(self) -> None:
        """Run the pipeline once: poll both platforms, moderate and decide, fold metrics, send what is due."""
        self.service.poll_all()
        self.service.process()
        self.service.fold_metrics()
        self.clock.advance(1)
        self.service.dispatch()

    def add_user(self, name: str, role: str = "agent") -> None:
        """Add a dashboard login (the real argon2id hasher) with PASSWORD."""
        add_user(self.service.db, name, role, PASSWORD, "browser test", self.clock.now())

    def item_for(self, platform: str, external_id: str) -> int:
        """The review item raised for a stored message."""
        r, m = t.review_items, t.messages
        with self.service.db.connect() as conn:
            return int(
                conn.execute(
                    select(r.c.id)
                    .join(m, m.c.thread_id == r.c.thread_id)
                    .where(m.c.platform == platform, m.c.external_id == external_id)
                ).scalar_one()
            )

    def rows(self, query: Any) -> list[Any]:
        """Run a query on the service's database."""
        with self.service.db.connect() as conn:
            return list(conn.execute(query))


def settings_for(workdir: Path, x: XSimulator, tg: TelegramSimulator) -> Settings:
    """The service's settings: SQLite, X and Telegram on their simulators, the dashboard on port 0."""
    return Settings(
        storage=StorageSettings(url=f"sqlite:///{workdir / 'tactful.db'}"),
        web=WebSettings(port=0, secure_cookies=False, session_secret=SecretStr(secrets.token_urlsafe(32))),
        processing=ProcessingSettings(workers=0),
        x=XSettings(
            enabled=True,
            user_id=BRAND_ID,
            username=BRAND,
            search_query=f"{BRAND} -from:{BRAND} -is:retweet",
            api_base_url=x.base_url,
            timeout_seconds=5,
            bearer_token=_FAKE,
            consumer_key=_FAKE,
            consumer_secret=_FAKE,
            access_token=_FAKE,
            access_token_secret=_FAKE,
        ),
        telegram=TelegramSettings(
            enabled=True,
            bot_username=BOT_USERNAME,
            api_base_url=tg.base_url + "/bot",
            poll_timeout_seconds=0,
            timeout_seconds=5,
            bot_token=SecretStr(BOT_TOKEN),
        ),
    )


@contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    """Start the simulators, build the service from settings and serve its web app as `tactful run` does."""
    clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    x = XSimulator(BRAND_ID, BRAND, clock)
    tg = TelegramSimulator(BOT_TOKEN, BOT_USERNAME, clock)
    x.start()
    tg.start()
    service: Service | None = None
    web: WebServer | None = None
    try:
        service = build_service(settings_for(workdir, x, tg), clock=clock)
        service.start_platforms()
        app = service.web_app()
        assert app is not None, "the dashboard is on by default"
        web = WebServer(app, "127.0.0.1", 0)
        web.start()
        yield Stack(service, web, x, tg, clock)
    finally:
        if web is not None:
            web.stop()
        if service is not None:
            service.close()
        tg.stop()
        x.stop()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "step"


@dataclass
class Screenshots:
    """Numbered full-page screenshots of one test, named by step: `01-login.png`, `02-queue.png`…"""

    directory: Path
    taken: list[Path] = field(default_factory=list)

    @classmethod
    def for_test(cls, name: str) -> Screenshots:
        """A fresh directory for the named test (earlier runs' pictures removed)."""
        directory = ARTIFACTS / _slug(name)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory)

    def take(self, page: Any, step: str) -> Path:
        """Save a full-page screenshot of `page` for `step`."""
        path = self.directory / f"{len(self.taken) + 1:02d}-{_slug(step)}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path
