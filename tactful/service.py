"""Assembles the running service from settings and schedules its stages with APScheduler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI
from sqlalchemy import Engine

from bots.base import Bot
from bots.outbox import OutboxDispatcher, SentEvent
from listeners.base import FetchResult, Listener
from moderation.classifier import Moderator
from storage.accounts import register_account
from storage.db import make_engine
from storage.ingest import IngestStats
from storage.migrate import upgrade
from tactful.clock import Clock, SystemClock
from tactful.domain import Platform
from tactful.errors import PlatformError
from tactful.platforms import PlatformParts, PrivateRouter, build_platforms
from tactful.policy_source import PolicySource
from tactful.polling import PollCoordinator
from tactful.processing import ProcessedMessage, Processor
from tactful.scoring import build_moderator
from tactful.settings import Settings
from tactful.team_chat_stage import TeamChatStage, build_team_chat
from tactful.web.app import WebServer, create_app
from tactful.web.dashboard import dashboard_config
from tactful.web.receivers import FacebookWebhook, TelegramWebhook
from tactful.workers import ProcessingWorkers

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Observers:
    """Optional callbacks for live output (the demo prints them)."""

    polled: Callable[[Listener, FetchResult, IngestStats], None] | None = None
    processed: Callable[[ProcessedMessage], None] | None = None
    sent: Callable[[SentEvent], None] | None = None


@dataclass(slots=True)
class Service:
    """A fully wired tactful instance: stages that the scheduler (or a test) drives."""

    settings: Settings
    db: Engine
    clock: Clock
    policy: PolicySource
    processor: Processor
    dispatcher: OutboxDispatcher
    scoring: Moderator
    coordinators: list[PollCoordinator] = field(default_factory=list)
    platforms: list[PlatformParts] = field(default_factory=list)
    team_chat: TeamChatStage | None = None  # when Telegram has a [telegram] team_chat_id

    def close(self) -> None:
        """Release platform clients and database connections."""
        for part in self.platforms:
            for close in part.closers:
                close()
        self.db.dispose()

    def web_app(self) -> FastAPI | None:
        """Return the HTTP application (dashboard and/or webhooks), or None when neither is wanted.

        With `[web] dashboard = true` (the default) a missing session secret is a ConfigurationError.
        """
        facebook = next((p.webhook for p in self.platforms if isinstance(p.webhook, FacebookWebhook)), None)
        telegram = next((p.webhook for p in self.platforms if isinstance(p.webhook, TelegramWebhook)), None)
        dashboard = None
        if self.settings.web.dashboard:
            routes = {
                p.platform.value: p.private_route for p in self.platforms if p.private_route is not None
            }
            dashboard = dashboard_config(self.settings, self.policy.current, routes)
        if facebook is None and telegram is None and dashboard is None:
            return None
        return create_app(self.db, self.clock, facebook=facebook, telegram=telegram, dashboard=dashboard)

    def start_platforms(self) -> None:
        """Run each platform's start-up step (Telegram: set or delete the webhook); failures are logged."""
        for part in self.platforms:
            for start in part.on_start:
                try:
                    start()
                except PlatformError as exc:
                    log.warning("%s start-up step failed; continuing: %s", part.platform.value, exc)

    def poll_all(self) -> None:
        """Poll every listener once (tests and one-shot runs)."""
        for coordinator in self.coordinators:
            coordinator.poll_once()

    def process(self) -> int:
        """Run moderation and decisions on everything stored and not yet processed."""
        return self.processor.drain(self.settings.processing.batch_size)

    def dispatch(self) -> int:
        """Send every due outbox item."""
        total = 0
        while True:
            sent = self.dispatcher.dispatch_due()
            total += sent
            if sent == 0:
                return total

    def run_team_chat(self) -> None:
        """One team-chat pass: button presses, their answers, post updates, new announcements."""
        if self.team_chat is not None:
            self.team_chat.run_once()

    def step(self) -> None:
        """One full pass of the pipeline: poll, process, dispatch, team chat."""
        self.poll_all()
        self.process()
        self.dispatch()
        self.run_team_chat()


def build_service(
    settings: Settings,
    clock: Clock | None = None,
    observers: Observers | None = None,
    scoring: Moderator | None = None,
) -> Service:
    """Create the database schema if needed and wire every stage from settings."""
    clock = clock or SystemClock()
    observers = observers or Observers()
    db = make_engine(settings.storage.url)
    upgrade(db)
    policy = PolicySource(settings.policy.path)
    parts = build_platforms(settings, clock)
    for part in parts:
        register_account(db, part.platform.value, part.account_id, part.account_username or None)
    bots: dict[Platform, Bot] = {p.platform: p.bot for p in parts if p.bot is not None}
    routes: dict[Platform, PrivateRouter] = {
        p.platform: p.private_route for p in parts if p.private_route is not None
    }
    if scoring is None:
        scoring = build_moderator(settings)  # a bad [moderation] model_dir fails here, at start-up
    processor = Processor(
        db,
        scoring,
        policy.current,
        clock,
        private_routes=routes,
        observer=observers.processed,
        claim_lease=timedelta(seconds=settings.processing.claim_lease_seconds),
    )
    dispatcher = OutboxDispatcher(
        db,
        bots,
        clock,
        sends_per_minute=lambda: policy.current().sends_per_minute,
        max_attempts=settings.processing.max_send_attempts,
        observer=observers.sent,
    )
    coordinators = [
        PollCoordinator(listener, db, clock, timedelta(seconds=part.poll_seconds), observer=observers.polled)
        for part in parts
        for listener in part.listeners
    ]
    team_chat = build_team_chat(settings, db, clock, bots)
    return Service(
        settings, db, clock, policy, processor, dispatcher, scoring, coordinators, parts, team_chat
    )


class ServiceRunner:
    """Runs a service's stages on an APScheduler background scheduler until stopped."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.workers: ProcessingWorkers | None = None
        self.web: WebServer | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        """Recover interrupted sends, then schedule polling, processing and dispatch."""
        app = self.service.web_app()
        if app is not None:
            web = self.service.settings.web
            self.web = WebServer(app, web.host, web.port)
            self.web.start()
            log.info("web server listening on http://%s:%d/", web.host, self.web.port)
            if web.dashboard:
                log.info("dashboard at http://%s:%d/queue", web.host, self.web.port)
        self.service.start_platforms()
        recovered = self.service.dispatcher.recover()
        if recovered:
            log.info("found %d sends that completed before the last shutdown", recovered)
        team_chat = self.service.team_chat
        if team_chat is not None:
            team_chat.recover()
            self.scheduler.add_job(
                self._guard(self.service.run_team_chat),
                "interval",
                seconds=self.service.settings.team_chat.interval_seconds,
                id="team_chat",
                max_instances=1,
                coalesce=True,
            )
        processing = self.service.settings.processing
        for coordinator in self.service.coordinators:
            self._schedule_poll(coordinator, timedelta(0))
        if processing.workers > 0:
            self.workers = ProcessingWorkers(self.service.settings, processing.workers)
            self.workers.start()
            self.scheduler.add_job(
                self._guard(self.workers.supervise), "interval", seconds=2, id="supervise", max_instances=1
            )
        else:
            self.scheduler.add_job(
                self._guard(self.service.process),
                "interval",
                seconds=processing.interval_seconds,
                id="process",
                max_instances=1,
                coalesce=True,
            )
        self.scheduler.add_job(
            self._guard(self.service.dispatch),
            "interval",
            seconds=processing.send_interval_seconds,
            id="dispatch",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()

    def _guard(self, stage: Callable[[], object]) -> Callable[[], None]:
        name = getattr(stage, "__name__", "stage")

        def run() -> None:
            try:
                stage()
            except Exception:
                log.exception("stage %s failed; it will run again on schedule", name)

        return run

    def _schedule_poll(self, coordinator: PollCoordinator, delay: timedelta) -> None:
        if self._stopped.is_set():
            return

        def poll() -> None:
            try:
                next_delay = coordinator.poll_once().next_delay
            except Exception:
                log.exception("polling %s failed unexpectedly", coordinator.listener.key)
                next_delay = coordinator.interval
            self._schedule_poll(coordinator, next_delay)

        run_at = self.service.clock.now() + delay
        self.scheduler.add_job(
            poll, "date", run_date=run_at, id=f"poll:{coordinator.listener.key}", replace_existing=True
        )

    def stop(self) -> None:
        """Stop scheduling and wait for running stages to finish."""
        self._stopped.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.workers is not None:
            self.workers.stop()
        if self.web is not None:
            self.web.stop()
        self.service.close()
