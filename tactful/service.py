"""Assembles the running service from settings and schedules its stages with APScheduler.

A process runs some or all of the roles in `ROLES` (`tactful run --role`): ``listener`` polls
the platforms, ``worker`` processes, sends and runs the team chat and the promise sweep, ``web``
serves the dashboard and the webhooks. Processes sharing a database split the work through
leases (tactful/leasing.py): each listener is polled, and the team chat run, by one process at a
time; the processing partitions are shared between every process's workers; outbox items are
claimed one by one (SKIP LOCKED on PostgreSQL). Each process runs its own APScheduler with
in-memory jobs (job stores are not shared between schedulers).
"""

from __future__ import annotations

import contextlib
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
from storage.leases import JOB, LISTENER, SENDER, live_holders, new_holder
from storage.migrate import upgrade
from storage.outbox import audit
from storage.policy_versions import record_activated, record_rejected
from storage.promises import break_overdue_promises
from storage.response_metrics import catch_up
from tactful.channel_alerts import ChannelAlerts
from tactful.clock import Clock, SystemClock
from tactful.domain import Platform
from tactful.errors import PlatformError
from tactful.leasing import LeaseKeeper, release_dead_local_holders
from tactful.outages import FailureLog
from tactful.platforms import PlatformParts, PrivateRouter, build_platforms
from tactful.policy_source import PolicyChange, PolicySource
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

#: How often promises past their reply time are marked broken.
PROMISE_SWEEP_SECONDS = 30
METRICS_FOLD_SECONDS = 5  # response-time conversations lag the decisions by at most this

#: What a process can do; `tactful run` does all of it unless told otherwise (`--role`).
ROLES = ("listener", "worker", "web")
ALL_ROLES = frozenset(ROLES)

#: A send in flight is younger than this many request timeouts; older "sending" items are crashes.
SEND_TIMEOUTS_BEFORE_RECOVERY = 3


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
    holder: str = field(default_factory=new_holder)  # this process's name in the leases table
    team_chat_lease: LeaseKeeper | None = None  # the team chat runs in one process at a time
    policy_lease: LeaseKeeper | None = None  # one process records each policy change

    def leases(self) -> list[LeaseKeeper]:
        """Every lease this service may hold (listeners, team chat, policy records)."""
        kept = [c.lease for c in self.coordinators if c.lease is not None]
        return kept + [k for k in (self.team_chat_lease, self.policy_lease) if k is not None]

    def close(self) -> None:
        """Give up this process's leases, release platform clients and database connections."""
        for lease in self.leases():
            with contextlib.suppress(Exception):  # the database may be gone; the leases then expire
                lease.release()
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

    def reload_policy(self) -> PolicyChange | None:
        """Look at the policy files once; record a version put in force or a rejected change."""
        change = self.policy.check()
        if change is None or (self.policy_lease is not None and not self.policy_lease.hold()):
            return change  # another process records it
        now = self.clock.now()
        facts = change.facts
        with self.db.begin() as conn:
            if change.status == "active":
                record_activated(conn, facts, now)
            else:
                record_rejected(conn, facts, change.error_text, now)
            audit(
                conn,
                now,
                "tactful",
                f"policy.{change.status}",
                "policy_version",
                facts.version,
                previous=change.previous,
                author=facts.author,
                errors=len(change.errors),
            )
        return change

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
        if self.team_chat is None:
            return
        if self.team_chat_lease is not None and not self.team_chat_lease.hold():
            return  # another process runs the team chat
        self.team_chat.run_once()

    def settle_promises(self) -> int:
        """Mark promises whose reply time passed without a person answering as broken; return how many."""
        with self.db.begin() as conn:
            return break_overdue_promises(conn, self.clock.now())

    def fold_metrics(self) -> int:
        """Fold processed customer messages into the response-time conversations; return how many."""
        return catch_up(self.db)

    def step(self) -> None:
        """One full pass of the pipeline: poll, process, metrics, dispatch, team chat, overdue promises."""
        self.poll_all()
        self.process()
        self.fold_metrics()
        self.dispatch()
        self.run_team_chat()
        self.settle_promises()


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
    policy = PolicySource(settings.policy.path, clock=clock, check_seconds=settings.policy.reload_seconds)
    with db.begin() as conn:
        record_activated(conn, policy.current().facts, clock.now())
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
        shadow=settings.processing.shadow_channels(),
    )
    channel_alerts = ChannelAlerts(
        db, clock, settings.telegram.team_chat_id if settings.telegram.enabled else None
    )
    dispatcher = OutboxDispatcher(
        db,
        bots,
        clock,
        sends_per_minute=lambda: policy.current().sends_per_minute,
        identical_texts=lambda: policy.current().identical_texts,
        max_attempts=settings.processing.max_send_attempts,
        observer=observers.sent,
        on_auth_failed=channel_alerts.auth_failed,
    )
    holder = new_holder()
    lease = timedelta(seconds=settings.processing.lease_seconds)
    coordinators = [
        PollCoordinator(
            listener,
            db,
            clock,
            timedelta(seconds=part.poll_seconds),
            observer=observers.polled,
            lease=LeaseKeeper(
                db,
                clock,
                f"{LISTENER}{listener.key}",
                holder,
                max(lease, 3 * timedelta(seconds=part.poll_seconds)),
            ),
            on_auth_failed=channel_alerts.auth_failed,
        )
        for part in parts
        for listener in part.listeners
    ]
    team_chat = build_team_chat(
        settings,
        db,
        clock,
        bots,
        remind_before=lambda: timedelta(minutes=policy.current().loaded.policy.sla.remind_before_minutes),
    )
    team_chat_lease = None
    if team_chat is not None:
        team_chat_lease = LeaseKeeper(db, clock, f"{JOB}team_chat", holder, lease, on_gain=team_chat.recover)
    return Service(
        settings,
        db,
        clock,
        policy,
        processor,
        dispatcher,
        scoring,
        coordinators,
        parts,
        team_chat,
        holder=holder,
        team_chat_lease=team_chat_lease,
        policy_lease=LeaseKeeper(db, clock, f"{JOB}policy_record", holder, lease),
    )


class ServiceRunner:
    """Runs a service's stages, those of its `roles`, on an APScheduler background scheduler until stopped."""

    def __init__(self, service: Service, roles: frozenset[str] = ALL_ROLES) -> None:
        unknown = set(roles) - ALL_ROLES
        if unknown or not roles:
            raise ValueError(f"roles must be among {', '.join(ROLES)}; got {sorted(roles)}")
        self.service = service
        self.roles = frozenset(roles)
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.workers: ProcessingWorkers | None = None
        self.web: WebServer | None = None
        self._stopped = threading.Event()
        self._sender: LeaseKeeper | None = None

    def start(self) -> None:
        """Start the web server, recover interrupted sends, then schedule the stages of this process's roles."""
        release_dead_local_holders(self.service.db)
        if "web" in self.roles:
            self._start_web()
        if self.roles & {"listener", "web"}:
            self.service.start_platforms()
        if "listener" in self.roles:
            for coordinator in self.service.coordinators:
                self._schedule_poll(coordinator, timedelta(0))
        if "worker" in self.roles:
            self._start_worker()
        reload_seconds = self.service.settings.policy.reload_seconds
        if reload_seconds > 0 and self.roles & {"worker", "web"}:
            self._every(self.service.reload_policy, reload_seconds, "policy_reload")
        self.scheduler.start()

    def _start_web(self) -> None:
        app = self.service.web_app()
        if app is None:
            return
        web = self.service.settings.web
        self.web = WebServer(app, web.host, web.port)
        self.web.start()
        log.info("web server listening on http://%s:%d/", web.host, self.web.port)
        if web.dashboard:
            log.info("dashboard at http://%s:%d/queue", web.host, self.web.port)

    def _start_worker(self) -> None:
        service = self.service
        processing = service.settings.processing
        lease = timedelta(seconds=processing.lease_seconds)
        self._sender = LeaseKeeper(
            service.db, service.clock, f"{SENDER}{service.holder}", service.holder, lease
        )
        self._sender.hold()
        with service.db.connect() as conn:
            senders = live_holders(conn, SENDER, service.clock.now())
        others = set(senders.values()) - {service.holder}
        # Alone, every "sending" item is a crash's; with other senders alive, only the stale ones.
        recovered = service.dispatcher.recover(self._send_stale_after() if others else None)
        if recovered:
            log.info("found %d sends that completed before the last shutdown", recovered)
        if service.team_chat is not None:
            if service.team_chat_lease is None:
                service.team_chat.recover()
            else:
                service.team_chat_lease.hold()  # recovers what a crash left when it takes the lease
            self._every(service.run_team_chat, service.settings.team_chat.interval_seconds, "team_chat")
        if processing.workers > 0:
            policy = service.policy
            self.workers = ProcessingWorkers(
                service.settings, processing.workers, policy=lambda: policy.current().files
            )
            self.workers.start()
            self.scheduler.add_job(
                self._guard(self.workers.supervise), "interval", seconds=2, id="supervise", max_instances=1
            )
        else:
            self._every(service.process, processing.interval_seconds, "process")
        self._every(service.settle_promises, PROMISE_SWEEP_SECONDS, "promises")
        self._every(service.fold_metrics, METRICS_FOLD_SECONDS, "metrics")
        self._every(self._dispatch, processing.send_interval_seconds, "dispatch")
        self._every(self._recover_sends, processing.lease_seconds, "recover_sends")

    def _send_stale_after(self) -> timedelta:
        """How old a "sending" item must be before another process may treat it as a crash's."""
        settings = self.service.settings
        timeouts = [
            section.timeout_seconds
            for section in (settings.x, settings.facebook, settings.telegram)
            if section.enabled
        ]
        longest = timedelta(seconds=max(timeouts, default=0.0)) * SEND_TIMEOUTS_BEFORE_RECOVERY
        return max(timedelta(seconds=settings.processing.lease_seconds), longest)

    def _dispatch(self) -> None:
        """Send what is due, renewing this process's sender heartbeat first."""
        if self._sender is not None:
            self._sender.hold()
        self.service.dispatch()

    def _recover_sends(self) -> None:
        """Recover sends another process left in "sending" when it died."""
        recovered = self.service.dispatcher.recover(self._send_stale_after())
        if recovered:
            log.info("found %d sends a stopped process had completed", recovered)

    def _every(self, stage: Callable[[], object], seconds: float, job_id: str) -> None:
        self.scheduler.add_job(
            self._guard(stage), "interval", seconds=seconds, id=job_id, max_instances=1, coalesce=True
        )

    def _guard(self, stage: Callable[[], object]) -> Callable[[], None]:
        """Run `stage` on schedule; a run of failures (the database down) is logged once, with its end."""
        failures = FailureLog(log, f"stage {getattr(stage, '__name__', 'stage').lstrip('_')}")

        def run() -> None:
            try:
                stage()
            except Exception as exc:
                failures.failed(exc)
            else:
                failures.succeeded()

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
        """Stop scheduling, wait for running stages to finish and give this process's leases up."""
        self._stopped.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.workers is not None:
            self.workers.stop()
        if self.web is not None:
            self.web.stop()
        if self._sender is not None:
            with contextlib.suppress(Exception):
                self._sender.release()
        self.service.close()
